"""Device choice and multi-process training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N --no-python rbc-bench run ...`` starts N copies of the command; each reads its
rank from the environment torchrun sets. Process 0 writes the run folder and scores; the others train in step.
GPUs use the NCCL backend, CPUs gloo (how the tests run it: 2 CPU processes).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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
            "device cuda was asked for (by --device or the preset) but no CUDA GPU is visible; "
            "use --device cpu (or auto), or a CPU preset such as cpu-smoke"
        )
    if requested == "cuda" or (requested == "auto" and has_cuda):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_plan(preset, world_size: int = 1) -> dict:
    """Threads of a training process and the processes beside it (recorded in env.json).

    ``preset.torch_threads`` when set; otherwise the cores left after the DataLoader workers, shared among the
    training processes. More threads than free cores oversubscribe them: OpenMP threads then wait on each other
    (measured before this rule: ``make demo``'s benchmark step 7.6x slower on 2 cores than on one thread).
    """
    cores = usable_cores()
    loader_workers = preset.num_workers if preset.data_mode == "loader" else 0
    automatic = max(1, (cores - loader_workers) // max(world_size, 1))
    return {
        "torch_threads": preset.torch_threads or automatic,
        "chosen": "--torch-threads" if preset.torch_threads else "cores minus loader workers",
        "cores": cores,
        "loader_workers": loader_workers,
        "feature_workers": preset.workers,
        "training_processes": world_size,
    }


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside the block; the caller's setting is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
