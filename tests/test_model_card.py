"""MODEL_CARD.md: every run writes one naming its model, data, hyperparameters, seed, software
versions and final metrics (the values of metrics.json), with the commands that use its checkpoint."""

from __future__ import annotations

import platform

import lightning
import torch

import dlzoo


def test_a_run_writes_its_model_card(run):
    metrics, run_dir = run("model=mlp", "data=moons", "trainer.max_epochs=2", "seed=123", "model.optimizer.lr=0.05")
    card = (run_dir / "MODEL_CARD.md").read_text()
    for name, value in metrics.items():  # the final metrics table holds metrics.json, value for value
        assert f"| {name} | {value:.6g} |" in card
    assert {"test/acc", "train/loss"} <= metrics.keys()
    assert "- seed: 123" in card
    assert "`model=mlp`" in card and "`dlzoo.models.mlp.MLP`" in card and "`data=moons`" in card
    net = torch.nn.Linear(2, 64), torch.nn.Linear(64, 32), torch.nn.Linear(32, 1)  # hidden_sizes [64, 32], 1 sigmoid unit
    assert f"- parameters: {sum(p.numel() for layer in net for p in layer.parameters()):,}" in card
    assert "`torch.optim.Adam(lr=0.05)`" in card and "- scheduler: none" in card
    assert "- trainer.max_epochs: 2" in card and "- precision: 32-true" in card and "- batch size: 64" in card
    for line in (f"- torch {torch.__version__}", f"- lightning {lightning.__version__}", f"- python {platform.python_version()}"):
        assert line in card
    assert "- dlzoo " + dlzoo.__version__ in card
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    for command in ("dlzoo-eval", "dlzoo-predict", "dlzoo-export"):
        assert f"{command} ckpt_path={ckpt}" in card
