// Prefix reuse of table rows sent one after another to a language model (the LLM-SQL
// problem, shared/specs/llm_sql.md "Reference hit model").
//
// A row's text is the concatenation, with no separator, of its cells in the row's own
// field order. Rows are processed in a given order; a row's hits are the characters of
// its text already in the cache:
//
//   * unbounded (the reference model): the longest common prefix with ANY earlier row.
//     Computed by sorting the texts once: the earlier row sharing the longest prefix with
//     row r is its nearest earlier neighbour in sorted order, above or below. Walking the
//     rows backwards and unlinking each from a sorted doubly-linked list leaves exactly
//     the earlier rows around it, so after the sort the rest is linear.
//   * bounded LRU (ours, docs/llm_sql.md): the cache is the character trie of the
//     prefixes it holds, one character per node, at most `capacity` nodes. A row hits
//     the longest prefix of its text in the trie; then its whole text is inserted and
//     every node on its path takes the row's time; then, while the trie holds more than
//     `capacity` characters, the least recently used leaf is removed. Leaf times are
//     unique (only the deepest node of a row's path can be a leaf with that row's time),
//     so the eviction order is fully determined. Stored as a compressed trie whose edges
//     are split wherever times differ; evicting a leaf character by character is
//     trimming its edge from the end.
//
// Code units are uint8 (ASCII tables), uint16 or uint32 (Unicode code points), so a
// length in code units is a length in characters whenever the caller picks a unit wide
// enough for the table's code points.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace adrs::prefix_cache {

// A table of cell ids, the texts the ids name, and the order rows and fields are sent in.
struct TableView {
  const int32_t* cells = nullptr;        // [n_rows, n_cols] row-major: text id of each cell
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  const int64_t* text_offsets = nullptr;  // [n_texts + 1]: text t is [off[t], off[t+1])
  int64_t n_texts = 0;
  int64_t n_units = 0;                    // code units in the text buffer
  const int64_t* row_order = nullptr;     // [n_rows] table rows in send order; null: 0..n-1
  const int32_t* field_order = nullptr;   // [n_rows, n_cols] per TABLE row; null: 0..m-1
};

inline std::string where_row(int64_t row) { return "row " + std::to_string(row); }

// Throws std::invalid_argument naming the first inconsistency (what and where).
inline void validate(const TableView& t) {
  if (t.n_rows < 0 || t.n_cols < 0) throw std::invalid_argument("negative table shape");
  if (t.n_texts < 0) throw std::invalid_argument("text_offsets must hold at least one entry");
  if (t.text_offsets[0] != 0)
    throw std::invalid_argument("text_offsets[0] must be 0, got " +
                                std::to_string(t.text_offsets[0]));
  for (int64_t i = 0; i < t.n_texts; ++i) {
    if (t.text_offsets[i + 1] < t.text_offsets[i])
      throw std::invalid_argument("text_offsets decrease at text " + std::to_string(i));
  }
  if (t.text_offsets[t.n_texts] != t.n_units)
    throw std::invalid_argument("text_offsets end at " + std::to_string(t.text_offsets[t.n_texts]) +
                                " but the text buffer holds " + std::to_string(t.n_units) +
                                " code units");
  const int64_t n_cells = t.n_rows * t.n_cols;
  for (int64_t i = 0; i < n_cells; ++i) {
    const int32_t id = t.cells[i];
    if (id < 0 || id >= t.n_texts)
      throw std::invalid_argument(where_row(i / t.n_cols) + ", column " +
                                  std::to_string(i % t.n_cols) + ": text id " +
                                  std::to_string(id) + " is not in [0, " +
                                  std::to_string(t.n_texts) + ")");
  }
  if (t.row_order != nullptr) {
    std::vector<char> seen(static_cast<size_t>(t.n_rows), 0);
    for (int64_t i = 0; i < t.n_rows; ++i) {
      const int64_t r = t.row_order[i];
      if (r < 0 || r >= t.n_rows)
        throw std::invalid_argument("row_order[" + std::to_string(i) + "] = " + std::to_string(r) +
                                    " is not a row of a " + std::to_string(t.n_rows) +
                                    "-row table");
      if (seen[r]++)
        throw std::invalid_argument("row_order[" + std::to_string(i) + "] = " + std::to_string(r) +
                                    " repeats a row: row_order must be a permutation");
    }
  }
  if (t.field_order != nullptr) {
    std::vector<int64_t> seen(static_cast<size_t>(t.n_cols), -1);
    for (int64_t r = 0; r < t.n_rows; ++r) {
      for (int64_t k = 0; k < t.n_cols; ++k) {
        const int32_t c = t.field_order[r * t.n_cols + k];
        if (c < 0 || c >= t.n_cols || seen[c] == r)
          throw std::invalid_argument("field_order of " + where_row(r) +
                                      " is not a permutation of the " +
                                      std::to_string(t.n_cols) + " columns (entry " +
                                      std::to_string(k) + " = " + std::to_string(c) + ")");
        seen[c] = r;
      }
    }
  }
}

