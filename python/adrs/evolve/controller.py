"""The search loop: select, propose, deduplicate, evaluate, record, repeat.

One asyncio task drives everything in the controller process: it asks the island model
for parents, runs generator proposals concurrently, hands new programs to the executor,
and records every proposal and every result in the database the moment it exists, so a
run killed at any point resumes from the database alone (``Controller.resume``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from adrs import __version__
from adrs.evolve._candidate import Candidate
from adrs.evolve._program import (
    code_features,
    node_histogram,
    program_hash,
    region_text,
    unusable,
)
from adrs.evolve._progress import Progress, ProgressStats
from adrs.evolve.archive import resolve_dimensions
from adrs.evolve.config import RunConfig, config_from_mapping, config_to_mapping
from adrs.evolve.database import Database
from adrs.evolve.executor import (
    KILLED_ITS_EVALUATOR,
    EvalJob,
    EvalOutcome,
    Executor,
    LocalExecutor,
    ProblemSpec,
)
from adrs.evolve.generators._base import Generator, Proposal, ProposalContext
from adrs.evolve.generators.mutator import OfflineMutator
from adrs.evolve.islands import IslandModel, Selection
from adrs.evolve.prompts import PromptBuilder
from adrs.jail._layers import Layers
from adrs.jail._wire import clean_text
from adrs.problems._base import Problem

DB_NAME = "run.sqlite"
BEST_NAME = "best_program.py"
# best_program.py is rewritten at most this often while a run goes on (a fast search finds
# a new best at nearly every candidate), and always at its end; the database has each one
BEST_WRITE_INTERVAL_S = 1.0
SUMMARY_NAME = "summary.json"
_RECENT_ERRORS = 2
_MAX_ATTEMPTS = 2  # evaluations started before a candidate counts as killing its evaluator
_SOTA_JOB = -(1 << 62)  # the job id of the state of the art's evaluation at the end


@dataclass(frozen=True)
class RunSummary:
    """What a finished (or stopped) run reports.

    Attributes:
        out_dir: The run folder.
        problem: Problem label.
        budget: Candidates to evaluate.
        counts: Candidates per status.
        best_id: Best candidate by train score (None when nothing scored).
        best_train: Its train score.
        best_test: Its held-out test score (None when not computed).
        initial_train: The initial program's train score.
        initial_test: The initial program's test score.
        seconds: Wall time of this session.
        rate_per_hour: Candidates evaluated per hour in this session.
        llm: Model call totals (calls, errors, tokens, cost).
        stopped: Why the run ended (``budget reached``...).
        islands: Per-island members, cells, best.
        best_program_path: Where the best program was written.
        data: Which workloads the scores come from (synthetic, or the real data's path).
        comparison: The best program, the initial one and the problem's published state
            of the art side by side: per row ``program``, ``train``, ``test`` and the
            problem's constraint metrics on each split.
        notes: The problem's words on where the gain over the initial program comes from,
            per split, when the score alone would mislead (llm-sql: speed only).
        warnings: One line per configuration key that was ignored (a task folder's
            OpenEvolve keys without an equivalent), as recorded in the run database.
        failure: When no candidate was scored, the most common reason they failed, with
            its count (``12 of 12 failed: ...``); else None.
        executor: Where candidates were evaluated: ``kind`` (``local``, ``ray``),
            ``workers``, and for Ray its ``address`` and the cluster's ``nodes``.
    """

    out_dir: str
    problem: str
    budget: int
    counts: Mapping[str, int]
    best_id: int | None
    best_train: float | None
    best_test: float | None
    initial_train: float | None
    initial_test: float | None
    seconds: float
    rate_per_hour: float
    llm: Mapping[str, float]
    stopped: str
    islands: Sequence[Mapping[str, Any]] = field(default_factory=list)
    best_program_path: str | None = None
    data: str | None = None
    comparison: Sequence[Mapping[str, Any]] = field(default_factory=list)
    notes: Sequence[str] = field(default_factory=list)
    warnings: Sequence[str] = field(default_factory=list)
    failure: str | None = None
    executor: Mapping[str, Any] = field(default_factory=dict)

    @property
    def beats_state_of_the_art(self) -> dict[str, bool | None]:
        """Per split, whether the best program scores above the state of the art."""
        rows = {row["role"]: row for row in self.comparison}
        best, sota = rows.get("best"), rows.get("state of the art")
        out: dict[str, bool | None] = {}
        for split in ("train", "test"):
            if best is None or sota is None or best.get(split) is None \
                    or sota.get(split) is None:
                out[split] = None
            else:
                out[split] = bool(best[split] > sota[split])
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir, "problem": self.problem, "budget": self.budget,
            "counts": dict(self.counts), "best_id": self.best_id,
            "best_train": self.best_train, "best_test": self.best_test,
            "initial_train": self.initial_train, "initial_test": self.initial_test,
            "seconds": round(self.seconds, 3), "rate_per_hour": round(self.rate_per_hour, 1),
            "llm": dict(self.llm), "stopped": self.stopped, "islands": list(self.islands),
            "best_program_path": self.best_program_path, "data": self.data,
            "comparison": [dict(row) for row in self.comparison],
            "beats_state_of_the_art": self.beats_state_of_the_art,
            "notes": list(self.notes), "warnings": list(self.warnings),
            "failure": self.failure,
            "executor": dict(self.executor),
        }


class _Scores(NamedTuple):
    """A program's score and metrics on one split."""

    score: float
    metrics: Mapping[str, float]


class ModelsFailing(ValueError):
    """The models do not answer: the run stops (or does not start), naming the endpoint
    and the last error."""


@dataclass
class _Pending:
    """A queued candidate the controller waits for."""

    candidate: Candidate


class Controller:
    """Runs one search into an output folder.

    Args:
        spec: How to build the problem (in this process and in every worker).
        config: The run configuration.
        out_dir: Folder for ``run.sqlite``, ``best_program.py``, ``summary.json``.
        resume: Continue the run stored in ``out_dir`` instead of starting one.
        progress: Stream for the live display (None: silent).
        generator: Use this generator instead of the configured one (tests, benches).
        executor: Use this executor instead of local workers (tests, benches, Ray).
        argv: Command line recorded in the ``runs`` table.
        unsafe_no_sandbox: Let a model-driven run start even where candidates cannot be
            isolated (no namespaces on this machine).
        warnings: Lines about the configuration (ignored keys), recorded in the run
            database (meta ``config_warnings``) and in the summary.
    """

    def __init__(self, spec: ProblemSpec, config: RunConfig, out_dir: str | Path, *,
                 resume: bool = False, progress: TextIO | None = None,
                 generator: Generator | None = None, executor: Executor | None = None,
                 argv: Sequence[str] = (), unsafe_no_sandbox: bool = False,
                 warnings: Sequence[str] = ()) -> None:
        self.spec = spec
        self.warnings = list(warnings)
        self.config = config
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.progress = Progress(progress, config.progress_interval_s)
        self._generator = generator
        self._executor = executor
        self.argv = list(argv)
        self.unsafe_no_sandbox = unsafe_no_sandbox

    @classmethod
    def resume_run(cls, out_dir: str | Path, *, budget: int | None = None,
                   workers: int | None = None, progress: TextIO | None = None,
                   argv: Sequence[str] = (), unsafe_no_sandbox: bool = False,
                   executor: str | None = None,
                   ray_address: str | None = None,
                   generator: str | None = None) -> Controller:
        """A controller that continues the run stored in ``out_dir``.

        Args:
            budget: Replaces the stored budget when given.
            workers: Replaces the stored worker count when given.
            executor: Replaces the stored executor kind (``local``, ``ray``) when given:
                a run may go on elsewhere.
            ray_address: Replaces the stored Ray address when given.
            generator: Replaces the stored generator kind (``mutator`` for ``--offline``,
                ``llm``) when given: a run whose models are gone may go on offline.

        Raises:
            FileNotFoundError: ``out_dir`` holds no run database.
            ValueError: The database is not a run database.
        """
        path = Path(out_dir) / DB_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no run to resume: {path} does not exist")
        db = Database(path)
        try:
            stored_spec = db.get_meta("problem_spec")
            stored_config = db.get_meta("config")
        finally:
            db.close()
        if stored_spec is None or stored_config is None:
            raise ValueError(f"{path}: the run was stopped before it started; start it again "
                             "without --resume")
        if budget is not None:
            stored_config["budget"] = budget
        if workers is not None:
            stored_config["workers"] = workers
        if executor is not None or ray_address is not None:
            section = dict(stored_config.get("executor") or {})
            if executor is not None:
                section["kind"] = executor
            if ray_address is not None:
                section["ray"] = {**dict(section.get("ray") or {}), "address": ray_address}
            stored_config["executor"] = section
        if generator is not None:
            stored_config["generator"] = {**dict(stored_config.get("generator") or {}),
                                          "kind": generator}
        config = config_from_mapping(stored_config, f"{path} (stored config)")
        spec = ProblemSpec(stored_spec["factory"], stored_spec["options"],
                           stored_spec["label"])
        return cls(spec, config, out_dir, resume=True, progress=progress, argv=argv,
                   unsafe_no_sandbox=unsafe_no_sandbox)

    # -- setup ------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run the search to its budget (or until stopped) and report.

        Raises:
            ValueError: The output folder already holds a run (without ``resume``), the
                problem cannot be built, or the configuration does not fit the problem.
            FileNotFoundError: Resuming a folder with no run.
        """
        return asyncio.run(self._run())

    async def _run(self) -> RunSummary:
        created = not self.out_dir.exists()
        try:
            return await self._run_in_folder()
        except BaseException:
            # a start that failed before the run's database existed leaves nothing behind
            if created and not (self.out_dir / DB_NAME).exists():
                shutil.rmtree(self.out_dir, ignore_errors=True)
            raise

    async def _run_in_folder(self) -> RunSummary:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        db_path = self.out_dir / DB_NAME
        if self.resume and not db_path.is_file():
            raise FileNotFoundError(f"no run to resume: {db_path} does not exist")
        if not self.resume and _holds_run(db_path):
            raise ValueError(f"{self.out_dir} already holds a run; pass --resume to "
                             "continue it or choose another --out")
        problem = self.spec.build()
        generator = self._generator or self._build_generator(problem)
        executor = self._executor or self._build_executor()
        self._started = time.monotonic()
        try:
            # workers first: a problem that cannot be built leaves no database behind
            warm = executor.start()
            self._check_isolation(warm)
            check_calls = await self._check_models(generator)
            self.db = Database(db_path)
            try:
                self._setup(problem, generator, executor, warm)
                if check_calls:
                    self.db.add_calls(check_calls)
                status = "interrupted"
                try:
                    await self._loop()
                    status = "completed"
                    await self._final_tests()
                finally:
                    self.db.finish_run(f"stopped: {self._stopped}" if self._stopped
                                       else status)
                summary = self._finish()
                if self._fatal:
                    raise ModelsFailing(self._fatal)
                return summary
            finally:
                self.db.close()
        finally:
            executor.close()
            await generator.aclose()

    async def _check_models(self, generator: Generator) -> list[Any]:
        """One cheap request per model before the first proposal: name the ones that do
        not answer, and refuse to start when none does.

        Raises:
            ModelsFailing: No model answered.
        """
        check = getattr(generator, "check", None)
        if check is None or not self.config.generator.check_models:
            return []
        problems, calls = await check()
        if problems and len(problems) == len(self.config.generator.models):
            raise ModelsFailing("no model answers: " + "; ".join(problems))
        for problem in problems:
            self.progress.message(f"warning: {problem}")
        return calls

    def _check_isolation(self, warm: Mapping[str, Any]) -> None:
        """Say which jail layers are active; refuse a model-driven run without isolation.

        Raises:
            ValueError: No PID, network or mount namespace and models generate the
                candidates, without ``unsafe_no_sandbox``.
        """
        if "layers" not in warm:
            return  # an executor of a test or bench that runs no jail
        layers = Layers.from_json(warm["layers"])
        self.progress.message(layers.summary())
        if not layers.isolated:
            if self.config.generator_kind == "llm" and not self.unsafe_no_sandbox:
                missing = "; ".join(f"{m.name}: {m.detail}" for m in layers.missing
                                    if m.name in ("pid", "net", "mount"))
                raise ValueError("candidates from a model cannot be isolated on this machine "
                                 f"({missing}); run 'adrs doctor', or pass "
                                 "--unsafe-no-sandbox to run them anyway")
            self.progress.message("warning: candidates are NOT isolated from this run "
                                  "(see 'adrs doctor')")

    def _build_generator(self, problem: Problem) -> Generator:
        if self.config.generator_kind == "llm":
            from adrs.evolve.generators.openai_ensemble import OpenAIEnsemble

            prompts = PromptBuilder(problem.description, self.config.prompts,
                                    self.config.generator.diff_mode)
            return OpenAIEnsemble(self.config.generator, prompts)
        return OfflineMutator(self.config.mutator)

    def _build_executor(self) -> Executor:
        # the train jail (quick shares it) starts with the workers; the held-out test
        # jail only when the final phase asks for the test split
        splits = ["train"]
        keys = [m.api_key_env for m in self.config.generator.models if m.api_key_env]
        if self.config.executor.kind == "ray":
            from adrs.evolve.ray_executor import RayExecutor, import_ray

            import_ray()  # says how to install it before anything starts
            ray = self.config.executor.ray
            return RayExecutor(self.spec, self.config.workers, self.config.sandbox,
                               warm_splits=splits, secret_env=keys, address=ray.address,
                               num_cpus_per_worker=ray.num_cpus_per_worker,
                               num_gpus_per_worker=ray.num_gpus_per_worker,
                               runtime_env=ray.runtime_env, ship_data=ray.ship_data,
                               log_path=self.out_dir / "workers.log")
        return LocalExecutor(self.spec, self.config.worker_count, self.config.sandbox,
                             warm_splits=splits, secret_env=keys,
                             log_path=self.out_dir / "workers.log")

    def _setup(self, problem: Problem, generator: Generator, executor: Executor,
               warm: Mapping[str, Any]) -> None:
        self.problem = problem
        self.generator = generator
        self.executor = executor
        config = self.config
        meta: dict[str, Any] = {"config": config_to_mapping(config), "seed": config.seed,
                                "budget": config.budget,
                                "sandbox_layers": warm.get("layers", [])}
        if self.resume:
            self.warnings = list(self.db.get_meta("config_warnings") or [])
        else:
            meta["config_warnings"] = self.warnings
            meta.update(problem_spec=self.spec.to_json(), created_at=time.time(),
                        adrs_version=__version__)
        self.db.set_meta_many(meta)  # at once: a run is resumable from this commit on
        self._executor_info = describe_executor(executor)
        self.db.start_run(self.argv, os.getpid(), executor=self._executor_info)
        initial = problem.initial_program
        self._reference = node_histogram(region_text(initial))
        declared = getattr(problem, "feature_ranges", None)
        dims = resolve_dimensions([(d.name, d.bins, d.range) for d in config.archive.dims],
                                  len(region_text(initial)), declared)
        # the axes as resolved, for the report's MAP-Elites view
        self.db.set_meta("archive_dims", [d.describe() for d in dims])
        existing = self.db.candidates()
        self._seq = len(existing)  # proposals made so far, also across sessions
        self.islands = IslandModel(dims, config.islands, config.selection,
                                   seed=config.seed + 1_000_003 * self._seq)
        self._hashes = self.db.hashes()
        self._eval_seq = self.db.max_eval_seq()
        self._pending: dict[int, _Pending] = {}
        self._errors: defaultdict[int, deque[str]] = defaultdict(
            lambda: deque(maxlen=_RECENT_ERRORS))
        self._quick_scores: list[float] = []
        self._wasted_in_a_row = 0
        self._failed_calls = 0
        self._fatal = ""
        self._data: str | None = self.db.get_meta("data")
        self._reference_rows: dict[str, Any] = {}
        self._stopped = ""
        self._session_done = 0
        self._best: Candidate | None = None
        self._best_written: Candidate | None = None
        self._best_written_at = -math.inf
        self._tokens = 0
        self._cost = 0.0
        self._initial: Candidate | None = None
        for candidate in self.db.in_evaluation_order():
            self._remember(candidate)
        for candidate in existing:
            if candidate.generator == "initial":
                self._initial = candidate
        totals = self.db.llm_totals()
        self._tokens = int(totals["prompt_tokens"] + totals["completion_tokens"])
        self._cost = float(totals["cost_usd"])
        if self._initial is None:
            digest = program_hash(initial)
            cid = self.db.add_candidate(program=initial, parent_id=None, island=0,
                                        generation=0, generator="initial", hash_=digest)
            self._hashes.setdefault(digest, cid)
            self._initial = self.db.get(cid)
            self._seq += 1
        self._counts = self.db.counts()
        self.islands.set_fallback(self._initial)
        for candidate in self.db.candidates("queued"):
            if self.db.count_attempt(candidate.id) > _MAX_ATTEMPTS:
                self._record(EvalOutcome(candidate.id, {}, error=(
                    f"{KILLED_ITS_EVALUATOR}: the run stopped twice while evaluating it")),
                    candidate)
                continue
            self._submit(candidate)
        self._report()

    def _remember(self, candidate: Candidate) -> None:
        """Account for an already evaluated candidate (on resume, and after recording)."""
        if candidate.quick_score is not None:
            self._quick_scores.append(candidate.quick_score)
        if candidate.scored:
            self.islands.tell(candidate)
            best = self._best
            # ties go to the lower id, as Database.best() breaks them: one best everywhere
            if best is None or candidate.score > best.score or (  # type: ignore[operator]
                    candidate.score == best.score and candidate.id < best.id):
                self._best = candidate

    # -- the loop ---------------------------------------------------------------------

    async def _loop(self) -> None:
        proposals: set[asyncio.Task[tuple[Selection, ProposalContext, Proposal]]] = set()
        results: asyncio.Task[list[EvalOutcome]] | None = None
        while True:
            self._launch(proposals)
            if not proposals and self.executor.in_flight == 0:
                break
            waiting: set[asyncio.Task[Any]] = set(proposals)
            if self.executor.in_flight:
                if results is None:
                    results = asyncio.ensure_future(self.executor.results())
                waiting.add(results)
            done, _ = await asyncio.wait(waiting, timeout=1.0,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is results:
                    results = None
                    for outcome in task.result():
                        self._record(outcome)
                else:
                    proposals.discard(task)
                    self._accept(*task.result())
            self._write_best_soon()
            self._report()
        if results is not None:
            results.cancel()
        if self._best is not None and self._best is not self._best_written:
            self._write_best(self._best)
            self._best_written = self._best

    def _counted(self) -> int:
        counts = self._counts
        return counts["evaluated"] + counts["failed"]

    def _launch(self, proposals: set[asyncio.Task[Any]]) -> None:
        config = self.config
        slots = config.generator.max_in_flight or (
            8 if config.generator_kind == "llm" else 2 * config.worker_count)
        if config.deterministic:
            slots = 1
        while len(proposals) < slots and not self._stopped:
            if self._counted() + self.executor.in_flight + len(proposals) >= config.budget:
                return
            if config.deterministic and self.executor.in_flight:
                return
            waiting = self.executor.in_flight - self.executor.capacity
            if waiting >= max(self.executor.capacity, slots):
                return  # enough waiting for a worker; parents should reflect fresh results
            if self._initial is not None and self._initial.id in self._pending:
                return  # the first parent is the scored initial program
            selection = self.islands.ask()
            context = ProposalContext(
                seed=(self.config.seed * 1_000_003 + self._seq) % (1 << 63),
                top_programs=selection.top,
                recent_errors=tuple(self._errors.get(selection.parent.id, ())),
                island=selection.island)
            self._seq += 1
            proposals.add(asyncio.ensure_future(self._propose(selection, context)))

    async def _propose(self, selection: Selection,
                       context: ProposalContext) -> tuple[Selection, ProposalContext, Proposal]:
        try:
            proposal = await self.generator.propose(selection.parent, selection.inspirations,
                                                    context)
        except Exception as exc:  # noqa: BLE001 - a generator bug must not end the run
            proposal = Proposal(None, generator=getattr(self.generator, "name", "?"),
                                error=f"generator raised {type(exc).__name__}: {exc}")
        return selection, context, proposal

    def _accept(self, selection: Selection, context: ProposalContext,
                proposal: Proposal) -> None:
        parent = selection.parent
        meta = {**dict(proposal.meta), "strategy": selection.strategy, "seed": context.seed}
        common: dict[str, Any] = {
            "parent_id": parent.id, "island": selection.island,
            "generation": parent.generation + 1, "generator": proposal.generator,
            "diff": proposal.diff, "inspiration_ids": [c.id for c in selection.inspirations],
            "generator_meta": meta, "propose_seconds": proposal.seconds,
            "calls": proposal.calls}
        for call in proposal.calls:
            self._tokens += call.prompt_tokens + call.completion_tokens
            self._cost += call.cost_usd
            self._count_call(call)
        error = proposal.error
        program = proposal.program or ""
        if not isinstance(program, str):
            program, error = "", error or f"the generator returned {type(program).__name__}"
        if error is None:
            error = unusable(program, self.config.generator.max_program_chars)
        if error is not None:
            limit = self.config.max_text_chars
            common["diff"] = clean_text(common["diff"] or "", limit) or None
            self.db.add_candidate(program=clean_text(program, limit),
                                  status="invalid", error=clean_text(error, limit),
                                  **common)
            self._counts["invalid"] += 1
            self._errors[parent.id].append(error)
            self._waste()
            return
        meta["edits"] = clean_text(proposal.diff or "", self.config.max_text_chars)
        common["diff"] = unified_diff(parent, program)
        digest = program_hash(program)
        original = self._hashes.get(digest)
        if original is not None:
            self.db.add_candidate(program=program, status="duplicate", duplicate_of=original,
                                  hash_=digest, **common)
            self._counts["duplicate"] += 1
            self._waste()
            return
        cid = self.db.add_candidate(program=program, hash_=digest, attempts=1, **common)
        self._hashes[digest] = cid
        self._counts["queued"] += 1
        self._wasted_in_a_row = 0
        self._submit(Candidate(cid, program, parent.id, selection.island,
                               parent.generation + 1, generator=proposal.generator,
                               diff=proposal.diff))

    def _note_data(self, details: Mapping[str, Any]) -> None:
        """Remember once which workloads score the run (for its summary)."""
        if self._data is not None:
            return
        source = details.get("traces") or details.get("data")
        if not source:
            return
        fidelity = details.get("fidelity")
        self._data = f"{source}, {fidelity} fidelity" if fidelity else str(source)
        self.db.set_meta("data", self._data)

    def _count_call(self, call: Any) -> None:
        """Stop the run when the models keep failing (a refused connection, a 500...)."""
        if call.error is None:
            self._failed_calls = 0
            return
        self._failed_calls += 1
        limit = self.config.generator.max_failed_calls_in_a_row
        if self._failed_calls >= limit and not self._fatal:
            from adrs.evolve.generators.openai_ensemble import endpoint, reason_of

            model = next((m for m in self.config.generator.models if m.name == call.model),
                         None)
            where = endpoint(model) if model is not None else f"model {call.model!r}"
            self._fatal = (f"{where}: {reason_of(call.error)}, {self._failed_calls} calls "
                           "in a row")
            self._stopped = self._stopped or self._fatal
            self.progress.message(f"stopping: {self._fatal}")

    def _waste(self) -> None:
        self._wasted_in_a_row += 1
        if self._wasted_in_a_row >= self.config.max_wasted_in_a_row and not self._stopped:
            self._stopped = (f"{self._wasted_in_a_row} proposals in a row were duplicates or "
                             "unusable (max_wasted_in_a_row)")
            self.progress.message(f"stopping: {self._stopped}")

    def _submit(self, candidate: Candidate) -> None:
        splits: tuple[str, ...] = ("train",)
        threshold = None
        if self.config.cascade.enabled:
            splits = ("quick", "train")
            threshold = self._quick_threshold()
        self._pending[candidate.id] = _Pending(candidate)
        self.executor.submit(EvalJob(candidate.id, candidate.program, splits, threshold))

    def _quick_threshold(self) -> float | None:
        cascade = self.config.cascade
        scores = sorted(self._quick_scores)
        if len(scores) < cascade.min_history:
            return None
        index = int((1.0 - cascade.keep_fraction) * (len(scores) - 1))
        return scores[index]

    def _record(self, outcome: EvalOutcome, base: Candidate | None = None) -> None:
        if base is None:
            pending = self._pending.pop(outcome.job_id, None)
            if pending is None:
                return  # a test-split job of the final phase
            base = pending.candidate
        quick = outcome.results.get("quick")
        train = outcome.results.get("train")
        main = train or quick
        error = outcome.error or (main.error if main is not None else "no result")
        feedback = main.feedback if main is not None else ""
        if train is None and quick is not None and outcome.error is None and not quick.error:
            feedback += "\n(stopped after the quick split: its score was below the threshold)"
        features = dict(code_features(base.program, self._reference))
        if main is not None:
            features.update(main.features)
            self._note_data(main.details)
        self._eval_seq += 1
        status = "failed" if error else "evaluated"
        score = train.score if train is not None else None
        quick_score = quick.score if quick is not None else None
        if error:
            feedback = feedback or error
        output = outcome.output
        if outcome.output_dropped:
            output += f"\n[{outcome.output_dropped} more bytes of output dropped]"
        limit = self.config.max_text_chars
        error = clean_text(error, limit) if error else error
        feedback, output = clean_text(feedback, limit), clean_text(output, limit)
        self.db.record_result(
            base.id, status=status, score=score, quick_score=quick_score,
            metrics=dict(main.metrics) if main is not None else {}, features=features,
            feedback=feedback, error=error, output=output,
            eval_seconds=sum(r.seconds for r in outcome.results.values()),
            sandbox_seconds=outcome.seconds, eval_seq=self._eval_seq)
        self._counts[status] += 1
        self._counts["queued"] -= 1
        self._session_done += 1
        candidate = replace(base, status=status, score=_finite(score),
                            quick_score=_finite(quick_score),
                            metrics=dict(main.metrics) if main is not None else {},
                            features=features, feedback=feedback, error=error)
        if candidate.generator == "initial":
            self._initial = candidate
            self.islands.set_fallback(candidate)
            if error:
                self.progress.message(f"warning: the initial program failed: {error}")
        if error and candidate.parent_id is not None:
            self._errors[candidate.parent_id].append(f"candidate {candidate.id}: {error}")
        previous = self._best
        self._remember(candidate)
        if self._best is not None and self._best is not previous:
            self._write_best_soon()

    def _write_best_soon(self) -> None:
        """Write ``best_program.py`` if the best changed and the last write is older than
        :data:`BEST_WRITE_INTERVAL_S` (the loop calls this again until it is written)."""
        now = time.monotonic()
        if self._best is not None and self._best is not self._best_written \
                and now - self._best_written_at >= BEST_WRITE_INTERVAL_S:
            self._write_best(self._best)
            self._best_written, self._best_written_at = self._best, now

    # -- reporting --------------------------------------------------------------------

    def _stats(self) -> ProgressStats:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        counts = self._counts
        return ProgressStats(
            done=self._counted(), budget=self.config.budget,
            best=None if self._best is None else self._best.score,
            failed=counts["failed"], duplicates=counts["duplicate"],
            invalid=counts["invalid"], in_flight=self.executor.in_flight,
            rate_per_hour=self._session_done / elapsed * 3600.0, tokens=self._tokens,
            cost_usd=self._cost, nodes=_node_load(self.executor))

    def _report(self) -> None:
        self.progress.update(self._stats())

    def _write_best(self, best: Candidate) -> Path:
        """Write ``best_program.py``: the best program, under a header that says what it
        is. Returns its path."""
        test = "not scored yet" if best.test_score is None else f"{best.test_score!r}"
        header = (f"# adrs: the best program of the run {self.out_dir} ({self.spec.label})\n"
                  f"# candidate {best.id}, a parent chain of {best.generation} back to the "
                  "initial program\n"
                  f"# train score {best.score!r}; held-out test score {test}\n")
        path = self.out_dir / BEST_NAME
        _atomic_write(path, header + best.program)
        return path

    async def _final_tests(self) -> None:
        """Score the best and the initial program on the held-out test split, and the
        problem's published state of the art on both splits (for the comparison)."""
        splits = ("train", "test") if self.config.evaluate_test else ("train",)
        jobs: dict[int, Any] = {}
        if self.config.evaluate_test:
            for candidate in (self._best, self._initial):
                if candidate is not None and candidate.scored and candidate.test_score is None:
                    jobs[-candidate.id] = candidate
        sota = getattr(self.problem, "state_of_the_art", None)
        # where the search starts from the state of the art (llm-sql, eplb), its scores are
        # the initial program's: no second evaluation of the same program
        sota_is_initial = sota is not None and self._initial is not None \
            and self.problem.baseline(sota).program == self._initial.program
        if sota is not None and not sota_is_initial:
            jobs[_SOTA_JOB] = sota
        if jobs:
            await self._score_finally(jobs, splits)
        if sota_is_initial:
            initial = self.db.get(self._initial.id)
            scored = (("train", initial.score, initial.metrics),
                      ("test", initial.test_score, initial.test_metrics))
            self._reference_rows = {split: _Scores(score, metrics)
                                    for split, score, metrics in scored if score is not None}

    async def _score_finally(self, jobs: dict[int, Any], splits: tuple[str, ...]) -> None:
        """Run the end-of-run jobs: candidates on test (stored), the state of the art on
        ``splits`` (kept for the comparison)."""
        tested = sum(1 for job in jobs if job != _SOTA_JOB)
        what = f"{tested} program(s) on the test split" if tested else ""
        if _SOTA_JOB in jobs:
            what += (" and " if what else "") + f"the state of the art ({jobs[_SOTA_JOB]})"
        self.progress.message(f"scoring {what}")
        for job_id, target in jobs.items():
            if job_id == _SOTA_JOB:
                program = self.problem.baseline(target).program
                self.executor.submit(EvalJob(job_id, program, splits))
            else:
                self.executor.submit(EvalJob(job_id, target.program, ("test",)))
        remaining = len(jobs)
        while remaining:
            for outcome in await self.executor.results():
                remaining -= 1
                if outcome.job_id == _SOTA_JOB:
                    self._reference_rows = {
                        split: result for split, result in outcome.results.items()
                        if result.ok} if outcome.error is None else {}
                    continue
                test = outcome.results.get("test")
                cid = -outcome.job_id
                if outcome.error or test is None or test.error:
                    reason = outcome.error or (test.error if test else "no result")
                    self.progress.message(f"candidate {cid} failed on test: {reason}")
                    continue
                self.db.set_test_score(cid, test.score, test.metrics)

    def _comparison(self, best: Candidate | None,
                    initial: Candidate | None) -> list[dict[str, Any]]:
        """Rows of the summary's comparison: best, initial, state of the art."""
        names = getattr(self.problem, "constraint_metrics", ())
        rows = []
        for role, candidate in (("best", best), ("initial", initial)):
            if candidate is None:
                continue
            row: dict[str, Any] = {"role": role, "program": f"candidate {candidate.id}",
                                   "train": candidate.score, "test": candidate.test_score}
            for name in names:
                row[name] = {"train": candidate.metrics.get(name),
                             "test": candidate.test_metrics.get(name)}
            rows.append(row)
        sota = getattr(self.problem, "state_of_the_art", None)
        if sota is not None and self._reference_rows:
            train, test = self._reference_rows.get("train"), self._reference_rows.get("test")
            row = {"role": "state of the art", "program": sota,
                   "summary": self.problem.baseline(sota).summary,
                   "train": train.score if train else None,
                   "test": test.score if test else None}
            for name in names:
                row[name] = {"train": train.metrics.get(name) if train else None,
                             "test": test.metrics.get(name) if test else None}
            rows.append(row)
        return rows

    def _gain_notes(self, best: Candidate | None, initial: Candidate | None) -> list[str]:
        """The problem's explanation of the best program's gain, on each split it won."""
        explain = getattr(self.problem, "explain_gain", None)
        if explain is None or best is None or initial is None or best.id == initial.id:
            return []
        notes = []
        for split, scores, metrics in (
                ("train", (best.score, initial.score), (best.metrics, initial.metrics)),
                ("test", (best.test_score, initial.test_score),
                 (best.test_metrics, initial.test_metrics))):
            if None in scores or scores[0] <= scores[1]:
                continue
            note = explain(metrics[0], metrics[1])
            if note:
                notes.append(f"on {split}: {note}")
        return notes

    def _common_failure(self) -> str | None:
        """``N of M failed: <the most common first line of their errors>``."""
        errors = Counter(_first_line(c.error or "no reason recorded")
                         for c in self.db.candidates("failed"))
        if not errors:
            return None
        reason, count = errors.most_common(1)[0]
        return f"{count} of {sum(errors.values())} failed: {reason}"

    def _finish(self) -> RunSummary:
        stats = self._stats()
        self.progress.finish(stats)
        elapsed = time.monotonic() - self._started
        best = self.db.best()
        initial = self.db.get(self._initial.id) if self._initial is not None else None
        best_path = str(self._write_best(best)) if best is not None else None
        stopped = self._stopped or ("budget reached" if self._counted() >= self.config.budget
                                    else "no more work")
        summary = RunSummary(
            out_dir=str(self.out_dir), problem=self.spec.label, budget=self.config.budget,
            counts=self.db.counts(), best_id=best.id if best else None,
            best_train=best.score if best else None,
            best_test=best.test_score if best else None,
            initial_train=initial.score if initial else None,
            initial_test=initial.test_score if initial else None,
            seconds=elapsed, rate_per_hour=stats.rate_per_hour, llm=self.db.llm_totals(),
            stopped=stopped, islands=self.islands.summary(), best_program_path=best_path,
            data=self._data, comparison=self._comparison(best, initial),
            notes=self._gain_notes(best, initial), warnings=self.warnings,
            failure=None if best is not None else self._common_failure(),
            executor=describe_executor(self.executor))
        _atomic_write(self.out_dir / SUMMARY_NAME, json.dumps(summary.to_json(), indent=2))
        return summary


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def unified_diff(parent: Candidate, program: str) -> str:
    """The change from the parent's program, as a unified diff."""
    import difflib

    lines = difflib.unified_diff(parent.program.splitlines(keepends=True),
                                 program.splitlines(keepends=True),
                                 fromfile=f"candidate {parent.id}", tofile="proposal")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def describe_executor(executor: Executor) -> dict[str, Any]:
    """What the executor reports about itself (``describe()``), or its kind and size."""
    describe = getattr(executor, "describe", None)
    if describe is not None:
        return dict(describe())
    return {"kind": type(executor).__name__, "workers": executor.capacity}


def _node_load(executor: Executor) -> str:
    """Per node, actors busy and in all (``10.0.0.5 2/4 busy``), for executors that
    span nodes; empty otherwise."""
    load = getattr(executor, "node_load", None)
    if load is None:
        return ""
    return ", ".join(f"{node} {busy}/{total} busy" for node, (busy, total) in load().items())


def _holds_run(path: Path) -> bool:
    # a database killed before its first meta commit holds nothing worth keeping
    if not path.exists():
        return False
    db = Database(path)
    try:
        return db.get_meta("problem_spec") is not None
    finally:
        db.close()


def _finite(value: float | None) -> float | None:
    # as the database stores it: NaN and infinities become NULL
    return value if value is not None and math.isfinite(value) else None


def _atomic_write(path: Path, text: str) -> None:
    # a reader (or a kill) never sees half a file
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def default_out_dir(label: str) -> Path:
    """``adrs-runs/<label>-<YYYYmmdd-HHMMSS>`` in the current folder."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in Path(label).name)
    return Path("adrs-runs") / f"{safe or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"


def stderr_or_none(enabled: bool) -> TextIO | None:
    """stderr when the display is wanted, else None."""
    return sys.stderr if enabled else None
