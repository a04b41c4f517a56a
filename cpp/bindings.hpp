// Each simulator family registers its functions on the one extension module adrs._core.
#pragma once

#include <pybind11/pybind11.h>

void register_spot(pybind11::module_& m);
