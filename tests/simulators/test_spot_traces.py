"""Tests of the spot trace loader and its cache (simulators/spot_traces.py)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from adrs.simulators import spot_traces
from adrs.simulators.spot_traces import TraceSet, cache_dir, load_traces

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
ARCHIVE = DATA_DIR / "spot_traces.tar.gz"

# Evaluator trace ids of the reference single-region evaluator (spec 2.4).
EVAL_IDS = [0, 8, 9, 20, 21, 33, 42, 51, 61, 70, 99, 107, 117, 126, 135]
EVAL_IDS += [145, 154, 163, 172, 182, 191, 219, 228, 238, 247, 256, 266, 275, 284, 294]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test's cache out of the user's home."""
    monkeypatch.setenv("ADRS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def real() -> TraceSet:
    if not ARCHIVE.is_file():
        pytest.skip(f"../shared/data not found: {ARCHIVE} is absent, real-trace tests need it")
    return load_traces(ARCHIVE, cache=False)


def trace_doc(data: list[int], gap: float = 600, prices: list[float] | None = None) -> dict:
    doc: dict[str, Any] = {"metadata": {"gap_seconds": gap, "start_time": 0}, "data": data}
    if prices is not None:
        doc["prices"] = prices
    return doc


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def span(traces: TraceSet, i: int) -> slice:
    return slice(int(traces.offsets[i]), int(traces.offsets[i + 1]))


# ---------------------------------------------------------------------------------------------
# The real archive


def test_real_archive_counts_and_shapes(real: TraceSet) -> None:
    collections = np.array(real.collections)
    assert len(real) == 3300
    assert (collections == "single").sum() == 2400
    assert (collections == "multi").sum() == 900
    single = collections == "single"
    assert sorted({g for g, c in zip(real.groups, real.collections) if c == "single"}) == [
        "us-west-2a_k80_1",
        "us-west-2a_k80_8",
        "us-west-2a_v100_1",
        "us-west-2a_v100_8",
        "us-west-2b_k80_1",
        "us-west-2b_k80_8",
        "us-west-2b_v100_1",
        "us-west-2b_v100_8",
    ]
    assert len({g for g, c in zip(real.groups, real.collections) if c == "multi"}) == 9
    lengths = np.diff(real.offsets)
    assert set(lengths[single].tolist()) == {554}
    assert set(lengths[~single].tolist()) == {1107}
    assert set(real.gap_seconds[single].tolist()) == {600.0}
    assert set(real.gap_seconds[~single].tolist()) == {195.0}
    # Packed arrays go to C++ and Numba without copies.
    for array, dtype in [
        (real.gap_seconds, np.float64),
        (real.offsets, np.int64),
        (real.available, np.uint8),
        (real.prices, np.float64),
    ]:
        assert array.dtype == dtype and array.flags.c_contiguous
    assert real.offsets[-1] == 2400 * 554 + 900 * 1107
    assert real.sources[0].endswith("spot_traces.tar.gz:full/multi/us-east-1a_v100_1/0.json")


def test_real_archive_values(real: TraceSet) -> None:
    i = real.index("us-west-2a_k80_1", "0.json")
    assert real.n_ticks(i) == 554
    assert int(real.available[span(real, i)].sum()) == 554 - 43  # the file has 43 ones
    assert np.isnan(real.prices[span(real, i)]).all()
    i = real.index("us-east-1c_v100_1", "0.json", "multi")
    assert real.prices[real.offsets[i]] == 1.3148
    # Unavailable ticks of multi-region window 0 per region (spec 2.2).
    unavailable = {
        "us-east-1a": 1080,
        "us-east-1c": 423,
        "us-east-1d": 715,
        "us-east-1f": 270,
        "us-east-2a": 414,
        "us-east-2b": 622,
        "us-west-2a": 28,
        "us-west-2b": 0,
        "us-west-2c": 13,
    }
    for region, count in unavailable.items():
        i = real.index(f"{region}_v100_1", "0.json", "multi")
        assert real.n_ticks(i) - int(real.available[span(real, i)].sum()) == count, region
    multi = real.select([i for i, c in enumerate(real.collections) if c == "multi"])
    assert multi.prices.min() == 0.918 and multi.prices.max() == 1.8464
    # Availability of the reference evaluator's 30 traces per zone (spec 2.2).
    for group, fraction in [
        ("us-west-2a_k80_1", 0.946),
        ("us-west-2b_k80_1", 0.197),
        ("us-west-2a_v100_1", 0.667),
        ("us-west-2b_v100_1", 0.519),
    ]:
        chosen = real.select([real.index(group, f"{k}.json", "single") for k in EVAL_IDS])
        assert chosen.available.mean() == pytest.approx(fraction, abs=5e-4), group


def test_real_archive_inverts_data(real: TraceSet) -> None:
    member = "full/single/us-west-2b_v100_1/154.json"
    with tarfile.open(ARCHIVE) as tar:
        data = np.array(json.loads(tar.extractfile(member).read())["data"])
    i = real.index("us-west-2b_v100_1", "154.json")
    assert 0 < data.sum() < data.size
    np.testing.assert_array_equal(real.available[span(real, i)], 1 - data)


def test_real_archive_lexicographic_order(real: TraceSet) -> None:
    one = real.index("us-west-2a_k80_1", "1.json")
    assert real.index("us-west-2a_k80_1", "10.json") == one + 1
    assert real.index("us-west-2a_k80_1", "100.json") == one + 2
    ids = [t for g, t, c in zip(real.groups, real.ids, real.collections) if c == "single"]
    assert ids[:4] == ["0.json", "1.json", "10.json", "100.json"]
    keys = list(zip(real.collections, real.groups, real.ids))
    assert keys == sorted(keys)


def test_index_errors_and_ambiguity(real: TraceSet) -> None:
    # us-west-2a_v100_1 is both a single-region zone and a multi-region region.
    with pytest.raises(ValueError, match=r"exists in collections \['multi', 'single'\]"):
        real.index("us-west-2a_v100_1", "0.json")
    single = real.index("us-west-2a_v100_1", "0.json", "single")
    multi = real.index("us-west-2a_v100_1", "0", "multi")
    assert real.n_ticks(single) == 554 and real.n_ticks(multi) == 1107
    with pytest.raises(ValueError, match="no trace group 'us-west-2z_k80_1'"):
        real.index("us-west-2z_k80_1", "0.json")
    with pytest.raises(ValueError, match="no trace '300.json' in group 'us-west-2a_k80_1'"):
        real.index("us-west-2a_k80_1", "300.json")


def test_select_and_names(real: TraceSet) -> None:
    picks = [real.index("us-west-2b_k80_1", "5.json"), real.index("us-east-1a_v100_1", "7.json")]
    sub = real.select(picks)
    assert sub.names() == ["us-west-2b_k80_1/5.json", "us-east-1a_v100_1/7.json"]
    assert sub.collections == ("single", "multi")
    assert sub.offsets.tolist() == [0, 554, 554 + 1107]
    for j, i in enumerate(picks):
        np.testing.assert_array_equal(sub.available[span(sub, j)], real.available[span(real, i)])
        np.testing.assert_array_equal(sub.prices[span(sub, j)], real.prices[span(real, i)])
    np.testing.assert_array_equal(sub.gap_seconds, [600.0, 195.0])
    with pytest.raises(IndexError):
        real.select([len(real)])
    assert len(real.select([])) == 0


# ---------------------------------------------------------------------------------------------
# Layouts


def test_reference_single_layout_deduplicates_copies(tmp_path: Path) -> None:
    a = json.dumps(trace_doc([0, 1, 1, 0])).encode()
    b = json.dumps(trace_doc([1, 1, 0, 0, 0])).encode()
    members = {}
    for overhead in ("0.02", "0.40"):
        root = f"real/ddl=search+task=48+overhead={overhead}/real"
        members[f"{root}/us-west-2a_k80_1/traces/random_start/0.json"] = a
        members[f"{root}/us-west-2a_k80_1/traces/random_start/1.json"] = b
    # What the real archive also holds: source traces, stray "<env>.json/" copies, macOS junk.
    members["real/ping_based/us-west-2a_k80_1.json"] = json.dumps(trace_doc([0] * 9)).encode()
    stray = "real/ddl=search+task=48+overhead=0.40/real/us-west-2a_k80_1.json/traces/random_start"
    members[f"{stray}/0.json"] = json.dumps(trace_doc([1])).encode()
    members["real/ddl=search+task=48+overhead=0.02/real/x/traces/random_start/._0.json"] = b"\0"
    archive = make_tar(tmp_path / "real_traces.tar.gz", members)
    traces = load_traces(archive)
    assert traces.names() == ["us-west-2a_k80_1/0.json", "us-west-2a_k80_1/1.json"]
    assert traces.collections == ("single", "single")
    assert traces.available.tolist() == [1, 0, 0, 1] + [0, 0, 1, 1, 1]

    # The same layout unpacked in a folder.
    folder = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    unpacked = load_traces(folder)
    assert unpacked.names() == traces.names() and unpacked.collections == traces.collections
    np.testing.assert_array_equal(unpacked.available, traces.available)


def test_reference_single_layout_differing_copies(tmp_path: Path) -> None:
    path = "us-west-2a_k80_1/traces/random_start/3.json"
    first = f"real/ddl=search+task=48+overhead=0.02/real/{path}"
    second = f"real/ddl=search+task=48+overhead=0.05/real/{path}"
    archive = make_tar(
        tmp_path / "real.tgz",
        {
            first: json.dumps(trace_doc([0, 1])).encode(),
            second: json.dumps(trace_doc([1, 1])).encode(),
        },
    )
    with pytest.raises(ValueError, match="two different copies of us-west-2a_k80_1/3.json") as err:
        load_traces(archive)
    assert first in str(err.value) and second in str(err.value)
    # Copies that differ only in formatting are the same trace.
    archive = make_tar(
        tmp_path / "same.tgz",
        {
            first: b'{"metadata":{"gap_seconds":600},"data":[0,1]}',
            second: b"\n".join([b"{", b'"data": [0, 1], "metadata": {"gap_seconds": 600.0}', b"}"]),
        },
    )
    assert len(load_traces(archive)) == 1


def test_reference_multi_layout(tmp_path: Path) -> None:
    members = {}
    for region in ("us-east-1a_v100_1", "us-west-2b_v100_1"):
        for k in range(3):
            doc = trace_doc([k % 2, 1, 0], gap=195, prices=[1.5, 1.5, 1.25])
            members[f"data/converted_multi_region_aligned/{region}/{k}.json"] = json.dumps(
                doc
            ).encode()
    members["data/real/ping_based/us-east-1a_v100_1.json"] = json.dumps(trace_doc([0])).encode()
    traces = load_traces(make_tar(tmp_path / "multi.tar.xz", members, "w:xz"))
    assert len(traces) == 6 and set(traces.collections) == {"multi"}
    assert traces.names()[:3] == [f"us-east-1a_v100_1/{k}.json" for k in range(3)]
    assert traces.prices[:3].tolist() == [1.5, 1.5, 1.25]
    assert traces.available[:3].tolist() == [1, 0, 1]

    # Without the leading data/, unpacked in a folder.
    for name, raw in members.items():
        if "converted" in name:
            (tmp_path / "m" / name.removeprefix("data/")).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "m" / name.removeprefix("data/")).write_bytes(raw)
    folder = load_traces(tmp_path / "m")
    assert folder.names() == traces.names() and folder.collections == traces.collections


