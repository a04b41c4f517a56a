// Transaction scheduling: the makespan of a sequence of transactions under the reference
// lock-table cost model (../shared/specs/txn.md), header-only.
//
// The reference keeps, per key, a list of lock entries sorted by start step and answers
// each new op by looking at the list's tail. Every answer it can give depends on two
// numbers per key only, so the model keeps those instead of the lists:
//   write_floor: the key_start a write sees = (start of the last entry) + 1, 0 if none;
//   read_floor:  the key_start a read sees  = (start of the last write before the
//                trailing run of reads) + 1, or 0 if that run reaches the front; when the
//                last entry is a write, this equals write_floor.
// Why this is exact: a write is placed at or after write_floor, so it always lands at the
// end of its key's list (read_floor = write_floor = start + 1 afterwards); a read is placed
// at or after read_floor, so it lands inside or after the trailing run of reads, never
// before the write that precedes the run (read_floor unchanged, write_floor = max of the
// run's starts + 1). Ops of a transaction are checked against the lists as they stood
// before it and inserted in position order, which the two passes below reproduce.
// Property tests compare this against a literal list implementation (tests/simulators/
// txn_oracle.py).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace adrs::txn {

// One op that touches a key, in 8 bytes (the model streams through them): `shift` is its
// 1-based position minus one (the op runs at step start + shift of its transaction).
struct KeyedOp {
  int32_t key;
  uint32_t shift : 31;
  uint32_t write : 1;
};

// What a transaction leaves behind on one key (see the file comment): floor[0] is the
// key_start a read sees, floor[1] the one a write sees, so `floor[op.write]` picks
// without a branch.
struct KeyFloor {
  int64_t floor[2] = {0, 0};
};

// A parsed workload; immutable once built, shared by every state over it.
class Workload {
 public:
  // Parses transactions written as in the published workloads: ops separated by
  // whitespace, each `r-<key>`, `w-<key>` or `*`. Keys are compared as strings and
  // numbered in order of first appearance.
  //
  // Throws std::invalid_argument naming the transaction and op that is malformed.
  explicit Workload(const std::vector<std::string>& transactions) {
    std::unordered_map<std::string, int32_t> ids;
    op_offsets_.reserve(transactions.size() + 1);
    op_offsets_.push_back(0);
    lengths_.reserve(transactions.size());
    for (size_t t = 0; t < transactions.size(); ++t) {
      const std::string& text = transactions[t];
      int64_t position = 0;
      size_t i = 0;
      while (i < text.size()) {
        while (i < text.size() && is_space(text[i])) ++i;
        if (i >= text.size()) break;
        size_t end = i;
        while (end < text.size() && !is_space(text[end])) ++end;
        const std::string_view token(text.data() + i, end - i);
        ++position;
        if (token != "*") {
          if (token.size() < 3 || (token[0] != 'r' && token[0] != 'w') || token[1] != '-') {
            throw std::invalid_argument(
                "transaction " + std::to_string(t) + ", op " + std::to_string(position) +
                ": '" + std::string(token) + "' is not r-<key>, w-<key> or *");
          }
          const std::string key(token.substr(2));
          auto found = ids.find(key);
          int32_t id;
          if (found == ids.end()) {
            id = static_cast<int32_t>(key_names_.size());
            ids.emplace(key, id);
            key_names_.push_back(key);
          } else {
            id = found->second;
          }
          if (position > (int64_t{1} << 31)) {
            throw std::invalid_argument("transaction " + std::to_string(t) +
                                        " has more ops than this model supports");
          }
          KeyedOp op;
          op.key = id;
          op.shift = static_cast<uint32_t>(position - 1);
          op.write = token[0] == 'w';
          ops_.push_back(op);
        }
        i = end;
      }
      op_offsets_.push_back(static_cast<int64_t>(ops_.size()));
      // The reference's length is that of the last keyed op's transaction: 0 without one.
      lengths_.push_back(op_offsets_[t + 1] > op_offsets_[t] ? position : 0);
    }
  }

  int64_t size() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t key_count() const { return static_cast<int64_t>(key_names_.size()); }
  int64_t keyed_op_count() const { return static_cast<int64_t>(ops_.size()); }
  const std::vector<std::string>& key_names() const { return key_names_; }
  const std::vector<int64_t>& lengths() const { return lengths_; }
  const std::vector<int64_t>& op_offsets() const { return op_offsets_; }
  const std::vector<KeyedOp>& ops() const { return ops_; }

