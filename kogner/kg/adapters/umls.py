"""UMLS Metathesaurus RRF (``MRCONSO.RRF``, ``MRREL.RRF``, ``MRSTY.RRF``; ``|``-separated,
each line ending in ``|``). ``path`` is the ``META`` folder.

- MRSTY (CUI, TUI, STN, STY, ...): the entity type of each CUI from its semantic types
  (:data:`TYPE_BY_TUI`, first mapped one wins; unmapped -> ``Other``). Read first; the only
  per-concept state kept (one small int per CUI).
- MRCONSO (CUI, LAT, TS, LUI, STT, SUI, ISPREF, AUI, SAUI, SCUI, SDUI, SAB, TTY, CODE, STR,
  SRL, SUPPRESS, CVF), grouped by CUI (the file is sorted by CUI): one entity ``UMLS:C...``
  named by its preferred string (TS=P, STT=PF, ISPREF=Y), other strings as aliases (TTY
  AB/ACR -> ``abbreviation``), source codes of MSH/OMIM/HGNC/DRUGBANK/HPO/CHEBI/NCBI as
  cross-references. Only languages in option ``languages`` (default ``["ENG"]``) and
  unsuppressed rows (SUPPRESS=N) are read. ``limit`` counts MRCONSO rows.
- MRREL (CUI1, AUI1, STYPE1, REL, CUI2, AUI2, STYPE2, RELA, ...): an edge
  ``UMLS:CUI2 -[RELA or REL]-> UMLS:CUI1`` per row, read as UMLS defines it ("CUI2 has
  relationship REL/RELA to CUI1"); REL ``SY``/``SIB``/``QB``/``AQ``/``XR`` rows are skipped.
  ``limit`` counts MRREL rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kogner.errors import InputFormatError
from kogner.kg.ids import curie
from kogner.kg.records import Alias, Edge, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, numbered_lines

#: Semantic type (TUI) -> entity type; TUIs not listed map to "Other".
TYPE_BY_TUI = {
    **dict.fromkeys(("T047", "T191", "T046", "T048", "T019", "T020", "T037", "T049", "T050", "T190"), "Disease"),
    **dict.fromkeys(("T184", "T033"), "Phenotype"),
    **dict.fromkeys(
        (
            "T121",
            "T109",
            "T116",
            "T195",
            "T200",
            "T123",
            "T122",
            "T103",
            "T120",
            "T104",
            "T197",
            "T196",
            "T126",
            "T125",
            "T129",
            "T130",
            "T131",
            "T114",
            "T111",
            "T127",
            "T192",
        ),
        "Chemical",
    ),
    **dict.fromkeys(("T028", "T087", "T086"), "Gene"),
    **dict.fromkeys(("T017", "T029", "T023", "T030", "T031", "T022", "T024", "T026", "T018", "T021"), "Anatomy"),
    "T025": "CellType",
    **dict.fromkeys(
        ("T005", "T007", "T004", "T204", "T013", "T014", "T015", "T016", "T012", "T011", "T002", "T001", "T194"),
        "Organism",
    ),
    **dict.fromkeys(("T038", "T039", "T040", "T041", "T042", "T043", "T044", "T045"), "BiologicalProcess"),
    **dict.fromkeys(("T059", "T060", "T061", "T058"), "Procedure"),
}
#: MRCONSO SAB -> CURIE prefix of its CODE column (codes already prefixed keep theirs).
XREF_SOURCES = {
    "MSH": "MESH",
    "OMIM": "OMIM",
    "HGNC": "HGNC",
    "DRUGBANK": "DRUGBANK",
    "HPO": "HP",
    "CHEBI": "CHEBI",
    "NCBI": "NCBITaxon",
}
_SKIPPED_RELS = frozenset({"SY", "SIB", "QB", "AQ", "XR"})
_TYPE_ORDER = (
    "Disease",
    "Chemical",
    "Gene",
    "Phenotype",
    "CellType",
    "Anatomy",
    "Organism",
    "BiologicalProcess",
    "Procedure",
    "Other",
)


def _rows(path: Path, width: int) -> Iterator[tuple[int, list[str]]]:
    for number, line in numbered_lines(path):
        fields = line.split("|")
        if len(fields) < width:
            raise InputFormatError(path, f"line {number}", f"expected at least {width} '|'-separated fields")
        yield number, fields


def read_types(path: Path) -> dict[str, int]:
    """CUI -> index into ``_TYPE_ORDER`` (the most specific mapped semantic type wins)."""
    types: dict[str, int] = {}
    for _number, fields in _rows(path, 4):
        code = _TYPE_ORDER.index(TYPE_BY_TUI.get(fields[1], "Other"))
        if code < types.get(fields[0], len(_TYPE_ORDER)):
            types[fields[0]] = code
    return types


def read(spec: SourceSpec) -> Iterator[Record]:
    folder = spec.path
    files = {name: folder / f"{name}.RRF" for name in ("MRCONSO", "MRREL", "MRSTY")}
    spec.found_files.extend(path for path in files.values() if path.is_file())
    types = read_types(files["MRSTY"]) if files["MRSTY"].is_file() else {}
    yield from _concepts(spec, files["MRCONSO"], types)
    del types
    if files["MRREL"].is_file():
        for number, fields in spec.limited(_rows(files["MRREL"], 8)):
            rel = fields[3]
            if rel not in _SKIPPED_RELS and fields[0] != fields[4]:
                yield Edge(f"UMLS:{fields[4]}", fields[7] or rel, f"UMLS:{fields[0]}", number)


def _concepts(spec: SourceSpec, path: Path, types: dict[str, int]) -> Iterator[Record]:
    languages = set(spec.options.get("languages", ["ENG"]))
    cui = ""
    start = 0
    strings: dict[str, str] = {}  # string -> alias kind, for the current CUI
    name = ""
    codes: set[str] = set()

    def flush() -> Iterator[Record]:
        entity_id = f"UMLS:{cui}"
        chosen = name or next(iter(strings))
        yield Entity(entity_id, chosen, _TYPE_ORDER[types.get(cui, len(_TYPE_ORDER) - 1)], "", start)
        for text, kind in strings.items():
            if text != chosen:
                yield Alias(entity_id, text, kind, start)
        for code in sorted(codes):
            yield Xref(entity_id, code, start)

    for number, fields in spec.limited(_rows(path, 17)):
        if fields[1] not in languages or fields[16] not in ("N", ""):
            continue
        if fields[0] != cui:
            if strings:
                yield from flush()
            cui, start, name, codes, strings = fields[0], number, "", set(), {}
        text = fields[14]
        if not name and fields[2] == "P" and fields[4] == "PF" and fields[6] == "Y":
            name = text
        strings.setdefault(text, "abbreviation" if fields[12] in ("AB", "ACR") else "synonym")
        prefix = XREF_SOURCES.get(fields[11])
        if prefix and fields[13] and not fields[13].startswith("MTHU"):
            codes.add(curie(fields[13], prefix) if ":" in fields[13] else f"{prefix}:{fields[13]}")
    if strings:
        yield from flush()