def test_multi_windows_must_align(tmp_path: Path) -> None:
    root = tmp_path / "full" / "multi"
    write_json(root / "us-east-1a_v100_1" / "0.json", trace_doc([0, 1, 0], 195, [1.0] * 3))
    write_json(root / "us-east-1c_v100_1" / "0.json", trace_doc([0, 1], 195, [1.0] * 2))
    with pytest.raises(ValueError, match="mismatched region lengths") as err:
        load_traces(tmp_path)
    assert "us-east-1a_v100_1/0.json" in str(err.value)
    assert "us-east-1c_v100_1/0.json" in str(err.value)


def test_our_layout_and_archive_formats(tmp_path: Path) -> None:
    members = {
        "./full/single/us-west-2a_k80_1/2.json": json.dumps(trace_doc([0, 0, 1])).encode(),
        "full/multi/us-east-1a_v100_1/2.json": json.dumps(
            trace_doc([1, 0], 195, [1.4429, 1.5])
        ).encode(),
        "full/README.txt": b"not a trace",
    }
    for suffix, mode in [(".tar", "w"), (".tar.bz2", "w:bz2"), (".tgz", "w:gz")]:
        traces = load_traces(make_tar(tmp_path / f"t{suffix}", members, mode))
        assert traces.collections == ("multi", "single"), suffix
        assert traces.names() == ["us-east-1a_v100_1/2.json", "us-west-2a_k80_1/2.json"]
        np.testing.assert_array_equal(traces.prices[:2], [1.4429, 1.5])
        assert np.isnan(traces.prices[2:]).all()
        np.testing.assert_array_equal(traces.gap_seconds, [195.0, 600.0])


