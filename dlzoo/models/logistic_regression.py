"""Logistic regression as a one-layer network (Course 1, week 2).

    z = w^T x + b,   y_hat = sigmoid(z)                          (binary)
    z = W x + b,     y_hat = softmax(z)                          (multi-class)

The model returns the logits ``z``; the classification task applies the sigmoid or softmax inside
its loss (``BCEWithLogits`` / ``CrossEntropy``), which is the numerically stable form of the
course's ``-[y log a + (1-y) log(1-a)]``. Images are flattened in (C, H, W) order.
"""

from __future__ import annotations

import torch
from torch import nn

from dlzoo.models.init import init_linear_


class LogisticRegression(nn.Module):
    """Flatten, then one linear layer. ``num_classes=1`` gives the binary (sigmoid) model."""

    def __init__(self, in_features: int, num_classes: int = 1, init: str = "zeros") -> None:
        super().__init__()
        self.in_features = in_features
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_features, num_classes)
        init_linear_(self.linear, init)  # the course starts from w = 0, b = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)  # (B, in_features)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"LogisticRegression expects {self.in_features} features per example, got {x.shape[1]} "
                f"(input of shape {tuple(x.shape)}); set in_features to match the data"
            )
        return self.linear(x)  # (B, num_classes)
