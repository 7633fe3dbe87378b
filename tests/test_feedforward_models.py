"""Logistic regression, the MLP and LeNet-5: shapes, initialisation, dropout, batch norm, param counts."""

import math

import pytest
import torch
from torch import nn

from dlzoo.models.init import init_scale
from dlzoo.models.lenet import LeNet5, course_table_param_counts, lenet5_classic, lenet5_course
from dlzoo.models.logistic_regression import LogisticRegression
from dlzoo.models.mlp import MLP


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_logistic_regression_starts_at_zero_and_counts_12289_params():
    model = LogisticRegression(in_features=64 * 64 * 3)
    assert n_params(model) == 12288 + 1
    assert torch.count_nonzero(model.linear.weight) == 0
    assert model(torch.rand(5, 64 * 64 * 3)).shape == (5, 1)


@pytest.mark.parametrize("hidden,out", [([5], 1), ([20, 7, 5], 1), ([64, 32], 10)])
def test_mlp_shapes_and_param_count(hidden, out):
    model = MLP(in_features=12, hidden_sizes=hidden, num_classes=out)
    sizes = [12, *hidden, out]
    assert n_params(model) == sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    assert model(torch.randn(7, 3, 4)).shape == (7, out)  # flattens (3, 4) -> 12


@pytest.mark.parametrize("scheme,expected", [("he", math.sqrt(2 / 400)), ("xavier", math.sqrt(1 / 400)), ("random", 0.01)])
def test_init_draws_have_the_course_scale(scheme, expected):
    torch.manual_seed(0)
    model = MLP(in_features=400, hidden_sizes=[500], num_classes=1, init=scheme)
    weight = model.layers[1].weight
    assert init_scale(scheme, 400) == pytest.approx(expected)
    assert weight.std().item() == pytest.approx(expected, rel=0.02)  # 200,000 draws
    assert torch.count_nonzero(model.layers[1].bias) == 0


def test_zeros_init_leaves_every_hidden_unit_identical():
    model = MLP(in_features=2, hidden_sizes=[4], num_classes=1, init="zeros")
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_inverted_dropout_scales_kept_units_and_is_off_at_eval():
    torch.manual_seed(0)
    model = MLP(in_features=1000, hidden_sizes=[1000], num_classes=1, init="he", keep_prob=0.8)
    dropout = model.layers[3]
    x = torch.ones(1, 100_000)
    out = dropout(x)
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.8))  # kept units scaled by 1/keep_prob
    assert kept.numel() / x.numel() == pytest.approx(0.8, abs=0.01)
    dropout.eval()
    assert torch.equal(dropout(x), x)


def test_keep_prob_per_layer_must_match_hidden_layers():
    with pytest.raises(ValueError, match="2 hidden layers"):
        MLP(in_features=2, hidden_sizes=[3, 3], keep_prob=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        MLP(in_features=2, hidden_sizes=[3], keep_prob=0.0)


def test_batch_norm_drops_the_linear_bias():
    model = MLP(in_features=4, hidden_sizes=[8, 8], num_classes=3, batch_norm=True)
    hidden_linears = [m for m in model.layers if isinstance(m, nn.Linear)][:-1]
    assert all(m.bias is None for m in hidden_linears)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.layers) == 2


def test_mlp_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="expects 4 features.*got 6"):
        MLP(in_features=4)(torch.randn(2, 6))


def test_lenet5_classic_layer_shapes():
    model = lenet5_classic().eval()
    x = torch.randn(2, 1, 32, 32)
    shapes = []
    for layer in model.stages.features:
        x = layer(x)
        if isinstance(layer, (nn.Conv2d, nn.AvgPool2d)):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850 (full C3 connectivity)
    assert n_params(model) == 156 + 2416 + 48120 + 10164 + 850


def test_lenet5_course_table_counts():
    model = lenet5_course()
    assert course_table_param_counts(model) == [208, 416, 48_001, 10_081, 841]
    assert [n_params(m) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))] == [608, 3216, 48120, 10164, 850]


def test_lenet5_rejects_wrong_image_size():
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\), got \(2, 1, 28, 28\)"):
        LeNet5()(torch.randn(2, 1, 28, 28))
