"""The pieces behind the course reproductions: data.mat, the notebook's dropout masks, batched
tensor loading, the cost history (cost before each update), the plots and the table's bars."""

import importlib.util
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlzoo.data.course_mat import CourseMatDataModule
from dlzoo.data.toy import ToyDataModule, make_toy
from dlzoo.errors import DlzooError
from dlzoo.models.mlp import MLP, CourseDropout
from dlzoo.plots import decision_boundary
from tests.conftest import REPO

PNG = b"\x89PNG\r\n\x1a\n"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- data.mat


def test_data_mat_module_reads_the_notebooks_arrays(data_dir):
    import scipy.io

    raw = scipy.io.loadmat(data_dir / "course" / "data.mat")
    dm = CourseMatDataModule(root=str(data_dir / "course"), batch_size="full", val_fraction=0.0, dtype="float64")
    dm.setup()
    x, y = dm.splits.train.tensors
    x_test, y_test = dm.splits.test.tensors
    assert (x.shape, x_test.shape, dm.input_shape, dm.num_classes) == ((211, 2), (200, 2), (2,), 2)
    np.testing.assert_array_equal(x.numpy(), raw["X"])  # the notebook's train_X, transposed
    np.testing.assert_array_equal(y.numpy(), raw["y"].reshape(-1))
    np.testing.assert_array_equal(x_test.numpy(), raw["Xval"])
    np.testing.assert_array_equal(y_test.numpy(), raw["yval"].reshape(-1))


def test_missing_data_mat_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(DlzooError, match=f"data file not found: {tmp_path}/data.mat.*data.root"):
        CourseMatDataModule(root=str(tmp_path)).setup()


def test_unreadable_or_incomplete_data_mat(tmp_path):
    import scipy.io

    (tmp_path / "data.mat").write_bytes(b"garbage")
    with pytest.raises(DlzooError, match="cannot read .*data.mat"):
        CourseMatDataModule(root=str(tmp_path)).setup()
    scipy.io.savemat(tmp_path / "data.mat", {"X": np.zeros((4, 2)), "y": np.zeros((4, 1))})
    with pytest.raises(DlzooError, match=r"has no \['Xval', 'yval'\]"):
        CourseMatDataModule(root=str(tmp_path)).setup()


# ---------------------------------------------------------------- the notebook's dropout


def course_forward(x: np.ndarray, weights: list, biases: list, keep_prob: float = 1.0) -> np.ndarray:
    """C2W1 ``forward_propagation_with_dropout`` (one example per column), returning Z3;
    ``keep_prob=1`` is the plain forward pass the notebook predicts with."""
    np.random.seed(1)
    a = x.T
    for layer, (w, b) in enumerate(zip(weights, biases)):
        z = w @ a + b[:, None]
        if layer == len(weights) - 1:
            return z
        a = np.maximum(0, z)
        if keep_prob < 1:
            d = np.random.rand(a.shape[0], a.shape[1]) < keep_prob
            a = a * d
            a = a / keep_prob


def test_course_dropout_draws_the_notebooks_masks_at_every_step():
    net = MLP(2, [20, 3], activation="relu", init="xavier", numpy_seed=3, keep_prob=0.86, dropout_seed=1).double()
    x = np.random.RandomState(0).randn(211, 2)
    linears = [m for m in net.layers if isinstance(m, torch.nn.Linear)]
    weights = [m.weight.detach().numpy() for m in linears]
    biases = [m.bias.detach().numpy() + 0.1 * i for i, m in enumerate(linears)]  # non-zero, to see them used
    with torch.no_grad():
        for m, b in zip(linears, biases):
            m.bias.copy_(torch.from_numpy(b))
    expected = course_forward(x, weights, biases, keep_prob=0.86).T  # (211, 1)
    net.train()
    first = net(torch.from_numpy(x)).detach().numpy()
    second = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(first, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(first, second)  # the notebook re-seeds: the same masks every step
    masks = [m._mask for m in net.layers if isinstance(m, CourseDropout)]
    assert [tuple(k.shape) for k in masks] == [(211, 20), (211, 3)]
    assert 0.8 < float(masks[0].mean()) < 0.92  # about keep_prob of the units kept
    net.eval()  # no dropout when evaluating
    plain = course_forward(x, weights, biases).T
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), plain, rtol=1e-13)


# ---------------------------------------------------------------- batched tensor loading


def test_batched_loading_equals_per_example_collation():
    dm = ToyDataModule(name="moons", n_train=150, batch_size=64, val_fraction=0.2, seed=3, dtype="float64")
    dm.setup()
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(2)
    order = list(loader.sampler)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [64, 56]
    rows = [dm.splits.train[i] for i in order]  # Subset -> BatchedTensorDataset, one example at a time
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), torch.stack([r[0] for r in rows]))
    torch.testing.assert_close(torch.cat([b[1] for b in batches]), torch.stack([r[1] for r in rows]))


def test_unshuffled_full_batch_is_the_stored_tensors():
    dm = ToyDataModule(name="circles", batch_size="full", shuffle="none", val_fraction=0.0)
    (x, y), = list(dm.train_dataloader())
    stored_x, stored_y = dm.splits.train.tensors
    assert x.data_ptr() == stored_x.data_ptr() and torch.equal(y, stored_y)  # no copy per step


# ---------------------------------------------------------------- cost history and plots


