// Each simulator family registers its functions on the one extension module adrs._core.
//
// A family's binding file (cpp/<family>_binding.cpp, picked up by CMake) defines
// `void register_<family>(pybind11::module_&)` and adds it with ADRS_REGISTER_BINDING, so
// adding a family touches no shared file.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

namespace adrs {

using Registration = void (*)(pybind11::module_&);

// The registrations, in the order the binding files were linked.
inline std::vector<Registration>& registrations() {
  static std::vector<Registration> all;  // function-local: safe during static initialisation
  return all;
}

inline bool add_registration(Registration registration) {
  registrations().push_back(registration);
  return true;
}

}  // namespace adrs

#define ADRS_REGISTER_BINDING(function) \
  static const bool adrs_registered_##function = ::adrs::add_registration(&function)
