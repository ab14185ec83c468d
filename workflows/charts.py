"""Charts of workflow results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kogner.io import atomic_path  # noqa: E402


def per_type_f1_chart(scores: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    """Grouped bars: F1 per entity type, one bar per evaluation set (``scores`` maps a set
    name to :func:`kogner.evaluation.score_documents` output)."""
    types = sorted({t for result in scores.values() for t in result["ner"]["per_type"]})
    width = 0.8 / max(1, len(scores))
    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(types) * max(1, len(scores)) ** 0.5), 4))
    for number, (name, result) in enumerate(scores.items()):
        per_type = result["ner"]["per_type"]
        values = [per_type.get(t, {}).get("f1", 0.0) for t in types]
        positions = [i + number * width for i in range(len(types))]
        bars = axes.bar(positions, values, width, label=f"{name} (F1 {result['ner']['f1']:.3f})")
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
