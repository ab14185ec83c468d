"""The canonical KG schema (versioned). A KG directory holds one Parquet dataset per table
(``entities/``, ``aliases/``, ``edges/``, ``xrefs/``, zstd) and a ``manifest.json``.

Entity ids are CURIEs (``MESH:D003920``, ``NCBIGene:7157``, ``HGNC:11998``, ``CHEBI:15365``,
``DOID:9352``, ``HP:0001250``, ``DRUGBANK:DB00945``, ``OMIM:222100``, ``UMLS:C0011849``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"

#: The entity-type vocabulary every adapter maps its source's categories onto.
ENTITY_TYPES = (
    "Disease",
    "Chemical",
    "Gene",
    "Phenotype",
    "Anatomy",
    "Organism",
    "CellType",
    "CellLine",
    "Pathway",
    "BiologicalProcess",
    "MolecularFunction",
    "CellularComponent",
    "Procedure",
    "Other",
)

#: The KG types a mention of one of these types may link to besides its own: MeSH files many
#: phenotypes (HPO) as diseases and HPO files many diseases as phenotypes.
RELATED_TYPES = {"Disease": ("Phenotype",), "Phenotype": ("Disease",)}


def linkable_types(mention_type: str) -> tuple[str, ...] | None:
    """The KG entity types a mention of ``mention_type`` may link to: its own and its related
    ones when it is a KG type name, else None (any type: a corpus's own type names)."""
    if mention_type not in ENTITY_TYPES:
        return None
    return (mention_type, *RELATED_TYPES.get(mention_type, ()))


#: Alias kinds: where an alias came from and how exact it is.
ALIAS_KINDS = (
    "preferred",
    "synonym",
    "exact_synonym",
    "related_synonym",
    "broad_synonym",
    "narrow_synonym",
    "abbreviation",
    "previous_symbol",
)

ENTITIES = pa.schema(
    [
        ("entity_id", pa.string()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("description", pa.string()),
        ("source", pa.string()),
    ]
)
ALIASES = pa.schema(
    [
        ("entity_id", pa.string()),
        ("alias", pa.string()),
        ("normalized", pa.string()),
        ("kind", pa.string()),
    ]
)
EDGES = pa.schema(
    [
        ("head", pa.string()),
        ("relation", pa.string()),
        ("tail", pa.string()),
        ("source", pa.string()),
    ]
)
XREFS = pa.schema([("entity_id", pa.string()), ("xref_id", pa.string())])

TABLES: dict[str, pa.Schema] = {"entities": ENTITIES, "aliases": ALIASES, "edges": EDGES, "xrefs": XREFS}
