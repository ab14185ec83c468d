"""Source adapters: one module per source format, each a ``read(spec)`` generator of records.

``FORMATS`` maps the ``format`` name used in KG configs to its adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from kogner.kg.adapters import (
    cellxgene,
    chebi,
    ctd,
    drugbank,
    generic_csv,
    hetionet,
    hgnc,
    hpo_annotations,
    mesh,
    mesh_xml,
    ncbi_gene,
    obo,
    primekg,
    umls,
    xref_tables,
)
from kogner.kg.records import Record
from kogner.kg.sources import SourceSpec

Adapter = Callable[[SourceSpec], Iterator[Record]]

FORMATS: dict[str, Adapter] = {
    "obo": obo.read,
    "mesh-tsv": mesh.read,
    "mesh-xml": mesh_xml.read,
    "ctd": ctd.read,
    "hgnc": hgnc.read,
    "ncbi-gene-info": ncbi_gene.read,
    "drugbank-vocabulary": drugbank.read,
    "chebi-names": chebi.read,
    "xref-table": xref_tables.read,
    "hetionet": hetionet.read,
    "umls-rrf": umls.read,
    "primekg": primekg.read,
    "csv": generic_csv.read,
    "hpo-annotations": hpo_annotations.read,
    "cellxgene-ontology": cellxgene.read,
}
