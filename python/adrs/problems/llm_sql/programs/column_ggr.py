"""Column GGR (ours): GGR's greedy grouping at column granularity, over the whole table.

Rows are sent one after another; a row's text is its cells in the row's field order, and
the characters it shares as a prefix with an earlier row are served from the cache. At
each group of rows (first the whole table) this picks the column whose values repeat the
most within the group, scored as GGR scores columns (mean length squared times (rows per
distinct value - 1)), sends it next, splits the group by its value and recurses into each
part with the remaining columns. Unlike GGR there are no pieces and no depth limits, and
each part chooses its own next column: a beer's reviews can continue with the ratings
that repeat most for that beer. Columns whose values are nearly all distinct are set
aside and appended to every row, as GGR does. Parts are visited in value order, so rows
sharing a prefix are sent one after another (which a bounded cache rewards too).

table.columns: column names; table.rows: list of tuples of str (cells in column order);
table.merged: names of the merged columns. Return the rows to send, in order, each a
sequence of that row's own cells in the order to send them.
"""

DISTINCT_VALUE_THRESHOLD = 0.7  # columns with more distinct values than this share of rows


# EVOLVE-BLOCK-START
def reorder(table):
    rows = table.rows
    n, m = len(rows), len(table.columns)
    if n == 0 or m == 0:
        return rows
    values = [[row[c] for row in rows] for c in range(m)]  # column-major: fast gathers
    lengths = [list(map(len, column)) for column in values]

    def column_score(rids, c):
        distinct = len(set(map(values[c].__getitem__, rids)))
        k = len(rids)
        if distinct == k:
            return 0.0
        mean_length = sum(map(lengths[c].__getitem__, rids)) / k
        return mean_length * mean_length * (k / distinct - 1)

    everything = range(n)
    table_score = {c: column_score(everything, c) for c in range(m)}
    aside = [c for c in range(m) if len(set(values[c])) > DISTINCT_VALUE_THRESHOLD * n]
    aside.sort(key=lambda c: (-table_score[c], table.columns[c]))
    rank = {c: k for k, c in enumerate(sorted(range(m), key=lambda c: -table_score[c]))}
    kept = sorted((c for c in range(m) if c not in aside), key=rank.get)

    out = []

    def emit(rids, order):
        for r in sorted(rids, key=lambda r: [values[c][r] for c in order]):
            row = rows[r]
            out.append([row[c] for c in order] + [row[c] for c in aside])

    def split(rids, cols, prefix):
        if len(rids) == 1 or not cols:
            emit(rids, prefix + cols)
            return
        if len(rids) == 2:  # the columns the two rows agree on first
            a, b = rids
            same = [c for c in cols if values[c][a] == values[c][b]]
            emit(rids, prefix + same + [c for c in cols if c not in same])
            return
        best, best_score = None, 0.0
        for c in cols:  # ties: the table's ranking
            score = column_score(rids, c)
            if score > best_score:
                best, best_score = c, score
        if best is None:  # nothing repeats here: keep the table's column order
            emit(rids, prefix + cols)
            return
        parts = {}
        column = values[best]
        for r in rids:
            parts.setdefault(column[r], []).append(r)
        rest = [c for c in cols if c != best]
        for value in sorted(parts):
            split(parts[value], rest, prefix + [best])

    split(list(everything), kept, [])
    return out


# EVOLVE-BLOCK-END
