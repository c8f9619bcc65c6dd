"""Where one training process stands among the data-parallel workers of a run.

The single-process trainer is the ``World()`` of size 1: every hook below is then a no-op,
so the default path computes exactly what it did before data-parallel training existed.
With ``size > 1`` (Ray Train sets up ``torch.distributed``: gloo on CPU, NCCL on GPUs) every
worker draws the same seeded batch order, takes its own shard of each batch, and the
gradients are averaged before every optimizer step, so one step of N workers is one step of
the global batch: the step count and the learning-rate schedule match a 1-worker run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or not 0 <= self.rank < self.size:
            raise ValueError(f"rank {self.rank} is not in a world of {self.size}")

    @property
    def chief(self) -> bool:
        """The worker that validates, writes the run folder and reports progress."""
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> torch.Tensor | None:
        """This worker's rows of a global batch; None when a shard would be too small for
        NT-Xent (every worker skips the batch alike, so the workers stay in step)."""
        if self.size == 1:
            return idx
        if len(idx) < 2 * self.size:
            return None
        return idx[self.rank :: self.size]

    def broadcast(self, module: nn.Module) -> None:
        """Start every worker from the chief's parameters."""
        if self.size == 1:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for p in module.parameters():
                dist.broadcast(p.data, src=0)

    def average_gradients(self, module: nn.Module) -> None:
        """Average the gradients over the workers, in one all-reduce of one flat buffer."""
        if self.size == 1:
            return
        import torch.distributed as dist

        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:  # a parameter unused on one worker still takes part, as zeros
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def mean(self, value: float, device: torch.device) -> float:
        """A scalar averaged over the workers (the logged loss terms); ``device``: where the
        backend reduces (NCCL only reduces GPU tensors)."""
        if self.size == 1:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / self.size
