"""Checking a mention's text against the document text at its offsets.

``mismatch`` says what to do when they differ: ``"error"`` (default) raises InputFormatError
naming file and record; ``"repair"`` moves the mention to the nearest exact occurrence of its
text within ``REPAIR_WINDOW`` characters of the given start (e.g. GNormPlus offsets that are
one character off), or drops it when there is none, logging either as a warning with the
file and record. Whitespace padding around the mention text is always tolerated.
"""

from __future__ import annotations

import logging

from kogner.errors import InputFormatError

log = logging.getLogger(__name__)

MISMATCH_POLICIES = ("error", "repair")
REPAIR_WINDOW = 10


def checked_span(
    text: str, start: int, end: int, mention_text: str, mismatch: str, name: str, record: object
) -> tuple[int, int, str] | None:
    """(start, end, text) of a mention that matches ``text``; None when ``"repair"`` drops it."""
    found = text[start:end]
    if found == mention_text or (found and found == mention_text.strip()):
        return start, end, found
    problem = f"mention {mention_text!r} at {start}-{end} does not match the text there ({found!r})"
    if mismatch != "repair":
        raise InputFormatError(name, record, problem)
    wanted = mention_text.strip()
    lo = max(0, start - REPAIR_WINDOW)
    candidates = []
    position = text.find(wanted, lo)
    while wanted and position != -1 and position <= start + REPAIR_WINDOW:
        candidates.append(position)
        position = text.find(wanted, position + 1)
    if not candidates:
        log.warning("%s:%s: %s; mention dropped", name, record, problem)
        return None
    best = min(candidates, key=lambda p: abs(p - start))
    log.warning("%s:%s: %s; moved to %d-%d", name, record, problem, best, best + len(wanted))
    return best, best + len(wanted), wanted
