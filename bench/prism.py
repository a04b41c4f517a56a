"""Benchmark: the prism problem against the ADRS Leaderboard's own Prism evaluator.

1. The whole evaluation of one candidate on the leaderboard's 50 cases, for each
   published solution that runs deterministically: the leaderboard's evaluator as its
   ``run_evaluator.sh`` runs it (a fresh ``python evaluator.py --solution ...`` process),
   against a cold ``adrs eval prism`` (a fresh process: the jail started, the program
   loaded, every case judged) and an evaluation in a search's warm jail; the scores are
   checked equal first. Ratios are against the reference measured in the same run.
2. The judge alone (validation and pressures, no candidate): the 50 cases through the
   Numba scorer against the pure-Python oracle of the tests (the reference's arithmetic),
   and one generated case of 2,000 models.
3. The baselines on train and the held-out test.

    python bench/prism.py [--leaderboard ../shared/leaderboard] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "simulators"))
sys.path.insert(0, str(ROOT / "bench"))

import prism_oracle as oracle
from _timing import best_of
from adrs.jail import JailRunner
from adrs.problems import get_problem
from adrs.problems.prism import score_leaderboard_code
from adrs.problems.prism._validate import judge_placement
from adrs.simulators import prism, prism_cases

DETERMINISTIC = ("human_SOTA", "openevolve", "gepa")


def solution_code(leaderboard: Path, name: str) -> str:
    """What the solution's ``solve()`` returns (its file up to ``class Solution:``;
    human_SOTA returns the leaderboard's initial program)."""
    if name == "human_SOTA":
        return (leaderboard / "problems" / "prism" / "initial_program.py").read_text()
    text = (leaderboard / "solutions" / "prism" / name / "resources" / "solution.py").read_text()
    return text[:text.index("class Solution:")]


