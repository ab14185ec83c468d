"""Concept-id fields as the corpora write them: composite ids and "no id".

PubTator and BioC put all ids of a mention in one field: ``D001|D002`` (BC5CDR, NCBI-disease)
or ``443387,443538`` (BioRED, GNormPlus) for composite mentions, ``-1`` (or nothing) for none.
BioRED's tmVar variant ids use ``|`` inside one id (``p|SUB|V|204|D``), so a field in tmVar
notation is split on commas only. ``+`` (NCBI-disease, "both concepts at once") stays inside
one id.
"""

from __future__ import annotations

import re

NO_ID = "-1"
_TMVAR = re.compile(r"^[cgmnpr]\|")


def split_ids(field: str) -> list[str]:
    """The ids in a PubTator/BioC id field, each exactly as written."""
    field = field.strip()
    if field in ("", NO_ID):
        return []
    separators = r"," if _TMVAR.match(field) else r"[|,]"
    return [part for part in re.split(separators, field) if part and part != NO_ID]


def join_ids(ids: list[str]) -> str:
    """The id field for ``ids`` (``|``-joined, ``,`` when an id itself contains ``|``)."""
    if not ids:
        return NO_ID
    separator = "," if any("|" in one for one in ids) else "|"
    return separator.join(ids)
