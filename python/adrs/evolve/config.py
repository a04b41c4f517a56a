"""The run configuration: one YAML file, every key documented, unknown keys rejected.

Every section is a frozen dataclass whose defaults are the documented defaults
(docs/evolver.md lists them). :func:`load_config` reads a YAML mapping, checks every key
and value against these dataclasses and raises ``ValueError`` naming the file and the
dotted key of the first problem it finds.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml


@dataclass(frozen=True)
class DimConfig:
    """One axis of the MAP-Elites grid.

    Attributes:
        name: ``code_length`` (characters of the evolvable region), ``ast_distance``
            (total-variation distance between the AST node-type histograms of the region
            and of the initial program's region, in [0, 1]), or the name of a number the
            problem reports in ``EvalResult.features`` or ``EvalResult.metrics``.
        bins: Number of cells along this axis.
        range: ``[low, high]``; values outside fall in the edge cells. None: automatic
            (``code_length``: 0 to twice the initial length; ``ast_distance``: 0 to 1;
            a feature the problem declares a range for: that range; any other feature or
            metric, ``score`` included: adaptive, scaled by the range its values have
            spanned so far, as OpenEvolve scales its custom feature dimensions).
    """

    name: str
    bins: int = 10
    range: tuple[float, float] | None = None


@dataclass(frozen=True)
class ArchiveConfig:
    """The MAP-Elites grid each island keeps."""

    dims: tuple[DimConfig, ...] = (DimConfig("code_length"), DimConfig("ast_distance"))


@dataclass(frozen=True)
class IslandsConfig:
    """Islands and ring migration.

    Attributes:
        count: Number of islands; each has its own grid and population.
        migration_interval: Evaluated candidates between migrations.
        migration_count: Elites each island sends to the next island of the ring.
    """

    count: int = 4
    migration_interval: int = 50
    migration_count: int = 2


@dataclass(frozen=True)
class SelectionConfig:
    """How a parent and its inspirations are drawn from an island.

    Attributes:
        exploitation: Weight of drawing the parent among the island's best elites.
        exploration: Weight of drawing it uniformly among the island's grid cells.
        random: Weight of drawing it uniformly among every program the island holds.
        elite_pool: How many of the best elites exploitation chooses among.
        num_top: Best programs of the island shown in the prompt.
        num_inspirations: Elites from other cells shown in the prompt (and offered to
            the mutator for crossover).
    """

    exploitation: float = 0.7
    exploration: float = 0.2
    random: float = 0.1
    elite_pool: int = 3
    num_top: int = 3
    num_inspirations: int = 2


@dataclass(frozen=True)
class CascadeConfig:
    """Cheap ``quick`` evaluation first, ``train`` only for promising candidates.

    Attributes:
        enabled: Use the cascade (the problem must support the ``quick`` split).
        keep_fraction: A candidate goes on to ``train`` when its ``quick`` score is in
            the best ``keep_fraction`` of the ``quick`` scores seen so far.
        min_history: Every candidate goes on to ``train`` until this many ``quick``
            scores have been seen.
    """

    enabled: bool = False
    keep_fraction: float = 0.5
    min_history: int = 10


@dataclass(frozen=True)
class SandboxConfig:
    """How candidates are run: the jail's limits and isolation (see docs/security.md).

    Attributes:
        timeout_s: Wall-clock limit of one evaluation of one split, measured by the judge;
            then the candidate's processes are killed.
        memory_mb: Address space a jailed process may add to what it starts with
            (RLIMIT_AS, soft = hard).
        cpu_s: CPU-time limit of a jailed process (RLIMIT_CPU). None: ``timeout_s`` + 5.
        output_bytes: Captured stdout+stderr kept per candidate; the rest is drained
            and dropped.
        result_mb: Largest message a jailed process may send to the judge.
        file_mb: Largest file a jailed process may write (RLIMIT_FSIZE).
        tmp_mb: Size of a jailed process's private ``/tmp`` (all files together).
        tmp_inodes: Files and folders its ``/tmp`` may hold.
        max_processes: Processes and threads of one jail (RLIMIT_NPROC).
        max_open_files: Open files of one jailed process (RLIMIT_NOFILE).
        jail_uid: Host uid and gid candidates run as when adrs runs as root.
        isolation: ``auto`` (every layer the machine allows; a model-driven run refuses
            to start without namespaces unless ``--unsafe-no-sandbox``), ``require``
            (never start without them) or ``none`` (no namespaces, on purpose).
        secret_patterns: Environment variables whose name contains one of these
            (case-insensitive) are removed from the workers' environment (jails get
            none of the run's variables at all).
        startup_timeout_s: Time a worker may take to build the problem and start its jail.
    """

    timeout_s: float = 60.0
    memory_mb: int = 4096
    cpu_s: float | None = None
    output_bytes: int = 65536
    result_mb: int = 64
    file_mb: int = 256
    tmp_mb: int = 256
    tmp_inodes: int = 16384
    max_processes: int = 128
    max_open_files: int = 1024
    jail_uid: int = 61000
    isolation: str = "auto"
    secret_patterns: tuple[str, ...] = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
    startup_timeout_s: float = 600.0


# Keys of older versions, dropped when read (a run started before them resumes).
DEPRECATED_KEYS = {"sandbox": ("check_integrity", "protect_modules")}


@dataclass(frozen=True)
class ModelConfig:
    """One model of the LLM ensemble (any OpenAI-compatible chat endpoint).

    Attributes:
        name: Model name sent to the endpoint.
        base_url: Endpoint, e.g. ``http://localhost:8000/v1``. None: OpenAI's.
        api_key_env: Name of the environment variable holding the key (never the key
            itself). None: the endpoint needs no key.
        weight: Relative probability of choosing this model.
        input_price: USD per million prompt tokens.
        output_price: USD per million completion tokens.
        temperature: Sampling temperature; None leaves the endpoint's default.
        max_tokens: Completion token limit; None leaves the endpoint's default.
        timeout_s: Client timeout of one request.
    """

    name: str
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    weight: float = 1.0
    input_price: float = 0.0
    output_price: float = 0.0
    temperature: float | None = 0.7
    max_tokens: int | None = 4096
    timeout_s: float = 120.0


@dataclass(frozen=True)
class GeneratorConfig:
    """Which generator proposes candidates and how the LLM ensemble behaves.

    Attributes:
        kind: ``auto`` (``llm`` when models are configured, else ``mutator``),
            ``llm`` or ``mutator``.
        models: The LLM ensemble.
        max_in_flight: Proposals (requests) in flight at once. 0: twice the workers for
            the mutator, 8 for the LLM ensemble.
        retries: Retries of one request on 429, 5xx, timeouts and connection errors.
        backoff_s: First retry delay; doubles on each retry (a Retry-After header
            that asks for longer wins, up to ``backoff_max_s``).
        backoff_max_s: Longest retry delay.
        diff_mode: Ask for SEARCH/REPLACE blocks (True) or for full programs (False);
            both are accepted either way.
        max_program_chars: A proposed program longer than this is unusable.
        max_failed_calls_in_a_row: Stop the run (exit status 2) after this many model
            calls in a row failed, naming the endpoint and the last error.
        check_models: Ask each model for one token before the first proposal; a run
            whose models all fail to answer does not start.
    """

    kind: str = "auto"
    models: tuple[ModelConfig, ...] = ()
    max_in_flight: int = 0
    retries: int = 4
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    diff_mode: bool = True
    max_program_chars: int = 200_000
    max_failed_calls_in_a_row: int = 20
    check_models: bool = True


@dataclass(frozen=True)
class MutatorConfig:
    """The offline AST mutator.

    Attributes:
        max_edits: Edits per proposal are drawn from 1..max_edits.
        sigma: Relative scale of numeric perturbations (log-normal factor).
        crossover_rate: Probability that a proposal recombines the parent with an
            inspiration before its edits.
        mutate_ints: Perturb integer constants too (never subscripts).
    """

    max_edits: int = 2
    sigma: float = 0.25
    crossover_rate: float = 0.15
    mutate_ints: bool = True


@dataclass(frozen=True)
class PromptConfig:
    """Prompt templates.

    Attributes:
        templates_dir: Folder whose files replace the built-in templates of the same
            name (``system.txt``, ``user.txt``, ``program.txt``, ``diff_format.txt``,
            ``rewrite_format.txt``).
        max_program_chars: Programs longer than this are cut in the prompt.
        system_message: Replaces the problem's description in the prompt.
    """

    templates_dir: str | None = None
    max_program_chars: int = 30000
    system_message: str | None = None


@dataclass(frozen=True)
class RayConfig:
    """Where and how the Ray executor runs its actors (``executor.kind: ray``).

    Attributes:
        address: The cluster: ``auto`` (the one this machine belongs to),
            ``ray://host:port`` (Ray Client), ``host:port`` (a head's GCS), or empty to
            start a private Ray instance on this machine bound to 127.0.0.1 only.
        num_cpus_per_worker: CPUs each actor reserves (a fraction shares a core).
        num_gpus_per_worker: GPUs each actor reserves (eplb on GPUs: 1, or a fraction).
        runtime_env: Ray's ``runtime_env`` of the actors (``pip``, ``py_modules``,
            ``env_vars``, ``working_dir``...), passed through unchanged.
        ship_data: Ship the problem's ``data`` path (``--data``) to every node once,
            through Ray's object store; false: every node must hold it at the same path
            (a shared file system).
    """

    address: str = ""
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float = 0.0
    runtime_env: dict[str, Any] = field(default_factory=dict)
    ship_data: bool = True


@dataclass(frozen=True)
class ExecutorConfig:
    """Where candidates are evaluated.

    Attributes:
        kind: ``local`` (worker processes on this machine) or ``ray`` (actors on a Ray
            cluster, see :class:`RayConfig`).
        ray: Settings of the Ray executor.
    """

    kind: str = "local"
    ray: RayConfig = field(default_factory=RayConfig)


@dataclass(frozen=True)
class RunConfig:
    """Everything ``adrs run`` can be told.

    Attributes:
        budget: Candidates to evaluate (status evaluated or failed; the initial program
            counts; duplicates and unusable proposals do not).
        seed: Seed of every random choice.
        workers: Evaluation worker processes (Ray actors with ``executor.kind: ray``).
            0: one per CPU core (of the cluster, for Ray).
        deterministic: One candidate at a time (select, propose, evaluate, record), so
            the same seed gives the same run with the offline mutator.
        max_wasted_in_a_row: Stop after this many proposals in a row were duplicates
            or unusable.
        evaluate_test: Score the best and the initial program on the held-out ``test``
            split at the end.
        progress_interval_s: Seconds between progress lines when stderr is not a TTY.
        max_text_chars: Every stored text (error, feedback, output, an unusable reply)
            is cut to this many characters, the cut marked.
    """

    budget: int = 1000
    seed: int = 0
    workers: int = 0
    deterministic: bool = False
    max_wasted_in_a_row: int = 500
    evaluate_test: bool = True
    progress_interval_s: float = 10.0
    max_text_chars: int = 20000
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    islands: IslandsConfig = field(default_factory=IslandsConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    mutator: MutatorConfig = field(default_factory=MutatorConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    @property
    def worker_count(self) -> int:
        """Workers, with 0 resolved to the number of CPU cores."""
        return self.workers or (os.cpu_count() or 1)

    @property
    def generator_kind(self) -> str:
        """``llm`` or ``mutator``, with ``auto`` resolved."""
        if self.generator.kind == "auto":
            return "llm" if self.generator.models else "mutator"
        return self.generator.kind


def load_config(path: str | Path | None = None, models_path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None,
                base: Mapping[str, Any] | None = None) -> RunConfig:
    """Read the run configuration.

    Precedence, lowest first: defaults, ``base``, the file at ``path``, the models file,
    ``overrides``.

    Args:
        path: YAML file with any subset of the keys of :class:`RunConfig`; None: defaults.
        base: Partial configuration under the file (a task folder's own config).
        models_path: YAML file with a list of models (or a mapping with key ``models``);
            replaces ``generator.models``.
        overrides: Top-level values set last (from command-line flags such as ``budget``).

    Returns:
        The validated configuration.

    Raises:
        FileNotFoundError: A file does not exist.
        ValueError: Unknown key, wrong type or invalid value; names the file and key.
    """
    data: dict[str, Any] = {}
    where = "config"
    if base:
        config_from_mapping(base, "task folder config")  # name the right file on errors
        data = dict(base)
    if path is not None:
        where = str(path)
        data = _deep_merge(data, _read_yaml_mapping(path))
    config = config_from_mapping(data, where)
    if models_path is not None:
        raw = _read_yaml(models_path)
        if isinstance(raw, Mapping):
            unknown = set(raw) - {"models"}
            if unknown:
                raise ValueError(f"{models_path}: unknown key {min(unknown)!r}; "
                                 "expected a list of models or a mapping with 'models'")
            raw = raw.get("models")
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{models_path}: expected a non-empty list of models")
        models = _convert(raw, tuple[ModelConfig, ...], str(models_path), "models")
        config = dataclasses.replace(
            config, generator=dataclasses.replace(config.generator, models=models))
    if overrides:
        merged = config_to_mapping(config)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        config = config_from_mapping(merged, where)
    return config


def config_from_mapping(data: Mapping[str, Any], where: str = "config") -> RunConfig:
    """Build and validate a :class:`RunConfig` from a (possibly partial) mapping.

    Raises:
        ValueError: Unknown key, wrong type or invalid value, naming ``where`` and the key.
    """
    data = dict(data)
    for section, keys in DEPRECATED_KEYS.items():
        if isinstance(data.get(section), Mapping):
            data[section] = {k: v for k, v in data[section].items() if k not in keys}
    config = _convert(data, RunConfig, where)
    _validate(config, where)
    return config


def config_to_mapping(config: RunConfig) -> dict[str, Any]:
    """The configuration as plain YAML/JSON-safe data (tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def _deep_merge(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None


def _read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    data = _read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping at the top level")  # noqa: TRY004
    return dict(data)


def _convert(value: Any, annotation: Any, where: str, key: str = "") -> Any:
    """Convert YAML data to ``annotation``; errors name the file ``where`` and ``key``."""
    def fail(message: str) -> ValueError:
        return ValueError(f"{where}: {key or 'top level'}: {message}")

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where, key)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, str) and annotation is DimConfig:
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise fail(f"expected a mapping, got {value!r}")
        hints = typing.get_type_hints(annotation)
        known = [f.name for f in dataclasses.fields(annotation)]
        kwargs = {}
        for name, item in value.items():
            dotted = f"{key}.{name}" if key else str(name)
            if name not in hints:
                raise ValueError(f"{where}: unknown key {dotted!r}; known here: "
                                 f"{', '.join(known)}")
            kwargs[name] = _convert(item, hints[name], where, dotted)
        for f in dataclasses.fields(annotation):
            if (f.name not in kwargs and f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING):
                dotted = f"{key}.{f.name}" if key else f.name
                raise ValueError(f"{where}: missing key {dotted!r}")
        return annotation(**kwargs)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail(f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], where, f"{key}[{i}]")
                         for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(f"expected {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, where, f"{key}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:  # free-form plain data passed through (executor.ray.runtime_env)
        if not isinstance(value, Mapping):
            raise fail(f"expected a mapping, got {value!r}")
        return dict(value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise fail(f"expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise fail(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r}")  # a bug in this module


def _validate(config: RunConfig, where: str) -> None:
    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise ValueError(f"{where}: {key} {message}")

    need(config.budget >= 1, "budget", f"must be at least 1, got {config.budget}")
    need(config.workers >= 0, "workers", f"must be 0 (all cores) or more, got {config.workers}")
    need(config.max_wasted_in_a_row >= 1, "max_wasted_in_a_row", "must be at least 1")
    need(config.max_text_chars >= 200, "max_text_chars", "must be at least 200")
    need(config.generator.max_program_chars >= 100, "generator.max_program_chars",
         "must be at least 100")
    need(config.islands.count >= 1, "islands.count", "must be at least 1")
    need(config.islands.migration_interval >= 1, "islands.migration_interval",
         "must be at least 1")
    need(config.islands.migration_count >= 0, "islands.migration_count", "must be 0 or more")
    sel = config.selection
    for key in ("exploitation", "exploration", "random"):
        need(getattr(sel, key) >= 0, f"selection.{key}", "must be 0 or more")
    need(sel.exploitation + sel.exploration + sel.random > 0, "selection",
         "ratios exploitation + exploration + random must be positive")
    need(sel.elite_pool >= 1, "selection.elite_pool", "must be at least 1")
    need(sel.num_top >= 0 and sel.num_inspirations >= 0, "selection",
         "num_top and num_inspirations must be 0 or more")
    need(len(config.archive.dims) >= 1, "archive.dims", "must name at least one dimension")
    names = [d.name for d in config.archive.dims]
    need(len(set(names)) == len(names), "archive.dims", f"repeat a name: {names}")
    for i, dim in enumerate(config.archive.dims):
        need(dim.bins >= 1, f"archive.dims[{i}].bins", "must be at least 1")
        if dim.range is not None:
            need(dim.range[0] < dim.range[1], f"archive.dims[{i}].range",
                 f"must be [low, high] with low < high, got {list(dim.range)}")
    need(0 < config.cascade.keep_fraction <= 1, "cascade.keep_fraction", "must be in (0, 1]")
    box = config.sandbox
    need(box.timeout_s > 0, "sandbox.timeout_s", "must be positive")
    need(box.memory_mb > 0, "sandbox.memory_mb", "must be positive")
    need(box.cpu_s is None or box.cpu_s > 0, "sandbox.cpu_s", "must be positive")
    need(box.output_bytes >= 0, "sandbox.output_bytes", "must be 0 or more")
    need(box.result_mb > 0 and box.file_mb > 0, "sandbox", "result_mb and file_mb must be > 0")
    need(box.tmp_mb > 0 and box.tmp_inodes > 0, "sandbox", "tmp_mb and tmp_inodes must be > 0")
    need(box.max_processes > 0 and box.max_open_files > 16, "sandbox",
         "max_processes must be > 0 and max_open_files > 16")
    need(box.isolation in ("auto", "require", "none"), "sandbox.isolation",
         f"must be auto, require or none, got {box.isolation!r}")
    gen = config.generator
    need(gen.kind in ("auto", "llm", "mutator"), "generator.kind",
         f"must be auto, llm or mutator, got {gen.kind!r}")
    need(gen.kind != "llm" or bool(gen.models), "generator.kind",
         "is llm but generator.models is empty")
    need(gen.max_in_flight >= 0, "generator.max_in_flight", "must be 0 (automatic) or more")
    need(gen.retries >= 0, "generator.retries", "must be 0 or more")
    need(gen.max_failed_calls_in_a_row >= 1, "generator.max_failed_calls_in_a_row",
         "must be at least 1")
    need(gen.backoff_s >= 0 and gen.backoff_max_s >= 0, "generator", "backoffs must be >= 0")
    for i, model in enumerate(gen.models):
        need(bool(model.name), f"generator.models[{i}].name", "must not be empty")
        need(model.weight > 0, f"generator.models[{i}].weight", "must be positive")
        need(model.input_price >= 0 and model.output_price >= 0,
             f"generator.models[{i}]", "prices must be 0 or more")
        need(model.timeout_s > 0, f"generator.models[{i}].timeout_s", "must be positive")
    mut = config.mutator
    need(mut.max_edits >= 1, "mutator.max_edits", "must be at least 1")
    need(mut.sigma > 0, "mutator.sigma", "must be positive")
    need(0 <= mut.crossover_rate <= 1, "mutator.crossover_rate", "must be in [0, 1]")
    need(config.prompts.max_program_chars >= 100, "prompts.max_program_chars",
         "must be at least 100")
    executor = config.executor
    need(executor.kind in ("local", "ray"), "executor.kind",
         f"must be local or ray, got {executor.kind!r}")
    need(executor.ray.num_cpus_per_worker >= 0, "executor.ray.num_cpus_per_worker",
         "must be 0 or more")
    need(executor.ray.num_gpus_per_worker >= 0, "executor.ray.num_gpus_per_worker",
         "must be 0 or more")
