"""The weight average (kogner.ema): the update on a known case, swapping in and out, and training with it."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from kogner.ema import WeightAverage
from kogner.errors import KognerError
from kogner.training import TrainConfig, train


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


def test_training_keeps_the_averaged_weights_and_resumes_only_with_the_same_setting(tmp_path, data_dir) -> None:
    common = dict(
        datasets=["ncbi-disease"],
        type_map=dict.fromkeys(["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"], "Disease"),
        data_dir=str(data_dir),
        max_train_docs=2,
        max_dev_docs=1,
        epochs=1,
        batch_size=4,
        max_words=24,
        max_subwords=64,
        max_span_width=6,
    )
    out = tmp_path / "run"
    model_dir = train(TrainConfig(output_dir=str(out), weight_average_decay=0.99, **common))
    kept = load_file(model_dir / "model.safetensors")
    live = load_file(out / "checkpoint" / "model" / "model.safetensors")
    averaged = torch.load(out / "checkpoint" / "training_state.pt", weights_only=False)["average"]["average"]
    assert averaged, "no trainable weights were averaged"
    for name, tensor in averaged.items():
        assert torch.equal(kept[name], tensor), name
    assert any(not torch.equal(live[name], tensor) for name, tensor in averaged.items())
    with pytest.raises(KognerError, match="weight_average_decay"):
        train(TrainConfig(output_dir=str(out), **{**common, "epochs": 2}))
