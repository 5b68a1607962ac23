"""Several processes on one run: `torchrun` ranks and `--shard I/N` job-array shards.

Under `torchrun` (environment `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`)
`start(device)` joins the process group (nccl on CUDA, gloo otherwise) and gives each rank
its own CUDA device (`cuda:LOCAL_RANK`).  The runner then hands chunk c of a run to rank
`c mod WORLD_SIZE`; every rank stores its finished chunks beside the result file and rank 0
folds them into one result, identical to a single-process run.  A shard `I/N` (for clusters
without torchrun) computes the chunks c with `c mod N = I` into its own file; `probe.merge`
folds the N files.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from probe.errors import ParameterError


def under_torchrun() -> bool:
    """Whether this process was started by torchrun (or another launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: torch.device) -> torch.device:
    """Join the process group when started by torchrun; return this rank's device."""
    if not under_torchrun() or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def world() -> tuple[int, int]:
    """(rank, number of processes): (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if world()[1] > 1:
        dist.barrier()


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """'I/N' or (I, N) → (I, N) with 0 ≤ I < N."""
    if shard is None:
        return None
    try:
        index, count = (int(v) for v in (shard.split("/") if isinstance(shard, str) else shard))
    except (ValueError, TypeError):
        raise ParameterError(f"a shard is I/N (e.g. 0/4), got '{shard}'") from None
    if not 0 <= index < count:
        raise ParameterError(f"a shard I/N needs 0 ≤ I < N, got '{shard}'")
    return index, count
