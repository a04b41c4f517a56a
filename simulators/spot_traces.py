"""Spot availability traces: loading, validation, packing and an on-disk cache.

A trace is one JSON file ``{"metadata": {"gap_seconds": ...}, "data": [0, 1, ...], "prices": [...]}``
where ``data[k] == 1`` means there is NO spot instance at tick ``k`` (the reference simulators'
convention). :func:`load_traces` reads an archive, a folder or a single file, validates every trace,
and packs them into a :class:`TraceSet` of flat arrays with ``available = 1 - data``.

Layouts recognised (see ``docs/spot_traces.md``):

* ours: ``full/single/<group>/<id>.json`` and ``full/multi/<group>/<id>.json``;
* the reference single-region archive:
  ``real/ddl=search+task=48+overhead=<X>/real/<group>/traces/random_start/<id>.json``
  (seven overhead folders of identical copies: one copy of each trace is kept);
* the reference multi-region archive: ``[data/]converted_multi_region_aligned/<group>/<id>.json``;
* anything else: every ``.json`` file, with group = parent folder name and collection ``""``.

When an archive or folder holds any file of the three known layouts, only those files are read
(the reference archives also hold source traces and other windows that are not evaluation traces).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TraceSet", "cache_dir", "load_traces"]

# Bump when the packing or the parsing rules change: old cache files then stop matching.
FORMAT_VERSION = 1

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")

# Layout patterns, matched against a POSIX path (archive member name or absolute file path).
_OURS = re.compile(r"(?:^|/)full/(single|multi)/([^/]+)/([^/]+\.json)$")
_REF_SINGLE = re.compile(r"(?:^|/)real/ddl=[^/]+/real/([^/]+)/traces/random_start/([^/]+\.json)$")
_REF_MULTI = re.compile(r"(?:^|/)converted_multi_region_aligned/([^/]+)/([^/]+\.json)$")


@dataclass(frozen=True, eq=False)
class TraceSet:
    """Spot traces packed into flat arrays (one entry per trace, arrays concatenated).

    The arrays are C-contiguous with fixed dtypes so they can be handed to C++ and Numba without
    copies. Treat them as read-only: they may be shared between TraceSets.

    Attributes:
        collections: Per trace: ``"single"``, ``"multi"`` or ``""`` (unknown layout).
        groups: Per trace: zone/region folder, e.g. ``"us-west-2a_k80_1"``.
        ids: Per trace: file name, e.g. ``"0.json"``.
        sources: Per trace: where it came from (``archive:member`` or file path), for messages.
        gap_seconds: float64 ``[n]``, tick length of each trace.
        offsets: int64 ``[n + 1]``; trace ``i`` occupies ``[offsets[i], offsets[i + 1])``.
        available: uint8 ``[total]``; 1 = spot available (the file's ``data`` inverted).
        prices: float64 ``[total]``; the file's per-tick ``prices``, NaN where it has none.
    """

    collections: tuple[str, ...]
    groups: tuple[str, ...]
    ids: tuple[str, ...]
    sources: tuple[str, ...]
    gap_seconds: np.ndarray
    offsets: np.ndarray
    available: np.ndarray
    prices: np.ndarray

    def __post_init__(self) -> None:
        """Coerce the arrays to their dtypes (no copy when already right) and check consistency.

        Raises:
            ValueError: If the fields disagree in length or the offsets are not a valid packing.
        """
        coerce = {
            "gap_seconds": np.float64,
            "offsets": np.int64,
            "available": np.uint8,
            "prices": np.float64,
        }
        for name, dtype in coerce.items():
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        for name in ("collections", "groups", "ids", "sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.ids)
        if not (len(self.collections) == len(self.groups) == len(self.sources) == n):
            raise ValueError(
                f"TraceSet: per-trace tuples differ in length: collections {len(self.collections)},"
                f" groups {len(self.groups)}, ids {n}, sources {len(self.sources)}"
            )
        if self.gap_seconds.shape != (n,):
            raise ValueError(
                f"TraceSet: gap_seconds has shape {self.gap_seconds.shape}, need ({n},)"
            )
        if self.offsets.shape != (n + 1,) or self.offsets[0] != 0:
            raise ValueError(f"TraceSet: offsets must have shape ({n + 1},) and start at 0")
        if n and np.any(np.diff(self.offsets) < 0):
            raise ValueError("TraceSet: offsets must be non-decreasing")
        total = int(self.offsets[-1])
        if self.available.shape != (total,) or self.prices.shape != (total,):
            raise ValueError(
                f"TraceSet: offsets say {total} ticks but available has {self.available.size}"
                f" and prices {self.prices.size}"
            )
        object.__setattr__(self, "_lookup", None)

    def __len__(self) -> int:
        """Number of traces."""
        return len(self.ids)

    def _index_map(self) -> dict[tuple[str, str], list[int]]:
        # Built on first use: most TraceSets are only iterated, never searched.
        lookup = self._lookup  # type: ignore[attr-defined]
        if lookup is None:
            lookup = {}
            for i, key in enumerate(zip(self.groups, self.ids)):
                lookup.setdefault(key, []).append(i)
            object.__setattr__(self, "_lookup", lookup)
        return lookup

    def index(self, group: str, trace_id: str, collection: str | None = None) -> int:
        """Position of one trace.

        Args:
            group: Zone/region folder, e.g. ``"us-west-2a_k80_1"``.
            trace_id: File name, e.g. ``"0.json"`` (``"0"`` is accepted too).
            collection: ``"single"``, ``"multi"`` or ``""``; needed only when the same group and id
                exist in several collections (e.g. ``us-west-2a_v100_1/0.json`` is in both).

        Returns:
            The index ``i`` of the trace.

        Raises:
            ValueError: Naming what is missing, or asking for the collection when ambiguous.
        """
        lookup = self._index_map()
        key = (group, trace_id)
        if key not in lookup and not trace_id.endswith(".json"):
            key = (group, trace_id + ".json")
        found = lookup.get(key, [])
        if collection is not None:
            found = [i for i in found if self.collections[i] == collection]
        if len(found) == 1:
            return found[0]
        where = f" in collection {collection!r}" if collection is not None else ""
        if not found:
            if group not in set(self.groups):
                known = ", ".join(sorted(set(self.groups)))
                raise ValueError(f"no trace group {group!r}{where}; groups: {known}")
            raise ValueError(f"no trace {trace_id!r} in group {group!r}{where}")
        options = sorted({self.collections[i] for i in found})
        raise ValueError(
            f"trace {group}/{trace_id} exists in collections {options}: pass collection="
        )

    def n_ticks(self, i: int) -> int:
        """Number of ticks of trace ``i``."""
        return int(self.offsets[i + 1] - self.offsets[i])

    def select(self, indices: Sequence[int] | np.ndarray) -> TraceSet:
        """A new packed set holding only these traces, in this order.

        Args:
            indices: Trace positions (repeats allowed).

        Returns:
            A new TraceSet with its own arrays.

        Raises:
            IndexError: If an index is out of range.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"trace index out of range for a TraceSet of {n} traces")
        idx = np.where(idx < 0, idx + n, idx)
        starts = self.offsets[idx]
        lengths = self.offsets[idx + 1] - starts
        offsets = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Flat gather index: each output tick maps to start of its trace + position in the trace.
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
        pick = idx.tolist()
        return TraceSet(
            collections=tuple(self.collections[i] for i in pick),
            groups=tuple(self.groups[i] for i in pick),
            ids=tuple(self.ids[i] for i in pick),
            sources=tuple(self.sources[i] for i in pick),
            gap_seconds=self.gap_seconds[idx],
            offsets=offsets,
            available=self.available[gather],
            prices=self.prices[gather],
        )

    def names(self) -> list[str]:
        """``"group/id"`` per trace."""
        return [f"{g}/{i}" for g, i in zip(self.groups, self.ids)]


