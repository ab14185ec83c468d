"""MeSH descriptor TSV export plus tree numbers; also the category table shared with the
NLM XML reader (:mod:`kogner.kg.adapters.mesh_xml`).

``path``: descriptors without header (id, preferred name, entry terms joined by ``|``).
Option ``tree_numbers``: a TSV with header ``mesh_id mesh_name mesh_tree_number``.
The parent of tree number ``A.B.C`` is ``A.B``: each descriptor gets a ``parent`` edge to
the descriptor holding its parent tree number. Type from the tree categories
(:func:`mesh_type`); descriptors without tree numbers get type ``Other``.

MeSH category -> entity type (first matching rule, in this order):

=========================================  ===================
tree numbers                                type
=========================================  ===================
C (Diseases), F03 (Mental Disorders)        Disease
D (Chemicals and Drugs)                     Chemical
A11 (Cells)                                 CellType
A (Anatomy)                                 Anatomy
B (Organisms)                               Organism
G (Phenomena and Processes)                 BiologicalProcess
E (Analytical, Diagnostic, Therapeutic...)  Procedure
anything else (F, H, I, J, K, L, M, N, V, Z) Other
=========================================  ===================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from kogner.errors import InputFormatError
from kogner.kg.records import Alias, Edge, Entity, Record
from kogner.kg.sources import SourceSpec, numbered_lines, split_list

_TYPE_RULES = (
    ("C", "Disease"),
    ("F03", "Disease"),
    ("D", "Chemical"),
    ("A11", "CellType"),
    ("A", "Anatomy"),
    ("B", "Organism"),
    ("G", "BiologicalProcess"),
    ("E", "Procedure"),
)


def mesh_type(tree_numbers: Iterable[str]) -> str:
    """The entity type of a descriptor with these tree numbers (see the module table)."""
    tree_numbers = list(tree_numbers)
    for prefix, entity_type in _TYPE_RULES:
        if any(number.startswith(prefix) for number in tree_numbers):
            return entity_type
    return "Other"


def parent_edges(trees: dict[str, list[str]]) -> Iterator[Edge]:
    """``parent`` edges from tree numbers: the parent of A.B.C is A.B (one edge per pair)."""
    owner = {number: descriptor for descriptor, numbers in trees.items() for number in numbers}
    for descriptor, numbers in trees.items():
        parents = {owner.get(number.rsplit(".", 1)[0]) for number in numbers if "." in number}
        for parent in sorted(p for p in parents if p and p != descriptor):
            yield Edge(descriptor, "parent", parent)


def read_tree_numbers(path: Path) -> dict[str, list[str]]:
    """``MESH:<id>`` -> tree numbers, from the ``mesh_id mesh_name mesh_tree_number`` TSV."""
    trees: dict[str, list[str]] = {}
    for number, line in numbered_lines(path):
        if number == 1 and line.startswith("mesh_id"):
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputFormatError(path, f"line {number}", f"expected 3 tab-separated fields, got {len(fields)}")
        trees.setdefault(f"MESH:{fields[0]}", []).append(fields[2].strip())
    return trees


def read(spec: SourceSpec) -> Iterator[Record]:
    trees = read_tree_numbers(spec.file("tree_numbers")) if "tree_numbers" in spec.options else {}
    kept: dict[str, list[str]] = {}
    for number, line in spec.limited(numbered_lines(spec.path)):
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip():
            raise InputFormatError(spec.path, f"line {number}", "expected 'id TAB name [TAB entry terms]'")
        entity_id = f"MESH:{fields[0].strip()}"
        kept[entity_id] = trees.get(entity_id, [])
        yield Entity(entity_id, fields[1], mesh_type(kept[entity_id]), "", number)
        for term in split_list(fields[2] if len(fields) > 2 else ""):
            yield Alias(entity_id, term, "synonym", number)
    yield from parent_edges(kept)