// The texts of the rows in send order: one buffer and offsets (row i is
// [offsets[i], offsets[i+1])).
template <class Char>
void build_row_texts(const TableView& t, const Char* units, std::vector<Char>& text,
                     std::vector<int64_t>& offsets) {
  offsets.assign(static_cast<size_t>(t.n_rows) + 1, 0);
  int64_t total = 0;
  for (int64_t i = 0; i < t.n_rows; ++i) {
    const int64_t r = t.row_order ? t.row_order[i] : i;
    const int32_t* row = t.cells + r * t.n_cols;
    for (int64_t k = 0; k < t.n_cols; ++k) {
      const int32_t id = row[k];
      total += t.text_offsets[id + 1] - t.text_offsets[id];
    }
    offsets[i + 1] = total;
  }
  text.resize(static_cast<size_t>(total));
  Char* out = text.data();
  for (int64_t i = 0; i < t.n_rows; ++i) {
    const int64_t r = t.row_order ? t.row_order[i] : i;
    const int32_t* row = t.cells + r * t.n_cols;
    const int32_t* fields = t.field_order ? t.field_order + r * t.n_cols : nullptr;
    for (int64_t k = 0; k < t.n_cols; ++k) {
      const int32_t id = row[fields ? fields[k] : k];
      const int64_t len = t.text_offsets[id + 1] - t.text_offsets[id];
      if (len) std::memcpy(out, units + t.text_offsets[id], sizeof(Char) * len);
      out += len;
    }
  }
}

