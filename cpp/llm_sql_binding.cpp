// Binding of the prefix-reuse model (cpp/include/adrs/prefix_cache.hpp): argument
// checking and array plumbing only.
#include "bindings.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "adrs/prefix_cache.hpp"

namespace py = pybind11;
namespace pc = adrs::prefix_cache;

namespace {

template <class T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class Char>
py::tuple hits_for(const pc::TableView& view, const py::array& units, int64_t capacity) {
  const auto typed = units.cast<CArray<Char>>();
  std::vector<int64_t> hits;
  std::vector<int64_t> offsets;
  {
    py::gil_scoped_release release;
    std::vector<Char> text;
    pc::build_row_texts(view, typed.data(), text, offsets);
    hits = capacity < 0 ? pc::unbounded_hits(text.data(), offsets.data(), view.n_rows)
                        : pc::lru_hits(text.data(), offsets.data(), view.n_rows, capacity);
  }
  py::array_t<int64_t> hits_out(static_cast<py::ssize_t>(view.n_rows));
  py::array_t<int64_t> lengths_out(static_cast<py::ssize_t>(view.n_rows));
  auto h = hits_out.mutable_unchecked<1>();
  auto l = lengths_out.mutable_unchecked<1>();
  for (int64_t i = 0; i < view.n_rows; ++i) {
    h(i) = hits[i];
    l(i) = offsets[i + 1] - offsets[i];
  }
  return py::make_tuple(hits_out, lengths_out);
}

py::tuple prefix_hits(const CArray<int32_t>& cells, const py::array& units,
                      const CArray<int64_t>& text_offsets, const py::object& row_order,
                      const py::object& field_order, int64_t capacity) {
  if (cells.ndim() != 2) throw std::invalid_argument("cells must be a 2-D array [rows, columns]");
  if (units.ndim() != 1) throw std::invalid_argument("units must be a 1-D array of code units");
  if (text_offsets.ndim() != 1 || text_offsets.shape(0) < 1)
    throw std::invalid_argument("text_offsets must be a 1-D array of at least one entry");
  pc::TableView view;
  view.cells = cells.data();
  view.n_rows = cells.shape(0);
  view.n_cols = cells.shape(1);
  view.text_offsets = text_offsets.data();
  view.n_texts = text_offsets.shape(0) - 1;
  view.n_units = units.shape(0);
  CArray<int64_t> rows;
  CArray<int32_t> fields;
  if (!row_order.is_none()) {
    rows = row_order.cast<CArray<int64_t>>();
    if (rows.ndim() != 1 || rows.shape(0) != view.n_rows)
      throw std::invalid_argument("row_order must hold one entry per row (" +
                                  std::to_string(view.n_rows) + ")");
    view.row_order = rows.data();
  }
  if (!field_order.is_none()) {
    fields = field_order.cast<CArray<int32_t>>();
    if (fields.ndim() != 2 || fields.shape(0) != view.n_rows || fields.shape(1) != view.n_cols)
      throw std::invalid_argument("field_order must have the shape of cells [" +
                                  std::to_string(view.n_rows) + ", " +
                                  std::to_string(view.n_cols) + "]");
    view.field_order = fields.data();
  }
  pc::validate(view);
  const auto kind = units.dtype().kind();
  if (kind != 'u' && kind != 'i')
    throw std::invalid_argument("units must be an unsigned integer array (uint8, uint16, uint32)");
  switch (units.itemsize()) {
    case 1: return hits_for<uint8_t>(view, units, capacity);
    case 2: return hits_for<uint16_t>(view, units, capacity);
    case 4: return hits_for<uint32_t>(view, units, capacity);
    default:
      throw std::invalid_argument("units must be uint8, uint16 or uint32, got " +
                                  std::to_string(units.itemsize()) + "-byte items");
  }
}

void register_llm_sql(py::module_& m) {
  m.def("llm_sql_prefix_hits", &prefix_hits, py::arg("cells"), py::arg("units"),
        py::arg("text_offsets"), py::arg("row_order") = py::none(),
        py::arg("field_order") = py::none(), py::arg("capacity") = -1,
        R"doc(Prefix-cache hits of a table's rows sent one after another.

cells: int32 [rows, columns], the text id of each cell; units: the code units of every
text, concatenated (uint8, uint16 or uint32; a code unit is one character); text_offsets:
int64 [texts + 1], text t is units[offsets[t]:offsets[t + 1]]; row_order: int64 [rows],
table rows in send order (None: table order); field_order: int32 [rows, columns], each
table row's own field order (None: column order); capacity: characters of the bounded
LRU cache, or -1 for the unbounded reference cache.

Returns (hits, lengths): int64 per row in send order. Raises ValueError on inconsistent
input, naming the row or entry.)doc");
}

}  // namespace

ADRS_REGISTER_BINDING(register_llm_sql);
