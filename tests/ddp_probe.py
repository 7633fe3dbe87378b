"""A test-only callback for tests/test_distributed.py, given on the command line:

    dlzoo-train ... +callbacks.probe._target_=tests.ddp_probe.DDPProbe +callbacks.probe.dirpath=DIR +callbacks.probe.watch=RUN

Every DDP process (rank) of the run builds one and writes ``DIR/rank<r>.pt`` when training ends: the
training examples it saw, epoch by epoch and in order; its weights before and after training; and its
process-group backend. When the process exits it writes ``DIR/writes<r>.json``: every file it opened
for writing under ``RUN`` (seen by Python's audit hook, installed when the runner builds the
callbacks, before it writes anything).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT


class DDPProbe(L.Callback):
    def __init__(self, dirpath: str, watch: str) -> None:
        self.dirpath, self.watch = Path(dirpath), os.path.realpath(watch)
        self.writes: list[str] = []
        self.rows: dict[int, list[list[float]]] = {}  # epoch -> the training examples this rank saw
        self.initial: dict[str, torch.Tensor] = {}
        self.rank: int | None = None
        sys.addaudithook(self._audit)
        atexit.register(self._save_writes)

    def _audit(self, event: str, args: tuple) -> None:
        # "open" is raised by open() (path, mode string, flags) and os.open (path, None, flags)
        if event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        path = os.path.realpath(os.fsdecode(path))
        if writes and path.startswith(self.watch + os.sep):
            self.writes.append(os.path.relpath(path, self.watch))

    def _save_writes(self) -> None:
        if self.rank is not None:
            (self.dirpath / f"writes{self.rank}.json").write_text(json.dumps(self.writes))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rank = trainer.global_rank
        self.initial = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self.rows.setdefault(trainer.current_epoch, []).extend(batch[0].tolist())  # (B, 2) moons points

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else None
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "backend": backend,
            "rows": self.rows,
            "initial": self.initial,
            "final": {k: v.detach().clone() for k, v in pl_module.state_dict().items()},
        }
        torch.save(record, self.dirpath / f"rank{trainer.global_rank}.pt")