// Length of the common prefix of a[0..n) and b[0..n).
template <class Char>
inline int64_t common_prefix(const Char* a, const Char* b, int64_t n) {
  int64_t i = 0;
  if constexpr (sizeof(Char) == 1) {
    // eight characters per step: the first differing byte is the lowest set bit of the
    // XOR on a little-endian machine
    for (; i + 8 <= n; i += 8) {
      uint64_t x, y;
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, b + i, 8);
      if (x != y) return i + (__builtin_ctzll(x ^ y) >> 3);
    }
  }
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Per-row hits under the unbounded cache, rows in send order.
template <class Char>
std::vector<int64_t> unbounded_hits(const Char* text, const int64_t* offsets, int64_t n) {
  std::vector<int64_t> hits(static_cast<size_t>(n), 0);
  if (n == 0) return hits;
  // Sort by the first code units packed big-endian into 64 bits (zero-padded), falling
  // back to the texts only on equal keys: that order is the texts' lexicographic order,
  // and most comparisons never touch the text buffer.
  constexpr int64_t kPerKey = static_cast<int64_t>(8 / sizeof(Char));
  struct Keyed {
    uint64_t key;
    int32_t row;
  };
  std::vector<Keyed> keyed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = std::min(offsets[i + 1] - offsets[i], kPerKey);
    uint64_t key = 0;
    for (int64_t k = 0; k < kPerKey; ++k) {
      const uint64_t unit = k < len ? static_cast<uint64_t>(text[offsets[i] + k]) : 0;
      key = (key << (8 * sizeof(Char))) | unit;
    }
    keyed[i] = Keyed{key, static_cast<int32_t>(i)};
  }
  std::sort(keyed.begin(), keyed.end(), [&](const Keyed& kx, const Keyed& ky) {
    if (kx.key != ky.key) return kx.key < ky.key;
    const int32_t x = kx.row, y = ky.row;
    const int64_t lx = offsets[x + 1] - offsets[x], ly = offsets[y + 1] - offsets[y];
    const Char* a = text + offsets[x];
    const Char* b = text + offsets[y];
    const int64_t m = std::min(lx, ly);
    if constexpr (sizeof(Char) == 1) {
      const int c = m ? std::memcmp(a, b, static_cast<size_t>(m)) : 0;
      if (c != 0) return c < 0;
    } else {
      const int64_t l = common_prefix(a, b, m);
      if (l < m) return a[l] < b[l];
    }
    if (lx != ly) return lx < ly;
    return x < y;  // deterministic order of equal texts
  });
  std::vector<int32_t> sorted(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) sorted[p] = keyed[p].row;
  // rank -> neighbours in a doubly-linked list over sorted positions; lcp_next[p] is the
  // common prefix of p and the row currently after it.
  std::vector<int32_t> position(static_cast<size_t>(n)), prev(static_cast<size_t>(n)),
      next(static_cast<size_t>(n));
  std::vector<int64_t> lcp_next(static_cast<size_t>(n), 0);
  for (int64_t p = 0; p < n; ++p) {
    position[sorted[p]] = static_cast<int32_t>(p);
    prev[p] = static_cast<int32_t>(p - 1);
    next[p] = p + 1 < n ? static_cast<int32_t>(p + 1) : -1;
    if (p + 1 < n) {
      const int32_t x = sorted[p], y = sorted[p + 1];
      const int64_t m = std::min(offsets[x + 1] - offsets[x], offsets[y + 1] - offsets[y]);
      lcp_next[p] = common_prefix(text + offsets[x], text + offsets[y], m);
    }
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    const int32_t p = position[i];
    const int32_t before = prev[p], after = next[p];
    int64_t best = after >= 0 ? lcp_next[p] : 0;
    if (before >= 0) best = std::max(best, lcp_next[before]);
    hits[i] = best;
    // unlink p: the common prefix of its two neighbours is the smaller of the two
    if (before >= 0) {
      next[before] = after;
      lcp_next[before] = after >= 0 ? std::min(lcp_next[before], lcp_next[p]) : 0;
    }
    if (after >= 0) prev[after] = before;
  }
  return hits;
}

// The bounded cache: a compressed character trie with LRU eviction of leaves.
template <class Char>
class LruTrie {
 public:
  LruTrie(const Char* text, int64_t capacity) : text_(text), capacity_(capacity) {
    nodes_.push_back(Node{});  // the root: an empty label, never evicted
  }

  // Sends one row (text [start, start + length)) at `time`; returns its hits.
  int64_t send(int64_t start, int64_t length, int64_t time) {
    const Char* s = text_ + start;
    int32_t node = kRoot;
    int64_t pos = 0;
    while (pos < length) {
      const int32_t child = find_child(node, s[pos]);
      if (child < 0) break;
      Node& c = nodes_[child];
      const int64_t m = common_prefix(text_ + c.start, s + pos, std::min<int64_t>(c.length,
                                                                               length - pos));
      if (m < c.length) split(child, m);  // the row leaves (or ends inside) this edge
      nodes_[child].time = time;
      node = child;
      pos += m;
      if (m < nodes_[child].length) break;
    }
    const int64_t hits = pos;
    if (pos < length) {
      const int32_t leaf = new_node(node, start + pos, length - pos, time);
      size_ += length - pos;
      leaves_.push({time, leaf});
    } else if (node != kRoot && nodes_[node].first_child < 0) {
      leaves_.push({time, node});  // a repeated row: its leaf is used again
    }
    evict();
    return hits;
  }

  int64_t size() const { return size_; }

 private:
  static constexpr int32_t kRoot = 0;
  struct Node {
    int64_t start = 0;    // label: text_[start, start + length)
    int64_t length = 0;
    int64_t time = -1;    // last row whose path went through this node
    uint32_t key = 0;     // first code unit of the label
    int32_t parent = -1;
    int32_t first_child = -1;
    int32_t prev_sibling = -1;
    int32_t next_sibling = -1;
    bool alive = true;
  };