# ---------------------------------------------------------------------------------------------
# Parsing and validation of one trace file


@dataclass(frozen=True)
class _Trace:
    gap_seconds: float
    available: np.ndarray  # uint8
    prices: np.ndarray | None  # float64


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _parse_trace(raw: bytes, source: str) -> _Trace:
    """Parse and validate one trace JSON.

    Args:
        raw: The file's bytes.
        source: Where it came from, used in error messages.

    Returns:
        The validated trace, with ``available = 1 - data``.

    Raises:
        ValueError: ``"<source>: <problem>"`` for any malformed content.
    """
    if not raw.strip():
        raise ValueError(f"{source}: empty file")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: not valid JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict):
        # ValueError, not TypeError: callers catch one error type for any malformed file.
        kind = type(doc).__name__
        raise ValueError(f"{source}: top level is not a JSON object (got {kind})")  # noqa: TRY004
    if "data" not in doc:
        raise ValueError(f"{source}: missing 'data'")
    meta = doc.get("metadata")
    if meta is None:
        raise ValueError(f"{source}: missing 'metadata'")
    if not isinstance(meta, dict) or "gap_seconds" not in meta:
        raise ValueError(f"{source}: missing 'metadata.gap_seconds'")
    gap = meta["gap_seconds"]
    # An int beyond float range counts as infinite; the comparison also refuses NaN.
    if not _is_number(gap) or not 0 < gap < 1e300:
        raise ValueError(f"{source}: 'metadata.gap_seconds' must be a positive number, got {gap!r}")

    data = doc["data"]
    if not isinstance(data, list) or not data:
        raise ValueError(f"{source}: 'data' must be a non-empty list of 0/1")
    # Type check at C speed; bool is rejected because the reference writes ints.
    if not set(map(type, data)) <= {int, float}:
        bad = next(k for k, x in enumerate(data) if not _is_number(x))
        raise ValueError(
            f"{source}: 'data' entries must be 0 or 1, got {data[bad]!r} at index {bad}"
        )
    try:
        values = np.asarray(data, dtype=np.float64)
    except OverflowError:  # an integer beyond float range is not 0/1 either
        values = np.array([x if abs(x) < 1e300 else np.inf for x in data], dtype=np.float64)
    ok = (values == 0) | (values == 1)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            f"{source}: 'data' entries must be 0 or 1, got {data[bad]!r} at index {bad}"
        )
    available = (values == 0).astype(np.uint8)

    prices = None
    if "prices" in doc and doc["prices"] is not None:
        plist = doc["prices"]
        if not isinstance(plist, list):
            raise ValueError(f"{source}: 'prices' must be a list of positive numbers")
        if len(plist) != len(data):
            raise ValueError(
                f"{source}: mismatched lengths: data has {len(data)} ticks, prices {len(plist)}"
            )
        if not set(map(type, plist)) <= {int, float}:
            bad = next(k for k, x in enumerate(plist) if not _is_number(x))
            raise ValueError(
                f"{source}: 'prices' entries must be positive finite numbers,"
                f" got {plist[bad]!r} at index {bad}"
            )
        try:
            prices = np.asarray(plist, dtype=np.float64)
        except OverflowError:
            prices = np.array([x if abs(x) < 1e300 else np.inf for x in plist], dtype=np.float64)
        good = np.isfinite(prices) & (prices > 0)
        if not good.all():
            bad = int(np.flatnonzero(~good)[0])
            raise ValueError(
                f"{source}: 'prices' entries must be positive finite numbers,"
                f" got {plist[bad]!r} at index {bad}"
            )
    return _Trace(float(gap), available, prices)


