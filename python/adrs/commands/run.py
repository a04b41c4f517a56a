"""``adrs run``: evolve programs for a problem (or an OpenEvolve-style folder)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adrs.commands import Output
from adrs.commands._problem_args import option_flag, parse_options
from adrs.problems import problem_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", metavar="PROBLEM|DIR",
                        help="a built-in problem (see 'adrs problems') or a task folder "
                             "(initial program + evaluator.py [+ config.yaml])")
    parser.add_argument("--budget", type=int, help="candidates to evaluate (default 1000)")
    parser.add_argument("--models", metavar="FILE",
                        help="YAML list of models (name, base_url, api_key_env, weight, "
                             "prices); without it the offline mutator runs")
    parser.add_argument("--config", metavar="FILE", help="YAML run configuration")
    parser.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    parser.add_argument("--out", metavar="DIR",
                        help="run folder (default adrs-runs/<problem>-<date>-<time>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out up to its budget")
    parser.add_argument("--workers", type=int, help="evaluation processes (default: cores)")
    parser.add_argument("--executor", choices=("local", "ray"),
                        help="where candidates are evaluated: local worker processes "
                             "(default) or actors on a Ray cluster (needs adrs[ray])")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="Ray cluster for --executor ray: auto, ray://host:port, "
                             "host:port, or empty (default) for a private local instance "
                             "on 127.0.0.1")
    parser.add_argument("--data", metavar="DIR",
                        help="real workloads for a built-in problem (e.g. ../shared/data); "
                             "same as --option data=DIR")
    parser.add_argument("--fidelity", choices=("reference", "corrected"),
                        help="simulator rules of spot and eplb: reference (default) or "
                             "corrected; same as --option fidelity=...")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="problem option passed to the problem (repeatable), "
                             "e.g. --option data=DIR")
    parser.add_argument("--initial", metavar="FILE",
                        help="a task folder's initial program, named explicitly")
    parser.add_argument("--evaluator", metavar="FILE",
                        help="a task folder's evaluator, named explicitly (its folder is "
                             "the task folder when no DIR is given)")
    parser.add_argument("--offline", action="store_true",
                        help="propose with the offline mutator, whatever models the "
                             "configuration names (no key needed); same as --generator "
                             "mutator")
    parser.add_argument("--generator", choices=("llm", "mutator"),
                        help="who proposes candidates: the configured models or the "
                             "offline mutator")
    parser.add_argument("--pass-env", action="append", default=[], metavar="NAME",
                        help="give a task folder's evaluator this environment variable "
                             "(repeatable; none is given by default)")
    parser.add_argument("--site", action="append", default=[], metavar="DIR",
                        help="packages a task folder needs in other versions than the "
                             "installed ones (pip install --target DIR ...): first on its "
                             "evaluator's path, read-only (repeatable)")
    parser.add_argument("--serve", action="store_true",
                        help="serve the run's live report beside it (see 'adrs serve')")
    parser.add_argument("--port", type=int, default=8765,
                        help="port of --serve (default 8765; 0: any free one)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="let model-generated candidates run on a machine where the jail "
                             "cannot isolate them (see 'adrs doctor')")


def run(args: argparse.Namespace) -> Output:
    from adrs.evolve.controller import Controller, default_out_dir

    progress = None if args.json else sys.stderr
    argv = sys.argv[:]
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out DIR (the run folder to continue)")
        controller = Controller.resume_run(args.out, budget=args.budget, workers=args.workers,
                                           progress=progress, argv=argv,
                                           unsafe_no_sandbox=args.unsafe_no_sandbox,
                                           executor=args.executor,
                                           ray_address=args.ray_address,
                                           generator=_generator_choice(args))
        if args.target and args.target not in (controller.spec.label,
                                               controller.spec.options.get("path")):
            raise ValueError(f"{args.out} holds a run of {controller.spec.label!r}, "
                             f"not {args.target!r}")
        _refuse_changes(args, controller)
    else:
        if not args.target and args.evaluator:
            args.target = str(Path(args.evaluator).resolve().parent)
        if not args.target:
            raise ValueError("name a problem or a task folder (or --resume --out DIR)")
        options = _problem_options(args)
        spec, base, config_file, warnings = _resolve(args, options)
        for line in warnings:
            if progress is not None:
                print(f"warning: {line}", file=progress)
        from adrs.evolve.config import load_config

        overrides: dict[str, Any] = {"budget": args.budget, "seed": args.seed,
                                     "workers": args.workers}
        config = load_config(config_file, args.models, base=base, overrides=overrides)
        config = _with_executor(args, _with_generator(config, _generator_choice(args)))
        out = Path(args.out) if args.out else default_out_dir(spec.label)
        controller = Controller(spec, config, out, progress=progress, argv=argv,
                                unsafe_no_sandbox=args.unsafe_no_sandbox,
                                warnings=warnings)
    if controller.config.executor.kind == "ray":
        from adrs.evolve.ray_executor import import_ray

        import_ray()  # without Ray: how to install it, before anything starts
    server = None
    if args.serve:
        from adrs.commands.serve import start_beside_run

        server = start_beside_run(controller.out_dir, args.port, progress)
    try:
        summary = controller.run()
    except KeyboardInterrupt:
        from adrs.commands import Interrupted

        raise Interrupted(f"interrupted; the run is in {controller.out_dir} (continue with: "
                          f"adrs run --resume --out {controller.out_dir})") from None
    except ConnectionError as exc:  # ClusterLost: the run is recorded as interrupted
        if not (controller.out_dir / "run.sqlite").exists():
            raise ValueError(str(exc)) from None  # lost before anything was recorded
        raise ValueError(f"{exc}; the run is in {controller.out_dir} (continue with: adrs run "
                         f"--resume --out {controller.out_dir}, on this or another "
                         "executor)") from None
    finally:
        if server is not None:
            server.close()
    if summary.best_id is None and summary.failure:
        # nothing was scored: not a success, whatever the budget says
        data = {**summary.to_json(), "error": f"no candidate succeeded: {summary.failure}"}
        return Output(f"{_text(summary)}\nno candidate succeeded: {summary.failure}", data,
                      status=1)
    return Output(_text(summary), summary.to_json())


def _generator_choice(args: argparse.Namespace) -> str | None:
    if args.offline and args.generator == "llm":
        raise ValueError("--offline and --generator llm contradict each other")
    return "mutator" if args.offline else args.generator


def _with_generator(config: Any, kind: str | None) -> Any:
    """``config`` with ``generator.kind`` set by the command line."""
    if kind is None:
        return config
    import dataclasses

    if kind == "llm" and not config.generator.models:
        raise ValueError("--generator llm needs models (--models FILE, or the folder's "
                         "config)")
    return dataclasses.replace(config, generator=dataclasses.replace(config.generator,
                                                                     kind=kind))


def _with_executor(args: argparse.Namespace, config: Any) -> Any:
    """The configuration with --executor and --ray-address applied."""
    import dataclasses

    executor = config.executor
    if args.executor is not None:
        executor = dataclasses.replace(executor, kind=args.executor)
    if args.ray_address is not None:
        executor = dataclasses.replace(
            executor, ray=dataclasses.replace(executor.ray, address=args.ray_address))
    return dataclasses.replace(config, executor=executor)


def _problem_options(args: argparse.Namespace) -> dict[str, Any]:
    """The problem's options: --option KEY=VALUE, with --data and --fidelity folded in."""
    options = parse_options(args.option)
    if args.data is not None:
        options["data"] = str(Path(args.data).resolve())  # workers run elsewhere
    if args.fidelity is not None:
        options["fidelity"] = args.fidelity
    return options


