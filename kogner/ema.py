"""An exponential moving average of a model's trainable weights (Polyak averaging).

Training updates the live weights; evaluation and the saved model use the average, which
smooths the last steps' noise. The decay ramps up from 0 as ``(1 + n) / (10 + n)`` so that the
average does not keep the untrained weights of the first steps (TensorFlow's
``ExponentialMovingAverage(num_updates=...)``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class WeightAverage:
    """The moving average of ``model``'s parameters that require gradients."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight-average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self._params(model)]

    def _params(self, model: torch.nn.Module) -> list[torch.Tensor]:
        params = dict(model.named_parameters())
        return [params[name].detach() for name in self.names]

    def update(self, model: torch.nn.Module) -> None:
        """Move the average toward ``model``'s current weights (after an optimizer step)."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, self._params(model), 1.0 - decay)

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Inside the block ``model`` holds the averaged weights; its own come back after."""
        live = [p.clone() for p in self._params(model)]
        torch._foreach_copy_(self._params(model), self.average)
        try:
            yield
        finally:
            torch._foreach_copy_(self._params(model), live)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "average": dict(zip(self.names, self.average, strict=True))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        torch._foreach_copy_(self.average, [state["average"][name] for name in self.names])