# ---------------------------------------------------------------------------------------------
# Enumerating trace files in archives and folders


@dataclass(frozen=True)
class _Member:
    """One trace file found in an archive or folder, before parsing."""

    collection: str
    group: str
    trace_id: str
    source: str
    raw: bytes


def _classify(posix_path: str) -> tuple[str, str, str] | None:
    """(collection, group, id) when the path is in one of the known layouts, else None."""
    m = _OURS.search(posix_path)
    if m:
        return m.group(1), m.group(2), m.group(3)
    m = _REF_SINGLE.search(posix_path)
    # overhead=0.40 also holds stray "<group>.json/" folders, duplicates of the real ones.
    if m and not m.group(1).endswith(".json"):
        return "single", m.group(1), m.group(2)
    m = _REF_MULTI.search(posix_path)
    if m and not m.group(1).endswith(".json"):
        return "multi", m.group(1), m.group(2)
    return None


def _is_junk(posix_path: str) -> bool:
    name = posix_path.rsplit("/", 1)[-1]
    return not name.endswith(".json") or name.startswith("._") or "__MACOSX/" in posix_path


def _select_members(entries: list[tuple[str, str, str]]) -> list[tuple[str, str, str, str]]:
    """Apply the layout rule to candidate files.

    Args:
        entries: ``(posix path matched against the layouts, parent folder name, handle)`` per
            candidate .json file, in reading order.

    Returns:
        ``(collection, group, id, handle)`` for every file to read: only the files of known
        layouts when there is any, else all of them (group = parent folder, collection ``""``).
    """
    known = []
    plain = []
    for match_path, parent, handle in entries:
        cls = _classify(match_path)
        if cls is not None:
            known.append((*cls, handle))
        else:
            plain.append(("", parent, match_path.rsplit("/", 1)[-1], handle))
    return known if known else plain


