"""The Ray side of :class:`adrs.evolve.ray_executor.RayExecutor`: one evaluation actor.

An :class:`EvalActor` is what a local worker process (``adrs.evolve._worker``) is, in a
Ray worker process on some node of the cluster: a judge that builds the problem once
from its :class:`~adrs.evolve.executor.ProblemSpec`, starts the jail of the ``train``
split (warm), and then scores the candidates it is sent, each run in a fresh jailed
process by the same :func:`~adrs.evolve.executor.evaluate_job` as local workers. Only
:class:`~adrs.evolve.executor.EvalJob` and :class:`~adrs.evolve.executor.EvalOutcome`
cross the wire.

This module imports no Ray at import time: the executor wraps the class with
``ray.remote`` (Ray pickles it by reference, so every node imports it from its own
installed ``adrs``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

# where shipped data is unpacked on a node, one folder per content digest
DATA_CACHE = "adrs-ray-data"


def pack_data(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """A data file or folder as an uncompressed tar (its members under its own name)
    and the SHA-256 of that tar.

    Raises:
        FileNotFoundError: ``path`` does not exist on this machine.
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"data path {source} does not exist")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member in [source, *sorted(source.rglob("*"))] if source.is_dir() else [source]:
            if member.is_symlink() or not (member.is_file() or member.is_dir()):
                continue
            name = source.name if member == source else \
                f"{source.name}/{member.relative_to(source).as_posix()}"
            info = archive.gettarinfo(str(member), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0  # the digest depends on the contents only
            if member.is_file():
                with open(member, "rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
    blob = buffer.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def unpack_data(fetch: Any, digest: str, name: str,
                cache_root: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The node-local copy of shipped data, unpacked by the first actor of the node.

    Args:
        fetch: Called without arguments for the tar's bytes, only when this node has no
            copy yet (so each node fetches it from the object store once).
        digest: SHA-256 of the tar (names the cache folder, checked after fetching).
        name: The data path's last component (its name inside the tar).
        cache_root: Folder of the cache; None: ``$TMPDIR/adrs-ray-data``.

    Returns:
        The local path, and whether this call unpacked it.

    Raises:
        ValueError: The bytes do not match the digest, or the tar holds a member
            outside its folder.
    """
    root = Path(cache_root or Path(tempfile.gettempdir()) / DATA_CACHE) / digest
    root.mkdir(parents=True, exist_ok=True)
    complete = root / ".complete"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other actors of this node wait for it
        if complete.exists():
            return root / name, False
        blob = fetch()
        if hashlib.sha256(blob).hexdigest() != digest:
            raise ValueError("the shipped data does not match its digest")
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if (member.name.startswith("/") or ".." in parts or not parts
                        or parts[0] != name or not (member.isfile() or member.isdir())):
                    raise ValueError(f"the shipped data holds an unexpected member "
                                     f"{member.name!r}")
            for member in archive.getmembers():
                target = root / member.name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = archive.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())
        complete.write_text(digest)
        return root / name, True


def _node() -> tuple[str, str]:
    """This process's node: its IP address and Ray node id."""
    import ray

    return ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id()


def _node_cache(node_id: str) -> Path:
    """This node's folder for shipped data: in Ray's session folder (removed with the
    cluster's temporary files), one subfolder per node (several nodes may share a
    machine)."""
    base = Path(tempfile.gettempdir())
    with contextlib.suppress(Exception):
        import ray

        base = Path(ray._private.worker.global_worker.node.get_session_dir_path())
    return base / DATA_CACHE / (node_id or "node")


class EvalActor:
    """A judge on a Ray node: builds the problem, warms its jail, evaluates jobs.

    Args:
        init: What a local worker is sent at start: ``spec``, ``sys_path``,
            ``warm_splits``, ``limits``, ``isolation``, ``timeout_s``,
            ``startup_timeout_s``; and ``data``: None, or the shipped data as
            ``{"ref": [ObjectRef], "digest": str, "name": str, "path": str}`` (the
            driver's path, which the results keep naming), or ``{"path": str}`` when
            every node must hold the path itself.

    A failure to build is kept and reported by :meth:`ready` (an exception here would
    end the actor with a traceback instead of a message).
    """

    def __init__(self, init: dict[str, Any]) -> None:
        started = time.perf_counter()
        self._problem: Any = None
        self._runner: Any = None
        self._timeout_s = float(init["timeout_s"])
        self._local_data: str | None = None
        self._driver_data: str | None = None
        self._report: tuple[str, Any]
        try:
            self._ip, self._node_id = _node()
        except Exception:  # noqa: BLE001 - outside Ray (a unit test): a plain process
            self._ip, self._node_id = "127.0.0.1", ""
        # driver paths that exist here too (one machine, or a shared file system): a
        # factory outside the installed package (a bench's, a test's) imports as locally
        for entry in init.get("sys_path", ()):
            if entry and entry not in sys.path and os.path.isdir(entry):
                sys.path.append(entry)
        try:
            from adrs.jail import JailRunner

            spec = self._with_data(init["spec"], init.get("data"))
            problem = spec.build()
            runner = JailRunner(init["limits"], init["isolation"],
                                startup_timeout_s=init["startup_timeout_s"])
            for split in init["warm_splits"]:
                runner.jail(problem.jail_task(split))
            self._problem, self._runner = problem, runner
            self._report = ("ready", {
                "seconds": time.perf_counter() - started, "layers": runner.layers.to_json(),
                "pid": os.getpid(), "node": self._ip, "node_id": self._node_id,
                "unpacked_data": self._unpacked})
        except BaseException as exc:  # noqa: BLE001 - report any failure to build
            first = " ".join(str(exc).split()) or type(exc).__name__
            what = first if isinstance(exc, (ValueError, OSError)) else \
                f"{type(exc).__name__}: {first}"
            traceback.print_exc()  # into the actor's log on its node
            self._report = ("failed", {"error": what, "node_id": self._node_id})

    def _with_data(self, spec: Any, data: dict[str, Any] | None) -> Any:
        """The spec, its ``data`` option pointing at this node's copy."""
        self._unpacked = False
        if not data:
            return spec
        self._driver_data = data["path"]
        if "ref" not in data:
            if not Path(data["path"]).exists():
                raise FileNotFoundError(
                    f"data path {data['path']} does not exist on this node "
                    "(executor.ray.ship_data is false: every node must hold it)")
            return spec
        import ray

        local, self._unpacked = unpack_data(lambda: ray.get(data["ref"][0]), data["digest"],
                                            data["name"], _node_cache(self._node_id))
        self._local_data = str(local)
        return replace(spec, options={**dict(spec.options), "data": self._local_data})

    def ready(self) -> tuple[str, Any]:
        """``("ready", report)`` or ``("failed", {"error": message, "node_id": id})``."""
        return self._report

    def evaluate(self, job: Any) -> Any:
        """Score one job (its candidate in jails); the outcome names the driver's data
        path, not this node's copy of it, so every node reports the same rows."""
        from adrs.evolve.executor import evaluate_job

        if self._problem is None:
            raise RuntimeError(f"the worker could not build the problem: "
                               f"{self._report[1]['error']}")
        outcome = evaluate_job(self._problem, self._runner, job, self._timeout_s)
        if self._local_data is None or self._driver_data is None:
            return outcome
        local, driver = self._local_data, self._driver_data
        results = {
            split: replace(result, details={
                k: v.replace(local, driver) if isinstance(v, str) else v
                for k, v in result.details.items()})
            for split, result in outcome.results.items()}
        return replace(outcome, results=results)

    def close(self) -> None:
        """Stop the jails (the actor is killed next)."""
        if self._runner is not None:
            with contextlib.suppress(Exception):
                self._runner.close()
            self._runner = None
