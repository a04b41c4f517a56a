"""Triton kernels for the hot steps of the published algorithm, batched over rows.

* :func:`replicate_triton`: the replication greedy (one replica each, then each spare
  slot to the expert with the largest float32 load per replica, first on ties);
* :func:`greedy_pack_triton`: the balanced-packing greedy (items heaviest first, lower
  index first on ties, each to the least-loaded pack with room, lowest pack on ties,
  float32 sums).

Each equals its PyTorch reference (:func:`~adrs.kernels.replicate_greedy`,
:func:`~adrs.kernels.greedy_pack`) exactly, so :func:`rebalance_experts_triton`, which runs
the published composition (:func:`~adrs.kernels.place_experts`) around them, returns the
published algorithm's placement. A program handles a tile of ``ROWS`` rows: one row per
program on a GPU, many on the interpreter, whose cost is per operation, not per element.

Where they run: on a CUDA GPU, or on the CPU under Triton's interpreter
(``TRITON_INTERPRET=1`` in the environment; slow: a 128-wide sort costs about 0.2 s, so
keep shapes small). Without either, :func:`triton_device` says so. ``TRITON_INTERPRET``
must be set before triton is first imported (triton decorates its own library functions,
such as ``tl.sort``, then); this module imports triton only when a kernel is first used.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch

__all__ = ["greedy_pack_triton", "rebalance_experts_triton", "replicate_triton",
           "triton_device"]


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_device() -> torch.device:
    """Where the kernels run: the GPU when there is one, else the CPU under the interpreter.

    Raises:
        RuntimeError: No CUDA GPU and ``TRITON_INTERPRET`` is not ``1``.
    """
    if torch.cuda.is_available() and not _interpreting():
        return torch.device("cuda")
    if _interpreting():
        return torch.device("cpu")
    raise RuntimeError("the Triton kernels need a CUDA GPU, or TRITON_INTERPRET=1 in the "
                       "environment to run on the CPU under Triton's interpreter (slow)")


@functools.cache
def _kernels(interpreting: bool) -> dict[str, Any]:
    del interpreting  # part of the cache key: triton.jit reads the mode when it decorates
    import triton
    import triton.language as tl

    @triton.jit
    def replicate_kernel(weight_ptr, expert_ptr, rank_ptr, count_ptr, rows, n, slots, spare,
                         ROWS: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        col = tl.arange(0, BLOCK)
        row_ok = row < rows
        cell_ok = row_ok[:, None] & (col < n)[None, :]
        weight = tl.load(weight_ptr + row[:, None] * n + col[None, :], mask=cell_ok,
                         other=float("-inf"))
        count = tl.full((ROWS, BLOCK), 1, tl.int64)
        first = tl.zeros((ROWS, BLOCK), tl.int64) + col[None, :]
        tl.store(expert_ptr + row[:, None] * slots + col[None, :], first, mask=cell_ok)
        tl.store(rank_ptr + row[:, None] * slots + col[None, :], tl.zeros_like(first),
                 mask=cell_ok)
        for extra in range(spare):
            # div_rn: IEEE division, as torch's (a GPU's plain fp32 `/` is approximate)
            ratio = tl.math.div_rn(weight, count.to(tl.float32))
            best = tl.argmax(ratio, axis=1, tie_break_left=True)
            hit = col[None, :] == best[:, None]
            rank = tl.sum(tl.where(hit, count, 0), axis=1)
            tl.store(expert_ptr + row * slots + n + extra, best.to(tl.int64), mask=row_ok)
            tl.store(rank_ptr + row * slots + n + extra, rank, mask=row_ok)
            count = tl.where(hit, count + 1, count)
        tl.store(count_ptr + row[:, None] * n + col[None, :], count, mask=cell_ok)

    @triton.jit
    def pack_kernel(weight_ptr, pack_ptr, rank_ptr, rows, n, num_packs, per_pack,
                    ROWS: tl.constexpr, BLOCK: tl.constexpr, PACKS: tl.constexpr):
        row = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        col = tl.arange(0, BLOCK)
        row_ok = row < rows
        cell_ok = row_ok[:, None] & (col < n)[None, :]
        # + 0.0 turns -0.0 into +0.0, which the reference treats as equal
        weight = tl.load(weight_ptr + row[:, None] * n + col[None, :], mask=cell_ok,
                         other=float("-inf")) + 0.0
        # Sort key: the float's bits made order-preserving as a signed integer, then
        # BLOCK-1-index in the low half, so a descending sort puts heavier items first
        # and, among equal ones, the lower index first (the reference's stable sort).
        bits = weight.to(tl.int32, bitcast=True)
        ordered = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(tl.int64)
        key = ordered * 4294967296 + (BLOCK - 1 - col)[None, :].to(tl.int64)
        key = tl.sort(key, dim=1, descending=True)
        item_of = BLOCK - 1 - (key & 4294967295)
        pack_id = tl.arange(0, PACKS)
        load = tl.where((pack_id < num_packs)[None, :],
                        tl.zeros((ROWS, PACKS), tl.float32), float("inf"))
        size = tl.zeros((ROWS, PACKS), tl.int64)
        for i in range(n):
            item = tl.sum(tl.where(col[None, :] == i, item_of, 0), axis=1)
            value = tl.sum(tl.where(col[None, :] == item[:, None], weight, 0.0), axis=1)
            value = tl.where(row_ok, value, 0.0)  # rows past the end hold -inf
            candidate = tl.where(size < per_pack, load, float("inf"))
            best = tl.argmin(candidate, axis=1, tie_break_left=True)
            hit = pack_id[None, :] == best[:, None]
            rank = tl.sum(tl.where(hit, size, 0), axis=1)
            tl.store(pack_ptr + row * n + item, best.to(tl.int64), mask=row_ok)
            tl.store(rank_ptr + row * n + item, rank, mask=row_ok)
            load = tl.where(hit, load + value[:, None], load)
            size = tl.where(hit, size + 1, size)

    return {"replicate": replicate_kernel, "pack": pack_kernel}


def _tile_rows(rows: int, device: torch.device) -> int:
    if device.type == "cuda":
        return 1
    # the interpreter pays per operation: one program for up to 256 rows
    return min(256, 1 << max(0, rows - 1).bit_length())


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _block(n: int) -> int:
    return max(16, 1 << max(0, n - 1).bit_length())


def replicate_triton(weight: torch.Tensor, num_slots: int
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The replication greedy as a Triton kernel; same contract and output as
    :func:`~adrs.kernels.replicate_greedy`, on ``weight``'s device.

    Raises:
        ValueError: ``num_slots`` is below the number of experts.
    """
    rows, experts = weight.shape
    if num_slots < experts:
        raise ValueError(f"{num_slots} slots cannot hold {experts} experts")
    weight = weight.float().contiguous()
    device = weight.device
    slot_expert = torch.empty(rows, num_slots, dtype=torch.int64, device=device)
    slot_rank = torch.empty_like(slot_expert)
    count = torch.empty(rows, experts, dtype=torch.int64, device=device)
    tile = _tile_rows(rows, device)
    _kernels(_interpreting())["replicate"][(_cdiv(rows, tile),)](
        weight, slot_expert, slot_rank, count, rows, experts, num_slots, num_slots - experts,
        ROWS=tile, BLOCK=_block(experts))
    return slot_expert, slot_rank, count


