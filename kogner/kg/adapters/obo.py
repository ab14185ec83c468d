"""OBO 1.2 flat files (Disease Ontology, HPO, GO, ChEBI, MONDO): ``[Term]`` stanzas.

Per term: id, name, def (description), ``synonym: "text" SCOPE [TYPE] [...]`` as aliases
(kind ``<scope>_synonym``; synonym type ``abbreviation`` gives kind ``abbreviation``),
``xref:`` and ``alt_id:`` as cross-references, ``is_a:`` and ``relationship: REL TARGET``
as edges. Obsolete terms (``is_obsolete: true``) are left out. The entity type is the
source option ``type``, else the ``namespace:`` (GO), else the id prefix (DOID -> Disease).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.ids import TYPE_BY_NAMESPACE, TYPE_BY_PREFIX, curie, prefix_of
from kogner.kg.records import Alias, Edge, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, numbered_lines

_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(EXACT|RELATED|BROAD|NARROW)?\s*([^\s\[]+)?')
_DEF = re.compile(r'^"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def read(spec: SourceSpec) -> Iterator[Record]:
    for start, tags in spec.limited(_terms(spec)):
        yield from _term_records(spec, start, tags)


def _terms(spec: SourceSpec) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
    """(first line, [(line, tag, value)]) of every non-obsolete [Term] stanza."""
    stanza: str | None = None
    start = 0
    tags: list[tuple[int, str, str]] = []
    for number, line in numbered_lines(spec.path):
        line = line.strip()
        if line.startswith("["):
            if stanza == "Term" and tags:
                yield from _unless_obsolete(start, tags)
            stanza, start, tags = line.strip("[]"), number, []
        elif line and not line.startswith("!") and stanza is not None:
            tag, sep, value = line.partition(":")
            if not sep:
                raise InputFormatError(spec.path, f"line {number}", f"expected 'tag: value', got {line[:60]!r}")
            tags.append((number, tag, _strip_comment(value.strip())))
    if stanza == "Term" and tags:
        yield from _unless_obsolete(start, tags)


def _unless_obsolete(start: int, tags: list[tuple[int, str, str]]) -> Iterator[tuple[int, list]]:
    if not any(tag == "is_obsolete" and value == "true" for _, tag, value in tags):
        yield start, tags


def _strip_comment(value: str) -> str:
    """Drop a trailing `` ! comment`` outside quotes."""
    if "!" not in value:
        return value
    in_quotes = False
    for index, char in enumerate(value):
        if char == '"' and (index == 0 or value[index - 1] != "\\"):
            in_quotes = not in_quotes
        elif char == "!" and not in_quotes and (index == 0 or value[index - 1] == " "):
            return value[:index].rstrip()
    return value


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _term_records(spec: SourceSpec, start: int, tags: list[tuple[int, str, str]]) -> Iterator[Record]:
    values = {tag: value for _, tag, value in reversed(tags)}
    if "id" not in values:
        raise InputFormatError(spec.path, f"line {start}", "[Term] without id")
    term_id = curie(values["id"])
    entity_type = (
        spec.options.get("type")
        or TYPE_BY_NAMESPACE.get(values.get("namespace", ""))
        or TYPE_BY_PREFIX.get(prefix_of(term_id), "Other")
    )
    definition = _DEF.match(values.get("def", ""))
    yield Entity(term_id, values.get("name", ""), entity_type, _unescape(definition[1]) if definition else "", start)
    for number, tag, value in tags:
        if tag == "synonym":
            match = _SYNONYM.match(value)
            if not match:
                raise InputFormatError(spec.path, f"line {number}", f"malformed synonym {value[:60]!r}")
            text, scope, synonym_type = match.groups()
            kind = "abbreviation" if synonym_type == "abbreviation" else f"{(scope or 'related').lower()}_synonym"
            yield Alias(term_id, _unescape(text), kind, number)
        elif tag in ("xref", "alt_id"):
            target = value.split(" ", 1)[0]
            if ":" in target:
                yield Xref(term_id, curie(target), number)
        elif tag == "is_a":
            yield Edge(term_id, "is_a", curie(value.split(" ", 1)[0]), number)
        elif tag == "relationship":
            parts = value.split()
            if len(parts) < 2:
                raise InputFormatError(spec.path, f"line {number}", f"malformed relationship {value[:60]!r}")
            yield Edge(term_id, parts[0], curie(parts[1]), number)