def _archive_members(path: Path) -> Iterator[_Member]:
    try:
        with tarfile.open(path, "r:*") as tar:
            entries = []
            by_name = {}
            for info in tar.getmembers():
                name = info.name
                while name.startswith("./"):
                    name = name[2:]
                if not info.isfile() or _is_junk(name):
                    continue
                parts = name.split("/")
                parent = parts[-2] if len(parts) > 1 else path.name
                entries.append((name, parent, name))
                by_name[name] = info
            # Members are read in archive order, so a compressed stream is never rewound twice.
            for collection, group, trace_id, name in _select_members(entries):
                fobj = tar.extractfile(by_name[name])
                raw = fobj.read() if fobj is not None else b""
                yield _Member(collection, group, trace_id, f"{path}:{name}", raw)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read as a tar archive: {exc}") from None


def _folder_json_files(root: Path) -> list[tuple[str, int, int]]:
    """Sorted ``(relative posix path, size, mtime_ns)`` of every .json file under ``root``."""
    found = []
    stack = [(root, "")]
    visited: set[str] = set()
    while stack:
        folder, rel = stack.pop()
        # Symlinked folders are followed (data is often linked in), each real folder once.
        real = os.path.realpath(folder)
        if real in visited:
            continue
        visited.add(real)
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    rel_name = f"{rel}{entry.name}"
                    if entry.is_dir():
                        stack.append((Path(entry.path), rel_name + "/"))
                    elif entry.is_file() and not _is_junk(rel_name):
                        st = entry.stat()
                        found.append((rel_name, st.st_size, st.st_mtime_ns))
        except OSError as exc:
            raise ValueError(f"{folder}: cannot list folder: {exc}") from None
    found.sort()
    return found


def _folder_members(root: Path, files: list[tuple[str, int, int]]) -> Iterator[_Member]:
    base = root.as_posix()
    entries = []
    for rel, _, _ in files:
        parts = rel.split("/")
        parent = parts[-2] if len(parts) > 1 else root.name
        entries.append((f"{base}/{rel}", parent, rel))
    for collection, group, trace_id, rel in _select_members(entries):
        file = root / rel
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise ValueError(f"{file}: cannot read: {exc}") from None
        yield _Member(collection, group, trace_id, str(file), raw)


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(_ARCHIVE_SUFFIXES)


def _iter_members(path: Path) -> Iterator[_Member]:
    """Every trace file of an archive, folder or single file, unparsed.

    Also used by ``scripts/fit_spot_synthetic.py`` to read the metadata (start times) that a
    TraceSet does not keep.

    Args:
        path: An existing archive, folder or .json file.

    Yields:
        The trace files, in no particular order, duplicates included.

    Raises:
        ValueError: If the archive is corrupt or the file is neither a .json nor an archive.
    """
    if path.is_dir():
        yield from _folder_members(path, _folder_json_files(path))
    elif path.name.lower().endswith(".json"):
        cls = _classify(path.as_posix())
        collection, group, trace_id = cls if cls else ("", path.parent.name, path.name)
        yield _Member(collection, group, trace_id, str(path), path.read_bytes())
    elif _is_archive(path) or tarfile.is_tarfile(path):
        yield from _archive_members(path)
    else:
        raise ValueError(f"{path}: not a trace .json file, a folder or a tar archive")


# ---------------------------------------------------------------------------------------------
# Loading and packing


def _same_trace(a: _Trace, b: _Trace) -> bool:
    if a.gap_seconds != b.gap_seconds or not np.array_equal(a.available, b.available):
        return False
    if a.prices is None or b.prices is None:
        return a.prices is None and b.prices is None
    return bool(np.array_equal(a.prices, b.prices))