  int32_t find_child(int32_t node, Char c) const {
    for (int32_t k = nodes_[node].first_child; k >= 0; k = nodes_[k].next_sibling)
      if (nodes_[k].key == static_cast<uint32_t>(c)) return k;
    return -1;
  }

  int32_t new_node(int32_t parent, int64_t start, int64_t length, int64_t time) {
    int32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      nodes_[id] = Node{};
    } else {
      id = static_cast<int32_t>(nodes_.size());
      nodes_.push_back(Node{});
    }
    Node& n = nodes_[id];
    n.start = start;
    n.length = length;
    n.time = time;
    n.key = static_cast<uint32_t>(text_[start]);
    n.parent = parent;
    link(parent, id);
    return id;
  }

  void link(int32_t parent, int32_t child) {
    Node& p = nodes_[parent];
    nodes_[child].prev_sibling = -1;
    nodes_[child].next_sibling = p.first_child;
    if (p.first_child >= 0) nodes_[p.first_child].prev_sibling = child;
    p.first_child = child;
  }

  void unlink(int32_t child) {
    Node& c = nodes_[child];
    if (c.prev_sibling >= 0) nodes_[c.prev_sibling].next_sibling = c.next_sibling;
    else nodes_[c.parent].first_child = c.next_sibling;
    if (c.next_sibling >= 0) nodes_[c.next_sibling].prev_sibling = c.prev_sibling;
  }

  // Cuts edge `id` after `at` characters: `id` keeps the head (and its place among its
  // siblings), a new node below it takes the tail, the children and the old time.
  void split(int32_t id, int64_t at) {
    const int32_t tail = static_cast<int32_t>(free_.empty() ? nodes_.size() : free_.back());
    if (free_.empty()) nodes_.push_back(Node{});
    else free_.pop_back();
    Node& head = nodes_[id];
    Node& t = nodes_[tail];
    t = Node{};
    t.start = head.start + at;
    t.length = head.length - at;
    t.time = head.time;
    t.key = static_cast<uint32_t>(text_[t.start]);
    t.parent = id;
    t.first_child = head.first_child;
    for (int32_t k = t.first_child; k >= 0; k = nodes_[k].next_sibling) nodes_[k].parent = tail;
    head.length = at;
    head.first_child = tail;
    if (t.first_child < 0) leaves_.push({t.time, tail});
  }

  void evict() {
    while (size_ > capacity_) {
      const auto [time, id] = leaves_.top();
      leaves_.pop();
      Node& n = nodes_[id];
      if (!n.alive || n.first_child >= 0 || n.time != time) continue;  // stale entry
      const int64_t excess = size_ - capacity_;
      if (n.length > excess) {
        n.length -= excess;  // the leaf loses its last characters and stays a leaf
        size_ = capacity_;
        leaves_.push({time, id});
        break;
      }
      size_ -= n.length;
      const int32_t parent = n.parent;
      unlink(id);
      n.alive = false;
      free_.push_back(id);
      if (parent != kRoot && nodes_[parent].first_child < 0)
        leaves_.push({nodes_[parent].time, parent});
    }
  }

  const Char* text_;
  int64_t capacity_;
  int64_t size_ = 0;
  std::vector<Node> nodes_;
  std::vector<int32_t> free_;
  using Entry = std::pair<int64_t, int32_t>;  // (time, node): least recent on top
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> leaves_;
};

// Per-row hits under the bounded LRU cache of `capacity` characters, rows in send order.
template <class Char>
std::vector<int64_t> lru_hits(const Char* text, const int64_t* offsets, int64_t n,
                              int64_t capacity) {
  if (capacity < 0) throw std::invalid_argument("capacity must be 0 or more characters");
  std::vector<int64_t> hits(static_cast<size_t>(n), 0);
  LruTrie<Char> cache(text, capacity);
  for (int64_t i = 0; i < n; ++i)
    hits[i] = cache.send(offsets[i], offsets[i + 1] - offsets[i], i);
  return hits;
}

}  // namespace adrs::prefix_cache
