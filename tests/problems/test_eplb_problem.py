"""The eplb problem scores like the reference evaluator, isolates the candidate, and rejects
what the reference accepted. Candidates run in the jail (a process forked from a zygote that
has torch imported); most tests use a small recorded history."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the eplb problem needs the moe extra")

import torch
from adrs.cli import main
from adrs.kernels import (
    balancedness,
    gpu_loads,
    rebalance_experts_reference,
    slot_loads,
)
from adrs.problems import get_problem
from adrs.problems.eplb import ExpertPlacementProblem
from adrs.simulators.eplb import LoadModel, generate_records, write_load_history

SMALL = {"num_replicas": 24, "num_groups": 4, "num_nodes": 2, "num_gpus": 4, "interval": 2}


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """12 records of 4 layers x 16 experts: 6 windows of 2 (train 4, test 2, quick 3)."""
    records = generate_records(LoadModel(num_layers=4, num_experts=16, tokens=256), 12, seed=5)
    folder = tmp_path_factory.mktemp("eplb-data")
    write_load_history(folder / "expert-load.json", records)
    return folder


@pytest.fixture(scope="module")
def small(history) -> ExpertPlacementProblem:
    return get_problem("eplb", data=history, **SMALL)


def program(body: str) -> str:
    return textwrap.dedent(body)


def test_published_baseline_scores_as_the_reference_formula(small, jail):
    result = small.evaluate_baseline("published", "train", jail)
    assert result.ok, result.error
    windows = small.workload("train").windows
    assert windows.shape == (4, 4, 16)
    per_slot, per_gpu = [], []
    for i in range(len(windows) - 1):
        _, log2phy, logcnt = rebalance_experts_reference(torch.from_numpy(windows[i]), 24, 4,
                                                         2, 4)
        loads = slot_loads(log2phy.numpy(), logcnt.numpy(), windows[i + 1], 24)
        per_slot.append(balancedness(loads))
        per_gpu.append(balancedness(gpu_loads(loads, 4)))
    assert result.details["balancedness"] == per_slot
    assert result.metrics["balancedness"] == pytest.approx(np.mean(per_slot), abs=1e-15)
    assert result.metrics["balancedness_gpu"] == pytest.approx(np.mean(per_gpu), abs=1e-15)
    # the speed term: the median over the windows of each window's fastest CPU seconds,
    # measured outside the jail
    seconds = float(np.median(result.details["call_cpu_seconds"]))
    assert len(result.details["call_cpu_seconds"]) == 3
    assert result.metrics["median_seconds"] == pytest.approx(seconds, rel=1e-12)
    assert result.score == pytest.approx((np.mean(per_slot) + 0.02 / seconds) / 2, rel=1e-12)
    repeats = result.metrics["timing_repeats"]
    assert 1 <= repeats <= 5 and result.metrics["calls"] == 3.0 * repeats
    assert all(s > 0 for s in result.details["call_cpu_seconds"])


def test_splits_of_a_recorded_history_are_in_time_order(small):
    windows = {s: small.workload(s).windows for s in ("train", "test", "quick")}
    assert [len(windows[s]) for s in ("train", "test", "quick")] == [4, 2, 3]
    assert np.array_equal(windows["quick"], windows["train"][:3])
    assert small.workload("test").source.endswith("expert-load.json")


def test_the_reference_exploit_is_rejected(small, jail):
    exploit = program("""
        import torch
        def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
            layers, experts = weight.shape
            log2phy = torch.arange(num_replicas).expand(layers, experts, num_replicas).clone()
            logcnt = torch.full((layers, experts), num_replicas)
            return torch.zeros(layers, num_replicas, dtype=torch.int64), log2phy, logcnt
    """)
    result = small.evaluate(exploit, "quick", jail)
    assert not result.ok and result.score == 0.0
    assert result.error == ("window 0: invalid placement: logcnt of layer 0 sums to 384 "
                            "replicas, not the 24 slots")


def test_the_candidate_sees_each_window_only_after_answering_the_previous(small, jail,
                                                                         monkeypatch):
    monkeypatch.setenv("ADRS_DATA_DIR", "/secret/place")
    spy = program("""
        import json, os
        from adrs.kernels import rebalance_experts_vectorized
        SEEN = []
        def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
            SEEN.append(weight[0].tolist())
            if len(SEEN) == 3:
                raise ValueError(json.dumps([SEEN, os.environ.get("ADRS_DATA_DIR")]))
            return rebalance_experts_vectorized(weight, num_replicas, num_groups, num_nodes,
                                                num_gpus)
    """)
    result = small.evaluate(spy, "train", jail)
    windows = small.workload("train").windows
    prefix, suffix = "window 1: rebalance_experts raised ValueError: ", " (line 8)"
    assert result.error.startswith(prefix) and result.error.endswith(suffix)
    seen, data_dir = json.loads(result.error[len(prefix):-len(suffix)])
    # the untimed warm-up (random loads of the judge's, of window 0's size), then windows
    # 0 and 1, nothing else
    assert seen[1:] == [windows[0][0].tolist(), windows[1][0].tolist()]
    assert len(seen[0]) == len(windows[0][0]) and seen[0] != windows[0][0].tolist()
    assert data_dir is None
    assert "raise ValueError" in result.feedback  # the candidate's traceback


@pytest.mark.parametrize(("body", "error"), [
    ("def rebalance_experts(:\n", "loading the program: syntax error in candidate.py at line 1"),
    ("x = 1\n", ("loading the program: the program defines no rebalance_experts(weight, "
                 "num_replicas, num_groups, num_nodes, num_gpus)")),
    ("def rebalance_experts(w, p, g, n, k):\n    return w, w\n",
     ("window 0: rebalance_experts must return (phy2log, log2phy, logcnt), three tensors; it "
      "returned a tuple of 2")),
    ("def rebalance_experts(w, p, g, n, k):\n    return w.numpy(), w, w\n",
     "window 0: rebalance_experts returned phy2log as a ndarray, not a torch.Tensor"),
    ("def rebalance_experts(w, p, g, n, k):\n    return w.float(), w.float()[..., None], w\n",
     "window 0: invalid placement: phy2log must hold integers, got dtype float32"),
    ("import time\ndef rebalance_experts(w, p, g, n, k):\n    time.sleep(30)\n",
     "window 0: timed out after 1 s (killed)"),
    ("import os\ndef rebalance_experts(w, p, g, n, k):\n    print('bye')\n    os._exit(3)\n",
     "window 0: the candidate's process exited with status 3"),
])
def test_failures_are_named_and_score_zero(history, jail, body, error):
    problem = get_problem("eplb", data=history, call_timeout=1.0, **SMALL)
    result = problem.evaluate(body, "quick", jail)
    assert result.score == 0.0 and result.metrics == {}
    assert result.error.startswith(error), result.error
    if "bye" in body:
        assert "bye" in result.feedback  # what the candidate printed


def test_all_three_baselines_agree_on_small_loads(history, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # no GPU needed: Triton's interpreter
    from adrs.jail import JailRunner

    problem = get_problem("eplb", data=history, **SMALL)
    runner = JailRunner()  # a jail of its own: TRITON_INTERPRET is passed when it starts
    try:
        results = {name: problem.evaluate_baseline(name, "quick", runner)
                   for name in problem.baselines}
    finally:
        runner.close()
    assert all(r.ok for r in results.values()), {n: r.error for n, r in results.items()}
    published, triton = results["published"], results["triton"]
    assert triton.details["balancedness"] == published.details["balancedness"]
    assert triton.details["balancedness_gpu"] == published.details["balancedness_gpu"]
    vectorized = results["vectorized"]
    assert vectorized.metrics["balancedness"] == pytest.approx(
        published.metrics["balancedness"], abs=1e-12)


def test_synthetic_production_loads_by_default(monkeypatch, jail):
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    problem = get_problem("eplb")
    workload = problem.workload("quick")
    assert workload.windows.shape == (3, 58, 256)
    assert workload.source == "synthetic loads (seeds 0/1)"
    result = problem.evaluate_baseline("vectorized", "quick", jail)
    assert result.ok, result.error
    # the seed scores about 0.20 per slot here (the reference's file: about 0.21)
    assert 0.15 < result.metrics["balancedness"] < 0.3
    assert result.metrics["balancedness_gpu"] > 0.7


def test_cli_evaluates_a_program_file(history, tmp_path, capsys):
    path = tmp_path / "candidate.py"
    path.write_text(ExpertPlacementProblem(data=history).baselines["vectorized"].program)
    options = [f"--option={k}={v}" for k, v in SMALL.items()]
    status = main(["eval", "eplb", str(path), "--data", str(history), "--split", "quick",
                   "--json", *options])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["ok"] and out["details"]["windows"] == 3
    status = main(["eval", "eplb", "--baseline", "published", "--fidelity", "corrected"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "adrs eval: error: problem 'eplb' takes no option --fidelity; its options: data, "
        "suite, validation, num_replicas, num_groups, num_nodes, num_gpus, interval, "
        "call_timeout, threads, check_groups, load_timeout, timing_budget_s, timing_repeats")


def test_missing_history_is_named(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        get_problem("eplb", data=tmp_path)
    assert str(caught.value) == (f"no load history at {tmp_path / 'expert-load.json'} (get "
                                 "it with: adrs data fetch eplb)")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              p for p in sys.path if p)})


def test_without_torch_eplb_says_how_to_install_it_and_the_rest_works():
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # as if torch were not installed
        from adrs.cli import main
        assert main(["problems"]) == 0
        sys.exit(main(["eval", "eplb", "--baseline", "published"]))
    """)
    done = _python(code)
    assert done.returncode == 2
    assert done.stderr.strip() == ("adrs eval: error: the eplb problem needs torch: pip "
                                   "install -e .[moe] (install torch==2.13.0 first for the "
                                   "CPU build)")
    assert "eplb" in done.stdout


