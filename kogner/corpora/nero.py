"""The NERO corpus shipped by the ``NERO-nlp`` package, as KoGNER documents.

``NERO/annotation_results.txt`` is tab-separated, latin-1, unquoted (``csv.QUOTE_NONE``:
sentences contain stray ``"``), one row per annotation: up to two entities (``entity1``,
``entity2``) as *strings* with a NERO class each (98 classes, spelled inconsistently), and
the sentence they come from (``sentenceText``; ``pmid`` when known, else ``NULL``). Rows end
in ``\\r\\n`` only partly; a bare ``\\r`` ends many sentence fields, so lines are split on
``\\n`` alone and fields stripped.

What this reader does with it:

* Sentences are identified by their text; a sentence belongs to its PMID when any row gives
  one, else to a group of its own (id ``NERO-`` + a hash of the text). Each group becomes one
  :class:`~kogner.documents.Document` whose passages are its sentences, in file order, one
  space apart.
* Every entity string is located in its sentence at word boundaries (:mod:`kogner.text`):
  exactly first, then with any whitespace run matching any whitespace run. Every occurrence
  is a mention. Strings that cannot be located are counted and logged (``NeroStats``), never
  dropped silently.
* Classes collapse onto KG entity types (:data:`TYPE_MAP`, keys compared case- and
  space-insensitively); other classes (``Process``, quantities, places, people, ...) are not
  entity types of the model, and their count is reported.
* Several annotators may mark the same span: the majority type wins (ties: alphabetical).
  Overlapping spans keep the longer one (ties: the earlier), so the gold is flat like the
  model's output; dropped overlaps are counted.
* :func:`split_of` assigns each document to ``train`` / ``dev`` / ``heldout`` (80/10/10) by a
  hash of its id, so the split never depends on file order or on the other documents.

The relation-oriented rows annotate only the participants of a statement, so sentences are
not exhaustively annotated; scores on NERO are lower bounds of precision.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kogner.documents import Document, Mention
from kogner.errors import InputFormatError
from kogner.text import word_spans

log = logging.getLogger(__name__)

#: NERO class (lower-cased, spaces removed) -> KoGNER entity type (kogner.kg.schema names).
#: "Gene" means gene or gene product (NERO's "GP" class covers both).
TYPE_MAP: dict[str, str] = {
    "gp": "Gene",
    "gene": "Gene",
    "protein": "Gene",
    "geneorprotein": "Gene",
    "geneorproteingroup": "Gene",
    "chemical": "Chemical",
    "nonproteinornucleicacidchemical": "Chemical",
    "smallmolecule": "Chemical",
    "drug": "Chemical",
    "molecule": "Chemical",
    "ion": "Chemical",
    "atom": "Chemical",
    "aminoacid": "Chemical",
    "aminoacidpeptide": "Chemical",
    "disease": "Disease",
    "medicalfinding": "Phenotype",
    "bodypart": "Anatomy",
    "tissue": "Anatomy",
    "organismpart": "Anatomy",
    "anatomicalpart": "Anatomy",
    "organism": "Organism",
    "cell": "CellType",
    "cells": "CellType",
    "cellcomponent": "CellularComponent",
    "biologicalprocess": "BiologicalProcess",
    "molecularprocess": "BiologicalProcess",
    "medicalprocedure": "Procedure",
}
TYPES: tuple[str, ...] = tuple(sorted(set(TYPE_MAP.values())))
SPLITS = ("train", "dev", "heldout")
_ENTITY_COLUMNS = (("entity1", "semantic_class_entity1"), ("entity2", "semantic_class_entity2"))
_REQUIRED = ("pmid", "sentenceText", "sdocId") + tuple(c for pair in _ENTITY_COLUMNS for c in pair)
_MISSING = {"", "NULL", "null"}


def default_path() -> Path:
    """Where the ``NERO-nlp`` package keeps ``annotation_results.txt``."""
    spec = importlib.util.find_spec("NERO")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the NERO corpus is not installed: pip install NERO-nlp")
    return Path(spec.origin).parent / "annotation_results.txt"


def normalize_class(nero_class: str) -> str:
    """A NERO class as a :data:`TYPE_MAP` key: lower case, no whitespace, no literal ``\\t``."""
    return re.sub(r"\s+", "", nero_class.replace("\\t", "")).lower()


@dataclass
class NeroStats:
    """What reading NERO found, dropped and merged (logged at the end of :func:`read_nero`)."""

    rows: int = 0
    sentences: int = 0
    documents: int = 0
    mentions: int = 0
    located: int = 0
    not_located: int = 0
    untyped: int = 0
    overlaps_dropped: int = 0
    type_conflicts: int = 0
    unmapped_classes: collections.Counter[str] = field(default_factory=collections.Counter)
    not_located_examples: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        data = {k: v for k, v in vars(self).items() if k not in ("unmapped_classes", "not_located_examples")}
        data["unmapped"] = sum(self.unmapped_classes.values())
        data["unmapped_top"] = dict(self.unmapped_classes.most_common(10))
        return data


@dataclass
class NeroCorpus:
    """The NERO documents (one per PMID or sentence group) and the reading statistics."""

    documents: list[Document]
    stats: NeroStats

    def split(self, name: str) -> list[Document]:
        """The documents of split ``name`` in a fixed pseudo-random order (by a hash of their
        id), so that any prefix is a representative sample of the split."""
        if name not in SPLITS:
            raise ValueError(f"unknown NERO split {name!r}; expected one of {SPLITS}")
        return sorted((doc for doc in self.documents if split_of(doc.id) == name), key=lambda doc: _hash(doc.id))


def split_of(doc_id: str) -> str:
    """``train`` (80%), ``dev`` (10%) or ``heldout`` (10%), from a hash of the document id."""
    bucket = _hash(doc_id) % 10
    return "heldout" if bucket == 9 else "dev" if bucket == 8 else "train"


def _hash(doc_id: str) -> int:
    return int(hashlib.sha256(doc_id.encode()).hexdigest(), 16)


def read_nero(path: str | Path | None = None, types: Iterable[str] | None = None) -> NeroCorpus:
    """Read the NERO corpus (the packaged file by default), keeping mentions of ``types``."""
    path = Path(path) if path is not None else default_path()
    wanted = set(types) if types is not None else set(TYPES)
    unknown = wanted - set(TYPES)
    if unknown:
        raise ValueError(f"unknown NERO types {sorted(unknown)}; known: {list(TYPES)}")
    stats = NeroStats()
    # sentence text -> votes {(start, end, type): count}; groups keep sentences in file order.
    votes: dict[str, collections.Counter[tuple[int, int, str]]] = {}
    pmid_of: dict[str, str] = {}
    for record in _rows(path):
        stats.rows += 1
        sentence = record["sentenceText"].strip()
        if not sentence:
            continue
        if record["pmid"].isdigit():
            pmid_of.setdefault(sentence, record["pmid"])
        sentence_votes = votes.setdefault(sentence, collections.Counter())
        for entity_column, class_column in _ENTITY_COLUMNS:
            entity, nero_class = record[entity_column].strip(), record[class_column].strip()
            if entity in _MISSING:
                continue
            if nero_class in _MISSING:
                stats.untyped += 1
                continue
            entity_type = TYPE_MAP.get(normalize_class(nero_class))
            if entity_type is None:
                stats.unmapped_classes[nero_class] += 1
                continue
            if entity_type not in wanted:
                continue
            spans = locate(entity, sentence)
            if not spans:
                stats.not_located += 1
                if len(stats.not_located_examples) < 20:
                    stats.not_located_examples.append((entity, sentence))
                continue
            stats.located += 1
            for start, end in spans:
                sentence_votes[(start, end, entity_type)] += 1
    groups: dict[str, list[str]] = {}
    for sentence in votes:
        groups.setdefault(pmid_of.get(sentence) or _sentence_group(sentence), []).append(sentence)
    documents = [_document(doc_id, sentences, votes, stats) for doc_id, sentences in groups.items()]
    stats.sentences, stats.documents = len(votes), len(documents)
    stats.mentions = sum(len(doc.mentions) for doc in documents)
    log.info("NERO %s: %s", path, stats.summary())
    if stats.not_located:
        log.warning(
            "NERO: %d entity strings could not be located in their sentence, e.g. %s",
            stats.not_located,
            stats.not_located_examples[:3],
        )
    return NeroCorpus(documents, stats)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with open(path, encoding="latin-1", newline="\n") as handle:
        lines = (line.rstrip("\r\n").replace("\r", " ") for line in handle)
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or not set(_REQUIRED) <= set(header):
            raise InputFormatError(path, 1, f"not a NERO annotation file: header lacks {_REQUIRED}")
        for line_number, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(header):
                raise InputFormatError(path, line_number, f"{len(fields)} fields, expected {len(header)}")
            yield dict(zip(header, fields, strict=True))


def locate(entity: str, sentence: str) -> list[tuple[int, int]]:
    """Every word-aligned occurrence of ``entity`` in ``sentence`` (exact, else whitespace-flexible)."""
    words = word_spans(sentence)
    starts, ends = {s for s, _ in words}, {e for _, e in words}
    spans = []
    found = sentence.find(entity)
    while found >= 0:
        if found in starts and found + len(entity) in ends:
            spans.append((found, found + len(entity)))
        found = sentence.find(entity, found + 1)
    if spans or not entity.split():
        return spans
    flexible = re.compile(r"\s+".join(re.escape(part) for part in entity.split()))
    matches = (flexible.match(sentence, start) for start in sorted(starts))
    return [m.span() for m in matches if m is not None and m.end() in ends]


def _sentence_group(sentence: str) -> str:
    return "NERO-" + hashlib.sha1(sentence.encode()).hexdigest()[:12]


def _document(
    doc_id: str,
    sentences: list[str],
    votes: dict[str, collections.Counter[tuple[int, int, str]]],
    stats: NeroStats,
) -> Document:
    def mentions(sentence: str) -> list[Mention]:
        spans = _flat_spans(votes[sentence], stats)
        return [Mention(start, end, sentence[start:end], kind) for start, end, kind in spans]

    return Document.from_sentences(doc_id, [(s, mentions(s)) for s in sentences], metadata={"source": "NERO"})


def _flat_spans(votes: collections.Counter[tuple[int, int, str]], stats: NeroStats) -> list[tuple[int, int, str]]:
    by_span: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for (start, end, entity_type), count in votes.items():
        by_span.setdefault((start, end), []).append((-count, entity_type))
    typed: list[tuple[int, int, str]] = []
    for (start, end), candidates in by_span.items():
        stats.type_conflicts += len(candidates) > 1
        typed.append((start, end, min(candidates)[1]))
    kept: list[tuple[int, int, str]] = []
    for start, end, entity_type in sorted(typed, key=lambda m: (m[0] - m[1], m[0])):
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, entity_type))
        else:
            stats.overlaps_dropped += 1
    return sorted(kept)
