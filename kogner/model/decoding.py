"""Predicted mentions, how overlapping candidates are resolved, and abbreviation consistency."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from kogner.abbreviations import find_abbreviations
from kogner.documents import Mention


@dataclass
class PredictedMention:
    """A mention found by the model: character offsets into the input text, type, score,
    and the KG entity it links to (``None`` fields when not linked). ``span_vector`` is the
    model's vector of the span, kept only until linking, and only for a model that links by
    vector (``predict(span_vectors=True)``: e.g. when linking is a later pipeline stage)."""

    start: int
    end: int
    text: str
    type: str
    score: float
    entity_id: str | None = None
    entity_name: str | None = None
    link_score: float | None = None
    span_vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_mention(self) -> Mention:
        """The project's document ``Mention`` (the linked entity id, if any, as its id)."""
        attributes = {"score": f"{self.score:.4f}"}
        if self.entity_name is not None:
            attributes["entity_name"] = self.entity_name
        if self.link_score is not None:
            attributes["link_score"] = f"{self.link_score:.4f}"
        ids = [self.entity_id] if self.entity_id else []
        return Mention(self.start, self.end, self.text, self.type, ids=ids, attributes=attributes)


def _by_score(mentions: Iterable[PredictedMention]) -> list[PredictedMention]:
    return sorted(mentions, key=lambda m: (-m.score, m.start, m.end, m.type))


def resolve_overlaps(mentions: Iterable[PredictedMention]) -> list[PredictedMention]:
    """Greedy flat decoding: take mentions by descending score, skipping any that overlaps
    one already taken (the same span seen in two windows is kept once). Text order out.

    Taken mentions never overlap, so their starts and ends sorted together stay in step:
    a binary search finds the only two a candidate could overlap, instead of a scan of all."""
    starts: list[int] = []
    ends: list[int] = []
    taken: list[PredictedMention] = []
    for mention in _by_score(mentions):
        position = bisect.bisect_right(starts, mention.start)
        overlaps_left = position > 0 and ends[position - 1] > mention.start
        overlaps_right = position < len(starts) and starts[position] < mention.end
        if not (overlaps_left or overlaps_right):
            starts.insert(position, mention.start)
            ends.insert(position, mention.end)
            taken.insert(position, mention)
    return taken


def resolve_nested(mentions: Iterable[PredictedMention]) -> list[PredictedMention]:
    """Greedy nested decoding: like ``resolve_overlaps`` but a span inside (or around) a
    taken one is allowed; partially crossing spans and repeats of a taken span are not."""
    taken: list[PredictedMention] = []
    for mention in _by_score(mentions):
        if all(_compatible(mention, t) for t in taken):
            taken.append(mention)
    return sorted(taken, key=lambda m: (m.start, m.end))


def _compatible(a: PredictedMention, b: PredictedMention) -> bool:
    if a.end <= b.start or b.end <= a.start:
        return True
    if (a.start, a.end) == (b.start, b.end):
        return False
    return (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)


DECODERS = {"greedy": resolve_overlaps, "nested": resolve_nested}


def decode(mentions: Iterable[PredictedMention], mode: str = "greedy") -> list[PredictedMention]:
    """Resolve candidates with the decoder named ``mode`` ("greedy" or "nested")."""
    if mode not in DECODERS:
        raise ValueError(f"unknown decoding {mode!r}; choose one of {sorted(DECODERS)}")
    return DECODERS[mode](mentions)


def harmonize_abbreviations(text: str, mentions: Sequence[PredictedMention]) -> list[PredictedMention]:
    """``mentions`` of one document made consistent with the abbreviations it defines
    ("long form (SF)", Schwartz & Hearst), in text order.

    Where a mention is exactly a long form, every free occurrence of the short form (as a
    word of its own: not inside "non-FAP") becomes a mention of its type and score (the
    model saw the long form; the bare short form elsewhere is easy to miss). A mention on
    part of a long form does not spread ("colorectal cancer" inside the gene "deleted in
    colorectal cancer (DCC)"). Where no mention touches the long form, mentions whose text
    is the short form are dropped (the model judged the long form not an entity of any
    type). Other mentions are kept as they are. An added short form copies its long form's
    mention (type, score and span vector, so that it links as the long form does)."""
    found = list(mentions)
    for abbreviation in find_abbreviations(text):
        start, end = abbreviation.long_start, abbreviation.long_end
        touching = [m for m in found if m.start < end and start < m.end]
        exact = [m for m in touching if (m.start, m.end) == (start, end)]
        if exact:
            source = max(exact, key=lambda m: m.score)
            for match in re.finditer(rf"(?<![\w-]){re.escape(abbreviation.short)}(?![\w-])", text):
                if not any(m.start < match.end() and match.start() < m.end for m in found):
                    found.append(replace(source, start=match.start(), end=match.end(), text=match.group(0)))
        elif not touching:
            found = [m for m in found if m.text != abbreviation.short]
    return sorted(found, key=lambda m: (m.start, m.end))