def _refuse_changes(args: argparse.Namespace, controller: Any) -> None:
    """Repeating the original command with --resume works; a flag that would change the
    stored run is refused, naming the old and the new value.

    Raises:
        ValueError: The first change found.
    """
    from adrs.evolve.config import config_to_mapping, load_config

    if args.seed is not None and args.seed != controller.config.seed:
        raise ValueError(f"--seed {args.seed} cannot change the seed of the run being resumed "
                         f"(it is {controller.config.seed})")
    options = _problem_options(args)
    stored = dict(controller.spec.options)
    stored.pop("name", None)
    for key, value in options.items():
        if key not in stored or stored[key] != value:
            raise ValueError(f"{option_flag(key)}={value} cannot change the run being resumed "
                             f"(it has {key}={stored.get(key)!r})")
    if args.config is not None or args.models is not None:
        base, config_file = None, args.config
        if args.target and Path(args.target).is_dir():
            _, base, config_file, _ = _resolve(args, {})
        wanted = config_to_mapping(load_config(config_file, args.models, base=base))
        have = config_to_mapping(controller.config)
        for key in ("budget", "workers", "executor"):  # these may change on resume
            wanted.pop(key, None)
            have.pop(key, None)
        difference = _first_difference(have, wanted)
        if difference is not None:
            key, old, new = difference
            raise ValueError(f"--config/--models would change {key} of the run being resumed "
                             f"from {old!r} to {new!r}")