def test_the_judge_never_imports_torch(history):
    code = textwrap.dedent(f"""
        import sys
        from adrs.jail import JailRunner
        from adrs.problems import get_problem
        problem = get_problem("eplb", data={str(history)!r}, **{SMALL!r})
        runner = JailRunner()
        result = problem.evaluate(problem.initial_program, "quick", runner)
        runner.close()
        assert result.ok, result.error
        print("torch" in sys.modules, "adrs.kernels._reference" in sys.modules)
    """)
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    records = generate_records(LoadModel(num_layers=4, num_experts=16, tokens=64), 8, seed=2)
    write_load_history(served / "expert-load.json", records)
    (served / "other.json").write_text('{"something": "else"}')
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_data_fetch_downloads_a_history_the_problem_reads(server, tmp_path, capsys):
    out = tmp_path / "data"
    status = main(["data", "fetch", "eplb", "--url", f"{server}/expert-load.json",
                   "--out", str(out)])
    assert status == 0
    assert f"saved recorded vLLM expert loads read by the reference EPLB evaluator to " \
           f"{out / 'expert-load.json'}" in capsys.readouterr().out
    problem = get_problem("eplb", data=out, **SMALL)
    assert problem.workload("train").windows.shape == (2, 4, 16)
    assert [p.name for p in out.iterdir()] == ["expert-load.json"]  # no partial file left


def test_data_fetch_names_what_went_wrong(server, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["data", "fetch", "eplb", "--url", f"{server}/missing.json",
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == \
        f"adrs data: error: {server}/missing.json: HTTP 404 File not found"
    assert main(["data", "fetch", "eplb", "--url", f"{server}/other.json",
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"adrs data: error: {server}/other.json does not look like the dataset (no "
        '"load_history" near its start)')
    assert list(out.iterdir()) == []


def test_data_fetch_takes_a_local_path(tmp_path, capsys):
    records = generate_records(LoadModel(num_layers=4, num_experts=16, tokens=64), 8, seed=2)
    source = tmp_path / "copy.json"
    write_load_history(source, records)
    out = tmp_path / "data"
    assert main(["data", "fetch", "eplb", "--url", str(source), "--out", str(out)]) == 0
    assert (out / "expert-load.json").read_bytes() == source.read_bytes()
    capsys.readouterr()
    assert main(["data", "fetch", "eplb", "--url", str(tmp_path / "none.json"),
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"adrs data: error: --url {tmp_path / 'none.json'}: no such file")
