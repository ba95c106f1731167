"""Data-parallel training when launched by torchrun; plain single-process training otherwise.

Under `torchrun --nproc_per_node N` (WORLD_SIZE > 1) every process joins a process group (NCCL on
GPUs, Gloo on CPU), sees its own shard of the training rows (DistributedSampler) and holds a
DistributedDataParallel copy of the model. Gradients are averaged, so all ranks keep identical
weights; each rank evaluates the (small) validation set itself, so every rank makes the same
keep-best decision without extra communication. Only rank 0 logs and writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, RandomSampler, Sampler


@dataclass(frozen=True)
class Context:
    """Where this process runs: its rank, the world size and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """'cpu', 'cuda', 'cuda:N', 'N' or 'auto'. Under DDP (local_rank given) a GPU run uses the rank's
    own GPU. A GPU asked for but absent is an error, never a silent CPU run."""
    name = str(name).strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not (name == "cuda" or name.startswith("cuda:") or name.isdigit()):
        raise ValueError(f"classifier.device {name!r}: expected cpu, cuda, cuda:N, N or auto")
    if not torch.cuda.is_available():
        raise RuntimeError(f"classifier.device {name!r}: no CUDA device available (use cpu)")
    if local_rank is not None:
        return torch.device("cuda", local_rank)
    return torch.device("cuda", int(name.split(":")[-1]) if name != "cuda" else 0)


def setup(device: str) -> Context:
    """Join torchrun's process group if there is one (WORLD_SIZE > 1) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank if world > 1 else None)
    if dev.type == "cpu" and world > 1:
        # share the machine's cores between the processes instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Context(rank, world, dev)


def wrap(model: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """The model, inside DistributedDataParallel when running distributed."""
    model = model.to(ctx.device)
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def sampler(dataset: Dataset, ctx: Context, seed: int) -> Sampler:
    """Shuffling sampler: this rank's shard under DDP (call set_epoch), a seeded permutation otherwise."""
    if ctx.distributed:
        return DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                  seed=seed, drop_last=False)
    return RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))


def sync_buffers(model: torch.nn.Module, ctx: Context) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics).

    DDP broadcasts them only before each forward, so after an epoch's last step each rank holds
    the statistics of its own last batch; without this the ranks would score validation with
    different models and could disagree on the best epoch, or on when to stop (and then hang).
    """
    if ctx.distributed:
        for buf in unwrap(model).buffers():
            dist.broadcast(buf, src=0)


def set_epoch(s: Sampler, epoch: int) -> None:
    if isinstance(s, DistributedSampler):
        s.set_epoch(epoch)


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def cleanup(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
