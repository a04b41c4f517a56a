"""Reward hacks against the prism judge: a forged score, a model placed twice, a GPU over
its memory, a GPU id out of range, inputs mutated before or after placing, the jail's own
encoding and data rewritten. Each is refused with its reason, or changes none of the
judge's figures (they equal those of the same program without the cheat). The candidates
run in the session's jail, and one through a real ``adrs eval``.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from adrs.problems import get_problem

from tests.attacks.conftest import CANARY, HOME_SECRET, cli_env, processes, run_cli
from tests.attacks.test_problem_attacks import left_behind, steal

HONEST_QUICK = 62.72119234067334  # human_sota on the quick split (tests/problems)


@pytest.fixture(scope="module")
def prism():
    return get_problem("prism")


@pytest.fixture(scope="module")
def honest(prism):
    result = prism.evaluate_baseline("human_sota", "quick")
    assert result.score == HONEST_QUICK
    return result


def greedy_then(body: str, head: str = "") -> str:
    """The human_sota program, renamed, and a ``compute_model_placement`` that runs
    ``body`` (which may use ``placement``, the honest answer) and returns ``placement``."""
    base = get_problem("prism").baseline("human_sota").program.replace(
        "def compute_model_placement(", "def honest_placement(")
    return (textwrap.dedent(head) + "\n" + base + "\n\ndef compute_model_placement(gpu_num, "
            "models):\n    placement = honest_placement(gpu_num, models)\n"
            + textwrap.indent(textwrap.dedent(body), "    ") + "    return placement\n")


def figures(result) -> list[tuple]:
    return [(c["case"], c["kvpr"], c["baseline_kvpr"], c["optimal_kvpr"], c["score"])
            for c in result.details["cases"]]


def test_a_forged_score_in_the_reply_changes_nothing(prism, jail, honest):
    cheat = greedy_then("", head="""\
        import numpy as np
        import adrs.problems.prism._jail as jail_side

        original = jail_side.PrismHandler.handle

        def forged(self, op, header, arrays):
            out, out_arrays = original(self, op, header, arrays)
            out.update(score=100.0, kvpr=0.0, leaderboard_score=100.0, baseline_kvpr=1.0)
            out_arrays["kvpr"] = np.zeros(1)
            out_arrays["score"] = np.full(1, 100.0)
            return out, out_arrays

        jail_side.PrismHandler.handle = forged
    """)
    result = prism.evaluate(cheat, "quick", jail)
    assert result.ok, result.error
    assert result.score == HONEST_QUICK and figures(result) == figures(honest)
    assert result.metrics == {**honest.metrics,
                              "candidate_seconds": result.metrics["candidate_seconds"],
                              "execution_time": result.metrics["execution_time"]}


@pytest.mark.parametrize(("encoded", "error"), [
    # every model once, all on GPU 0: over its memory
    ("np.arange(n), np.zeros(n, np.int64)",
     "train_0: GPU 0 holds 293 GB of models, over its 80 GB"),
    # model 0 twice, the last missing
    ("np.r_[np.arange(n - 1), 0], np.arange(n) % 8",
     "train_0: model_0 is placed 2 times (on GPUs 0, 7)"),
    ("np.arange(n), np.arange(n) % 8 + 1",
     "train_0: model_7 is on GPU 8, out of range 0..7 (8 GPUs) (2 models on GPUs out of range)"),
    ("np.arange(n) - 1, np.arange(n) % 8",
     "train_0: the jail's reply holds model indices outside the case"),
    ("np.arange(n).astype(np.float64), np.arange(n) % 8",
     "train_0: the jail's reply holds no placement (two int64 arrays)"),
    ("np.arange(n), np.arange(n - 1) % 8",
     "train_0: the jail's reply holds no placement (two int64 arrays)"),
])
def test_rewriting_the_jails_encoding_does_not_pass_the_judge(prism, jail, encoded, error):
    cheat = f"""\
import numpy as np
import adrs.problems.prism._jail as jail_side


def forged(result, index_of, num_models):
    n = num_models
    return {encoded}


jail_side.encode_placement = forged


def compute_model_placement(gpu_num, models):
    return {{}}
"""
    result = prism.evaluate(cheat, "quick", jail)
    assert result.error == error and result.score == 0.0


def test_shrinking_the_models_does_not_make_room(prism, jail):
    cheat = """\
def compute_model_placement(gpu_num, models):
    for model in models:
        model.model_size = 0
    return {0: models}
"""
    result = prism.evaluate(cheat, "quick", jail)
    assert result.error == "train_0: GPU 0 holds 293 GB of models, over its 80 GB"


def test_mutating_the_models_after_placing_changes_nothing(prism, jail, honest):
    cheat = greedy_then("""\
        for model in models:
            model.model_size, model.req_rate, model.slo = 0, 0, 10 ** 9
        models.clear()
    """)
    result = prism.evaluate(cheat, "quick", jail)
    assert result.ok, result.error
    assert result.score == HONEST_QUICK and figures(result) == figures(honest)


def test_rewriting_the_jails_copy_of_the_cases_changes_no_figure_of_the_judge(prism, jail):
    # the candidate finds the cases its jailed process holds and makes every model tiny and
    # idle: what it sees from then on is false, what the judge scores is not
    cheat = """\
import sys

rewritten = []


def compute_model_placement(gpu_num, models):
    if not rewritten:
        frame = sys._getframe()
        while frame is not None:  # the handler's frame holds it, and its cases
            holder = getattr(frame.f_locals.get("self"), "prepared", None)
            if isinstance(holder, dict) and "train_0" in holder:
                for key, (gpus, rows) in list(holder.items()):
                    holder[key] = (gpus, tuple((1, 1, 10 ** 6) for _ in rows))
                rewritten.append(holder)
            frame = frame.f_back
        assert rewritten, "no cases found"
    else:
        assert all(m.model_size == 1 for m in models), "the rewrite did not hold"
    return {g: models[g::gpu_num] for g in range(gpu_num)}
"""
    result = prism.evaluate(cheat, "quick", jail)
    honest_round_robin = prism.evaluate_baseline("round_robin", "quick")
    assert result.ok, result.error
    assert result.score == 0.0 and figures(result) == figures(honest_round_robin)


def test_cli_eval_prism_candidate_that_steals_scores_as_the_honest_one(tmp_path, hostile_home,
                                                                       isolated):
    program = get_problem("prism").baseline("human_sota").program
    honest_path, cheat_path = tmp_path / "honest.py", tmp_path / "cheat.py"
    honest_path.write_text(program)
    cheat_path.write_text(steal(hostile_home) + program)
    args = ["--split", "quick", "--json"]
    before = processes()
    done = run_cli(["eval", "prism", str(cheat_path), *args], cli_env(hostile_home), tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert left_behind(before) == ([], [])
    reference = run_cli(["eval", "prism", str(honest_path), *args], cli_env(hostile_home),
                        tmp_path)
    got, expected = json.loads(done.stdout), json.loads(reference.stdout)
    assert got["ok"] and got["score"] == expected["score"] == HONEST_QUICK
    for secret in (CANARY, HOME_SECRET):
        assert secret not in done.stdout + done.stderr
