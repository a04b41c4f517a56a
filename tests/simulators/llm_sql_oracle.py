"""Pure-Python oracle of the LLM-SQL prefix-hit model.

The readable statement of the rules the C++ model (``cpp/include/adrs/prefix_cache.hpp``)
is tested against, favouring clarity over speed; not part of the package.

A row's text is its cells concatenated, with no separator, in the row's field order.
Rows are sent in a given order.

* Unbounded cache (``../shared/specs/llm_sql.md``): a row's hits are the length of the
  longest common prefix of its text with any earlier row's text.
* Bounded LRU cache of ``capacity`` characters (docs/llm_sql.md): the cache is the
  character trie of the prefixes it holds, one node per character. A row's hits are the
  length of the longest prefix of its text in the trie; then every prefix of its text is
  in the trie and every node on its path takes the row's time; then, while the trie holds
  more than ``capacity`` nodes, the least recently used leaf is removed.
"""

from __future__ import annotations

from collections.abc import Sequence


def row_texts(rows: Sequence[Sequence[str]], row_order: Sequence[int] | None = None,
              field_orders: Sequence[Sequence[int]] | None = None) -> list[str]:
    """Texts of the rows in send order (``field_orders[r]`` is table row ``r``'s order)."""
    order = range(len(rows)) if row_order is None else row_order
    texts = []
    for r in order:
        fields = range(len(rows[r])) if field_orders is None else field_orders[r]
        texts.append("".join(rows[r][c] for c in fields))
    return texts


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def hits_by_definition(texts: Sequence[str]) -> list[int]:
    """The spec's words, quadratic: the longest common prefix with any earlier row."""
    return [max((common_prefix(text, earlier) for earlier in texts[:i]), default=0)
            for i, text in enumerate(texts)]


def unbounded_hits(texts: Sequence[str]) -> list[int]:
    """The same with a character trie: walk the cached prefix, then insert the rest."""
    root: dict[str, dict] = {}
    hits = []
    for text in texts:
        node, matched = root, 0
        for ch in text:
            if ch not in node:
                break
            node = node[ch]
            matched += 1
        hits.append(matched)
        for ch in text[matched:]:
            node = node.setdefault(ch, {})
    return hits


class _Node:
    __slots__ = ("char", "children", "parent", "time")

    def __init__(self, char: str, parent: _Node | None, time: int) -> None:
        self.char = char
        self.parent = parent
        self.children: dict[str, _Node] = {}
        self.time = time


def lru_hits(texts: Sequence[str], capacity: int) -> list[int]:
    """Hits under the bounded LRU cache of ``capacity`` characters.

    Raises:
        AssertionError: Two leaves share the least recent time (the model says that
            cannot happen, which is what makes its eviction order unique).
    """
    root = _Node("", None, -1)
    alive: list[_Node] = []
    hits = []
    for t, text in enumerate(texts):
        node, matched = root, 0
        for ch in text:
            child = node.children.get(ch)
            if child is None:
                break
            node, matched = child, matched + 1
        hits.append(matched)
        node = root
        for ch in text:
            child = node.children.get(ch)
            if child is None:
                child = _Node(ch, node, t)
                node.children[ch] = child
                alive.append(child)
            child.time = t
            node = child
        while len(alive) > capacity:
            leaves = [n for n in alive if not n.children]
            oldest = min(n.time for n in leaves)
            victims = [n for n in leaves if n.time == oldest]
            assert len(victims) == 1, f"{len(victims)} leaves of time {oldest}"
            victim = victims[0]
            del victim.parent.children[victim.char]  # type: ignore[union-attr]
            alive.remove(victim)
    return hits
