"""The ``llm-sql`` problem: reorder a table's rows, and each row's fields, so that rows sent
one after another to a language model reuse the cached prefixes of earlier rows (the
LLM-SQL case study of the ADRS paper, after "Optimizing LLM Queries in Relational Data
Analytics Workloads", MLSys'25).

The candidate defines ``reorder(table) -> rows``. The evaluator checks that the rows are
a rearrangement of the table's (every row once, each with its own cells, in any order),
computes the prefix hit rate natively, times the candidate, and scores with the paper's
formula or, by name, the reference evaluator's. Higher is better; a failed candidate
scores 0.0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.problems._base import (
    Baseline,
    EvalResult,
    Problem,
    check_choice,
    check_split,
    package_text,
)
from adrs.problems.llm_sql import _leaderboard as leaderboard
from adrs.problems.llm_sql import _workloads as workloads
from adrs.simulators.llm_sql import PackedTable, check_rearrangement, prefix_hits, read_csv

_PROGRAMS = "adrs.problems.llm_sql.programs"  # the bundled candidate programs

SCORERS = ("paper", "reference")
SUITES = ("default", "leaderboard")
CACHE_MODELS = ("unbounded", "lru")
FAILURE_SCORE = 0.0
DEFAULT_CACHE_CAPACITY = 100_000  # characters of the bounded cache (~25k tokens)
REFERENCE_TABLE_SLOTS = 5  # the reference evaluator averages over its five tables
REFERENCE_RUNTIME_CAP_S = 12.0
REORDER_TIMEOUT_S = 600.0
MAX_MESSAGE_CHARS = 400  # a failed leaderboard submission's one line
HIT_RATE_TOLERANCE = 1e-9  # hit rates this close are the same (they are exact ratios)


@dataclass(frozen=True)
class _BaselineSpec:
    name: str
    summary: str


_BASELINES = (
    _BaselineSpec("original", "the table as given: rows and fields untouched"),
    _BaselineSpec("ggr", "GGR (MLSys'25), the reference evaluator's seed: greedy value "
                         "grouping in pieces of 2,000 rows, with its arguments"),
    _BaselineSpec("column_ggr", "ours: GGR's recursion at column granularity on the whole "
                                "table, no pieces or depth limits (best known)"),
)




@dataclass(frozen=True)
class _Outcome:
    """One table's result."""

    name: str
    rows: int
    hit_count: int
    total_chars: int
    hit_rate: float
    lru_hit_rate: float
    runtime_s: float
    original_hit_rate: float
    runtimes: tuple[float, ...] = ()


