"""``dlzoo-train`` / ``python -m dlzoo.train``: train any dlzoo model from a Hydra config.

    dlzoo-train                                  # LeNet-5 on scikit-learn's digits, CPU
    dlzoo-train model=mlp data=moons             # any model with any data it fits
    dlzoo-train experiment=c1w2_logreg_cat       # a course experiment
    dlzoo-train ckpt_path=runs/.../last.ckpt     # resume exactly where a run stopped
    dlzoo-train -m model.optimizer.lr=1e-3,1e-2  # a sweep

Every run folder holds ``config.yaml`` (the resolved config), ``metrics.json`` (final metrics as
plain floats, training-set metrics measured in eval mode after training), ``checkpoints/``
(``last.ckpt`` and the best) and the logger's files.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, OmegaConf, open_dict

from dlzoo.callbacks import RNGState
from dlzoo.checkpoint import AtomicCheckpointIO, read_checkpoint
from dlzoo.config import CONFIG_DIR, to_plain
from dlzoo.errors import DlzooError
from dlzoo.tasks.base import TaskModule, build

log = logging.getLogger("dlzoo")


def config_choice(group: str, cfg: DictConfig) -> str:
    """The name chosen for a config group (``lenet5``), or its ``_target_`` outside a Hydra run."""
    try:
        return str(HydraConfig.get().runtime.choices[group])
    except (ValueError, KeyError):
        return str(cfg.get("_target_", group))


def bind_net_to_data(net: DictConfig, sizes: dict[str, tuple[Any, tuple]], model_name: str, data_name: str) -> None:
    """Fill the network's data-dependent sizes left as null, and refuse the ones that contradict the data.

    ``sizes`` comes from the data module's ``net_sizes()``: for each key (``in_features``,
    ``num_classes``, ``vocab_size``, ...) the value to fill in and the values that fit the data.
    """
    with open_dict(net):
        for key, (default, allowed) in sizes.items():
            if key not in net:
                continue
            if net[key] is None:
                net[key] = default
            elif net[key] not in allowed:
                raise DlzooError(
                    f"model '{model_name}' has model.net.{key}={net[key]} but data '{data_name}' gives {default}. "
                    f"Drop the override or set it to {default}."
                )


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a callbacks/logger group."""
    if not group:
        return []
    return [build(to_plain(item)) for item in group.values() if item is not None and "_target_" in item]


def save_config(cfg: DictConfig, output_dir: Path) -> None:
    run_cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])  # Hydra's own config aside
    OmegaConf.save(run_cfg, output_dir / "config.yaml", resolve=True)


def write_metrics(metrics: dict[str, float], output_dir: Path) -> None:
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def evaluate_splits(trainer: L.Trainer, model: TaskModule, datamodule: L.LightningDataModule, ckpt_path: str | None) -> dict[str, float]:
    """The task's test metrics on every split, in eval mode, with the weights of ``ckpt_path`` (or current)."""
    loaders = datamodule.eval_dataloaders()
    model.eval_splits = list(loaders)
    results = trainer.test(model, dataloaders=list(loaders.values()), ckpt_path=ckpt_path, verbose=False)
    return {name: float(value) for result in results for name, value in result.items()}


def train(cfg: DictConfig) -> float | None:
    """Train and evaluate one run; returns ``cfg.optimized_metric`` for sweeps."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("ckpt_path"):
        read_checkpoint(cfg.ckpt_path)  # a missing or corrupt file fails here, readably

    datamodule: L.LightningDataModule = build(to_plain(cfg.data))
    datamodule.prepare_data()
    datamodule.setup("fit")
    model_name, data_name = config_choice("model", cfg.model), config_choice("data", cfg.data)
    bind_net_to_data(cfg.model.net, datamodule.net_sizes(), model_name, data_name)

    callbacks = [*instantiate_group(cfg.get("callbacks")), RNGState()]
    if cfg.trainer.get("enable_progress_bar") is False:  # a run that turns the bar off drops the configured one
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not datamodule.has_validation:
        monitored = [c for c in callbacks if str(getattr(c, "monitor", None) or "").startswith("val/")]
        if monitored:
            raise DlzooError(
                f"data has no validation split (data.val_fraction=0) but callbacks monitor "
                f"{sorted({c.monitor for c in monitored})}; set data.val_fraction>0 or callbacks to monitor a train/ metric"
            )
    loggers = instantiate_group(cfg.get("logger"))
    # Without validation data, no validation loop: Lightning would otherwise enter it (and zero the
    # gradients for it) after every epoch, which costs as much as a step of a small network.
    no_val = {} if datamodule.has_validation else {"limit_val_batches": 0}
    trainer: L.Trainer = build(
        to_plain(cfg.trainer), callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()], **no_val
    )
    # Under the trainer's precision (float64 for 64-true), so initial weights are created in it,
    # not rounded to float32 first.
    with trainer.init_module(empty_init=False):
        model: TaskModule = build(to_plain(cfg.model), _recursive_=False)
    model.run_metadata = {
        "data": to_plain(cfg.data),
        "precision": str(cfg.trainer.get("precision", "32-true")),
        "data_state": datamodule.checkpoint_metadata(),  # e.g. a vocabulary, for predictions from the checkpoint alone
    }
    model.check_fits(datamodule, model_name, data_name)
    save_config(cfg, output_dir)

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    best = next((c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor and c.best_model_path), "")
    eval_ckpt = best if cfg.get("eval_ckpt") == "best" and best else None
    metrics = evaluate_splits(trainer, model, datamodule, eval_ckpt)
    metrics["epochs"] = float(trainer.current_epoch)
    for callback in callbacks:  # callbacks that measure something of their own (e.g. a cost history)
        if hasattr(callback, "final_metrics"):
            metrics.update(callback.final_metrics())
    if trainer.is_global_zero:
        write_metrics(metrics, output_dir)
    summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if k.endswith(("acc", "loss")))
    log.info("run folder: %s", output_dir)
    print(f"[dlzoo] {summary}", flush=True)
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def _main(cfg: DictConfig) -> float | None:
    try:
        return train(cfg)
    except DlzooError as err:
        print(f"dlzoo-train: error: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