  // Throws std::invalid_argument unless 0 <= t < size(); `where` names the item.
  void check_index(int64_t t, const std::string& where) const {
    if (t < 0 || t >= size()) {
      throw std::invalid_argument(
          where + " is transaction " + std::to_string(t) +
          (size() ? ", out of range 0.." + std::to_string(size() - 1)
                  : ", but the workload has no transactions"));
    }
  }

  void check_indices(const int64_t* seq, int64_t count, const std::string& what) const {
    for (int64_t i = 0; i < count; ++i) {
      if (seq[i] < 0 || seq[i] >= size()) {
        check_index(seq[i], what + " item " + std::to_string(i));
      }
    }
  }

  // The end step of transaction t if it ran after the lock state `floors`: 0 for a
  // transaction without keyed ops (it leaves no trace). Unchecked index.
  int64_t end_after(const KeyFloor* floors, int64_t t) const {
    const KeyedOp* op = ops_.data() + op_offsets_[t];
    const KeyedOp* stop = ops_.data() + op_offsets_[t + 1];
    if (op == stop) return 0;
    int64_t start = 1;
    for (; op != stop; ++op) {
      start = std::max(start, floors[op->key].floor[op->write] - int64_t{op->shift});
    }
    return start + lengths_[t] - 1;
  }

  // Runs transaction t after `floors`, updating them; returns its end step (0 without
  // keyed ops). Unchecked index.
  int64_t run(KeyFloor* floors, int64_t t) const {
    const int64_t end = end_after(floors, t);
    if (end == 0) return 0;
    const int64_t start = end - lengths_[t] + 1;
    const KeyedOp* stop = ops_.data() + op_offsets_[t + 1];
    // Without branches (reads and writes mix at random): a write lands after the write
    // floor, so max() sets it to `next` for a write as for a read; only a write moves the
    // read floor.
    for (const KeyedOp* op = ops_.data() + op_offsets_[t]; op != stop; ++op) {
      int64_t* floor = floors[op->key].floor;
      const int64_t next = start + int64_t{op->shift} + 1;
      const int64_t is_write = -static_cast<int64_t>(op->write);  // all ones for a write
      floor[1] = std::max(floor[1], next);
      floor[0] = (next & is_write) | (floor[0] & ~is_write);  // a select compilers keep
    }
    return end;
  }

  // Runs `seq` after `floors` starting from makespan `total`; returns the new makespan.
  // Unchecked indices.
  int64_t run_all(KeyFloor* floors, int64_t total, const int64_t* seq, int64_t count) const {
    for (int64_t i = 0; i < count; ++i) total = std::max(total, run(floors, seq[i]));
    return total;
  }

  // Same, and records in `undo` the floors it overwrote so the caller can put them back.
  int64_t run_all_logged(KeyFloor* floors, int64_t total, const int64_t* seq, int64_t count,
                         std::vector<std::pair<int32_t, KeyFloor>>& undo) const {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t t = seq[i];
      for (int64_t o = op_offsets_[t]; o < op_offsets_[t + 1]; ++o) {
        undo.emplace_back(ops_[o].key, floors[ops_[o].key]);
      }
      total = std::max(total, run(floors, t));
    }
    return total;
  }

  static void restore(KeyFloor* floors, std::vector<std::pair<int32_t, KeyFloor>>& undo) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) floors[it->first] = it->second;
    undo.clear();
  }

  // The makespan of `seq` (a full permutation, a prefix, or any sequence of valid
  // indices: a repeated index runs that transaction again). Unchecked indices.
  int64_t makespan(const int64_t* seq, int64_t count) const {
    std::vector<KeyFloor> floors(key_names_.size());
    return run_all(floors.data(), 0, seq, count);
  }

 private:
  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  }

  std::vector<int64_t> op_offsets_;
  std::vector<KeyedOp> ops_;
  std::vector<int64_t> lengths_;
  std::vector<std::string> key_names_;
};

// The lock state after a sequence: extend it one transaction at a time, or ask what the
// makespan would be after more transactions without changing it.
class State {
 public:
  explicit State(std::shared_ptr<const Workload> workload)
      : workload_(std::move(workload)), floors_(workload_->key_count()) {}

