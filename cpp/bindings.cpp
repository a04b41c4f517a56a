// The extension module adrs._core. Each simulator family's binding lives beside its rules
// (cpp/<family>_binding.cpp, rules in cpp/include/adrs/<family>.hpp) and registers itself.
#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "adrs native simulators (C++ cores of the rules in cpp/include/adrs)";
  for (adrs::Registration registration : adrs::registrations()) registration(m);
}
