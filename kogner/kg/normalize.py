"""The one alias normalization used everywhere (KG aliases, dictionary lookup, evaluation).

NFKC, case-folded, every run of characters that are not letters or digits replaced by one
space, trimmed: "Type II Diabetes-Mellitus" and "type ii diabetes mellitus" normalize alike.
"""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^\w]+|_+", re.UNICODE)


def normalize_alias(text: str) -> str:
    """The normalized form of an entity name or mention text."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NON_ALNUM.sub(" ", folded).strip()


def word_key(word: str) -> str:
    """``normalize_alias(word)`` for one word of ``kogner.text.word_spans`` (a run of letters
    and digits, or one other character), without the Unicode work where it is plain ASCII."""
    if word.isascii():
        return word.lower() if word.isalnum() else ""
    return normalize_alias(word)
