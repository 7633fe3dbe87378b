"""The runner end to end, in-process: every config runs, resume is exact, evaluation reproduces,
bad input fails readably."""

import json
import subprocess
import sys

import pytest
import torch
import yaml
from hydra.errors import MissingConfigException

from dlzoo.checkpoint import read_checkpoint
from dlzoo.config import CONFIG_DIR, compose
from dlzoo.errors import DlzooError, is_missing_data
from dlzoo.eval import evaluate



def is_classifier_config(text: str) -> bool:
    return "dlzoo.tasks.classification.ClassificationTask" in text or "- _cnn" in text


# Classifier configs run on digits here; other tasks' model configs run through their experiments.
MODELS = sorted(
    p.stem
    for p in (CONFIG_DIR / "model").glob("*.yaml")
    if not p.stem.startswith("_") and is_classifier_config(p.read_text())
)
# digits as 64x64 images for the nets that need them (AlexNet needs at least 63 pixels a side)
NEEDS_64 = {"alexnet", "resnet50_signs", "signs_convnet"}
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
SMALL = ["data=moons", "model=mlp", "trainer.max_epochs=4", "data.batch_size=32"]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_config_runs_one_batch(run, model):
    size = ["data.upscale=8", "data.pad_to=64"] if model in NEEDS_64 else []
    metrics, out = run(f"model={model}", "debug=fdr", "data.batch_size=2", *size)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert (out / "config.yaml").is_file()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_config_runs_one_batch(run, experiment):
    try:
        metrics, _ = run(f"experiment={experiment}", "debug=fdr")
    except DlzooError as err:
        if is_missing_data(err):
            pytest.skip(f"data absent: {err}")
        raise
    assert all(isinstance(v, float) for v in metrics.values())


def test_run_folder_contents(run):
    metrics, out = run(*SMALL)
    assert {"train/acc", "val/acc", "test/acc", "test/loss", "train/loss"} <= metrics.keys()
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["trainer"]["max_epochs"] == 4 and "hydra" not in saved
    assert "${" not in (out / "config.yaml").read_text()  # resolved
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert len(list((out / "checkpoints").glob("epoch_*.ckpt"))) == 1  # the best


def test_same_seed_same_metrics(run):
    first, _ = run(*SMALL, "model.net.keep_prob=0.8")
    second, _ = run(*SMALL, "model.net.keep_prob=0.8")
    assert first == second


def test_resume_continues_exactly(run):
    # dropout and per-epoch shuffles make the weights depend on every random draw
    args = ["data=moons", "model=mlp", "model.net.keep_prob=0.7", "data.batch_size=16"]
    _, straight = run(*args, "trainer.max_epochs=4", folder="straight")
    _, half = run(*args, "trainer.max_epochs=2", folder="half")
    _, resumed = run(*args, "trainer.max_epochs=4", f"ckpt_path={half / 'checkpoints' / 'last.ckpt'}", folder="resumed")
    a = read_checkpoint(straight / "checkpoints" / "last.ckpt")
    b = read_checkpoint(resumed / "checkpoints" / "last.ckpt")
    assert a["epoch"] == b["epoch"] == 3
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    for state_a, state_b in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        assert torch.equal(state_a["exp_avg"], state_b["exp_avg"])


def test_eval_reproduces_the_runs_test_metric(run, tmp_path):
    metrics, out = run(*SMALL)
    best = next((out / "checkpoints").glob("epoch_*.ckpt"))
    cfg = compose([f"ckpt_path={best}", f"paths.output_dir={tmp_path / 'eval'}"], config_name="eval")
    evaluated = evaluate(cfg)
    assert evaluated["test/acc"] == metrics["test/acc"]
    assert evaluated["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-6)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == evaluated


def test_checkpoint_hparams_are_plain_and_load_in_a_fresh_process(run):
    _, out = run(*SMALL)
    ckpt = out / "checkpoints" / "last.ckpt"
    hparams = torch.load(ckpt, weights_only=True)["hyper_parameters"]

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool))

    assert plain(hparams) and hparams["net"]["_target_"] == "dlzoo.models.mlp.MLP"
    code = (
        "import sys, torch; from dlzoo.tasks.classification import ClassificationTask; "
        f"m = ClassificationTask.load_from_checkpoint({str(ckpt)!r}); "
        "print(m(torch.zeros(3, 2)).shape)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch.Size([3, 1])" in result.stdout


def test_float64_precision_passes_through(run):
    _, out = run("data=moons", "model=logreg", "trainer.precision=64-true", "data.dtype=float64", "trainer.max_epochs=1")
    weights = read_checkpoint(out / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(t.dtype == torch.float64 for t in weights.values())


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(MissingConfigException, match=r"(?s)Could not find 'model/resnet_9000'.*mlp"):
        compose(["model=resnet_9000"])


def test_explicit_size_that_contradicts_the_data(run):
    with pytest.raises(DlzooError, match=r"model.net.in_features=10 but data 'moons' gives 2"):
        run("model=mlp", "data=moons", "model.net.in_features=10")


def test_model_that_cannot_take_the_data(run):
    with pytest.raises(DlzooError, match=r"cannot take the examples of data .* \(shape \(1, 8, 8\)\)"):
        run("model=lenet5", "data=digits", "data.upscale=1", "data.pad_to=8")


def test_diverging_run_stops_and_says_where(run):
    with pytest.raises(DlzooError, match=r"training loss became (nan|inf) at epoch \d+, batch \d+"):
        run(*SMALL, "model.optimizer._target_=torch.optim.SGD", "model.optimizer.lr=1e38")


class _OnAccelerator:
    """A loss that says it lives on a GPU (the check must not read it back at every step)."""

    def __init__(self, value: float) -> None:
        self.value, self.device = torch.tensor(value), torch.device("cuda")

    def detach(self) -> torch.Tensor:
        return self.value


def test_finite_check_on_an_accelerator_looks_every_n_steps_and_names_the_first_bad_step():
    from types import SimpleNamespace

    from dlzoo.tasks.classification import ClassificationTask

    task = ClassificationTask(net={"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3},
                              optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    task._trainer = SimpleNamespace(log_every_n_steps=3, is_last_batch=False, optimizers=[], current_epoch=2,
                                    global_step=0)
    for batch, value in enumerate([1.0, float("nan")]):  # kept on the device, not checked yet
        task._trainer.global_step = batch
        task.check_finite(_OnAccelerator(value), batch)
    task._trainer.global_step = 2
    with pytest.raises(DlzooError, match=r"became nan at epoch 2, batch 1 \(global step 1"):
        task.check_finite(_OnAccelerator(2.0), 2)  # the third step checks all three
    task._trainer.is_last_batch = True  # an epoch's last step is always checked
    with pytest.raises(DlzooError, match="became inf at epoch 2, batch 0"):
        task.check_finite(_OnAccelerator(float("inf")), 0)


def test_unreadable_checkpoint(run, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(DlzooError, match="cannot read checkpoint"):
        run(*SMALL, f"ckpt_path={bad}")
    with pytest.raises(DlzooError, match="checkpoint not found"):
        run(*SMALL, f"ckpt_path={tmp_path / 'missing.ckpt'}")


def test_no_validation_split_with_val_monitor_is_refused(run):
    with pytest.raises(DlzooError, match="no validation split"):
        run(*SMALL, "data.val_fraction=0")
