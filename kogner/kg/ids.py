"""CURIEs: prefix spelling, which prefixes take part in entity resolution, canonical priority.

Sources spell prefixes differently (``MSH:``, ``MIM:``, ``UMLS_CUI:``, ``HGNC:HGNC:5``); every
adapter passes ids through :func:`curie` so one thing has one spelling.

Canonical id priority (:data:`CANONICAL_PRIORITY`): when resolution merges ids, the
entity is named by the id whose prefix comes first here. MeSH and NCBI Gene lead because
the NER benchmarks link to them (NCBI-disease, BC5CDR: MeSH/OMIM; GNormPlus, BioRED: NCBI
Gene); the rest follow how widely they are used for linking. Prefixes not listed rank after
all listed ones; ties between equal prefixes go to the smaller id.
"""

from __future__ import annotations

import re

_DOUBLED = re.compile(r"^[A-Za-z_]+:")

CANONICAL_PRIORITY: tuple[str, ...] = (
    "MESH",
    "NCBIGene",
    "OMIM",
    "CHEBI",
    "DRUGBANK",
    "DOID",
    "HGNC",
    "HP",
    "MONDO",
    "ORPHA",
    "UMLS",
    "GO",
    "UBERON",
    "CL",
    "NCBITaxon",
    "DECIPHER",
)

#: Prefixes whose ids join the union-find (cross-references between them merge entities).
#: Other cross-references (SNOMED, ICD, Ensembl, ...) are kept in ``xrefs`` only.
RESOLVABLE_PREFIXES = frozenset(CANONICAL_PRIORITY)

_PREFIX_SPELLINGS = {
    "MSH": "MESH",
    "MESH": "MESH",
    "MIM": "OMIM",
    "OMIM": "OMIM",
    "UMLS_CUI": "UMLS",
    "UMLS": "UMLS",
    "NCBIGENE": "NCBIGene",
    "NCBI_GENE": "NCBIGene",
    "ENTREZ": "NCBIGene",
    "GENEID": "NCBIGene",
    "DRUGBANK": "DRUGBANK",
    "CHEBI": "CHEBI",
    "ORPHANET": "ORPHA",
    "ORPHA": "ORPHA",
    "ENSEMBL": "ENSEMBL",
    "NCBITAXON": "NCBITaxon",
    "HPO": "HP",
}

#: Default entity type of a term by its prefix (ontologies whose terms are all one kind).
TYPE_BY_PREFIX = {
    "DOID": "Disease",
    "MONDO": "Disease",
    "OMIM": "Disease",
    "ORPHA": "Disease",
    "DECIPHER": "Disease",
    "HP": "Phenotype",
    "CHEBI": "Chemical",
    "DRUGBANK": "Chemical",
    "UBERON": "Anatomy",
    "CL": "CellType",
    "CVCL": "CellLine",
    "NCBITaxon": "Organism",
    "NCBIGene": "Gene",
    "HGNC": "Gene",
    "PR": "Gene",
    "EFO": "Other",
    "PATO": "Other",
}

#: GO namespaces (OBO ``namespace:``) to entity types.
TYPE_BY_NAMESPACE = {
    "biological_process": "BiologicalProcess",
    "molecular_function": "MolecularFunction",
    "cellular_component": "CellularComponent",
}


def curie(raw: str, default_prefix: str | None = None) -> str:
    """The canonical spelling of an id: ``MSH:D1`` -> ``MESH:D1``, ``HGNC:HGNC:5`` -> ``HGNC:5``.

    An id without a prefix gets ``default_prefix`` (when given)."""
    raw = raw.strip()
    prefix, sep, local = raw.partition(":")
    if not sep:
        return f"{default_prefix}:{raw}" if default_prefix else raw
    if _DOUBLED.match(local):  # HGNC:HGNC:5, CTD's DO:DOID:4
        return curie(local)
    return f"{_PREFIX_SPELLINGS.get(prefix.upper(), prefix)}:{local}"


def prefix_of(entity_id: str) -> str:
    return entity_id.partition(":")[0]


def priority(entity_id: str) -> tuple[int, str]:
    """Sort key: lower is preferred as canonical id."""
    prefix = prefix_of(entity_id)
    try:
        rank = CANONICAL_PRIORITY.index(prefix)
    except ValueError:
        rank = len(CANONICAL_PRIORITY)
    return rank, entity_id
