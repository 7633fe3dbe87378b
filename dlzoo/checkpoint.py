"""Checkpoint I/O: atomic writes, and reads that fail with one clear message."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dlzoo.errors import DlzooError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same folder, then renames it into place.

    A crash or a full disk mid-write leaves the previous checkpoint intact: ``os.replace`` is atomic
    on POSIX and Windows when source and target share a file system.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True``, or raise one readable DlzooError."""
    path = Path(path)
    if not path.is_file():
        raise DlzooError(f"checkpoint not found: {path} (pass ckpt_path=<run folder>/checkpoints/last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise DlzooError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0]}. "
            "The file may be truncated or not a dlzoo checkpoint."
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise DlzooError(f"{path} is not a Lightning checkpoint (no 'state_dict' entry)")
    return checkpoint