def float64_mlp(*args, **kwargs) -> MLP:
    """An MLP made in float64 (as under trainer.precision=64-true), so the NumPy draws are not rounded."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return MLP(*args, **kwargs)
    finally:
        torch.set_default_dtype(before)


def initial_circles_net() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    x, y = make_toy("circles", 300, 0.05, seed=1)
    net = float64_mlp(2, [10, 5], activation="relu", init="he", numpy_seed=3)
    return net, torch.from_numpy(x), torch.from_numpy(y).double()


def test_cost_history_is_the_cost_before_each_update(run):
    metrics, out = run("experiment=c2w1_init_he", "trainer.max_epochs=3", "callbacks.cost_history.every_n_epochs=1")
    lines = (out / "costs.csv").read_text().split()
    assert lines[0] == "epoch,cost" and [int(line.split(",")[0]) for line in lines[1:]] == [0, 1, 2]
    logged = [float(line.split(",")[1]) for line in lines[1:]]
    net, x, y = initial_circles_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    for cost in logged:  # plain gradient descent, the cost taken before each step
        loss = F.binary_cross_entropy_with_logits(net(x).squeeze(1), y)
        assert cost == pytest.approx(loss.item(), rel=1e-12)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert metrics["train/cost"] == logged[-1] and metrics["train/cost_epoch"] == 2.0
    for png in ("cost.png", "decision_boundary.png"):
        assert (out / png).read_bytes()[:8] == PNG
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_minibatch_cost_is_the_mean_of_the_batches_pre_update_costs(run):
    # C2W2: cost_total += cost of each mini-batch before its update; cost_avg = cost_total / m
    metrics, _ = run("experiment=c2w2_gd", "trainer.max_epochs=1", "callbacks.cost_history.every_n_epochs=1")
    x, y = make_toy("moons", 300, 0.2, seed=3)
    x, y = torch.from_numpy(x), torch.from_numpy(y).double()
    net = float64_mlp(2, [5, 2], activation="relu", init="he", numpy_seed=3)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0007)
    order = torch.from_numpy(np.random.RandomState(11).permutation(300))  # epoch 1: np.random.seed(10 + 1)
    total = 0.0
    for batch in order.split(64):
        loss = F.binary_cross_entropy_with_logits(net(x[batch]).squeeze(1), y[batch])
        total += loss.item() * len(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert metrics["train/cost"] == pytest.approx(total / 300, rel=1e-12)


def test_course_callbacks_on_data_that_is_not_2d(run):
    metrics, out = run(
        "data=digits", "model=mlp", "callbacks=course", "data.val_fraction=0", "eval_ckpt=last", "trainer.max_epochs=1"
    )
    assert "train/cost" in metrics and (out / "cost.png").is_file()
    assert not (out / "decision_boundary.png").exists()


def test_decision_boundary_plot(tmp_path):
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    path = decision_boundary(lambda p: (p[:, 0] > 0.5).astype(int), x, np.array([0, 1, 0]), tmp_path / "b.png")
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match=r"2-D points of shape \(m, 2\)"):
        decision_boundary(lambda p: p[:, 0], np.zeros((3, 3)), np.zeros(3), tmp_path / "c.png")


# ---------------------------------------------------------------- the reproduction table's bars


def test_reproduction_bars():
    script = load_script("reproduce_course")
    bar = script.Bar
    assert script.judge(bar("c2w2_gd", "", "train/acc", "0.7167", "example"), 216 / 300)[1]  # 215 published
    assert not script.judge(bar("c2w2_gd", "", "train/acc", "0.7167", "example"), 217 / 300)[1]
    assert script.judge(bar("c1w4_deep", "", "train/cost", "0.092878", "sig4"), 0.0928782152)[1]
    assert not script.judge(bar("c1w4_deep", "", "train/cost", "0.092878", "sig4"), 0.09289)[1]
    assert script.judge(bar("c1w2_logreg_cat", "", "train/acc", "99.04306220095694", "exact", 100), 207 / 209)[1]
    assert not script.judge(bar("c1w2_logreg_cat", "", "test/acc", "70.0", "exact", 100), 34 / 50)[1]
    assert script.judge(bar("c1w3_planar", "", "train/acc", "90", "int", 100), 0.9075)[1]
    assert not script.judge(bar("c1w3_planar", "", "train/cost", "0.218607", "tol:0.0002"), 0.2184)[1]
    assert script.judge(bar("c2w1_init_he", "", "train/acc", "0.99333", "exact"), 298 / 300)[1]
    assert not script.judge(bar("c2w1_init_he", "", "train/acc", "0.99333", "exact"), 297 / 300)[1]
    # every c1/c2 experiment config is a run of the table, and every bar names a run
    configs = (REPO / "configs" / "experiment").glob("c[12]w*.yaml")
    assert sorted(script.runs(sweep=False)) == sorted(p.stem for p in configs)
    assert {b.run for b in script.all_bars(sweep=True)} == set(script.runs(sweep=True))


def test_logged_training_metrics_are_exact_epoch_means(run):
    # lr 0: the weights never move, so the epoch's logged means equal the final evaluation on the
    # training set; batches of 1 make 270 steps, past the fold of the per-step records at 256
    metrics, out = run(
        "data=moons", "model=mlp", "data.batch_size=1", "data.val_fraction=0.1", "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1", "model.optimizer._target_=torch.optim.SGD", "model.optimizer.lr=0.0",
        "logger=csv",
    )
    header, *rows = (out / "csv" / "metrics.csv").read_text().splitlines()
    rows = [dict(zip(header.split(","), row.split(","))) for row in rows]
    logged = [r for r in rows if r["train/loss"] and not r["test/acc"]]  # the last row is the final evaluation
    assert len(logged) == 1
    assert float(logged[0]["train/loss"]) == pytest.approx(metrics["train/loss"], rel=1e-5)
    assert float(logged[0]["train/acc"]) == pytest.approx(metrics["train/acc"], rel=1e-6)
