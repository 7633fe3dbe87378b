"""``dlzoo-eval ckpt_path=<run>/checkpoints/last.ckpt [data=...]``: evaluate a checkpoint.

The task class, the data config and the numeric precision are read from the checkpoint itself (the
runner stores them),
so the command needs nothing else; ``data=<name>`` evaluates on other data instead. The metrics of
every split (loss and accuracy of train, val and test, as the data has them) go to
``<run folder>/metrics.json`` and to the terminal.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import hydra
from omegaconf import DictConfig

from dlzoo.checkpoint import read_checkpoint
from dlzoo.config import CONFIG_DIR, to_plain
from dlzoo.errors import DlzooError, exit_on_error
from dlzoo.tasks.base import TaskModule, build
from dlzoo.train import evaluate_splits, write_metrics


def load_task(ckpt_path: str) -> tuple[TaskModule, dict]:
    """The task module of a dlzoo checkpoint, with its weights, and the checkpoint's dlzoo metadata."""
    checkpoint = read_checkpoint(ckpt_path)
    meta = checkpoint.get("dlzoo")
    if not meta or "task" not in meta:
        raise DlzooError(f"{ckpt_path} was not written by dlzoo-train (no 'dlzoo' entry naming its task)")
    module_name, _, class_name = meta["task"].rpartition(".")
    task_cls = getattr(importlib.import_module(module_name), class_name)
    return task_cls.load_from_checkpoint(ckpt_path, map_location="cpu"), meta


def evaluate(cfg: DictConfig) -> dict[str, float]:
    model, meta = load_task(cfg.ckpt_path)
    data_cfg = to_plain(cfg.data) if cfg.get("data") else meta.get("data")
    if data_cfg is None:
        raise DlzooError(f"{cfg.ckpt_path} stores no data config; pass data=<name>")
    datamodule = build(data_cfg)
    datamodule.setup("test")
    trainer_cfg = {**to_plain(cfg.trainer), "precision": meta.get("precision", cfg.trainer.precision)}  # the run's
    trainer = build(trainer_cfg, logger=False, enable_checkpointing=False, enable_model_summary=False)
    metrics = evaluate_splits(trainer, model, datamodule, ckpt_path=None)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_metrics(metrics, output_dir)
    print("[dlzoo] " + "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())), flush=True)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def _main(cfg: DictConfig) -> None:
    with exit_on_error("dlzoo-eval"):
        evaluate(cfg)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
