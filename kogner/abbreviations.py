"""Abbreviation definitions found in a text, after Schwartz & Hearst (2003).

A. S. Schwartz and M. A. Hearst, "A simple algorithm for identifying abbreviation
definitions in biomedical text", Pacific Symposium on Biocomputing 8:451-462, 2003.

A candidate pair is ``long form (short form)`` or, when the parenthesized part has more
than two words or is longer than the text before it, ``short form (long form)`` with the
short form the one word before the parenthesis (it must then contain a capital). The long
form candidate runs from the last ". " or ", " before the parenthesis. The short form's
letters and digits are matched right to left against the long form, its first character at
the start of a word; the long form is the shortest such suffix of the candidate, rejected
when it has more than min(|A| + 5, 2|A|) words (|A| = letters and digits of the short
form), is shorter than the short form, or contains the short form as a word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

_LONG_FORM_WORDS = re.compile(r"[^\s-]+")


class Abbreviation(NamedTuple):
    """A short form, the long form it abbreviates, and where that long form starts in the text."""

    short: str
    long: str
    long_start: int

    @property
    def long_end(self) -> int:
        return self.long_start + len(self.long)


def find_abbreviations(text: str) -> list[Abbreviation]:
    """Every abbreviation defined in ``text`` with a parenthesis, in text order."""
    found = []
    start = 0  # the text before this was consumed by an earlier parenthesis
    while (open_paren := text.find(" (", start)) >= 0:
        open_paren += 1
        close_paren = text.find(")", open_paren)
        if close_paren < 0:
            break
        clause = max(text.rfind(". ", start, open_paren), text.rfind(", ", start, open_paren))
        long_candidate = text[clause + 2 if clause >= 0 else start : open_paren]
        short_candidate = re.split(r", |; ", text[open_paren + 1 : close_paren])[0]
        long_candidate_end = open_paren
        if len(short_candidate.split()) > 2 or len(short_candidate) > len(long_candidate):
            words = text[start : open_paren - 1].split()
            long_candidate, short_candidate = short_candidate, words[-1] if words else ""
            long_candidate_end = open_paren + 1 + len(long_candidate)
            if not any(c.isupper() for c in short_candidate):
                short_candidate = ""
        short_candidate, long_candidate = short_candidate.strip(), long_candidate.strip()
        if _valid_short_form(short_candidate):
            long_form = _best_long_form(short_candidate, long_candidate)
            if long_form is not None and _plausible(short_candidate, long_form):
                # the long form is a suffix of its (stripped) candidate, which ends before long_candidate_end
                long_start = text.rfind(long_form, 0, long_candidate_end)
                found.append(Abbreviation(short_candidate, long_form, long_start))
        start = close_paren + 1
    return found


def definitions(text: str) -> dict[str, str]:
    """Short form -> long form for the abbreviations defined in ``text`` (first definition wins);
    other short forms inside a long form are spelled out ("isolated DMS (IDMS)")."""
    defined: dict[str, str] = {}
    for short, long, _ in find_abbreviations(text):
        defined.setdefault(short, long)
    return {short: expand(long, {s: f for s, f in defined.items() if s != short}) for short, long in defined.items()}


def expand(mention: str, defined: Mapping[str, str]) -> str:
    """``mention`` with every whole-word occurrence of a defined short form replaced by its long form."""
    if not defined or mention in defined:
        return defined.get(mention, mention)
    pattern = "|".join(re.escape(short) for short in sorted(defined, key=len, reverse=True))
    return re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", lambda match: defined[match.group(0)], mention)


def _valid_short_form(short: str) -> bool:
    return len(short) > 1 and any(c.isalpha() for c in short) and (short[0].isalnum() or short[0] == "(")


def _best_long_form(short: str, long: str) -> str | None:
    """The shortest suffix of ``long`` whose words hold the characters of ``short`` in order, right to left."""
    l_index = len(long) - 1
    for s_index in range(len(short) - 1, -1, -1):
        char = short[s_index].lower()
        if not char.isalnum():
            continue
        while l_index >= 0 and (
            long[l_index].lower() != char or (s_index == 0 and l_index > 0 and long[l_index - 1].isalnum())
        ):
            l_index -= 1
        if l_index < 0:
            return None
        l_index -= 1
    return long[long.rfind(" ", 0, l_index + 1) + 1 :]


def _plausible(short: str, long: str) -> bool:
    letters = sum(c.isalnum() for c in short)
    words = len(_LONG_FORM_WORDS.findall(long))
    return not (
        len(long) < len(short)
        or f"{short} " in long
        or long.endswith(short)
        or words > 2 * letters
        or words > letters + 5
        or letters > 10
    )


def expand_in_documents(mentions: Sequence[str], documents: Sequence[str | None]) -> list[str]:
    """``mentions[i]`` expanded with the definitions of ``documents[i]`` (None: unchanged)."""
    cache: dict[str, dict[str, str]] = {}
    expanded = []
    for mention, document in zip(mentions, documents, strict=True):
        if document is not None and document not in cache:
            cache[document] = definitions(document)
        expanded.append(expand(mention, cache[document]) if document is not None else mention)
    return expanded
