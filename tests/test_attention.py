"""Attention: padding gets exactly zero weight, weights sum to 1, and each scorer equals its equation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlzoo.models.attention import (
    ATTENTIONS,
    BahdanauAttention,
    CourseAttention,
    LuongAttention,
    build_attention,
)

B, T, HQ, HK = 4, 7, 6, 6
LENGTHS = torch.tensor([7, 3, 1, 5])


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, HQ, generator=g, dtype=torch.float64)
    keys = torch.randn(B, T, HK, generator=g, dtype=torch.float64)
    mask = torch.arange(T) < LENGTHS[:, None]  # (B, T)
    return query, keys, mask


def _build(name: str):
    torch.manual_seed(0)
    return build_attention(name, HQ, HK).double()


@pytest.mark.parametrize("name", ATTENTIONS)
def test_weights_are_a_distribution_over_real_positions(name):
    query, keys, mask = _inputs()
    context, weights = _build(name)(query, keys, mask)
    assert weights.shape == (B, T) and context.shape == (B, HK)
    assert torch.equal(weights[~mask], torch.zeros(int((~mask).sum()), dtype=weights.dtype))  # exactly 0
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(B, dtype=weights.dtype))
    assert bool((weights[mask] > 0).all())
    torch.testing.assert_close(context, torch.einsum("bt,bth->bh", weights, keys))


@pytest.mark.parametrize("name", ATTENTIONS)
def test_padding_content_is_never_read(name):
    """Garbage in the padded keys changes nothing, and no gradient reaches them."""
    query, keys, mask = _inputs()
    attn = _build(name)
    context, weights = attn(query, keys, mask)
    garbage = keys.masked_fill(~mask[..., None], 1e3).requires_grad_()
    context2, weights2 = attn(query, garbage, mask)
    assert torch.equal(weights, weights2) and torch.equal(context, context2)
    context2.sum().backward()
    assert bool((garbage.grad[~mask] == 0).all())


def test_course_attention_equals_the_course_computation():
    """e<t'> = relu(Dense1(tanh(Dense10([a<t'>; s<t-1>])))), position by position, then softmax and dot."""
    query, keys, mask = _inputs()
    attn = _build("course")
    assert isinstance(attn, CourseAttention) and attn.dense1.out_features == 10
    context, weights = attn(query, keys, mask)
    for b in range(B):
        n = int(LENGTHS[b])
        e = torch.stack([
            torch.relu(attn.dense2(torch.tanh(attn.dense1(torch.cat([keys[b, t], query[b]])))))[0] for t in range(n)
        ])
        alpha = torch.exp(e) / torch.exp(e).sum()
        torch.testing.assert_close(weights[b, :n], alpha)
        torch.testing.assert_close(context[b], (alpha[:, None] * keys[b, :n]).sum(0))


def test_bahdanau_equals_its_equation():
    query, keys, mask = _inputs()
    attn = _build("bahdanau")
    assert isinstance(attn, BahdanauAttention)
    _, weights = attn(query, keys, mask)
    for b in range(B):
        n = int(LENGTHS[b])
        e = torch.stack([
            attn.v.weight[0] @ torch.tanh(attn.W.weight @ query[b] + attn.U(keys[b, t])) for t in range(n)
        ])
        torch.testing.assert_close(weights[b, :n], e.softmax(0))


@pytest.mark.parametrize("kind", ["dot", "general"])
def test_luong_equals_torch_scaled_dot_product_attention(kind):
    """softmax(s . W a) a is SDPA with scale 1 and query W^T s (W = I for 'dot')."""
    query, keys, mask = _inputs()
    attn = _build(f"luong_{kind}")
    assert isinstance(attn, LuongAttention)
    context, _ = attn(query, keys, mask)
    q = query if kind == "dot" else query @ attn.W.weight  # (B, HK)
    ref = F.scaled_dot_product_attention(q[:, None, :], keys, keys, attn_mask=mask[:, None, :], scale=1.0)
    torch.testing.assert_close(context, ref[:, 0])


def test_bad_input_is_a_clear_error():
    query, keys, mask = _inputs()
    attn = _build("bahdanau")
    with pytest.raises(ValueError, match="query dim"):
        attn(query[:, :-1], keys, mask)
    with pytest.raises(ValueError, match="mask"):
        attn(query, keys, mask[:, :-1])
    empty = mask.clone()
    empty[1] = False
    with pytest.raises(ValueError, match="no real"):
        attn(query, keys, empty)
    with pytest.raises(ValueError, match="unknown attention"):
        build_attention("cosine", HQ, HK)
    with pytest.raises(ValueError, match="dot"):
        LuongAttention(HQ, HK + 1, "dot")
