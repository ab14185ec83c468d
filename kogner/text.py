"""Word tokens, sentences and overlapping windows, all as character offsets.

One tokenizer for the whole project (CoNLL conversion, span enumeration, windows), so a
mention's boundaries mean the same thing everywhere: a word is a run of letters/digits or
a single other non-space character, which splits "IL-2" into "IL", "-", "2" as the
biomedical CoNLL corpora do.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

_WORD = re.compile(r"[^\W_]+|[^\s]", re.UNICODE)
# A sentence ends at . ! ? followed by space and an upper-case letter, digit or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def word_spans(text: str) -> list[Span]:
    """(start, end) of every word of ``text``."""
    return [match.span() for match in _WORD.finditer(text)]


def sentence_spans(text: str) -> list[Span]:
    """(start, end) of every sentence, trailing whitespace excluded; covers all words."""
    spans: list[Span] = []
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        if text[start : boundary.start()].strip():
            spans.append(_strip(text, start, boundary.start()))
        start = boundary.end()
    if text[start:].strip():
        spans.append(_strip(text, start, len(text)))
    return spans


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def word_windows(text: str, max_words: int, overlap: int) -> list[Span]:
    """Character ranges of windows of at most ``max_words`` words, consecutive windows
    sharing ``overlap`` words, so that every word is in at least one window and a mention
    of up to ``overlap`` words lies whole inside some window. Empty text gives no window."""
    if overlap >= max_words:
        raise ValueError(f"overlap ({overlap}) must be smaller than max_words ({max_words})")
    words = word_spans(text)
    windows: list[Span] = []
    first = 0
    while first < len(words):
        last = min(first + max_words, len(words))
        windows.append((words[first][0], words[last - 1][1]))
        if last == len(words):
            break
        first = last - overlap
    return windows
