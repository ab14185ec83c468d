"""Charts of workflow results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kogner.io import atomic_path  # noqa: E402


def per_type_bars(scores: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, list[tuple[int, float]]]]:
    """The entity types on the x axis, and per evaluation set its bars as (type position, F1).

    A set has bars only for the types it scores: a corpus without Chemical mentions gets no
    Chemical bar rather than an F1 of 0."""
    types = sorted({t for result in scores.values() for t in result["ner"]["per_type"]})
    bars = {
        name: [(i, result["ner"]["per_type"][t]["f1"]) for i, t in enumerate(types) if t in result["ner"]["per_type"]]
        for name, result in scores.items()
    }
    return types, bars


def per_type_f1_chart(scores: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    """Grouped bars: F1 per entity type, one bar per evaluation set (``scores`` maps a set
    name to :func:`kogner.evaluation.score_documents` output)."""
    types, bars_of_set = per_type_bars(scores)
    width = 0.8 / max(1, len(scores))
    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(types) * max(1, len(scores)) ** 0.5), 4))
    for number, (name, set_bars) in enumerate(bars_of_set.items()):
        positions = [i + number * width for i, _ in set_bars]
        label = f"{name} (F1 {scores[name]['ner']['f1']:.3f})"
        bars = axes.bar(positions, [f1 for _, f1 in set_bars], width, label=label)
        axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.set_xticks([i + width * (len(scores) - 1) / 2 for i in range(len(types))], types, rotation=30, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("strict F1")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