def greedy_pack_triton(weight: torch.Tensor, num_packs: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The balanced-packing greedy as a Triton kernel; same contract and output as
    :func:`~adrs.kernels.greedy_pack`, on ``weight``'s device.

    Raises:
        ValueError: The items do not split equally into ``num_packs``.
    """
    rows, items = weight.shape
    if num_packs < 1 or items % num_packs:
        raise ValueError(f"{items} items do not split equally into {num_packs} packs")
    device = weight.device
    per_pack = items // num_packs
    if per_pack == 1:  # the published code returns the identity here, unsorted
        return (torch.arange(items, dtype=torch.int64, device=device).expand(rows, items)
                .clone(), torch.zeros(rows, items, dtype=torch.int64, device=device))
    weight = weight.float().contiguous()
    pack = torch.empty(rows, items, dtype=torch.int64, device=device)
    rank = torch.empty_like(pack)
    tile = _tile_rows(rows, device)
    _kernels(_interpreting())["pack"][(_cdiv(rows, tile),)](
        weight, pack, rank, rows, items, num_packs, per_pack, ROWS=tile, BLOCK=_block(items),
        PACKS=_block(num_packs))
    return pack, rank


def rebalance_experts_triton(weight: torch.Tensor, num_replicas: int, num_groups: int,
                             num_nodes: int, num_gpus: int
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The published algorithm with its greedy steps in Triton; equal to
    :func:`~adrs.kernels.rebalance_experts_reference`.

    ``weight`` moves to :func:`triton_device`; the outputs are returned there. On a GPU the
    two kernels equal the reference's greedy steps bit for bit (IEEE division, float32
    sums in the reference's order); the glue around them is torch on the GPU, whose float32
    sum of each group's load may round differently from the CPU's, so a near-tie between two
    groups could resolve differently there (not measured: no GPU was available).

    Raises:
        ValueError: A precondition of the published algorithm fails.
        RuntimeError: No GPU and no interpreter (see :func:`triton_device`).
    """
    from adrs.kernels._reference import place_experts

    weight = weight.float().to(triton_device())
    return place_experts(weight, num_replicas, num_groups, num_nodes, num_gpus,
                         pack=greedy_pack_triton, replicate=replicate_triton)