def _first_difference(old: Any, new: Any, key: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            found = _first_difference(old.get(name), new.get(name),
                                      f"{key}.{name}" if key else name)
            if found is not None:
                return found
        return None
    return None if old == new else (key, old, new)


def _resolve(args: argparse.Namespace, options: dict[str, Any]
             ) -> tuple[Any, dict[str, Any] | None, str | None, list[str]]:
    """The problem's spec, a task folder's translated configuration, the adrs
    configuration file still to read, and one warning per ignored key.

    ``--config`` of a task folder may be an OpenEvolve configuration (any top-level key
    that is not an adrs key): it is then read as the folder's own.
    """
    from adrs.evolve.executor import ProblemSpec

    target = args.target
    folder_flags = [flag for flag, value in (("--initial", args.initial),
                                             ("--evaluator", args.evaluator),
                                             ("--pass-env", args.pass_env),
                                             ("--site", args.site)) if value]
    if target in problem_names():
        if folder_flags:
            raise ValueError(f"{folder_flags[0]} applies to task folders, not to built-in "
                             "problems")
        from adrs.commands._problem_args import check_options

        check_options(target, options)
        return ProblemSpec.registered(target, **options), None, args.config, []
    folder = Path(target)
    if folder.is_dir():
        from adrs.evolve.folder_problem import FolderProblem

        if options:
            raise ValueError("--option applies to built-in problems, not to task folders")
        folder_options: dict[str, Any] = {"path": str(folder.resolve())}
        config_file = args.config
        if config_file is not None and _is_openevolve_config(config_file):
            folder_options["config"] = str(Path(config_file).resolve())
            config_file = None
        for key in ("initial", "evaluator"):
            if getattr(args, key):
                folder_options[key] = str(Path(getattr(args, key)).resolve())
        if args.pass_env:
            folder_options["pass_env"] = list(args.pass_env)  # names only, never values
        if args.site:
            folder_options["site"] = [str(Path(site).resolve()) for site in args.site]
        problem = FolderProblem(**folder_options)
        base, ignored = problem.run_config()
        where = problem.config_path.name
        warnings = [f"{where}: {line}" for line in ignored]
        spec = ProblemSpec("adrs.evolve.folder_problem:FolderProblem", folder_options,
                           str(folder))
        return spec, base, config_file, warnings
    raise ValueError(f"{target!r} is neither a built-in problem ({', '.join(problem_names())})"
                     " nor a folder")


def _is_openevolve_config(path: str) -> bool:
    """Whether a YAML file has a top-level key that no adrs configuration has."""
    from adrs.evolve.config import RunConfig, _read_yaml_mapping

    return bool(set(_read_yaml_mapping(path)) - set(RunConfig.__dataclass_fields__))


def _text(summary: Any) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.6g}"

    counts = summary.counts
    lines = []
    if summary.best_id is not None:
        lines.append(f"best program: {summary.best_program_path} (candidate {summary.best_id})")
    else:
        lines.append("no program was scored")
    lines += _comparison_lines(summary, fmt)
    lines.append(f"evaluated {counts['evaluated'] + counts['failed']}/{summary.budget} "
                 f"(failed {counts['failed']}), duplicates {counts['duplicate']}, unusable "
                 f"{counts['invalid']} in {summary.seconds:.1f} s "
                 f"({summary.rate_per_hour:,.0f}/h); {summary.stopped}")
    llm = summary.llm
    if llm.get("calls"):
        lines.append(f"model calls: {llm['calls']} ({llm['errors']} failed), "
                     f"{llm['prompt_tokens'] + llm['completion_tokens']:,} tokens, "
                     f"${llm['cost_usd']:.4f}")
    executor = dict(getattr(summary, "executor", {}) or {})
    if executor.get("kind") == "ray":
        per_node = ", ".join(f"{node}: {count}" for node, count in
                             executor.get("workers_per_node", {}).items())
        lines.append(f"evaluated on Ray at {executor.get('address')}: "
                     f"{executor.get('workers')} workers ({per_node}), "
                     f"{len(executor.get('nodes', []))} node(s) in the cluster")
    lines.append(f"run folder: {summary.out_dir} "
                 f"(continue with: adrs run --resume --out {summary.out_dir})")
    return "\n".join(lines)


def _comparison_lines(summary: Any, fmt: Any) -> list[str]:
    """The best program beside the initial one and the state of the art, train and
    held-out test, with the constraint metrics, and a verdict in words."""
    rows = list(summary.comparison)
    if not rows:
        return [(f"  train score: {fmt(summary.best_train)}  (initial program: "
                 f"{fmt(summary.initial_train)})"),
                (f"  test score:  {fmt(summary.best_test)}  (initial program: "
                 f"{fmt(summary.initial_test)})")]
    constraints = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    labels = {"best": f"best (candidate {summary.best_id})", "initial": "initial program"}
    names = [labels.get(r["role"], f"state of the art: {r['program']}") for r in rows]
    width = max(len(n) for n in names) + 2
    head = f"  {'':<{width}}{'train':>14}{'held-out test':>16}"
    head += "".join(f"  {c} (train / test)" for c in constraints)
    lines = [head]
    for name, row in zip(names, rows):
        line = f"  {name:<{width}}{fmt(row['train']):>14}{fmt(row['test']):>16}"
        for c in constraints:
            values = row[c]
            line += f"  {fmt(values['train'])} / {fmt(values['test'])}".ljust(len(c) + 18)
        lines.append(line.rstrip())
    verdict = summary.beats_state_of_the_art
    sota = next((r for r in rows if r["role"] == "state of the art"), None)
    best = next((r for r in rows if r["role"] == "best"), None)
    if sota is not None and best is not None:
        for split, label in (("test", "held-out test"), ("train", "train")):
            if verdict.get(split) is None:
                continue
            word = "beats" if verdict[split] else "does NOT beat"
            lines.append(f"  on {label} the best program {word} the state of the art "
                         f"({fmt(best[split])} vs {fmt(sota[split])})")
            break
    lines += [f"  note {note}" for note in getattr(summary, "notes", ())]
    if summary.data:
        lines.append(f"  scores on: {summary.data}")
    return lines