def test_plain_folder_and_single_file(tmp_path: Path) -> None:
    write_json(tmp_path / "mine" / "zone_a" / "b.json", trace_doc([1, 1, 0], gap=60))
    write_json(tmp_path / "mine" / "zone_a" / "a.json", trace_doc([0]))
    write_json(tmp_path / "mine" / "deep" / "zone_b" / "10.json", trace_doc([0, 0]))
    (tmp_path / "mine" / "notes.txt").write_text("ignored")
    traces = load_traces(tmp_path / "mine")
    assert traces.names() == ["zone_a/a.json", "zone_a/b.json", "zone_b/10.json"]
    assert traces.collections == ("", "", "")
    assert traces.available.tolist() == [1, 0, 0, 1, 1, 1]
    assert traces.gap_seconds.tolist() == [600.0, 60.0, 600.0]
    assert traces.sources[1] == str(tmp_path / "mine" / "zone_a" / "b.json")

    one = load_traces(tmp_path / "mine" / "zone_a" / "b.json")
    assert one.names() == ["zone_a/b.json"] and one.collections == ("",)
    # A lone file in one of our layouts keeps its collection.
    path = write_json(tmp_path / "full" / "multi" / "r_v100_1" / "0.json", trace_doc([0], 195))
    assert load_traces(path).collections == ("multi",)


