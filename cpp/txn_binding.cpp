// Binding of the transaction-scheduling cost model (cpp/include/adrs/txn.hpp): argument
// conversion and checking only. Python sees two classes on adrs._core, TxnModel (a parsed
// workload: makespans of whole sequences, one or many) and TxnState (the lock state after a
// prefix: extend it, or ask what appending would cost).
#include "bindings.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "adrs/txn.hpp"

namespace py = pybind11;
namespace txn = adrs::txn;

namespace {

using Model = std::shared_ptr<txn::Workload>;

std::string type_name(py::handle value) {
  return py::str(py::type::of(value).attr("__name__")).cast<std::string>();
}

// A 1-D run of transaction indices, borrowed from an int64 array or converted from a
// Python sequence. Floats, bools and strings are refused, not truncated.
class Indices {
 public:
  Indices(py::handle value, const std::string& what) {
    if (py::isinstance<py::array>(value)) {
      py::array array = py::reinterpret_borrow<py::array>(value);
      if (array.ndim() != 1) {
        throw py::type_error(what + " must be 1-D, got an array of shape " +
                             shape_text(array));
      }
      const char kind = array.dtype().kind();
      if (kind != 'i' && kind != 'u') {
        throw py::type_error(what + " has dtype " +
                             py::str(array.dtype()).cast<std::string>() +
                             ", not an integer dtype");
      }
      array_ = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(array);
      data_ = array_.data();
      size_ = array_.size();
      return;
    }
    if (py::isinstance<py::str>(value) || py::isinstance<py::bytes>(value) ||
        py::isinstance<py::dict>(value) || !py::isinstance<py::iterable>(value)) {
      throw py::type_error(what + " must be a sequence of integer transaction indices, not " +
                           type_name(value));
    }
    for (py::handle item : py::reinterpret_borrow<py::iterable>(value)) {
      storage_.push_back(to_index(item, what, static_cast<int64_t>(storage_.size())));
    }
    data_ = storage_.data();
    size_ = static_cast<int64_t>(storage_.size());
  }

  const int64_t* data() const { return data_; }
  int64_t size() const { return size_; }

  static int64_t to_index(py::handle item, const std::string& what, int64_t i) {
    if (PyLong_CheckExact(item.ptr())) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(item.ptr(), &overflow);
      if (!overflow) return static_cast<int64_t>(v);
      return -1;  // out of range either way; reported by the range check
    }
    if (PyBool_Check(item.ptr()) || !PyIndex_Check(item.ptr())) {
      throw py::type_error(what + " item " + std::to_string(i) + " is " +
                           py::repr(item).cast<std::string>() + " of type " + type_name(item) +
                           ", not an integer transaction index");
    }
    py::int_ index = py::reinterpret_steal<py::int_>(PyNumber_Index(item.ptr()));
    if (!index) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    return overflow ? -1 : static_cast<int64_t>(v);
  }

 private:
  static std::string shape_text(const py::array& array) {
    std::string text = "(";
    for (py::ssize_t d = 0; d < array.ndim(); ++d) {
      text += (d ? ", " : "") + std::to_string(array.shape(d));
    }
    return text + (array.ndim() == 1 ? ",)" : ")");
  }

  py::array_t<int64_t, py::array::c_style | py::array::forcecast> array_;
  std::vector<int64_t> storage_;
  const int64_t* data_ = nullptr;
  int64_t size_ = 0;
};

// Many sequences, flattened with row offsets: a 2-D integer array (equal lengths) or a
// sequence of sequences (any lengths).
struct Rows {
  std::vector<int64_t> flat;
  std::vector<int64_t> offsets{0};

  Rows(py::handle value, const std::string& what) {
    if (py::isinstance<py::array>(value)) {
      py::array array = py::reinterpret_borrow<py::array>(value);
      if (array.ndim() != 2) {
        throw py::type_error(what + " must be a 2-D integer array or a list of sequences");
      }
      const char kind = array.dtype().kind();
      if (kind != 'i' && kind != 'u') {
        throw py::type_error(what + " has dtype " +
                             py::str(array.dtype()).cast<std::string>() +
                             ", not an integer dtype");
      }
      auto ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(array);
      const int64_t rows = ints.shape(0), cols = ints.shape(1);
      flat.assign(ints.data(), ints.data() + rows * cols);
      offsets.resize(rows + 1);
      for (int64_t r = 0; r <= rows; ++r) offsets[r] = r * cols;
      return;
    }
    if (py::isinstance<py::str>(value) || !py::isinstance<py::iterable>(value)) {
      throw py::type_error(what + " must be a 2-D integer array or a list of sequences, not " +
                           type_name(value));
    }
    int64_t r = 0;
    for (py::handle row : py::reinterpret_borrow<py::iterable>(value)) {
      Indices indices(row, what + " row " + std::to_string(r++));
      flat.insert(flat.end(), indices.data(), indices.data() + indices.size());
      offsets.push_back(static_cast<int64_t>(flat.size()));
    }
  }

