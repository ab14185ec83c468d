"""Overlapping word windows over a document's text, and merging their predictions.

Windows run over the whole document text (title and abstract together, as the model is
trained), and every word is in some window: nothing is truncated. A window shares
``overlap`` words with the next one, so any mention shorter than ``overlap`` words lies
inside some window without touching its interior edges. Predictions touching an interior
edge may be cut off by the window and are dropped; the rest are shifted to document
offsets, and those in overlap zones are decoded again together (the same mention seen by
two windows is kept once, with its best score).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, replace

from kogner.documents import Document
from kogner.model import PredictedMention, decode
from kogner.text import word_windows

DocKey = tuple[str, int]  # (shard name, record number in the shard)


@dataclass(frozen=True)
class TextWindow:
    """A window of the document text, at offset ``start``."""

    start: int
    text: str
    opens_text: bool
    closes_text: bool

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class DocumentWindows:
    """A document (keyed by shard and record) with the windows covering its text: the unit
    the job groups for inference, so that a document's windows come back together."""

    key: DocKey
    document: Document
    windows: list[TextWindow]


def document_windows(document: Document, max_words: int, overlap: int) -> list[TextWindow]:
    """The windows covering every word of ``document``."""
    text = document.text
    spans = word_windows(text, max_words, overlap)
    return [
        TextWindow(start, text[start:end], opens_text=number == 0, closes_text=number == len(spans) - 1)
        for number, (start, end) in enumerate(spans)
    ]


def to_document_offsets(window: TextWindow, mentions: Iterable[PredictedMention]) -> list[PredictedMention]:
    """``mentions`` predicted in ``window``, at document offsets, without those touching an
    interior window edge."""
    kept = []
    for mention in mentions:
        if mention.start == 0 and not window.opens_text:
            continue
        if mention.end == len(window.text) and not window.closes_text:
            continue
        kept.append(replace(mention, start=window.start + mention.start, end=window.start + mention.end))
    return kept


def merge_windows(
    predictions: Iterable[tuple[TextWindow, list[PredictedMention]]], decoding: str = "greedy"
) -> list[PredictedMention]:
    """The document's mentions from its windows' predictions, in text order.

    Each window's predictions are already decoded. A mention lying where no other window
    reaches cannot clash with another window's mentions and is kept as it is; the rest (in
    overlap zones) are decoded together with the model's decoder (``decode``), which keeps
    the same mention seen by two windows once, with its best score."""
    predictions = sorted(predictions, key=lambda item: item[0].start)
    starts = [window.start for window, _ in predictions]
    ends = [window.end for window, _ in predictions]
    kept: list[PredictedMention] = []
    shared: list[PredictedMention] = []
    for window, found in predictions:
        for mention in to_document_offsets(window, found):
            reaching = bisect.bisect_left(starts, mention.end) - bisect.bisect_right(ends, mention.start)
            (shared if reaching > 1 else kept).append(mention)
    return sorted(kept + decode(shared, decoding), key=lambda m: (m.start, m.end))
