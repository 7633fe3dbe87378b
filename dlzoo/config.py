"""Config helpers shared by the runner, the tests and the scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def to_plain(value: Any) -> Any:
    """A resolved OmegaConf node as plain Python dicts and lists (safe in checkpoints)."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose a run config in-process, as ``dlzoo-train ARGS`` would, for tests and scripts.

    The Hydra runtime is registered too, so ``${hydra:...}`` interpolations resolve; pass
    ``paths.output_dir=...`` to choose where the run writes.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = hydra_compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg
