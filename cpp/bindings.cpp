// The extension module adrs._core: one registration call per simulator family. Each
// family's binding lives beside it (cpp/<family>_binding.cpp) and its rules in
// cpp/include/adrs/<family>.hpp.
#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "adrs native simulators (C++ cores of the rules in cpp/include/adrs)";
  register_spot(m);
}