def reference_run(stage: Path, leaderboard: Path, name: str) -> float:
    """One run of the leaderboard's evaluator on one solution, staged as its scripts
    stage it; returns its score."""
    env_dir = stage / "problems" / "prism" / "resources" / "execution_env" / "solution_env"
    shutil.rmtree(env_dir.parent, ignore_errors=True)
    env_dir.mkdir(parents=True)
    shutil.copy(leaderboard / "solutions" / "prism" / name / "resources" / "solution.py",
                env_dir / "solution.py")
    out = stage / "out.json"
    subprocess.run([sys.executable, str(stage / "problems" / "prism" / "evaluator.py"),
                    "--solution", str(env_dir / "solution.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return json.loads(out.read_text())["score"]


def children_cpu() -> float:
    """CPU seconds of the finished child processes so far (what a loaded machine's wall
    clock hides)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of(function) -> tuple[float, object]:
    before = children_cpu()
    result = function()
    return children_cpu() - before, result


def cold_eval(code_path: Path) -> float:
    done = subprocess.run([sys.executable, "-m", "adrs.cli", "eval", "prism", str(code_path),
                           "--json"], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)["score"]


def whole_evaluation(leaderboard: Path, repeat: int) -> None:
    print(f"1. Whole evaluation of one candidate on the leaderboard's 50 cases, seconds, best "
          f"of {repeat}")
    print(f"{'solution':<12}{'score':>20}{'reference':>11}{'adrs cold':>11}{'ref/cold':>10}"
          f"{'warm jail':>11}{'ref/warm':>10}{'ref CPU':>9}{'cold CPU':>10}")
    runner = JailRunner()
    with tempfile.TemporaryDirectory() as folder:
        stage = Path(folder)
        shutil.copytree(leaderboard / "problems" / "prism", stage / "problems" / "prism")
        for name in DETERMINISTIC:
            code = solution_code(leaderboard, name)
            code_path = stage / f"{name}.py"
            code_path.write_text(code)
            reference = partial(reference_run, stage, leaderboard, name)
            cold = partial(cold_eval, code_path)
            warm_eval = partial(score_leaderboard_code, code, runner)
            ref_s, ref_score = best_of(repeat, reference)
            cold_s, cold_score = best_of(repeat, cold)
            ref_cpu, _ = cpu_of(reference)
            cold_cpu, _ = cpu_of(cold)
            warm_eval()  # start the jail once, as a search does
            warm_s, warm = best_of(repeat, warm_eval)
            assert ref_score == cold_score == warm.score, (ref_score, cold_score, warm.score)
            print(f"{name:<12}{ref_score:>20.14f}{ref_s:>11.3f}{cold_s:>11.3f}"
                  f"{ref_s / cold_s:>9.1f}x{warm_s:>11.3f}{ref_s / warm_s:>9.1f}x"
                  f"{ref_cpu:>9.3f}{cold_cpu:>10.3f}")
    runner.close()
    print("(reference: python evaluator.py --solution ... in a fresh process, its whole "
          "run; adrs cold: `adrs eval prism FILE --json` in a fresh process, jail start "
          "included; warm jail: PrismProblem in a running JailRunner, as in a search; CPU: user + "
          "system seconds of the process and the children it waited for, one run. The "
          "candidate's own time is in every column.)")


def judge_alone(repeat: int) -> None:
    print(f"\n2. The judge alone (validation + pressures + anchors), milliseconds, best of "
          f"{repeat}")
    problem = get_problem("prism")
    cases = [item.case for item in problem.cases("train")]
    big = prism_cases.generate_case("big", 1000, seed=3)
    print(f"{'workload':<34}{'Numba':>10}{'oracle':>10}{'oracle/Numba':>14}")
    for label, chosen in (("50 leaderboard cases, round robin", cases),
                          ("1 case of 1,000 GPUs, 2,000 models", [big])):
        arrays = [(np.arange(c.num_models), np.arange(c.num_models) % c.gpu_num)
                  for c in chosen]
        objects = [oracle.models_of(c.model_size, c.req_rate, c.slo) for c in chosen]

        def ours(chosen=chosen, arrays=arrays) -> list[float]:
            out = []
            for case, (models, gpus) in zip(chosen, arrays):
                out.append(judge_placement(case, models, gpus))
                prism.anchors(case)
            return out

        def reference(chosen=chosen, objects=objects) -> list[float]:
            out = []
            for case, models in zip(chosen, objects):
                placement = oracle.round_robin(case.gpu_num, models)
                assert oracle.verdict(case.gpu_num, models, placement) == "ok"
                out.append(oracle.max_kvpr(placement))
                oracle.balance(case.gpu_num, models)
            return out

        ours_s, got = best_of(repeat, ours)
        ref_s, expected = best_of(repeat, reference)
        assert got == expected
        print(f"{label:<34}{ours_s * 1e3:>10.3f}{ref_s * 1e3:>10.3f}{ref_s / ours_s:>13.1f}x")


def baselines() -> None:
    problem = get_problem("prism")
    print("\n3. Baselines (0-100, the leaderboard's score)")
    print(f"{'baseline':<14}{'train':>20}{'avg_kvpr':>11}{'seconds':>9}{'test':>20}"
          f"{'seconds':>9}")
    for name in problem.baselines:
        train = problem.evaluate_baseline(name, "train")
        test = problem.evaluate_baseline(name, "test")
        assert train.ok and test.ok, (train.error, test.error)
        print(f"{name:<14}{train.score:>20.14f}{train.metrics['avg_kvpr']:>11.6f}"
              f"{train.metrics['candidate_seconds']:>9.3f}{test.score:>20.14f}"
              f"{test.metrics['candidate_seconds']:>9.3f}")
    print("(test: 10 generated cases of 10 to 1,000 GPUs, 20 to 2,000 models)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaderboard", type=Path, default=ROOT.parent / "shared" / "leaderboard")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    whole_evaluation(args.leaderboard, args.repeat)
    judge_alone(args.repeat)
    baselines()
    print(f"\n(whole benchmark: {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
