"""Where this process sits in a torchrun job: rank, world size, and the few collectives used.

A plain `robe train` is a world of one; under `torchrun` the environment names the rank
and world size, and the process group is gloo on CPU (NCCL would need CUDA tensors).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    def gather(self, values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Every rank's array concatenated, in rank order, on every rank."""
        if not self.distributed:
            return values
        parts: list[npt.NDArray[np.float32] | None] = [None] * self.world_size
        dist.all_gather_object(parts, values)
        return np.concatenate([p for p in parts if p is not None])

    def gather_ints(self, value: int) -> list[int]:
        """Every rank's integer, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        parts: list[int | None] = [None] * self.world_size
        dist.all_gather_object(parts, value)
        return [int(p) for p in parts if p is not None]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def join() -> Cluster:
    """The cluster of this process: torchrun's environment, else a world of one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Cluster()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"cannot join the torchrun job ({exc}); launch with torchrun or robe train --nproc"
            ) from exc
    return Cluster(rank=dist.get_rank(), world_size=dist.get_world_size())


def leave(cluster: Cluster) -> None:
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()
