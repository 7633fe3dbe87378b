"""dlzoo's progress bar brings Rich's bar up to date every N training steps, and at an epoch's last step."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar
from torch.utils.data import DataLoader, TensorDataset

from dlzoo.callbacks import StepProgressBar


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_bar_updates_every_n_steps_and_at_the_last_step(monkeypatch, tmp_path):
    updated: list[int] = []
    monkeypatch.setattr(RichProgressBar, "on_train_batch_end",
                        lambda self, trainer, module, outputs, batch, batch_idx: updated.append(batch_idx + 1))
    loader = DataLoader(TensorDataset(torch.randn(25, 2)), batch_size=1)  # 25 steps an epoch
    trainer = L.Trainer(max_epochs=2, callbacks=[StepProgressBar(every_n_steps=10)], logger=False,
                        enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(Tiny(), loader)
    assert updated == [10, 20, 25, 10, 20, 25]
