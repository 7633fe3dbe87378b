"""Conv arithmetic, naive cross-correlation, edge filters and the multiplication counter (course 4, week 1-2)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib.image
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dlzoo.ops.conv import (
    EDGE_FILTER_NAMES,
    conv_output_size,
    cross_correlate2d,
    edge_filter,
    padding_for,
    same_padding,
)
from dlzoo.ops.flops import count_multiplications, one_by_one_conv_demo

REPO = Path(__file__).resolve().parents[1]


# --- course worked examples (../shared/COURSE_TARGETS.md, course 4) ---


def test_vertical_edge_worked_example():
    x = torch.tensor(
        [
            [3, 0, 1, 2, 7, 4],
            [1, 5, 8, 9, 3, 1],
            [2, 7, 2, 5, 1, 3],
            [0, 1, 3, 1, 7, 8],
            [4, 2, 1, 6, 2, 8],
            [2, 4, 5, 2, 3, 9],
        ],
        dtype=torch.float64,
    )
    expected = torch.tensor(
        [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]], dtype=torch.float64
    )
    assert torch.equal(cross_correlate2d(x, edge_filter("vertical", torch.float64)), expected)


def test_strided_worked_example():
    x = torch.tensor(
        [
            [2, 3, 7, 4, 6, 2, 9],
            [6, 6, 9, 8, 7, 4, 3],
            [3, 4, 8, 3, 8, 9, 7],
            [7, 8, 3, 6, 6, 3, 4],
            [4, 2, 1, 8, 3, 4, 6],
            [3, 2, 4, 1, 9, 8, 3],
            [0, 1, 3, 9, 2, 1, 4],
        ],
        dtype=torch.float64,
    )
    w = torch.tensor([[3, 4, 4], [1, 0, 2], [-1, 0, 3]], dtype=torch.float64)
    printed = torch.tensor([[91, 100, 83], [69, 91, 127], [44, 72, 74]], dtype=torch.float64)
    # Two entries of the course slide are arithmetic slips; recomputed by hand from the slide's input:
    # (0, 2): window rows 0-2, cols 4-6 = [[6,2,9],[7,4,3],[8,9,7]] -> 18+8+36 + 7+0+6 - 8+0+21 = 88, not 83;
    # (1, 2): window rows 2-4, cols 4-6 = [[8,9,7],[6,3,4],[3,4,6]] -> 24+36+28 + 6+0+8 - 3+0+18 = 117, not 127.
    expected = printed.clone()
    expected[0, 2] = 3 * 6 + 4 * 2 + 4 * 9 + 1 * 7 + 0 * 4 + 2 * 3 - 1 * 8 + 0 * 9 + 3 * 7
    expected[1, 2] = 3 * 8 + 4 * 9 + 4 * 7 + 1 * 6 + 0 * 3 + 2 * 4 - 1 * 3 + 0 * 4 + 3 * 6
    assert expected[0, 2] == 88 and expected[1, 2] == 117
    assert conv_output_size(7, 3, s=2) == 3
    out = cross_correlate2d(x, w, stride=2)
    assert torch.equal(out, expected)
    assert torch.equal(out, F.conv2d(x[None, None], w[None, None], stride=2)[0, 0])
    assert (out != printed).sum() == 2  # the other seven entries are the course's exactly


# --- arithmetic ---


@pytest.mark.parametrize(
    "n,f,s,p", [(6, 3, 1, 0), (7, 3, 2, 0), (32, 5, 1, 2), (224, 7, 2, 3), (8, 4, 3, 1), (5, 5, 1, 0)]
)
def test_output_size_matches_torch(n: int, f: int, s: int, p: int):
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), stride=s, padding=p)
    assert out.shape[-1] == conv_output_size(n, f, s, p)


@pytest.mark.parametrize("f", [1, 3, 5, 7, 11])
def test_same_and_valid_padding(f: int):
    n = 17
    assert conv_output_size(n, f, 1, same_padding(f)) == n
    assert conv_output_size(n, f, 1, padding_for(f, "valid")) == n - f + 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: conv_output_size(2, 5),  # filter larger than the padded input
        lambda: conv_output_size(6, 3, s=0),
        lambda: same_padding(4),  # even filter cannot pad evenly
        lambda: padding_for(3, "full"),
        lambda: edge_filter("laplace"),
        lambda: cross_correlate2d(torch.zeros(1, 3, 5, 5), torch.zeros(2, 4, 3, 3)),  # channel mismatch
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (3, 2)])
def test_cross_correlate_matches_conv2d(stride: int, padding: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    expected = F.conv2d(x, w, b, stride=stride, padding=padding)
    torch.testing.assert_close(cross_correlate2d(x, w, b, stride=stride, padding=padding), expected)


# --- edge filters ---


def test_edge_filters_orientation():
    step = torch.zeros(8, 8)
    step[:, :4] = 1.0  # bright left half, dark right half: one vertical edge
    for name in EDGE_FILTER_NAMES:
        kernel = edge_filter(name)
        assert kernel.sum() == 0, name  # no response on flat regions
        response = cross_correlate2d(step, kernel)
        if name.endswith("vertical"):
            assert response.max() > 0 and response.min() == 0, name  # bright-to-dark is positive
            transposed = cross_correlate2d(step.T, edge_filter(name.replace("vertical", "horizontal")))
            assert torch.equal(transposed, response.T)  # horizontal filter on the transposed image
        else:
            assert torch.equal(response, torch.zeros_like(response)), name  # blind to vertical edges


def test_edge_filter_script_writes_png(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("edge_filters", REPO / "scripts" / "edge_filters.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = script.main([str(tmp_path / "edges.png")])
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.05  # not a blank canvas


# --- multiplication counter ---


def test_one_by_one_conv_demo_matches_course():
    demo = one_by_one_conv_demo()
    assert demo["direct"] == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    assert demo["bottleneck_1x1"] == 28 * 28 * 16 * 192
    assert demo["bottleneck_fxf"] == 28 * 28 * 32 * 5 * 5 * 16
    assert demo["bottleneck"] == 12_443_648  # the course's "about 12.4 M"
    assert demo["direct"] / demo["bottleneck"] > 9


def test_counter_matches_torch_flop_counter():
    # FlopCounterMode counts 2 FLOPs (multiply + add) per multiplication of conv and linear layers.
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: C_in / groups = 1
        nn.Conv2d(8, 16, (1, 3), bias=False),
        nn.Flatten(),
        nn.Linear(16 * 8 * 6, 10),
    )
    x = torch.randn(4, 3, 16, 16)
    with FlopCounterMode(display=False) as flop_counter:
        model(x)
    count = count_multiplications(model, x)
    assert 2 * count.total == flop_counter.get_total_flops()
    assert set(count.per_layer) == {"0", "2", "3", "5"}
    assert count.per_layer["5"] == 4 * 10 * 16 * 8 * 6