def test_symlinked_folder_is_followed_once(tmp_path: Path) -> None:
    write_json(tmp_path / "data" / "z" / "0.json", trace_doc([0, 1]))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "linked").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "z" / "loop").symlink_to(tmp_path / "data")  # a cycle
    assert load_traces(tmp_path / "mine").names() == ["z/0.json"]


def test_missing_and_empty_paths(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tar.gz"
    with pytest.raises(FileNotFoundError, match="nope.tar.gz"):
        load_traces(missing)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no traces")
    with pytest.raises(ValueError, match="no trace .json files found") as err:
        load_traces(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)
    with pytest.raises(ValueError, match="no trace"):
        load_traces(make_tar(tmp_path / "e.tar.gz", {"a/readme.txt": b"x"}))
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 truncated gzip")
    with pytest.raises(ValueError, match="bad.tar.gz"):
        load_traces(bad)


# ---------------------------------------------------------------------------------------------
# Malformed traces

MALFORMED = [
    (b'{"metadata": {"gap_seconds": 600}, "data": [0, 1', "not valid JSON"),
    (b"", "empty file"),
    (b"  \n", "empty file"),
    (b"[0, 1]", "top level is not a JSON object (got list)"),
    (b'{"metadata": {"gap_seconds": 600}}', "missing 'data'"),
    (b'{"data": [0]}', "missing 'metadata'"),
    (b'{"metadata": {"start_time": 3}, "data": [0]}', "missing 'metadata.gap_seconds'"),
    (b'{"metadata": {"gap_seconds": "600"}, "data": [0]}', "must be a positive number, got '600'"),
    (b'{"metadata": {"gap_seconds": 0}, "data": [0]}', "must be a positive number, got 0"),
    (b'{"metadata": {"gap_seconds": -5}, "data": [0]}', "must be a positive number, got -5"),
    (b'{"metadata": {"gap_seconds": true}, "data": [0]}', "must be a positive number, got True"),
    (b'{"metadata": {"gap_seconds": NaN}, "data": [0]}', "must be a positive number, got nan"),
    (b'{"metadata": {"gap_seconds": 1' + b"0" * 400 + b'}, "data": [0]}', "positive number"),
    (b'{"metadata": {"gap_seconds": 600}, "data": []}', "'data' must be a non-empty list"),
    (b'{"metadata": {"gap_seconds": 600}, "data": "0101"}', "'data' must be a non-empty list"),
    (b'{"metadata": {"gap_seconds": 600}, "data": [0, 2]}', "got 2 at index 1"),
    (b'{"metadata": {"gap_seconds": 600}, "data": [0, 1, true]}', "got True at index 2"),
    (b'{"metadata": {"gap_seconds": 600}, "data": [null]}', "got None at index 0"),
    (b'{"metadata": {"gap_seconds": 600}, "data": [0, 0.5]}', "got 0.5 at index 1"),
    (b'{"metadata": {"gap_seconds": 600}, "data": [0, 1' + b"0" * 400 + b"]}", "at index 1"),
    (
        b'{"metadata": {"gap_seconds": 195}, "data": [0, 1, 0], "prices": [1.0, 1.1]}',
        "mismatched lengths: data has 3 ticks, prices 2",
    ),
    (
        b'{"metadata": {"gap_seconds": 195}, "data": [0, 1], "prices": [1.0, -1.1]}',
        "'prices' entries must be positive finite numbers, got -1.1 at index 1",
    ),
    (
        b'{"metadata": {"gap_seconds": 195}, "data": [0, 1], "prices": [NaN, 1.0]}',
        "got nan at index 0",
    ),
    (
        b'{"metadata": {"gap_seconds": 195}, "data": [0, 1], "prices": [1.0, "x"]}',
        "got 'x' at index 1",
    ),
    (b'{"metadata": {"gap_seconds": 195}, "data": [0], "prices": 1.2}', "'prices' must be a list"),
]


@pytest.mark.parametrize(("raw", "problem"), MALFORMED)
def test_malformed_trace(tmp_path: Path, raw: bytes, problem: str) -> None:
    path = tmp_path / "us-east-1a_v100_1" / "17.json"
    path.parent.mkdir()
    path.write_bytes(raw)
    write_json(tmp_path / "us-east-1a_v100_1" / "16.json", trace_doc([0, 1]))
    for target in (path, tmp_path):
        with pytest.raises(ValueError) as err:
            load_traces(target)
        message = str(err.value)
        assert str(path) in message and problem in message
        assert "\n" not in message


def test_malformed_member_of_archive_names_member(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", {"full/single/z/9.json": b'{"data": [0]}'})
    with pytest.raises(ValueError, match=r"a\.tar\.gz:full/single/z/9\.json: missing 'metadata'"):
        load_traces(archive)


# ---------------------------------------------------------------------------------------------
# Cache


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(raw: bytes, source: str) -> None:
        raise AssertionError(f"parsed {source} although a valid cache exists")

    monkeypatch.setattr(spot_traces, "_parse_trace", refuse)


def _same(a: TraceSet, b: TraceSet) -> None:
    assert a.names() == b.names() and a.collections == b.collections and a.sources == b.sources
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.available, b.available)
    np.testing.assert_array_equal(a.prices, b.prices)
    np.testing.assert_array_equal(a.gap_seconds, b.gap_seconds)
    for array in (b.gap_seconds, b.offsets, b.available, b.prices):
        assert array.flags.c_contiguous


def test_cache_is_written_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADRS_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "traces"
    write_json(root / "full" / "single" / "z" / "0.json", trace_doc([0, 1, 1]))
    write_json(root / "full" / "multi" / "r" / "0.json", trace_doc([1, 0], 195, [1.5, 1.25]))
    first = load_traces(root)
    assert cache_dir() == tmp_path / "cache" / "traces"
    files = list(cache_dir().glob("*.npz"))
    assert len(files) == 1

    with monkeypatch.context() as patch:
        _no_parsing(patch)
        _same(first, load_traces(root))
        # cache=False bypasses it, so it has to parse.
        with pytest.raises(AssertionError, match="although a valid cache exists"):
            load_traces(root, cache=False)

    # Editing a trace changes the key: the new content is read, not the stale cache.
    path = root / "full" / "single" / "z" / "0.json"
    write_json(path, trace_doc([0, 0, 0, 0]))
    os.utime(path, ns=(1, 1))
    assert load_traces(root).n_ticks(1) == 4
    assert len(list(cache_dir().glob("*.npz"))) == 2


def test_archive_cache_and_corrupt_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADRS_CACHE_DIR", str(tmp_path / "cache"))
    archive = make_tar(
        tmp_path / "t.tar.gz", {"full/single/z/0.json": json.dumps(trace_doc([0, 1])).encode()}
    )
    first = load_traces(archive)
    (cache_file,) = cache_dir().glob("*.npz")
    for garbage in (b"", b"PK\x03\x04 not a zip", cache_file.read_bytes()[:100]):
        cache_file.write_bytes(garbage)
        _same(first, load_traces(archive))  # ignored, rebuilt
        with monkeypatch.context() as patch:
            _no_parsing(patch)
            _same(first, load_traces(archive))  # and the rewritten file is valid
    assert not list(cache_dir().glob(".tmp-*"))


def test_unwritable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("a cache folder cannot live under a file")
    monkeypatch.setenv("ADRS_CACHE_DIR", str(blocker))
    write_json(tmp_path / "t" / "z" / "0.json", trace_doc([1, 0]))
    assert load_traces(tmp_path / "t").available.tolist() == [0, 1]


def test_traceset_checks_its_fields() -> None:
    good = {
        "collections": ("",),
        "groups": ("g",),
        "ids": ("0.json",),
        "sources": ("s",),
        "gap_seconds": [600],
        "offsets": [0, 2],
        "available": [1, 0],
        "prices": [np.nan, np.nan],
    }
    traces = TraceSet(**good)
    assert traces.available.dtype == np.uint8 and traces.offsets.dtype == np.int64
    with pytest.raises(ValueError, match="offsets say 3 ticks"):
        TraceSet(**{**good, "offsets": [0, 3]})
    with pytest.raises(ValueError, match="differ in length"):
        TraceSet(**{**good, "groups": ("g", "h")})
