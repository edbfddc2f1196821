"""Process-group helpers: torchrun setup (gloo on CPU, NCCL on GPU) and gathers that keep gradients.

:func:`gather` concatenates a tensor from every process; the local slice is the caller's own
tensor, so gradients flow through it, while other processes' slices are constants. Every
process then computes the loss of the whole global batch and the trainer scales it by the world
size, so DDP's gradient averaging yields exactly the single-process gradient of that batch.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1; a no-op for one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=60))
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def gather(tensor: torch.Tensor, dim: int = 0, ragged_dim: int | None = None) -> torch.Tensor:
    """Concatenate ``tensor`` from all processes along ``dim``; gradients flow through the local slice.

    Args:
        tensor: the local part; shapes must agree across processes except along ``ragged_dim``,
            which is zero-padded to the longest.
    """
    if not is_distributed():
        return tensor
    if ragged_dim is not None:
        size = torch.tensor([tensor.shape[ragged_dim]], device=tensor.device)
        sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
        dist.all_gather(sizes, size)
        longest = int(max(s.item() for s in sizes))
        if tensor.shape[ragged_dim] < longest:
            pad_shape = list(tensor.shape)
            pad_shape[ragged_dim] = longest - tensor.shape[ragged_dim]
            tensor = torch.cat([tensor, tensor.new_zeros(pad_shape)], dim=ragged_dim)
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[dist.get_rank()] = tensor
    return torch.cat(parts, dim=dim)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
