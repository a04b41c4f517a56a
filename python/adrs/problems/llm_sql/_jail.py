"""The jail side of ``llm-sql``: hand the candidate its table, send back its rows.

The zygote holds one split group's tables (train with its quick subset, or the held-out
test) as packed cell ids and texts. Every jailed process loads the program (its import
is part of the time the judge measures) and answers ``reorder {case}``: it gives the
candidate a fresh :class:`~adrs.problems.llm_sql._table.Table` and encodes the rows it
returns as ids into the table's texts. The judge checks they are a rearrangement of the
table and computes the hit rate with its own model.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateError, Handler, call_candidate, entry_point, load_module
from adrs.problems.llm_sql._table import Table
from adrs.simulators.llm_sql import PackedTable, encode_rows


class LlmSqlHandler(Handler):
    """Loads ``reorder``; ``reorder {case}`` returns its rows as cell ids."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        cases = {}
        for case in shared["cases"]:
            key = str(case["key"])
            table = PackedTable(tuple(case["columns"]), arrays[f"{key}.cells"],
                                tuple(case["texts"]), str(case["name"]))
            cases[key] = (table, tuple(table.rows()), tuple(case["merged"]))
        return cases

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        module = load_module(program, filename)
        self.reorder = entry_point(module, "reorder", f"{filename} defines no function 'reorder'")
        try:
            inspect.signature(self.reorder).bind(None)
        except TypeError:
            raise CandidateError(f"{filename}: reorder() must take one argument (table)") \
                from None
        except ValueError:  # a callable without a signature: let the call decide
            pass

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "reorder":
            return super().handle(op, header, arrays)
        table, rows, merged = self.prepared[str(header["case"])]
        given = Table(table.source, table.columns, list(rows), merged)
        output = call_candidate(self.reorder, given, what="reorder()",
                                filename=self.filename)
        if isinstance(output, Table):
            output = output.rows
        try:  # named here, where the rows exist; the judge checks the ids again
            cells = encode_rows(table, output)
        except ValueError as exc:
            raise CandidateError(str(exc)) from None
        return {}, {"cells": np.ascontiguousarray(cells, np.int32)}