def _load_uncached(path: Path) -> TraceSet:
    traces: dict[tuple[str, str, str], tuple[str, bytes, _Trace]] = {}
    for member in _iter_members(path):
        key = (member.collection, member.group, member.trace_id)
        seen = traces.get(key)
        if seen is not None:
            # The reference archive holds seven copies of each trace: keep one, refuse conflicts.
            if seen[1] == member.raw:
                continue
            other = _parse_trace(member.raw, member.source)
            if not _same_trace(seen[2], other):
                raise ValueError(
                    f"two different copies of {member.group}/{member.trace_id}:"
                    f" {seen[0]} and {member.source}"
                )
            continue
        traces[key] = (member.source, member.raw, _parse_trace(member.raw, member.source))
    if not traces:
        raise ValueError(f"{path}: no trace .json files found")

    keys = sorted(traces)
    _check_multi_alignment(keys, traces)
    parsed = [traces[k][2] for k in keys]
    lengths = np.fromiter((t.available.size for t in parsed), dtype=np.int64, count=len(parsed))
    offsets = np.zeros(len(parsed) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    prices = np.full(int(offsets[-1]), np.nan, dtype=np.float64)
    for i, t in enumerate(parsed):
        if t.prices is not None:
            prices[offsets[i] : offsets[i + 1]] = t.prices
    return TraceSet(
        collections=tuple(k[0] for k in keys),
        groups=tuple(k[1] for k in keys),
        ids=tuple(k[2] for k in keys),
        sources=tuple(traces[k][0] for k in keys),
        gap_seconds=np.array([t.gap_seconds for t in parsed], dtype=np.float64),
        offsets=offsets,
        available=np.concatenate([t.available for t in parsed]),
        prices=prices,
    )


def _check_multi_alignment(
    keys: list[tuple[str, str, str]], traces: dict[tuple[str, str, str], tuple[str, bytes, _Trace]]
) -> None:
    """Multi-region traces with one id are one time-aligned window: same length and gap."""
    first: dict[str, tuple[str, _Trace]] = {}
    for key in keys:
        if key[0] != "multi":
            continue
        source, _, trace = traces[key]
        ref = first.setdefault(key[2], (source, trace))
        if ref[1].available.size != trace.available.size or ref[1].gap_seconds != trace.gap_seconds:
            raise ValueError(
                f"mismatched region lengths for multi-region trace {key[2]}: {ref[0]} has"
                f" {ref[1].available.size} ticks of {ref[1].gap_seconds:g} s, {source} has"
                f" {trace.available.size} ticks of {trace.gap_seconds:g} s"
            )


# ---------------------------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """Folder of the trace cache: ``$ADRS_CACHE_DIR/traces`` or ``~/.cache/adrs/traces``."""
    root = os.environ.get("ADRS_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "adrs"
    return base / "traces"


def _cache_key(path: Path) -> str:
    if path.is_dir():
        fingerprint: object = _folder_json_files(path)
    else:
        st = path.stat()
        fingerprint = [st.st_size, st.st_mtime_ns]
    blob = json.dumps([FORMAT_VERSION, str(path), fingerprint], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _cache_read(file: Path, key: str) -> TraceSet | None:
    """The cached TraceSet, or None when the file is missing, stale or corrupt."""
    try:
        with np.load(file, allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            if meta.get("key") != key or meta.get("version") != FORMAT_VERSION:
                return None
            return TraceSet(
                collections=tuple(meta["collections"]),
                groups=tuple(meta["groups"]),
                ids=tuple(meta["ids"]),
                sources=tuple(meta["sources"]),
                gap_seconds=npz["gap_seconds"],
                offsets=npz["offsets"],
                available=npz["available"],
                prices=npz["prices"],
            )
    except Exception:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        return None


def _cache_write(file: Path, key: str, traces: TraceSet) -> None:
    """Write atomically; a cache that cannot be written is skipped silently."""
    meta = {
        "key": key,
        "version": FORMAT_VERSION,
        "collections": traces.collections,
        "groups": traces.groups,
        "ids": traces.ids,
        "sources": traces.sources,
    }
    tmp = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=file.parent)
        with os.fdopen(fd, "wb") as out:
            np.savez(
                out,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                gap_seconds=traces.gap_seconds,
                offsets=traces.offsets,
                available=traces.available,
                prices=traces.prices,
            )
        os.replace(tmp, file)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def load_traces(path: str | os.PathLike[str], *, cache: bool = True) -> TraceSet:
    """Load every spot trace of an archive, a folder or a single .json file.

    Traces are sorted by (collection, group, id) with ids in lexicographic string order
    (``"0.json" < "1.json" < "10.json"``), the order in which the reference evaluator picks them.

    Args:
        path: A tar archive (.tar.gz/.tgz/.tar/.tar.xz/.tar.bz2), a folder (searched recursively)
            or one trace .json file.
        cache: Reuse/write a packed copy under :func:`cache_dir` keyed by the path, its size and
            mtime (for a folder: every .json file's relative path, size and mtime).

    Returns:
        The packed traces.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If it holds no trace, or a trace is malformed (the message names the file and
            the problem), or two copies of one trace differ, or multi-region windows with one id
            differ in length.
    """
    resolved = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    if not resolved.exists():
        raise FileNotFoundError(f"trace path not found: {resolved}")
    use_cache = cache and not (resolved.is_file() and resolved.name.lower().endswith(".json"))
    if not use_cache:
        return _load_uncached(resolved)
    key = _cache_key(resolved)
    file = cache_dir() / f"{key}.npz"
    cached = _cache_read(file, key)
    if cached is not None:
        return cached
    traces = _load_uncached(resolved)
    _cache_write(file, key, traces)
    return traces
