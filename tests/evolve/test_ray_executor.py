"""The Ray executor on a real Ray cluster on 127.0.0.1 (one node with two resource
labels, see tests/ray_cluster.py): the same rows as local workers, actors and drivers
killed with SIGKILL, a cluster lost mid-run, data shipped once per node, and the install
hint.

The cluster is the session's (``ray_cluster``); the ``adrs run`` processes connect to it
with ``--ray-address``, and this process is a driver of its own for the executor-level
tests (``ray_driver``).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from adrs.evolve.config import SandboxConfig, config_from_mapping, load_config
from adrs.evolve.controller import Controller
from adrs.evolve.executor import KILLED_ITS_EVALUATOR, EvalJob, ProblemSpec
from adrs.problems.toy import INITIAL_PROGRAM, ToyProblem

from tests.conftest import SHARED
from tests.evolve.test_resume import counts, kill_when, start, table
from tests.ray_cluster import LABELS, LoopbackCluster

DETERMINISTIC = "deterministic: true\nevaluate_test: false\nprogress_interval_s: 3600\n"


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adrs.cli", "run", *args, "--json"],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, status, program, score, quick_score, metrics, error, parent_id, "
            "island, generation, eval_seq, duplicate_of FROM candidates ORDER BY id"
        ).fetchall()


def runs(db: Path) -> list[tuple[str, dict]]:
    with sqlite3.connect(db) as conn:
        return [(status, json.loads(executor) if executor else {}) for status, executor in
                conn.execute("SELECT status, executor FROM runs ORDER BY id")]


@pytest.fixture(scope="module")
def ray_driver(ray_cluster: LoopbackCluster):
    """This process connected to the session's cluster (the executor then uses it)."""
    import ray
    from adrs.evolve.ray_executor import _keep_to_loopback

    _keep_to_loopback(ray)  # ray was imported before the cluster's variables were set
    ray.init(address=ray_cluster.address, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


# -- without a cluster --------------------------------------------------------------------

def test_without_ray_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from adrs.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    out = tmp_path / "run"
    status = main(["run", "toy", "--executor", "ray", "--out", str(out), "--json"])
    assert status == 2
    assert json.loads(capsys.readouterr().out) == {"error": (
        "--executor ray: the Ray executor needs the 'ray' package: pip install 'adrs[ray]' "
        "(in a checkout: pip install -e '.[ray]')")}
    assert not out.exists()


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_an_address_where_no_cluster_answers_fails_at_once_in_one_line(tmp_path, form):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = form.format(port=port)
    out = tmp_path / "run"
    # Ray alone retries such an address for minutes; the run asks the head first
    done = run_cli(["toy", "--executor", "ray", "--ray-address", address, "--budget", "2",
                    "--out", str(out)], tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert json.loads(done.stdout) == {
        "error": f"cannot reach the Ray cluster at {address}: Connection refused"}
    assert not out.exists()


def test_executor_keys_of_the_run_config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("executor:\n  kind: ray\n  ray:\n    address: auto\n"
                    "    num_gpus_per_worker: 0.5\n    runtime_env: {env_vars: {A: '1'}}\n")
    config = load_config(path)
    assert config.executor.kind == "ray"
    assert config.executor.ray.address == "auto"
    assert config.executor.ray.num_gpus_per_worker == 0.5
    assert config.executor.ray.num_cpus_per_worker == 1.0
    assert config.executor.ray.runtime_env == {"env_vars": {"A": "1"}}
    with pytest.raises(ValueError, match=r"^x: executor.kind must be local or ray, got 'k8s'$"):
        config_from_mapping({"executor": {"kind": "k8s"}}, "x")
    with pytest.raises(ValueError, match=r"^x: unknown key 'executor.ray.adress'; known here: "
                                         r"address, num_cpus_per_worker"):
        config_from_mapping({"executor": {"ray": {"adress": "auto"}}}, "x")
    with pytest.raises(ValueError, match=r"^x: executor.ray.runtime_env: expected a mapping"):
        config_from_mapping({"executor": {"ray": {"runtime_env": ["pip"]}}}, "x")


# -- the same search as local workers ------------------------------------------------------

def _local_and_ray(tmp_path: Path, cluster: LoopbackCluster,
                   args: list[str]) -> tuple[dict, dict, Path, Path]:
    config = tmp_path / "run.yaml"
    config.write_text(DETERMINISTIC)
    results = []
    for kind in ("local", "ray"):
        out = tmp_path / kind
        extra = ["--executor", "ray", "--ray-address", cluster.address] if kind == "ray" else []
        done = run_cli([*args, "--config", str(config), "--workers", "2", "--out", str(out),
                        *extra], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        results.append((json.loads(done.stdout), out))
    (local, local_out), (ray, ray_out) = results
    return local, ray, local_out / "run.sqlite", ray_out / "run.sqlite"


def _same_search(local: dict, ray: dict, local_db: Path, ray_db: Path, budget: int) -> None:
    assert rows(ray_db) == rows(local_db)
    for key in ("counts", "budget", "best_id", "best_train", "initial_train", "data",
                "comparison", "stopped"):
        assert ray[key] == local[key], key
    assert ray["counts"]["evaluated"] + ray["counts"]["failed"] == budget
    assert local["executor"]["kind"] == "local" and local["executor"]["workers"] == 2
    assert ray["executor"]["kind"] == "ray" and ray["executor"]["workers"] == 2
    assert [status for status, _ in runs(ray_db)] == ["completed"]
    assert runs(ray_db)[0][1]["kind"] == "ray" and runs(local_db)[0][1]["kind"] == "local"


def test_toy_on_ray_gives_the_rows_of_local_workers(tmp_path, ray_cluster):
    local, ray, local_db, ray_db = _local_and_ray(
        tmp_path, ray_cluster, ["toy", "--budget", "16", "--seed", "4"])
    _same_search(local, ray, local_db, ray_db, 16)
    executor = ray["executor"]
    assert executor["address"] == ray_cluster.address and executor["restarts"] == 0
    # the cluster's node is recorded, with the actors it runs
    assert [n["node"] for n in executor["nodes"]] == ["127.0.0.1"]
    assert executor["nodes"][0]["cpus"] == 2.0
    assert executor["workers_per_node"] == {"127.0.0.1": 2}
    assert (tmp_path / "ray" / "workers.log").read_text().startswith("2 Ray workers on ")


def test_spot_on_ray_gives_the_rows_of_local_workers_and_ships_data_once_per_node(
        tmp_path, ray_cluster):
    # the real traces when ../shared is there (then they are shipped), else synthetic
    data = ["--data", str(SHARED / "data")] if (SHARED / "data").is_dir() else []
    local, ray, local_db, ray_db = _local_and_ray(
        tmp_path, ray_cluster, ["spot", "--budget", "6", "--seed", "1", *data])
    _same_search(local, ray, local_db, ray_db, 6)
    if data:  # the node unpacked its copy once for both actors; rows name the driver's path
        assert ray["executor"]["data_ships"] == len(ray["executor"]["workers_per_node"]) == 1
        # the label names the path resolved (symlinks followed)
        assert ray["data"].startswith(str((SHARED / "data" / "spot_traces.tar.gz").resolve()))
    else:
        assert ray["executor"]["data_ships"] == 0


def test_a_missing_data_path_names_the_node_and_the_path(ray_driver):
    from adrs.evolve.ray_executor import RayExecutor

    spec = ProblemSpec.registered("spot", data="/nonexistent/traces")
    executor = RayExecutor(spec, 1, ship_data=False)
    with pytest.raises(ValueError) as caught:
        executor.start()
    message = str(caught.value)
    assert message.startswith("problem 'spot': an evaluation worker on node 127.0.0.1 "), \
        message
    assert message.endswith("could not build it: data path /nonexistent/traces does not "
                            "exist on this node (executor.ray.ship_data is false: every "
                            "node must hold it)")


# -- faults -------------------------------------------------------------------------------

def _busy_slot(executor, timeout: float = 60.0, attempt: int = 0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executor.poll(0.05)
        for slot in executor._slots:
            if slot.job is not None and slot.job.attempt == attempt and \
                    time.monotonic() - slot.since > 0.3:
                return slot
    raise AssertionError("no actor started the job")


def test_a_job_whose_actor_dies_twice_fails_with_the_reason(ray_driver):
    from adrs.evolve.ray_executor import RayExecutor

    executor = RayExecutor(ProblemSpec.registered("toy", delay_ms=3000), 1,
                           SandboxConfig(timeout_s=30.0),
                           resources={LABELS[1]: 1})
    try:
        executor.start()
        executor.submit(EvalJob(7, INITIAL_PROGRAM))
        for attempt in (0, 1):
            slot = _busy_slot(executor, attempt=attempt)
            assert slot.job.job_id == 7
            os.kill(slot.pid, signal.SIGKILL)
        outcomes = []
        while not outcomes:
            outcomes = executor.poll(30)
        assert len(outcomes) == 1 and outcomes[0].job_id == 7 and not outcomes[0].results
        assert outcomes[0].error.startswith(
            f"{KILLED_ITS_EVALUATOR}: the Ray worker died twice while evaluating it (last: ")
        assert executor.restarts == 2
        # the third actor serves the next job as usual, on the labelled node
        executor.submit(EvalJob(8, INITIAL_PROGRAM.replace("+ 0.0", "+ 0.5")))
        (outcome,) = executor.poll(60)
        assert outcome.error is None and outcome.results["train"].ok
        assert executor.in_flight == 0
        assert list(executor.node_load().values()) == [(0, 1)]
    finally:
        executor.close()


def test_a_run_completes_its_budget_when_an_actor_is_killed_mid_evaluation(
        tmp_path, ray_driver, jail):
    from adrs.evolve.ray_executor import RayExecutor

    spec = ProblemSpec.registered("toy", delay_ms=250)
    config = config_from_mapping({"budget": 14, "seed": 2, "workers": 2,
                                  "evaluate_test": False, "progress_interval_s": 3600})
    executor = RayExecutor(spec, 2, config.sandbox)
    victim: dict[str, int] = {}

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "job" not in victim:
            for slot in list(executor._slots):
                job = slot.job
                if job is not None and job.job_id > 3 and slot.pid and \
                        time.monotonic() - slot.since > 0.05:
                    victim["job"], victim["pid"] = job.job_id, slot.pid
                    os.kill(slot.pid, signal.SIGKILL)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    summary = Controller(spec, config, tmp_path / "run", executor=executor).run()
    killer.join(5)
    assert "job" in victim, "no actor was killed"
    assert summary.counts["evaluated"] + summary.counts["failed"] == 14
    assert summary.counts["failed"] == 0 and summary.counts["queued"] == 0
    assert summary.executor["restarts"] == 1
    db = tmp_path / "run" / "run.sqlite"
    found = {row[0]: row for row in rows(db)}
    program, score = found[victim["job"]][2], found[victim["job"]][3]
    assert found[victim["job"]][1] == "evaluated"  # re-queued once, then scored
    assert score == ToyProblem().evaluate(program, "train", jail).score
    seqs = sorted(row[10] for row in found.values() if row[10] is not None)
    assert seqs == list(range(1, 15))


def _cluster_cpus_free(ray, total: float, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0.0) >= total:
            return True
        time.sleep(0.25)
    return False


def test_a_driver_killed_with_sigkill_resumes_on_local_workers(tmp_path, ray_cluster,
                                                                ray_driver):
    out = tmp_path / "run"
    db = out / "run.sqlite"
    log = tmp_path / "log.txt"
    total = ray_driver.cluster_resources()["CPU"]
    first = start(["toy", "--budget", "60", "--out", str(out), "--seed", "6", "--option",
                   "delay_ms=20", "--workers", "2", "--executor", "ray", "--ray-address",
                   ray_cluster.address, "--json"], log)
    kill_when(first, db, 15)
    before = table(db)
    # the dead driver's actors are ended by the cluster: every CPU is free again
    assert _cluster_cpus_free(ray_driver, total), ray_driver.available_resources()
    second = start(["--resume", "--out", str(out), "--executor", "local", "--json"], log)
    assert second.wait(timeout=240) == 0, log.read_text()[-3000:]
    after = table(db)
    for cid, row in before.items():
        if row[0] != "queued":
            assert after[cid] == row
        else:
            assert after[cid][0] in ("evaluated", "failed")
    done = counts(db)
    assert done.get("evaluated", 0) + done.get("failed", 0) == 60 and not done.get("queued")
    assert [(status, executor.get("kind")) for status, executor in runs(db)] == [
        ("running", "ray"), ("completed", "local")]


def test_a_lost_cluster_stops_the_run_as_interrupted_and_it_resumes_locally(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]'")
    from tests.ray_cluster import CLUSTER_ENV

    cluster = LoopbackCluster()
    out = tmp_path / "run"
    db = out / "run.sqlite"
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "adrs.cli", "run", "toy", "--budget", "5000", "--option",
             "delay_ms=20", "--workers", "2", "--executor", "ray", "--ray-address",
             cluster.address, "--out", str(out), "--json"], cwd=tmp_path,
            env={**os.environ, **CLUSTER_ENV}, stdout=subprocess.PIPE,
            stderr=open(tmp_path / "stderr.txt", "w"), text=True)  # noqa: SIM115
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = counts(db)
            if done.get("evaluated", 0) >= 10:
                break
            assert run.poll() is None, "the run ended before the cluster was lost"
            time.sleep(0.05)
        cluster.stop()
        stdout, _ = run.communicate(timeout=60)
    finally:
        cluster.stop()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert run.returncode == 2, (run.returncode, stdout, stderr[-3000:])
    error = json.loads(stdout)["error"]
    assert error.startswith(f"lost the Ray cluster: its head at {cluster.address} does not "
                            "answer"), error
    assert error.endswith(f"the run is in {out} (continue with: adrs run --resume --out "
                          f"{out}, on this or another executor)")
    assert [status for status, _ in runs(db)] == ["interrupted"]
    scored = counts(db).get("evaluated", 0) + counts(db).get("failed", 0)
    done = run_cli(["--resume", "--out", str(out), "--executor", "local", "--budget",
                    str(scored + 5)], tmp_path)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["counts"]["queued"] == 0
    assert [status for status, _ in runs(db)] == ["interrupted", "completed"]


def test_shipped_data_is_unpacked_once_per_node_and_checked(tmp_path):
    from adrs.evolve._ray_actor import pack_data, unpack_data

    source = tmp_path / "data"
    (source / "sub").mkdir(parents=True)
    (source / "a.csv").write_text("x,y\n1,2\n")
    (source / "sub" / "b.json").write_text("{}")
    blob, digest = pack_data(source)
    assert pack_data(source) == (blob, digest)  # contents only: the same digest again
    fetched = []

    def fetch() -> bytes:
        fetched.append(1)
        return blob

    for node, first in (("node-a", True), ("node-a", False), ("node-b", True)):
        local, unpacked = unpack_data(fetch, digest, "data", tmp_path / "cache" / node)
        assert unpacked is first
        assert (local / "a.csv").read_text() == "x,y\n1,2\n"
        assert (local / "sub" / "b.json").read_text() == "{}"
    assert len(fetched) == 2  # once per node: the second actor of node-a reused it
    with pytest.raises(ValueError, match="^the shipped data does not match its digest$"):
        unpack_data(lambda: blob + b"x", digest, "data", tmp_path / "cache" / "node-c")
    with pytest.raises(FileNotFoundError, match="^data path /nonexistent does not exist$"):
        pack_data("/nonexistent")


def test_the_progress_line_shows_each_node_busy_and_idle():
    from adrs.evolve._progress import ProgressStats

    stats = ProgressStats(done=3, budget=10, best=-1.5, failed=0, duplicates=0, invalid=0,
                          in_flight=2, rate_per_hour=100.0, tokens=0, cost_usd=0.0,
                          nodes="10.0.0.5 1/2 busy, 10.0.0.6 2/2 busy")
    assert stats.line() == ("3/10 evaluated | best -1.5 | 100/h | failed 0 | dup 0 | "
                            "unusable 0 | running 2 | nodes: 10.0.0.5 1/2 busy, "
                            "10.0.0.6 2/2 busy")


def test_the_cluster_and_a_private_ray_listen_on_loopback_only(tmp_path, ray_cluster):
    from tests.ray_cluster import listening_hosts

    loopback = {"127.0.0.1", "::ffff:127.0.0.1"}
    hosts = listening_hosts(ray_cluster.pids())
    assert hosts and hosts <= loopback, hosts
    # an empty address: the run starts its own Ray, bound to 127.0.0.1 (by adrs, not
    # by this session's variable), and ends it
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    out = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "adrs.cli", "run", "toy", "--budget", "40", "--option",
         "delay_ms=100", "--workers", "1", "--executor", "ray", "--out", str(out),
         "--json"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while counts(out / "run.sqlite").get("evaluated", 0) < 3 and time.monotonic() < deadline:
        assert run.poll() is None, "the run ended early"
        time.sleep(0.05)
    hosts = listening_hosts(_descendants(run.pid))  # Ray's processes are the run's
    stdout, _ = run.communicate(timeout=120)
    assert run.returncode == 0, stdout
    assert hosts and hosts <= loopback, hosts
    summary = json.loads(stdout)
    assert summary["executor"]["address"] == "local (127.0.0.1)"
    assert summary["counts"]["evaluated"] + summary["counts"]["failed"] == 40


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found = {root}
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)