class LlmSqlProblem(Problem):
    """Reorder table rows and fields for prefix-cache reuse.

    Args:
        data: A folder holding ``llm_sql_beer.csv`` (such as ``../shared/data``) or the
            file; None means ``$ADRS_DATA_DIR``, else a generated beer-like table.
        scorer: ``paper`` (default): ``0.5 * hit_rate + 0.5 / (1 + runtime_s)``, means
            over the split's tables; ``reference``: the reference evaluator's
            ``0.95 * hit_rate + 0.05 * (12 - min(12, runtime_s)) / 12``, sums divided by
            its five table slots.
        cache: Which hit rate the score uses: ``unbounded`` (default, the reference
            model) or ``lru`` (the bounded cache of ``cache_capacity`` characters).
        cache_capacity: Characters of the bounded LRU cache, reported as
            ``lru_hit_rate`` (and scored with ``cache="lru"``).
        table: A CSV file to evaluate on instead of the built-in splits (every split is
            then this table).
        col_merge: Merge groups for ``table``: ``"a+b;c+d"`` or a list of lists.
        timing_repeats: Fresh jailed runs per table; the runtime is the median of their
            CPU seconds (import included), measured from outside the jail.
        suite: ``default``, or ``leaderboard``: the ADRS Leaderboard's llm_sql, which
            scores leaderboard submissions (``Solution.solve(df)``) with its rules and
            0-100 formula on the tables of ``data`` (a folder holding any of its five
            CSVs; see :mod:`adrs.problems.llm_sql._leaderboard`), and our programs
            (``reorder(table)``) as submissions (:mod:`adrs.problems.llm_sql._submission`).

    Raises:
        ValueError: Unknown scorer, cache model or suite, a negative capacity,
            ``col_merge`` without ``table``, a merge the table refuses, or the leaderboard
            suite without any of its tables.
        FileNotFoundError: ``table`` does not exist.
    """

    name = "llm-sql"
    state_of_the_art = "ggr"
    summary_metrics = ("hit_rate", "runtime_s", "lru_hit_rate")
    failure_score = FAILURE_SCORE
    # ranges of the features, for MAP-Elites axes named in a run's config
    feature_ranges: Mapping[str, tuple[float, float]] = {"hit_rate": (0.0, 1.0),
                                                         "runtime_s": (0.0, 5.0)}

    def __init__(self, data: str | os.PathLike[str] | None = None, scorer: str = "paper",
                 cache: str = "unbounded", cache_capacity: int = DEFAULT_CACHE_CAPACITY,
                 table: str | os.PathLike[str] | None = None,
                 col_merge: str | Sequence[Sequence[str]] | None = None,
                 timing_repeats: int = 3, suite: str = "default") -> None:
        check_choice("suite", suite, SUITES)
        self.suite = suite
        self._leaderboard_paths = (leaderboard.find_tables(data)
                                   if suite == "leaderboard" else {})
        self._leaderboard_tables: dict[str, leaderboard.LeaderboardTable] = {}
        if scorer not in SCORERS:
            raise ValueError(f"unknown scorer {scorer!r}; expected one of {', '.join(SCORERS)}")
        if cache not in CACHE_MODELS:
            raise ValueError(f"unknown cache {cache!r}; expected one of "
                             f"{', '.join(CACHE_MODELS)}")
        if isinstance(cache_capacity, bool) or not isinstance(cache_capacity, int) \
                or cache_capacity < 0:
            raise ValueError(f"cache_capacity must be a whole number of characters, 0 or more; "
                             f"got {cache_capacity!r}")
        if isinstance(timing_repeats, bool) or not isinstance(timing_repeats, int) \
                or timing_repeats < 1:
            raise ValueError(f"timing_repeats must be a positive integer, got {timing_repeats!r}")
        self.timing_repeats = timing_repeats
        self._tasks: dict[str, JailTask] = {}
        self._submission_dir: str | None = None  # where our programs become submissions
        merges = workloads.parse_merges(col_merge)
        if merges and table is None:
            raise ValueError("col_merge applies to your own table: give table too")
        self.scorer = scorer
        self.cache = cache
        self.cache_capacity = int(cache_capacity)
        self._data = data
        self._custom_table = table
        self._custom_merges = merges
        self._beer: Any = None
        self._cases: dict[str, list[workloads.Case]] = {}
        if table is not None:  # fail now, not at the first evaluation
            self._cases["custom"] = [self._custom_case()]

    # -- the Problem contract -------------------------------------------------------------

    def explain_gain(self, best: Mapping[str, float],
                     initial: Mapping[str, float]) -> str | None:
        """Say so when a better score comes from runtime alone: the hit rate is exact and
        the same from run to run, the runtime is a measurement (a few thousandths of
        score of noise), so a gain without a better hit rate is a faster program, not a
        better order."""
        try:
            rates = (float(best["hit_rate"]), float(initial["hit_rate"]))
            runtimes = (float(best["runtime_s"]), float(initial["runtime_s"]))
        except (KeyError, TypeError, ValueError):
            return None
        if rates[0] > rates[1] + HIT_RATE_TOLERANCE or runtimes[0] >= runtimes[1]:
            return None
        if rates[0] < rates[1] - HIT_RATE_TOLERANCE:
            how = f"hit rate DOWN from {rates[1]:.4f} to {rates[0]:.4f}"
        else:
            how = f"hit rate unchanged at {rates[0]:.4f}"
        return (f"the gain is speed only ({how}): runtime down from {runtimes[1]:.4f} s to "
                f"{runtimes[0]:.4f} s (CPU time, median of {self.timing_repeats} jailed runs)")

    @property
    def description(self) -> str:  # type: ignore[override]
        return package_text("adrs.problems.llm_sql", "description.md")

    @property
    def initial_program(self) -> str:
        return package_text(_PROGRAMS, "ggr.py")

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {spec.name: Baseline(spec.name, spec.summary,
                                    package_text(_PROGRAMS, f"{spec.name}.py"))
                for spec in _BASELINES}

    def jail_task(self, split: str) -> JailTask:
        """The tables of ``split``'s group (train with quick, the held-out test, or the
        custom table) as cell ids and texts."""
        check_split(split)
        group = ("custom",) if self._custom_table is not None else (
            ("test",) if split == "test" else ("train", "quick"))
        if group[0] not in self._tasks:
            shared: dict[str, Any] = {"cases": []}
            arrays = {}
            for member in group:
                cases = self.cases(split if member == "custom" else member)
                for index, case in enumerate(cases):
                    key = f"{member}.{index}"
                    shared["cases"].append({"key": key, "name": case.name,
                                            "columns": list(case.table.columns),
                                            "texts": list(case.table.texts),
                                            "merged": list(case.merged)})
                    arrays[f"{key}.cells"] = case.table.cells
            self._tasks[group[0]] = JailTask("adrs.problems.llm_sql._jail:LlmSqlHandler",
                                             f"llm-sql/{group[0]}", shared, arrays)
        return self._tasks[group[0]]

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        if self.suite == "leaderboard":
            return self._evaluate_as_submission(program, split, runner)
        started = time.perf_counter()
        cases = self.cases(split)
        runner = self.local_runner(runner)
        task = self.jail_task(split)
        split_key = "custom" if self._custom_table is not None else split
        outcomes = []
        simulate_seconds = 0.0
        for index, case in enumerate(cases):
            runtimes, hits, previous = [], None, None
            for _ in range(self.timing_repeats):
                try:
                    cells, runtime = self._run_once(runner, task, program, filename,
                                                    f"{split_key}.{index}")
                    if previous is not None and np.array_equal(cells, previous):
                        runtimes.append(runtime)  # the same rows: checked and scored already
                        continue
                    if cells.shape[1] != case.table.n_cols or (cells.size and (
                            cells.min() < 0 or cells.max() >= len(case.table.texts))):
                        raise ValueError("the jail's reply holds cell ids outside the table")
                    check_rearrangement(case.table, cells)
                except _LoadFailed as exc:
                    return self._failed(str(exc), split, started)
                except (CandidateFailure, ValueError) as exc:
                    return self._failed(f"table {case.name}: {exc}", split, started)
                runtimes.append(runtime)
                previous = cells
                begun = time.perf_counter()
                output_table = PackedTable(case.table.columns, cells, case.table.texts,
                                           case.table.source)
                unbounded = prefix_hits(output_table)
                lru = prefix_hits(output_table, capacity=self.cache_capacity)
                simulate_seconds += time.perf_counter() - begun
                # a candidate whose rows differ between runs is scored on its worst ones
                if hits is None or unbounded.hit_count < hits[0].hit_count:
                    hits = (unbounded, lru)
            assert hits is not None
            unbounded, lru = hits
            outcomes.append(_Outcome(case.name, case.table.n_rows, unbounded.hit_count,
                                     unbounded.total_chars, unbounded.hit_rate, lru.hit_rate,
                                     float(np.median(runtimes)), case.original_hit_rate,
                                     tuple(runtimes)))
        return self._result(outcomes, split, started, simulate_seconds)

    def _run_once(self, runner: Runner, task: JailTask, program: str, filename: str,
                  case_key: str) -> tuple[np.ndarray, float]:
        """One fresh process: load the program, reorder one table. Returns the output's
        cell ids and the CPU seconds the candidate's processes used, import included."""
        try:
            opened = runner.session(task, program, filename, cpu=True)
        except CandidateFailure as exc:
            raise _LoadFailed(str(exc)) from None
        with opened as session:
            reply = session.call("reorder", {"case": case_key}, timeout=REORDER_TIMEOUT_S,
                                 doing="reorder()", cpu=True)
            load = session.load_reply
        cells = reply.arrays.get("cells")
        if cells is None or cells.ndim != 2 or cells.dtype != np.int32:
            raise ValueError("the jail's reply holds no rows of cell ids")
        load_cpu = load.cpu_s if load is not None and load.cpu_s is not None else 0.0
        return cells, load_cpu + (reply.cpu_s or 0.0)

    # -- the leaderboard suite -------------------------------------------------------------

    def _evaluate_as_submission(self, program: str, split: str,
                                runner: Runner | None) -> EvalResult:
        """An adrs program (``reorder(table)``) scored as a leaderboard submission: the
        ``solution.py`` of :mod:`adrs.problems.llm_sql._submission` around it, run and
        scored as any submission is. The file lies in a folder of this problem's own, at
        one path, so that every program shares one jail."""
        import shutil
        import tempfile
        import weakref
        from pathlib import Path

        from adrs.problems.llm_sql._submission import submission_source

        if self._submission_dir is None:
            self._submission_dir = tempfile.mkdtemp(prefix="adrs-llm-sql-submission-")
            weakref.finalize(self, shutil.rmtree, self._submission_dir, True)
        path = Path(self._submission_dir) / "solution.py"
        path.write_text(submission_source(program))
        return self.evaluate_solution_file(path, split, runner, folder=None)

    def leaderboard_tables(self) -> list[leaderboard.LeaderboardTable]:
        """The leaderboard tables found in ``data``, read and baselined once."""
        for name, path in self._leaderboard_paths.items():
            if name not in self._leaderboard_tables:
                self._leaderboard_tables[name] = leaderboard.load_table(name, path)
        return list(self._leaderboard_tables.values())

    def evaluate_solution_file(self, path: str | os.PathLike[str], split: str = "train",
                               runner: Runner | None = None,
                               folder: str | None = "llm_sql") -> EvalResult:
        """Score a leaderboard submission (``solution.py`` with ``Solution.solve(df)``)
        by the leaderboard's rules on the tables found (every split is those tables: the
        leaderboard holds none out).

        The runtime of each table is the wall time of the jailed ``solve()`` call and of
        reading the frame it returned (a frame's methods may be the submission's code),
        measured by the judge around them (the leaderboard times ``solve()`` inside its
        own process); it is a measurement, so the score's runtime part (5%) differs from
        run to run and machine to machine, the hit rates do not.

        Raises:
            ValueError: Not the leaderboard suite, or not a text file.
            FileNotFoundError: No such file.
        """
        from pathlib import Path

        from adrs.leaderboard import checkout_of

        if self.suite != "leaderboard":
            raise ValueError("leaderboard submissions are scored by llm-sql@leaderboard")
        check_split(split)
        started = time.perf_counter()
        file = Path(path).resolve()
        if not file.is_file():
            raise FileNotFoundError(f"solution not found: {file}")
        try:
            source = file.read_text()
        except UnicodeDecodeError:
            raise ValueError(f"{file} is not a text file") from None
        tables = self.leaderboard_tables()
        root = checkout_of(file)
        task = JailTask("adrs.problems.llm_sql._leaderboard_jail:LeaderboardSolutionHandler",
                        f"llm-sql-leaderboard/{file}",
                        {"tables": [t.name for t in tables],
                         "merges": {t.name: [list(g) for g in t.merges] for t in tables},
                         "path": str(file), "root": str(root), "folder": folder},
                        {f"{t.name}.csv": np.frombuffer(t.csv, np.uint8) for t in tables},
                        paths=(str(root),))
        runner = self.local_runner(runner)
        names = [t.name for t in tables]
        hit_rates, runtimes, per_table = [], [], []
        simulate_seconds = 0.0
        for table in tables:
            try:
                with runner.session(task, source, file.name) as session:
                    # timed: solve(), and reading the frame it returned, which may be the
                    # submission's own code (a frame that computes itself when read)
                    begun = time.perf_counter()
                    session.call("solve", {"table": table.name}, timeout=REORDER_TIMEOUT_S,
                                 doing=f"solve() on {table.name}")
                    reply = session.call("rows", {}, timeout=REORDER_TIMEOUT_S,
                                         doing="sending the frame's cells")
                    runtime = time.perf_counter() - begun
                begun = time.perf_counter()
                rows = _decode_rows(reply.header, reply.arrays)
                leaderboard.check_rows(table, rows)
                hits = leaderboard.prefix_hit_count(rows)
                simulate_seconds += time.perf_counter() - begun
            except (CandidateFailure, ValueError) as exc:
                message = " ".join(str(exc).split())
                if len(message) > MAX_MESSAGE_CHARS:  # a pandas error quotes whole columns
                    message = message[:MAX_MESSAGE_CHARS - 3] + "..."
                return EvalResult(self.failure_score, {}, {},
                                  f"The solution failed: {message}", message,
                                  {"split": split, "tables": names, "suite": "leaderboard"},
                                  time.perf_counter() - started)
            total = table.total_chars
            hit_rates.append(hits / total if total else 0.0)
            runtimes.append(runtime)
            per_table.append({"name": table.name, "path": str(table.path),
                              "rows": len(table.rows), "hit_count": hits,
                              "total_chars": total, "hit_rate": hit_rates[-1],
                              "baseline_hit_rate": table.baseline_hit_rate,
                              "runtime_s": runtime})
        baseline = sum(t.baseline_hit_rate for t in tables) / len(tables)
        parts = leaderboard.score(hit_rates, runtimes, baseline)
        metrics = {"combined_score": parts["score"], **parts,
                   "tables_scored": float(len(tables))}
        for entry in per_table:
            metrics[f"hit_rate[{entry['name']}]"] = entry["hit_rate"]
        missing = [name for name in leaderboard.TABLES if name not in names]
        feedback = "\n".join([
            (f"score {parts['score']:.6f} = 0.95 * normalized hit score "
             f"{parts['normalized_hit_score']:.6f} + 0.05 * runtime component "
             f"{parts['runtime_component']:.4f} (leaderboard formula)"),
            f"tables scored: {', '.join(names)}"
            + (f"; not given: {', '.join(missing)} (the published scores use all five)"
               if missing else ""),
            *(f"{e['name']}: {e['rows']:,} rows, {e['hit_count']:,} of {e['total_chars']:,} "
              f"characters hit ({100 * e['hit_rate']:.4f}%; its own order "
              f"{100 * e['baseline_hit_rate']:.4f}%), solve() {e['runtime_s']:.3f} s wall"
              for e in per_table)])
        details = {"split": split, "suite": "leaderboard",
                   "data": "; ".join(str(t.path) for t in tables),
                   "tables": names, "tables_missing": missing,
                   "timing": "wall seconds of the jailed solve() call and of reading its "
                             "frame, measured by the judge (not reproducible: the runtime "
                             "component varies)",
                   "simulate_seconds": simulate_seconds, "per_table": per_table}
        return EvalResult(parts["score"], metrics, {}, feedback, None, details,
                          time.perf_counter() - started)

    # -- workloads ----------------------------------------------------------------------

    def cases(self, split: str) -> list[workloads.Case]:
        """The tables of a split (the custom table for every split when one was given).

        Raises:
            ValueError: Unknown split.
        """
        check_split(split)
        key = "custom" if self._custom_table is not None else split
        if key not in self._cases:
            if self._beer is None:
                self._beer = workloads.resolve_beer(self._data)
            self._cases[key] = workloads.split_cases(split, self._beer)
        return self._cases[key]

    def _custom_case(self) -> workloads.Case:
        table = read_csv(self._custom_table)  # type: ignore[arg-type]
        name = os.path.splitext(os.path.basename(str(self._custom_table)))[0]
        return workloads.make_case(name, table, self._custom_merges)

    def _source(self, split: str) -> str:
        return "; ".join(dict.fromkeys(case.table.source for case in self.cases(split)))

    # -- scoring ------------------------------------------------------------------------

    def _score(self, outcomes: list[_Outcome]) -> tuple[float, float, float]:
        """The score, and the hit rate and runtime it used."""
        rates = [o.lru_hit_rate if self.cache == "lru" else o.hit_rate for o in outcomes]
        runtimes = [o.runtime_s for o in outcomes]
        if self.scorer == "paper":
            hit_rate = sum(rates) / len(rates)
            runtime = sum(runtimes) / len(runtimes)
            return 0.5 * hit_rate + 0.5 / (1.0 + runtime), hit_rate, runtime
        slots = max(REFERENCE_TABLE_SLOTS, len(outcomes))
        hit_rate = sum(rates) / slots
        runtime = sum(runtimes) / slots
        runtime_term = (REFERENCE_RUNTIME_CAP_S - min(REFERENCE_RUNTIME_CAP_S, runtime)) \
            / REFERENCE_RUNTIME_CAP_S
        return 0.95 * hit_rate + 0.05 * runtime_term, hit_rate, runtime

    def _result(self, outcomes: list[_Outcome], split: str, started: float,
                simulate_seconds: float) -> EvalResult:
        score, scored_rate, scored_runtime = self._score(outcomes)
        n = len(outcomes)
        metrics: dict[str, float] = {
            "combined_score": score,
            "hit_rate": sum(o.hit_rate for o in outcomes) / n,
            "runtime_s": sum(o.runtime_s for o in outcomes) / n,
            "lru_hit_rate": sum(o.lru_hit_rate for o in outcomes) / n,
            "hit_count": float(sum(o.hit_count for o in outcomes)),
            "total_chars": float(sum(o.total_chars for o in outcomes)),
        }
        if n > 1:
            for o in outcomes:
                metrics[f"hit_rate[{o.name}]"] = o.hit_rate
                metrics[f"runtime_s[{o.name}]"] = o.runtime_s
        features = {"hit_rate": metrics["hit_rate"], "runtime_s": metrics["runtime_s"]}
        details = {
            "split": split,
            "data": self._source(split),
            "scorer": self.scorer,
            "cache": self.cache,
            "cache_capacity": self.cache_capacity,
            "simulate_seconds": simulate_seconds,
            "timing": (f"CPU seconds of the candidate's processes from its import to its "
                       f"answer, median of {self.timing_repeats} fresh runs"),
            "tables": [{
                "name": o.name, "rows": o.rows, "hit_count": o.hit_count,
                "total_chars": o.total_chars, "hit_rate": o.hit_rate,
                "lru_hit_rate": o.lru_hit_rate, "runtime_s": o.runtime_s,
                "runtimes_s": list(o.runtimes), "original_hit_rate": o.original_hit_rate,
            } for o in outcomes],
        }
        feedback = self._feedback(outcomes, score, scored_rate, scored_runtime)
        return EvalResult(score, metrics, features, feedback, None, details,
                          time.perf_counter() - started)

    def _feedback(self, outcomes: list[_Outcome], score: float, rate: float,
                  runtime: float) -> str:
        which = "LRU" if self.cache == "lru" else "hit"
        if self.scorer == "paper":
            formula = (f"score {score:.6f} = 0.5 * {which} rate {rate:.6f} + 0.5 / (1 + "
                       f"{runtime:.3f} s) (paper scorer; means over {len(outcomes)} table"
                       f"{'s' if len(outcomes) > 1 else ''})")
        else:
            formula = (f"score {score:.6f} = 0.95 * {which} rate {rate:.6f} + 0.05 * (12 - "
                       f"min(12, {runtime:.3f} s)) / 12 (reference scorer; sums over "
                       f"{max(REFERENCE_TABLE_SLOTS, len(outcomes))} table slots)")
        lines = [formula]
        for o in outcomes:
            lines.append(
                f"{o.name}: {o.rows:,} rows, {o.hit_count:,} of {o.total_chars:,} characters "
                f"hit ({100 * o.hit_rate:.3f}%; the table as given: "
                f"{100 * o.original_hit_rate:.3f}%) in {o.runtime_s:.3f} s; LRU cache of "
                f"{self.cache_capacity:,} characters: {100 * o.lru_hit_rate:.3f}%")
        return "\n".join(lines)

    def _failed(self, message: str, split: str, started: float) -> EvalResult:
        details = {"split": split, "data": self._source(split), "scorer": self.scorer}
        return EvalResult(self.failure_score, {}, {}, f"The candidate failed: {message}",
                          message, details, time.perf_counter() - started)


def _decode_rows(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                 ) -> list[tuple[str, ...]]:
    """The rows the jail sent: ``rows`` x ``columns`` cells, ``lengths`` characters each
    out of the UTF-8 text ``data``.

    Raises:
        ValueError: The reply does not hold such rows.
    """
    try:
        n_rows, n_cols = int(header["rows"]), int(header["columns"])
        lengths = np.asarray(arrays["lengths"], np.int64)
        text = np.asarray(arrays["data"], np.uint8).tobytes().decode("utf-8", "surrogatepass")
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        raise ValueError("the jail's reply holds no rows of cell texts") from None
    if n_rows < 0 or n_cols < 0 or lengths.shape != (n_rows * n_cols,) \
            or (lengths.size and lengths.min() < 0) or int(lengths.sum()) != len(text):
        raise ValueError("the jail's reply holds cells that do not add up")
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    cells = [text[a:b] for a, b in zip(starts, ends)]
    return [tuple(cells[r * n_cols:(r + 1) * n_cols]) for r in range(n_rows)]


class _LoadFailed(Exception):
    """The program did not load (named without a table: no table was involved)."""
