"""Transaction workloads: the three published ones and a seeded generator of more.

A workload is an ordered list of transactions, each a string of ops separated by spaces:
``r-<key>`` (read), ``w-<key>`` (write) or ``*`` (a step that touches no key); transaction
i is the i-th entry (``../shared/specs/txn.md``).

The generator is portable: its random numbers come from splitmix64 over a counter,
computed with numpy's wrapping uint64 arithmetic, so a (parameters, seed) pair gives the
same workload on every platform and numpy version.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FILE_NAME = "txn_workloads.json"
PUBLISHED = ("workload_1", "workload_2", "workload_3")
DATA_ENV_VAR = "ADRS_DATA_DIR"


@dataclass(frozen=True)
class TxnWorkload:
    """A named workload.

    Attributes:
        name: ``workload_1``... for the published ones, the generator's name otherwise.
        transactions: Op strings, in order.
        source: Where it came from: a file, or ``generated`` with its parameters.
    """

    name: str
    transactions: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.transactions)


def resolve_data(data: str | os.PathLike[str] | None) -> Path | None:
    """The workload file to read, or None for generated workloads.

    Args:
        data: A folder holding ``txn_workloads.json`` (such as ``../shared/data``) or the
            file itself. When None, the ``ADRS_DATA_DIR`` environment variable; when that
            is unset too, None.

    Raises:
        FileNotFoundError: The path, or the file in the folder, does not exist.
    """
    if data is None:
        data = os.environ.get(DATA_ENV_VAR) or None
    if data is None:
        return None
    path = Path(data).expanduser()
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"transaction workloads not found: {path}")
    return path


def load_workloads(path: str | os.PathLike[str]) -> dict[str, TxnWorkload]:
    """Read a workload file in the published layout:
    ``{"workload_1": {"txn0": "w-17 r-5 ...", ...}, ...}`` (entry order is transaction
    order; the ``txn<i>`` names are not interpreted).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not JSON, or not that layout; the message names the file and field.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(f"{path}: expected an object of workloads, "
                         '{"workload_1": {"txn0": "w-17 r-5 ...", ...}, ...}')
    workloads = {}
    for name, entries in document.items():
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"{path}: {name}: expected a non-empty object of transactions")
        for txn_name, text in entries.items():
            if type(text) is not str:  # JSON strings are exactly str
                raise ValueError(f"{path}: {name}.{txn_name}: expected a string of ops, got "
                                 f"{type(text).__name__}")
            _check_ops(text, f"{path}: {name}.{txn_name}")
        workloads[name] = TxnWorkload(name, tuple(entries.values()), str(path))
    return workloads


def _check_ops(text: str, where: str) -> None:
    for position, token in enumerate(text.split(), start=1):
        if token != "*" and (len(token) < 3 or token[0] not in "rw" or token[1] != "-"):
            raise ValueError(f"{where}: op {position} {token!r} is not r-<key>, w-<key> or *")


@dataclass(frozen=True)
class GeneratorParams:
    """What the generator draws from.

    Attributes:
        num_txns: Number of transactions (tested up to 100,000).
        min_ops: Fewest ops per transaction (``*`` included).
        max_ops: Most ops per transaction; each transaction's count is uniform in
            ``[min_ops, max_ops]``.
        num_keys: Keys ``1..num_keys``.
        read_ratio: Share of keyed ops that read.
        skew: Zipf exponent of key popularity: key k is drawn with weight ``1 / k**skew``
            (0: uniform; 1 and more: a few hot keys take most accesses).
        no_key_share: Share of ops that are ``*``.
        seed: Seed of the random stream.
    """

    num_txns: int = 100
    min_ops: int = 16
    max_ops: int = 16
    num_keys: int = 100
    read_ratio: float = 0.5
    skew: float = 1.0
    no_key_share: float = 0.0
    seed: int = 0

    def check(self) -> None:
        """Raises ValueError naming the first parameter out of its range."""
        if self.num_txns < 1:
            raise ValueError(f"num_txns must be at least 1, got {self.num_txns}")
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(f"need 1 <= min_ops <= max_ops, got {self.min_ops}, {self.max_ops}")
        if self.num_keys < 1:
            raise ValueError(f"num_keys must be at least 1, got {self.num_keys}")
        for name in ("read_ratio", "no_key_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not self.skew >= 0.0:
            raise ValueError(f"skew must be 0 or more, got {self.skew}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be in [0, 2**63), got {self.seed}")


# Profiles after the published workloads, calibrated so that a random order's makespan is
# close to theirs (about 445, 55 and 170): 16 keyed ops over 200 keys (1); mostly idle
# steps, 5 to 21 ops (2); 9 steps, about two keyed, over ten keys with a few hot ones (3).
PROFILES: dict[str, GeneratorParams] = {
    "profile_1": GeneratorParams(min_ops=16, max_ops=16, num_keys=200, read_ratio=0.45,
                                 skew=0.3, no_key_share=0.0),
    "profile_2": GeneratorParams(min_ops=5, max_ops=21, num_keys=200, read_ratio=0.57,
                                 skew=0.3, no_key_share=0.75),
    "profile_3": GeneratorParams(min_ops=9, max_ops=9, num_keys=10, read_ratio=0.5,
                                 skew=1.5, no_key_share=0.78),
}


def _uniform(seed: int, stream: int, count: int) -> np.ndarray:
    """``count`` floats in [0, 1): splitmix64 of a counter, one stream per purpose."""
    with np.errstate(over="ignore"):
        x = (np.arange(count, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        x += np.uint64(seed) * np.uint64(0xD1B54A32D192ED03) + np.uint64(stream) * np.uint64(
            0x8CB92BA72F3D8DD7)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def generate_workload(params: GeneratorParams, name: str = "generated") -> TxnWorkload:
    """A random workload drawn from ``params`` (same parameters and seed, same workload).

    Raises:
        ValueError: A parameter out of range (see :meth:`GeneratorParams.check`).
    """
    params.check()
    n = params.num_txns
    span = params.max_ops - params.min_ops + 1
    counts = params.min_ops + np.minimum(
        (_uniform(params.seed, 0, n) * span).astype(np.int64), span - 1)
    total = int(counts.sum())
    no_key = _uniform(params.seed, 1, total) < params.no_key_share
    reads = _uniform(params.seed, 2, total) < params.read_ratio
    weights = 1.0 / np.arange(1, params.num_keys + 1, dtype=np.float64) ** params.skew
    cdf = np.cumsum(weights)
    keys = 1 + np.minimum(np.searchsorted(cdf, _uniform(params.seed, 3, total) * cdf[-1],
                                          side="right"), params.num_keys - 1)
    # token id: 0 for "*", 2k - 1 for "r-k", 2k for "w-k"; strings looked up once per id
    token_ids = np.where(no_key, 0, 2 * keys - reads.astype(np.int64))
    names = np.empty(2 * params.num_keys + 1, dtype=object)
    names[0] = "*"
    names[1::2] = [f"r-{k}" for k in range(1, params.num_keys + 1)]
    names[2::2] = [f"w-{k}" for k in range(1, params.num_keys + 1)]
    tokens = names[token_ids].tolist()
    bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
    transactions = tuple(" ".join(tokens[bounds[t]:bounds[t + 1]]) for t in range(n))
    fields = ", ".join(f"{k}={v}" for k, v in asdict(params).items())
    return TxnWorkload(name, transactions, f"generated ({fields})")
