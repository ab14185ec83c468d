"""The KG as tensors: entity rows, typed edges in both directions, and a CSR for sampling.

Entities are rows ``0..N-1`` in the order of the ``entities`` table. Every KG edge
``(head, relation, tail)`` gives a triple; message passing uses each triple in both
directions (relation ``r`` head->tail and inverse relation ``r + R`` tail->head).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import torch

from kogner.errors import InputFormatError
from kogner.kg.schema import ENTITY_TYPES, TABLES

log = logging.getLogger(__name__)


def read_table(kg_dir: str | Path, name: str) -> pa.Table:
    """One KG table (``entities``, ``aliases``, ``edges``, ``xrefs``) with its canonical schema."""
    path = Path(kg_dir) / name
    if not path.exists():
        raise InputFormatError(path, None, f"KG directory has no {name!r} table")
    return ds.dataset(path, format="parquet", schema=TABLES[name]).to_table()


def manifest_sha256(kg_dir: str | Path) -> str:
    """The sha256 of the KG's ``manifest.json``: what a teacher and its caches are keyed by."""
    path = Path(kg_dir) / "manifest.json"
    if not path.is_file():
        raise InputFormatError(path, None, "KG directory has no manifest.json")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class TripleGraph:
    """Integer-coded entities, types and triples of a KG."""

    entity_ids: pa.Array
    type_codes: torch.Tensor  # (N,) index into ENTITY_TYPES
    triples: torch.Tensor  # (T, 3) head row, relation code, tail row
    relations: list[str]

    @property
    def num_entities(self) -> int:
        return len(self.entity_ids)

    @property
    def num_relations(self) -> int:
        return len(self.relations)


def load_triple_graph(kg_dir: str | Path) -> TripleGraph:
    """Entities and edges of ``kg_dir``; edges whose ends are not entities are dropped (logged)."""
    entities = read_table(kg_dir, "entities")
    edges = read_table(kg_dir, "edges")
    entity_ids = entities["entity_id"].combine_chunks()
    types = pc.fill_null(pc.index_in(entities["type"], value_set=pa.array(ENTITY_TYPES)), ENTITY_TYPES.index("Other"))
    heads = pc.index_in(edges["head"], value_set=entity_ids)
    tails = pc.index_in(edges["tail"], value_set=entity_ids)
    relations = pc.unique(edges["relation"]).sort()
    codes = pc.index_in(edges["relation"], value_set=relations)
    keep = pc.and_(pc.is_valid(heads), pc.is_valid(tails))
    dropped = len(edges) - pc.sum(keep).as_py() if len(edges) else 0
    if dropped:
        log.warning("%d of %d edges name entities missing from the KG; dropped", dropped, len(edges))
    columns = [np.asarray(pc.filter(column, keep), dtype=np.int64) for column in (heads, codes, tails)]
    triples = torch.from_numpy(np.stack(columns, axis=1)) if len(edges) else torch.zeros((0, 3), dtype=torch.long)
    triples = torch.unique(triples, dim=0) if len(triples) else triples
    log.info("KG %s: %d entities, %d triples, %d relations", kg_dir, len(entity_ids), len(triples), len(relations))
    return TripleGraph(
        entity_ids=entity_ids,
        type_codes=torch.from_numpy(np.asarray(types, dtype=np.int64)),
        triples=triples,
        relations=relations.to_pylist(),
    )


class MessageGraph:
    """Incoming-edge CSR over both directions of ``triples`` (for sampling and chunked inference)."""

    def __init__(self, triples: torch.Tensor, num_entities: int, num_relations: int) -> None:
        head, rel, tail = triples.unbind(1)
        src = torch.cat([head, tail])
        dst = torch.cat([tail, head])
        edge_type = torch.cat([rel, rel + num_relations])
        order = torch.argsort(dst, stable=True)
        self.num_triples = len(triples)
        self.src = src[order]
        self.edge_type = edge_type[order]
        self.triple_of_edge = torch.cat([torch.arange(len(triples)), torch.arange(len(triples))])[order]
        counts = torch.bincount(dst, minlength=num_entities)
        self.rowptr = torch.zeros(num_entities + 1, dtype=torch.long)
        self.rowptr[1:] = torch.cumsum(counts, 0)
        self.num_entities = num_entities

    def dst_of(self, edge_ids: torch.Tensor) -> torch.Tensor:
        """The destination row of each (sorted-order) edge id."""
        return torch.searchsorted(self.rowptr, edge_ids, right=True) - 1

    def sample_edges(self, nodes: torch.Tensor, fanout: int, generator: torch.Generator) -> torch.Tensor:
        """Up to ``fanout`` incoming edge ids per node, drawn with replacement then deduplicated."""
        start = self.rowptr[nodes]
        degree = self.rowptr[nodes + 1] - start
        has_edges = degree > 0
        start, degree = start[has_edges], degree[has_edges]
        draws = torch.rand((len(start), fanout), generator=generator)
        picked = start.unsqueeze(1) + (draws * degree.unsqueeze(1)).long()
        return torch.unique(picked.flatten())

    def sample_subgraph(
        self,
        seeds: torch.Tensor,
        fanouts: list[int],
        generator: torch.Generator,
        exclude_triples: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A sampled ``len(fanouts)``-hop neighbourhood of ``seeds``.

        Returns (node rows, local edge_index, edge types, local index of each seed); edges of
        ``exclude_triples`` (the triples being predicted) are left out in both directions."""
        frontier = torch.unique(seeds)
        picked = []
        for fanout in fanouts:
            edge_ids = self.sample_edges(frontier, fanout, generator)
            if exclude_triples is not None and len(edge_ids):
                edge_ids = edge_ids[~torch.isin(self.triple_of_edge[edge_ids], exclude_triples)]
            picked.append(edge_ids)
            frontier = torch.unique(self.src[edge_ids])
        edge_ids = torch.unique(torch.cat(picked)) if picked else torch.zeros(0, dtype=torch.long)
        src, dst = self.src[edge_ids], self.dst_of(edge_ids)
        nodes, inverse = torch.unique(torch.cat([seeds, src, dst]), return_inverse=True)
        n_seeds, n_edges = len(seeds), len(edge_ids)
        edge_index = torch.stack([inverse[n_seeds : n_seeds + n_edges], inverse[n_seeds + n_edges :]])
        return nodes, edge_index, self.edge_type[edge_ids], inverse[:n_seeds]

    def dst_chunks(self, max_edges: int) -> list[tuple[int, int]]:
        """Ranges of destination rows whose incoming edges number about ``max_edges`` each."""
        bounds = torch.searchsorted(self.rowptr, torch.arange(0, int(self.rowptr[-1]) + 1, max_edges))
        cuts = sorted({0, self.num_entities, *(min(int(b), self.num_entities) for b in bounds)})
        return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