  const std::shared_ptr<const Workload>& workload() const { return workload_; }
  int64_t makespan() const { return total_; }
  const std::vector<int64_t>& sequence() const { return sequence_; }

  // Appends t; returns the new makespan. Throws std::invalid_argument for a bad index
  // (the state is then unchanged).
  int64_t extend(int64_t t) {
    workload_->check_index(t, "the transaction");
    total_ = std::max(total_, workload_->run(floors_.data(), t));
    sequence_.push_back(t);
    return total_;
  }

  int64_t extend_many(const int64_t* seq, int64_t count) {
    workload_->check_indices(seq, count, "the sequence's");
    total_ = workload_->run_all(floors_.data(), total_, seq, count);
    sequence_.insert(sequence_.end(), seq, seq + count);
    return total_;
  }

  // The makespan after appending t, the state unchanged.
  int64_t makespan_after(int64_t t) const {
    workload_->check_index(t, "the transaction");
    return std::max(total_, workload_->end_after(floors_.data(), t));
  }

  // The step at which t would end if appended (0 for a transaction without keyed ops),
  // the state unchanged: unlike the makespan, it tells apart candidates that all end
  // before the current makespan.
  void ends_after(const int64_t* candidates, int64_t count, int64_t* out) const {
    workload_->check_indices(candidates, count, "the candidates'");
    for (int64_t i = 0; i < count; ++i) {
      out[i] = workload_->end_after(floors_.data(), candidates[i]);
    }
  }

  void makespans_after(const int64_t* candidates, int64_t count, int64_t* out) const {
    workload_->check_indices(candidates, count, "the candidates'");
    for (int64_t i = 0; i < count; ++i) {
      out[i] = std::max(total_, workload_->end_after(floors_.data(), candidates[i]));
    }
  }

  // The makespan after appending `suffix`, the state unchanged. Runs on the state's own
  // floors and puts them back (cost proportional to the suffix, not to the key count):
  // not for concurrent use of one state, which the binding guarantees by holding the GIL.
  int64_t makespan_with(const int64_t* suffix, int64_t count) {
    workload_->check_indices(suffix, count, "the suffix's");
    const int64_t result = workload_->run_all_logged(floors_.data(), total_, suffix, count,
                                                     undo_);
    Workload::restore(floors_.data(), undo_);
    return result;
  }

  // makespan_with for many suffixes (row i: suffixes[offsets[i]:offsets[i+1]]), on a
  // private copy of the floors, so the state itself is only read.
  void makespans_with(const int64_t* suffixes, const int64_t* offsets, int64_t rows,
                      int64_t* out) const {
    workload_->check_indices(suffixes, offsets[rows], "the suffixes'");
    std::vector<KeyFloor> floors(floors_);
    std::vector<std::pair<int32_t, KeyFloor>> undo;
    for (int64_t r = 0; r < rows; ++r) {
      out[r] = workload_->run_all_logged(floors.data(), total_, suffixes + offsets[r],
                                         offsets[r + 1] - offsets[r], undo);
      Workload::restore(floors.data(), undo);
    }
  }

 private:
  std::shared_ptr<const Workload> workload_;
  std::vector<KeyFloor> floors_;
  std::vector<int64_t> sequence_;
  int64_t total_ = 0;
  std::vector<std::pair<int32_t, KeyFloor>> undo_;  // scratch of makespan_with
};

// Makespans of many sequences, row i being seqs[offsets[i]:offsets[i+1]]. Throws
// std::invalid_argument for a bad index, naming the row and item.
inline void makespans(const Workload& workload, const int64_t* seqs, const int64_t* offsets,
                      int64_t rows, int64_t* out) {
  for (int64_t r = 0; r < rows; ++r) {
    workload.check_indices(seqs + offsets[r], offsets[r + 1] - offsets[r],
                           "sequence " + std::to_string(r) + "'s");
  }
  std::vector<KeyFloor> floors(workload.key_count());
  std::vector<std::pair<int32_t, KeyFloor>> undo;
  for (int64_t r = 0; r < rows; ++r) {
    // Reset only what the previous row touched: rows are often much shorter than the
    // key table is wide.
    out[r] = workload.run_all_logged(floors.data(), 0, seqs + offsets[r],
                                      offsets[r + 1] - offsets[r], undo);
    Workload::restore(floors.data(), undo);
  }
}

}  // namespace adrs::txn
