"""Device choice and multi-process training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N --no-python rbc-bench run ...`` starts N copies of the command; each reads its
rank from the environment torchrun sets. Process 0 writes the run folder and scores; the others train in step.
GPUs use the NCCL backend, CPUs gloo (how the tests run it: 2 CPU processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from rbc_dataset.errors import UsageError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run."""

    rank: int  # 0 .. world_size - 1
    world_size: int  # processes in the run (1 without torchrun)
    device: torch.device  # where this process trains

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto``: the GPU when there is one, else the CPU; ``cuda`` without a GPU is a UsageError."""
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise UsageError(
            "the preset asks for device cuda but no CUDA GPU is visible; use --device cpu or --preset cpu-smoke"
        )
    if requested == "cuda" or (requested == "auto" and has_cuda):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(requested_device: str) -> Distributed:
    """Join the process group torchrun set up (nothing to do for a single process)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world_size == 1:
        return Distributed(0, 1, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(torch.distributed.get_rank(), world_size, device)


def broadcast_object(value, dist: Distributed):
    """Rank 0's ``value`` on every process."""
    if dist.world_size == 1:
        return value
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(dist: Distributed) -> None:
    if dist.world_size > 1:
        torch.distributed.barrier()


def shutdown(dist: Distributed) -> None:
    if dist.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
