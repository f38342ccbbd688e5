"""The few collectives ingest needs, with a single-process version that needs no torch.distributed.

Under `accelerate launch` / `torchrun` (WORLD_SIZE > 1) accelerate's PartialState joins the process
group (gloo on CPU, nccl on GPU) and picks this process's device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every process."""
        if not self.distributed:
            return obj
        holder = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(holder, src=0)
        return holder[0]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order, on every process."""
        if not self.distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, obj)
        return gathered

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


def current_process_group() -> ProcessGroup:
    """This process's place in a launched job; a plain single process when nothing was launched."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return ProcessGroup()
    from accelerate import PartialState

    # cpu=True is what makes accelerate join a gloo group under torchrun on a machine without GPUs;
    # without it every process silently believes it is alone.
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes != int(os.environ["WORLD_SIZE"]):
        raise RuntimeError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but accelerate joined {state.num_processes} "
                           "process(es); launch with `accelerate launch` or `torchrun` and a working backend")
    return ProcessGroup(rank=state.process_index, world_size=state.num_processes, device=state.device)
