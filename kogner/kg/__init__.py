"""The knowledge graph: canonical Parquet schema, source adapters, entity resolution.

``kogner.kg.ingest.ingest(config, out_dir)`` builds a KG directory; :func:`read_kg_table`
reads one of its tables back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from kogner.kg.schema import TABLES


def read_kg_table(kg_dir: str | os.PathLike[str], name: str) -> pa.Table:
    """One table (``entities``, ``aliases``, ``edges``, ``xrefs``) of a KG directory."""
    if name not in TABLES:
        raise ValueError(f"unknown KG table {name!r}; one of {sorted(TABLES)}")
    return ds.dataset(Path(kg_dir) / name, format="parquet", schema=TABLES[name]).to_table()
