"""The weight average (kogner.ema) on known cases; training with it: tests/test_training.py."""

from __future__ import annotations

import pytest
import torch

from kogner.ema import WeightAverage


def test_the_average_follows_the_ramped_decay_and_skips_frozen_weights() -> None:
    model = torch.nn.Linear(2, 1)
    model.bias.requires_grad_(False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(3.0)
    average.update(model)  # decay min(0.9, 2/11): 1 + (3 - 1) * 9/11
    assert torch.allclose(average.average[0], torch.full((1, 2), 1 + 2 * 9 / 11))
    for _ in range(200):
        average.update(model)
    assert torch.allclose(average.average[0], torch.full((1, 2), 3.0), atol=1e-6)
    assert average.names == ["weight"]


def test_applied_swaps_the_average_in_and_the_live_weights_back() -> None:
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, decay=0.5)
    live = model.weight.detach().clone()
    with torch.no_grad():
        average.average[0].add_(1.0)
    with average.applied(model):
        assert torch.equal(model.weight, live + 1.0)
    assert torch.equal(model.weight, live)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)
