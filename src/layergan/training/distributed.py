"""torchrun/DDP support without a launcher of our own.

Gradients are averaged with one all-reduce per optimizer step instead of wrapping
modules in DistributedDataParallel: GAN phases run G and D several times per step
and the gradient penalty differentiates through D (create_graph), which DDP's
reducer does not support. This is what StyleGAN2-ADA does too.

Every collective goes through this module and uses tensors on the rank's device: NCCL
refuses CPU tensors. The process group has a backend per device type (gloo for CPU,
NCCL for CUDA), so the same code runs on a CPU-only machine. Several machines:
`torchrun --nnodes=M --nproc_per_node=G --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT
--rdzv-id=RUN -m layergan train ...` on each (docs/training.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where this rank's tensors, collectives' included, live

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> tuple[DistInfo, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, device), device


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Make every rank hold rank 0's parameters and buffers."""
    if info.world_size == 1:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    if info.world_size == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p, g in zip(params, grads):
        p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if any rank raised the flag (so that all stop at the same step)."""
    if info.world_size == 1:
        return flag
    t = torch.tensor([float(flag)], device=info.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.world_size == 1:
        return
    if info.device.type == "cuda":
        dist.barrier(device_ids=[info.device.index or 0])
    else:
        dist.barrier()

