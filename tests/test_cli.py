"""The console entry points as a user runs them: readable errors, sweeps, imagefolder data."""

import json
import os
import subprocess
import sys

import pytest

from tests.test_data import make_image_folder


def cli(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_unknown_model_name_is_one_readable_error(tmp_path):
    result = cli("dlzoo.train", "model=resnet_9000", cwd=tmp_path)
    assert result.returncode != 0
    assert "Could not find 'model/resnet_9000'" in result.stderr and "lenet5" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_value_exits_2_with_the_message_alone(tmp_path):
    result = cli("dlzoo.train", "model=mlp", "data=moons", "model.net.in_features=3", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert result.returncode == 2
    assert "dlzoo-train: error: model 'mlp' has model.net.in_features=3 but data 'moons' gives 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_multirun_sweep_writes_one_folder_per_value(tmp_path):
    result = cli(
        "dlzoo.train", "-m", "model=mlp", "data=moons", "debug=fdr", "logger=none", "model.optimizer.lr=0.001,0.1",
        f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sorted((tmp_path / "sweep").glob("*/metrics.json"))
    assert len(runs) == 2
    lrs = sorted(json.loads(r.with_name("config.yaml").read_text().split("lr: ")[1].split("\n")[0]) for r in runs)
    assert lrs == [0.001, 0.1]


def test_optuna_random_search_on_a_log_scale(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    result = cli(
        "dlzoo.train", "hparams_search=optuna_lr", "model=mlp", "data=moons", "debug=fdr", "logger=none",
        "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sorted((tmp_path / "sweep").glob("*/config.yaml"))
    assert len(runs) == 3
    lrs = [float(r.read_text().split("lr: ")[1].split("\n")[0]) for r in runs]
    assert all(1e-4 <= lr <= 1.0 for lr in lrs) and len(set(lrs)) == 3
    assert "best_params" in (tmp_path / "sweep" / "optimization_results.yaml").read_text()


def test_imagefolder_trains_and_predicts_from_the_command_line(tmp_path):
    make_image_folder(tmp_path / "images", per_class=12, size=36)
    train = cli(
        "dlzoo.train", "model=lenet5", "data=imagefolder", f"data.root={tmp_path / 'images'}", "data.image_size=32",
        "data.num_workers=0", "trainer.max_epochs=1", "logger=none", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path,
    )
    assert train.returncode == 0, train.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"train/acc", "val/acc", "test/acc"} <= metrics.keys()
    result = cli(
        "dlzoo.predict", f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt", str(tmp_path / "images" / "bee"),
        f"hydra.run.dir={tmp_path}/pred", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()[-12:]
    assert len(lines) == 12
    for line in lines:
        path, label, prob = line.split("\t")
        assert path.endswith(".png") and label in ("ant", "bee") and 0.5 <= float(prob) <= 1.0
    assert (tmp_path / "pred" / "predictions.txt").read_text().strip().splitlines() == lines