  int64_t count() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

Model make_model(py::handle transactions) {
  if (py::isinstance<py::dict>(transactions) || py::isinstance<py::str>(transactions) ||
      !py::isinstance<py::iterable>(transactions)) {
    throw py::type_error("TxnModel takes the transactions' op strings in order (a list such "
                         "as ['w-17 r-5 *', ...]), not " + type_name(transactions));
  }
  std::vector<std::string> texts;
  for (py::handle item : py::reinterpret_borrow<py::iterable>(transactions)) {
    if (!py::isinstance<py::str>(item)) {
      throw py::type_error("transaction " + std::to_string(texts.size()) + " is " +
                           type_name(item) + ", not a string of ops");
    }
    texts.push_back(item.cast<std::string>());
  }
  py::gil_scoped_release release;
  return std::make_shared<txn::Workload>(texts);
}

py::array_t<int64_t> to_array(const std::vector<int64_t>& values) {
  py::array_t<int64_t> out(static_cast<py::ssize_t>(values.size()));
  std::copy(values.begin(), values.end(), out.mutable_data());
  return out;
}

txn::State make_state(const Model& model, py::handle prefix) {
  txn::State state(model);
  if (!prefix.is_none()) {
    Indices indices(prefix, "the prefix");
    state.extend_many(indices.data(), indices.size());
  }
  return state;
}

Model model_of(const txn::State& state) {
  return std::const_pointer_cast<txn::Workload>(state.workload());
}

void register_txn(py::module_& m) {
  py::class_<txn::Workload, Model>(m, "TxnModel", R"doc(
The reference makespan model over one workload (../shared/specs/txn.md).

TxnModel(transactions): transactions are op strings in order ('w-17 r-5 * ...'; ops
r-<key>, w-<key> or *). Raises ValueError for a malformed op, TypeError for a non-string.

Sequences are lists, tuples or 1-D integer arrays of transaction indices; a full
permutation, a prefix, or any sequence of valid indices (a repeated index runs that
transaction again). An index out of range raises ValueError.)doc")
      .def(py::init(&make_model), py::arg("transactions"))
      .def("__len__", &txn::Workload::size)
      .def_property_readonly("num_txns", &txn::Workload::size,
                             "Number of transactions.")
      .def_property_readonly("num_keys", &txn::Workload::key_count,
                             "Number of distinct keys (compared as strings).")
      .def_property_readonly("key_names", &txn::Workload::key_names,
                             "Key strings, by key id (ids in order of first appearance).")
      .def_property_readonly(
          "lengths", [](const txn::Workload& w) { return to_array(w.lengths()); },
          "Length in steps of each transaction (ops including *; 0 without keyed ops).")
      .def(
          "ops",
          [](const txn::Workload& w, int64_t t) {
            w.check_index(t, "the argument");
            py::list out;
            for (int64_t o = w.op_offsets()[t]; o < w.op_offsets()[t + 1]; ++o) {
              const txn::KeyedOp& op = w.ops()[o];
              out.append(
                  py::make_tuple(op.key, int64_t{op.shift} + 1, static_cast<bool>(op.write)));
            }
            return out;
          },
          py::arg("t"),
          "The keyed ops of transaction t: (key id, 1-based position, is_write) tuples.")
      .def(
          "op_arrays",
          [](const txn::Workload& w) {
            const int64_t count = w.keyed_op_count();
            py::array_t<int64_t> keys(count), positions(count);
            py::array_t<bool> writes(count);
            for (int64_t o = 0; o < count; ++o) {
              keys.mutable_data()[o] = w.ops()[o].key;
              positions.mutable_data()[o] = int64_t{w.ops()[o].shift} + 1;
              writes.mutable_data()[o] = static_cast<bool>(w.ops()[o].write);
            }
            return py::make_tuple(to_array(w.op_offsets()), keys, positions, writes);
          },
          "Every keyed op as arrays (offsets, key ids, 1-based positions, is_write): "
          "transaction t's ops are entries offsets[t]:offsets[t+1].")
      .def(
          "makespan",
          [](const txn::Workload& w, py::handle sequence) {
            Indices seq(sequence, "the sequence");
            w.check_indices(seq.data(), seq.size(), "the sequence's");
            py::gil_scoped_release release;
            return w.makespan(seq.data(), seq.size());
          },
          py::arg("sequence"), "The makespan of a sequence of transaction indices.")
      .def(
          "makespans",
          [](const txn::Workload& w, py::handle sequences) {
            Rows rows(sequences, "sequences");
            py::array_t<int64_t> out(rows.count());
            int64_t* result = out.mutable_data();
            {
              py::gil_scoped_release release;
              txn::makespans(w, rows.flat.data(), rows.offsets.data(), rows.count(), result);
            }
            return out;
          },
          py::arg("sequences"),
          "Makespans of many sequences in one call (a 2-D integer array, or a list of "
          "sequences of any lengths), as an int64 array.")
      .def("state", &make_state, py::arg("prefix") = py::none(),
           "A TxnState after `prefix` (default: empty).")
      .def("__repr__", [](const txn::Workload& w) {
        return "TxnModel(" + std::to_string(w.size()) + " transactions, " +
               std::to_string(w.key_count()) + " keys)";
      });

  py::class_<txn::State>(m, "TxnState", R"doc(
The lock state after a sequence of transactions (made by TxnModel.state()).

extend() changes it; makespan_after()/makespan_with() and their batch forms answer what
the makespan would be without changing it; copy() forks it. Cost of each call: the ops
of the transactions involved, not the prefix.)doc")
      .def(py::init([](const Model& model) { return txn::State(model); }), py::arg("model"))
      .def_property_readonly("makespan", &txn::State::makespan, "Makespan so far.")
      .def_property_readonly("model", &model_of, "The TxnModel this state is over.")
      .def_property_readonly(
          "sequence", [](const txn::State& s) { return to_array(s.sequence()); },
          "The transactions appended so far (a copy), as an int64 array.")
      .def("__len__", [](const txn::State& s) { return s.sequence().size(); })
      .def("extend", &txn::State::extend, py::arg("t"),
           "Append transaction t; returns the new makespan.")
      .def(
          "extend_many",
          [](txn::State& s, py::handle sequence) {
            Indices seq(sequence, "the sequence");
            return s.extend_many(seq.data(), seq.size());
          },
          py::arg("sequence"), "Append a sequence; returns the new makespan.")
      .def("makespan_after", &txn::State::makespan_after, py::arg("t"),
           "The makespan if t were appended (the state is unchanged).")
      .def(
          "makespans_after",
          [](const txn::State& s, py::handle candidates) {
            Indices ts(candidates, "the candidates");
            py::array_t<int64_t> out(ts.size());
            s.makespans_after(ts.data(), ts.size(), out.mutable_data());
            return out;
          },
          py::arg("candidates"),
          "For each candidate t, the makespan if t alone were appended, as an int64 array.")
      .def(
          "ends_after",
          [](const txn::State& s, py::handle candidates) {
            Indices ts(candidates, "the candidates");
            py::array_t<int64_t> out(ts.size());
            s.ends_after(ts.data(), ts.size(), out.mutable_data());
            return out;
          },
          py::arg("candidates"),
          "For each candidate t, the step at which t would end if appended (0 for a "
          "transaction without keyed ops; its start is end - length + 1), as an int64 "
          "array. Tells apart candidates that all end before the current makespan.")
      .def(
          "makespan_with",
          [](txn::State& s, py::handle suffix) {
            Indices seq(suffix, "the suffix");
            return s.makespan_with(seq.data(), seq.size());
          },
          py::arg("suffix"), "The makespan if `suffix` were appended (state unchanged).")
      .def(
          "makespans_with",
          [](const txn::State& s, py::handle suffixes) {
            Rows rows(suffixes, "suffixes");
            py::array_t<int64_t> out(rows.count());
            int64_t* result = out.mutable_data();
            const txn::State copy(s);  // taken under the GIL: no other call changes it
            py::gil_scoped_release release;
            copy.makespans_with(rows.flat.data(), rows.offsets.data(), rows.count(), result);
            return out;
          },
          py::arg("suffixes"),
          "makespan_with for many suffixes (2-D integer array or list of sequences).")
      .def("copy", [](const txn::State& s) { return txn::State(s); }, "An independent copy.")
      .def("__copy__", [](const txn::State& s) { return txn::State(s); })
      .def("__deepcopy__", [](const txn::State& s, py::handle) { return txn::State(s); },
           py::arg("memo"))
      .def("__repr__", [](const txn::State& s) {
        return "TxnState(" + std::to_string(s.sequence().size()) + " of " +
               std::to_string(s.workload()->size()) + " transactions, makespan " +
               std::to_string(s.makespan()) + ")";
      });
}

}  // namespace

ADRS_REGISTER_BINDING(register_txn);
