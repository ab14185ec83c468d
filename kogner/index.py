"""The entity index: faiss over teacher vectors, plus an alias dictionary and alias embeddings.

An index directory holds ``entities.parquet`` (row -> entity_id, name, type),
``vectors.npy`` (teacher vectors, row order), ``teacher.faiss`` (inner product over them),
``aliases.parquet`` (normalized alias -> entity rows, alias kind), ``alias_vectors.faiss``
(encoded normalized aliases, one row per distinct normalized alias), ``xrefs.parquet``
(any id -> entity row), ``index.json`` (kinds, dims, encoder, provenance) and, for the default
static alias encoder, ``static_encoder.safetensors`` (``kogner.encoder.StaticTextEncoder``).

``search`` finds entities near teacher-space vectors; ``lookup`` links mention texts:
exact normalized-alias matches first (score 1.0), then the nearest aliases of the encoded
mention (cosine score), among the aliases of the KG types the mention allows. Entities
sharing an alias are ordered by id prefix as in ``CANONICAL_PRIORITY`` (a Disease Ontology
term not merged into its MeSH twin comes after it), then preferred names before synonyms,
then the entity with more aliases (the better described concept: for "tuberculosis",
Tuberculosis before Tuberculoma). With the mention's document, a short form defined there
(Schwartz & Hearst) is looked up by its long form.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from kogner.abbreviations import expand_in_documents
from kogner.device import autocast_dtype
from kogner.encoder import StaticTextEncoder, TextEncoder
from kogner.errors import InputFormatError
from kogner.io import atomic_dir
from kogner.kg.ids import prefix_of, priority
from kogner.kg.normalize import normalize_alias
from kogner.kg.schema import ALIAS_KINDS
from kogner.teacher.graph import manifest_sha256, read_table
from kogner.teacher.text import arrow_to_vectors

log = logging.getLogger(__name__)
FLAT_MAX = 100_000  # "auto" uses exact IndexFlatIP up to this many vectors, IVF above
# The alias index stays exact up to this many distinct aliases (1.5 GiB at 384 dims): nearest-alias
# linking needs the true neighbours. On the dev KG (587,473 aliases) IVF at nprobe 32 of 442 lists
# lost 1.4 points acc@1 on NCBI-disease, HNSW (M 32, efConstruction 64) 1.1 while answering ~30x
# faster than faiss's exact search (the PyTorch search of ``nearest`` is itself ~5x faster than
# that); ``alias_kind="hnsw"`` trades that for speed (bench/RESULTS.md, index section).
ALIAS_FLAT_MAX = 1_000_000
# The alias encoder: "static" (a subword table distilled from the text encoder on the KG's aliases,
# ~20x cheaper per mention, links as well on NCBI-disease and BC5CDR) or "contextual" (the text encoder).
ALIAS_ENCODERS = ("static", "contextual")
DISTILL_TEXTS = 200_000  # aliases the static encoder is fitted on (a seeded sample of a larger KG's)
LOOKUP_FETCH = 128  # nearest aliases a filtered lookup (types or namespaces, k <= 4) reads
NEIGHBOUR_CACHE = 100_000  # nearest-alias answers kept per loaded index (~150 MiB at 128 neighbours)
SCORE_BLOCK = 1 << 25  # query x vector scores computed at once by ``nearest`` (128 MiB of float32)
AliasRequest = tuple[str, frozenset[str] | None]  # (normalized mention text, KG types to search; None: all)
# ``nearest`` over a bf16 table: 2k + 16 candidates by bf16 products, rescored in fp32. A bf16
# product q·v is off by at most COARSE_ERROR·|q|·|v|: q and v each round to 2^-8 relative (bf16
# keeps 8 significant bits), and so does the product itself (a bf16 result): 3·2^-8 to first
# order. 2^-11 more covers the second-order terms and the fp32 sum of up to 4,096 dimensions.
COARSE_EXTRA = 16
COARSE_ERROR = 3 * 2.0**-8 + 2.0**-11


@dataclass
class Link:
    """One candidate KG entity for a query, best first."""

    entity_id: str
    name: str
    type: str
    score: float


def make_faiss_index(vectors: np.ndarray, kind: str = "auto", neighbours: int = 16) -> faiss.Index:
    """An inner-product index over ``vectors``: "flat" (exact), "ivf" (IVF-Flat) or "hnsw"; "auto" by size.

    ``neighbours``: how many neighbours a query will ask for (HNSW searches 4x as deep)."""
    n, dim = vectors.shape
    if kind == "auto":
        kind = "flat" if n <= FLAT_MAX else "ivf"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        nlist = max(1, min(int(np.sqrt(n)), n // 64))  # k-means on 64 points per list keeps training cheap
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(n, size=min(n, 64 * nlist), replace=False)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = min(32, nlist)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.hnsw.efSearch = max(64, 4 * neighbours)  # saved with the index
    else:
        raise ValueError(f"unknown index kind {kind!r} (auto, flat, ivf, hnsw)")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def map_faiss_index(path: Path) -> faiss.Index:
    """The faiss index stored at ``path``, memory-mapped: opening takes no time, pages are read on
    first use (a model that links by alias never reads the teacher index) and are shared by every
    process mapping the same file (the Beam workers of one machine). A file faiss cannot read is
    an ``InputFormatError`` naming it, not faiss's own message without the path."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError as error:
        reason = re.split(r"Error: |\.cpp:\d+: ", str(error))[-1].strip()  # without faiss's source location
        raise InputFormatError(path, None, f"not a readable faiss index ({reason})") from None


def stored_vectors(index: faiss.Index) -> torch.Tensor:
    """The vectors of an exact CPU index, as a tensor over faiss's own memory (no copy)."""
    stored = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    return torch.from_numpy(stored)


def is_exact_cpu_index(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexFlat) and index.metric_type == faiss.METRIC_INNER_PRODUCT


@dataclass(frozen=True)
class ScanTable:
    """What ``nearest`` scans in an exact CPU index: the vectors of index rows ``rows`` (None:
    all, in order), in bf16 (candidates, then rescored in fp32 from the index) or float32."""

    vectors: torch.Tensor
    rows: torch.Tensor | None = None

    @functools.cached_property
    def max_norm(self) -> float:
        return float(self.vectors.float().norm(dim=1).max()) if len(self.vectors) else 0.0


def scan_table(index: faiss.Index, rows: np.ndarray | None = None) -> ScanTable:
    """The ``ScanTable`` of an exact CPU index's ``rows`` (None: all): bf16 where the CPU computes
    bf16 natively (``kogner.device``), else float32 (all rows: faiss's own memory, no copy)."""
    vectors = stored_vectors(index)
    if rows is not None:
        vectors = vectors[torch.from_numpy(rows)]
    if autocast_dtype(torch.device("cpu")) == torch.bfloat16:
        vectors = vectors.bfloat16()
    return ScanTable(vectors, None if rows is None else torch.from_numpy(rows))


def nearest(
    index: faiss.Index, queries: np.ndarray, k: int, table: ScanTable | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows), each (queries, k), of the ``k`` vectors of ``index`` nearest each query,
    as ``index.search`` gives them (rows -1 past the index's size). An exact inner-product
    index on the CPU is searched with PyTorch instead, over ``table`` (default: all rows in
    float32): one matrix product and top-k per block of queries. The answers are the same,
    several times sooner than faiss-cpu's flat search here. A bf16 table picks the 2k + 16
    best by bf16 products, rescored in fp32: 2-2.6x sooner on a CPU with native bf16
    (bench/RESULTS.md, annotate section). The same neighbours and fp32 scores: a query where a
    vector left out could still beat its k-th (the last candidate's bf16 score plus the bf16
    error bound reaches it) is searched again in fp32. A table of some rows
    (``scan_table(index, rows)``) answers among those rows alone."""
    if not is_exact_cpu_index(index):
        return index.search(queries, k)
    table = table or ScanTable(stored_vectors(index))
    total = len(table.vectors)
    scores = np.full((len(queries), k), -np.finfo(np.float32).max, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    found = min(k, total)
    if found == 0 or len(queries) == 0:
        return scores, rows
    vectors = stored_vectors(index)
    coarse = table.vectors.dtype != torch.float32
    candidates = min(2 * found + COARSE_EXTRA, total) if coarse else found
    block = max(1, SCORE_BLOCK // max(total, candidates * index.d if coarse else 0))
    with torch.inference_mode():
        for start in range(0, len(queries), block):
            query = torch.from_numpy(queries[start : start + block])
            top = (query.to(table.vectors.dtype) @ table.vectors.T).topk(candidates, dim=1)
            picked = top.indices if table.rows is None else table.rows[top.indices]
            if coarse:
                rescored = torch.einsum("qd,qcd->qc", query, vectors[picked]).topk(found, dim=1)
                # the most a vector left out can score in fp32, to set against the k-th found
                reach = top.values[:, -1].float() + COARSE_ERROR * query.norm(dim=1) * table.max_norm
                top, picked = rescored, picked.gather(1, rescored.indices)
                unsure = (reach >= top.values[:, -1]).nonzero().flatten()
                if candidates < total and len(unsure):
                    top.values[unsure], picked[unsure] = _exact_scan(query[unsure], vectors, table.rows, found)
            scores[start : start + block, :found] = top.values.float().numpy()
            rows[start : start + block, :found] = picked.numpy()
    return scores, rows


def _exact_scan(
    queries: torch.Tensor, vectors: torch.Tensor, rows: torch.Tensor | None, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, index rows) of the ``k`` best of ``vectors`` (only ``rows`` of them, if given) by fp32 products."""
    best = (queries @ (vectors if rows is None else vectors[rows]).T).topk(k, dim=1)
    return best.values, best.indices if rows is None else rows[best.indices]


def to_device(index: faiss.Index, device: str | None) -> faiss.Index:
    """``index`` on the GPU when faiss-gpu is installed, a GPU is present and ``device`` allows it."""
    if device == "cpu" or not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return index
    if isinstance(index, faiss.IndexHNSWFlat):  # faiss has no GPU HNSW
        return index
    gpu = int(device.split(":")[1]) if device and ":" in device else 0
    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), gpu, index)


def build_index(
    teacher_dir: str | Path,
    kg_dir: str | Path | None,
    out_dir: str | Path,
    kind: str = "auto",
    encoder: str | TextEncoder | None = None,
    alias_kind: str = "auto",
    alias_encoder: str = "static",
) -> Path:
    """Build the entity index of a teacher over its KG (``kg_dir`` None = the one teacher.json names).

    ``kind`` is the teacher-vector index's kind; ``alias_kind`` the alias index's: "auto" is
    exact ("flat") up to ``ALIAS_FLAT_MAX`` distinct aliases and of ``kind`` above.
    ``alias_encoder`` (``ALIAS_ENCODERS``) embeds the aliases and, at lookup, the mentions:
    "static" is distilled here from ``encoder`` (the teacher's text encoder by default)."""
    if alias_encoder not in ALIAS_ENCODERS:
        raise ValueError(f"alias_encoder must be one of {ALIAS_ENCODERS}, got {alias_encoder!r}")
    teacher_dir, out_dir = Path(teacher_dir), Path(out_dir)
    meta_path = teacher_dir / "teacher.json"
    if not meta_path.is_file():
        raise InputFormatError(meta_path, None, "not a teacher directory (no teacher.json)")
    teacher = json.loads(meta_path.read_text())
    kg_dir = Path(kg_dir or teacher["kg_dir"])
    kg_sha = manifest_sha256(kg_dir)
    if kg_sha != teacher["kg_manifest_sha256"]:
        log.warning("KG %s differs from the one the teacher was trained on; entities are matched by id", kg_dir)
    if not isinstance(encoder, TextEncoder):
        encoder = TextEncoder(encoder or teacher["encoder"])

    vectors_table = pq.read_table(teacher_dir / "vectors.parquet")
    vectors = arrow_to_vectors(vectors_table["vector"])
    entities = read_table(kg_dir, "entities").select(["entity_id", "name", "type"])
    rows = pc.index_in(entities["entity_id"], value_set=vectors_table["entity_id"].combine_chunks())
    if pc.any(pc.is_null(rows)).as_py():
        missing = pc.filter(entities["entity_id"], pc.is_null(rows))[0].as_py()
        raise InputFormatError(teacher_dir / "vectors.parquet", missing, "KG entity has no teacher vector")
    vectors = vectors[np.asarray(rows)]
    entity_ids = entities["entity_id"].combine_chunks()

    aliases = _alias_table(kg_dir, entities, entity_ids)
    distinct = pc.unique(aliases["normalized"])
    log.info(
        "index: %d entities (%s), %d aliases, %d distinct normalized",
        len(entity_ids),
        kind,
        len(aliases),
        len(distinct),
    )
    texts = distinct.to_pylist()
    static = distill_alias_encoder(encoder, texts) if alias_encoder == "static" else None
    alias_vectors = (static or encoder).encode(texts, progress=True)
    aliases = aliases.append_column("alias_row", pc.index_in(aliases["normalized"], value_set=distinct))

    xrefs = read_table(kg_dir, "xrefs")
    xref_rows = pc.index_in(xrefs["entity_id"], value_set=entity_ids)
    xrefs = pa.table({"id": xrefs["xref_id"], "row": xref_rows}).filter(pc.is_valid(xref_rows))

    with atomic_dir(out_dir) as tmp:
        pq.write_table(entities, tmp / "entities.parquet")
        np.save(tmp / "vectors.npy", vectors)
        faiss.write_index(make_faiss_index(vectors, kind), str(tmp / "teacher.faiss"))
        if alias_kind == "auto":
            alias_kind = "flat" if len(distinct) <= ALIAS_FLAT_MAX else kind
        alias_index = make_faiss_index(alias_vectors, alias_kind, neighbours=LOOKUP_FETCH)
        faiss.write_index(alias_index, str(tmp / "alias_vectors.faiss"))
        pq.write_table(aliases, tmp / "aliases.parquet")
        pq.write_table(xrefs, tmp / "xrefs.parquet")
        if static is not None:
            static.save(tmp)
        meta = {
            "kind": kind,
            "alias_kind": alias_kind,
            "dim": int(vectors.shape[1]),
            "num_entities": len(entity_ids),
            "num_aliases": len(distinct),
            "encoder": encoder.name,
            "encoder_max_length": encoder.max_length,
            "alias_encoder": alias_encoder,
            "teacher_dir": str(teacher_dir.resolve()),
            "teacher_dims": teacher["dims"],
            "kg_dir": str(kg_dir.resolve()),
            "kg_manifest_sha256": kg_sha,
        }
        (tmp / "index.json").write_text(json.dumps(meta, indent=2))
    return out_dir


def distill_alias_encoder(encoder: TextEncoder, aliases: list[str]) -> StaticTextEncoder:
    """A static alias encoder fitted to ``encoder`` on the aliases (at most ``DISTILL_TEXTS``, a seeded sample)."""
    if len(aliases) > DISTILL_TEXTS:
        rows = np.sort(np.random.default_rng(13).choice(len(aliases), DISTILL_TEXTS, replace=False))
        aliases = [aliases[row] for row in rows]
    log.info("index: fitting the static alias encoder on %d aliases", len(aliases))
    return StaticTextEncoder.distill(encoder, aliases)


def _alias_table(kg_dir: Path, entities: pa.Table, entity_ids: pa.Array) -> pa.Table:
    """(normalized, row, rank) for every alias and every entity name, duplicates removed."""
    aliases = read_table(kg_dir, "aliases")
    preferred = pa.array(["preferred"] * len(entities))
    names = pa.table({"entity_id": entities["entity_id"], "alias": entities["name"], "kind": preferred})
    table = pa.concat_tables([names, aliases.select(["entity_id", "alias", "kind"])])
    table = table.filter(pc.is_valid(table["alias"]))
    normalized = [normalize_alias(alias) for alias in table["alias"].to_pylist()]
    rank = pc.fill_null(pc.index_in(table["kind"], value_set=pa.array(ALIAS_KINDS)), len(ALIAS_KINDS))
    out = pa.table(
        {"normalized": pa.array(normalized), "row": pc.index_in(table["entity_id"], value_set=entity_ids), "rank": rank}
    )
    out = out.filter(pc.and_(pc.is_valid(out["row"]), pc.not_equal(out["normalized"], "")))
    out = out.group_by(["normalized", "row"]).aggregate([("rank", "min")]).rename_columns(["normalized", "row", "rank"])
    return out.sort_by([("normalized", "ascending"), ("rank", "ascending"), ("row", "ascending")])


class EntityIndex:
    """A loaded index directory: teacher-space search, mention lookup, id resolution."""

    def __init__(
        self, index_dir: str | Path, device: str | None = None, encoder: TextEncoder | StaticTextEncoder | None = None
    ) -> None:
        self.path = Path(index_dir)
        meta_path = self.path / "index.json"
        if not meta_path.is_file():
            raise InputFormatError(meta_path, None, "not an entity index directory (no index.json)")
        self.meta = json.loads(meta_path.read_text())
        entities = pq.read_table(self.path / "entities.parquet")
        self.entity_ids: list[str] = entities["entity_id"].to_pylist()
        self.names: list[str] = entities["name"].to_pylist()
        self.types: list[str] = entities["type"].to_pylist()
        self.type_names = set(self.types)
        self.vectors = np.load(self.path / "vectors.npy", mmap_mode="r")
        self.teacher_index = to_device(map_faiss_index(self.path / "teacher.faiss"), device)
        self.alias_index = to_device(map_faiss_index(self.path / "alias_vectors.faiss"), device)
        aliases = pq.read_table(self.path / "aliases.parquet")
        prefix_rank = pa.array([priority(entity_id)[0] for entity_id in self.entity_ids])
        alias_count = np.bincount(aliases["row"].to_numpy(), minlength=len(self.entity_ids))
        aliases = aliases.append_column("prefix_rank", pc.take(prefix_rank, aliases["row"]))
        aliases = aliases.append_column("alias_count", pc.take(pa.array(alias_count), aliases["row"]))
        order = [
            ("prefix_rank", "ascending"),
            ("rank", "ascending"),
            ("alias_count", "descending"),
            ("row", "ascending"),
        ]
        by_alias = aliases.sort_by([("normalized", "ascending"), *order])
        self.alias_rows = self._group(by_alias["normalized"].to_pylist(), by_alias["row"].to_pylist())
        by_vector = aliases.sort_by([("alias_row", "ascending"), *order])
        self.rows_of_alias_vector = self._group(by_vector["alias_row"].to_pylist(), by_vector["row"].to_pylist())
        # The same pairs as arrays, and each entity's type: for selecting the aliases of some types at once.
        self._alias_pairs = (by_vector["alias_row"].to_numpy(), by_vector["row"].to_numpy())
        self._type_of_row = np.array(self.types)
        self.row_of_id = {entity_id: row for row, entity_id in enumerate(self.entity_ids)}
        xrefs = pq.read_table(self.path / "xrefs.parquet")
        for xref_id, row in zip(xrefs["id"].to_pylist(), xrefs["row"].to_pylist(), strict=True):
            self.row_of_id.setdefault(xref_id, row)
        self.device = device
        self._encoder = encoder
        self._ids_of_row: dict[int, list[str]] | None = None
        self._neighbour_cache: OrderedDict[AliasRequest, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._neighbour_lock = threading.Lock()
        self._alias_scans: dict[frozenset[str] | None, ScanTable] = {}
        self._scan_lock = threading.Lock()
        self._prefixes_of_row: list[set[str]] | None = None

    @classmethod
    def load(cls, index_dir: str | Path, device: str | None = None) -> EntityIndex:
        return cls(index_dir, device)

    @staticmethod
    def _group(keys: list, rows: list[int]) -> dict:
        grouped: dict = {}
        for key, row in zip(keys, rows, strict=True):
            grouped.setdefault(key, []).append(row)
        return grouped

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def encoder(self) -> TextEncoder | StaticTextEncoder:
        """The alias encoder the index was built with, loaded on first use (an index from before
        static alias encoders names none: the contextual one)."""
        if self._encoder is None:
            name, max_length = self.meta["encoder"], self.meta["encoder_max_length"]
            if self.meta.get("alias_encoder", "contextual") == "static":
                self._encoder = StaticTextEncoder.load(self.path, name, max_length)
            else:
                self._encoder = TextEncoder(name, device=self.device, max_length=max_length)
        return self._encoder

    def _alias_scan(self, types: frozenset[str] | None) -> ScanTable | None:
        """What ``nearest`` scans for mentions of KG ``types`` (None: any) in an exact CPU alias
        index: the aliases of an entity of those types, made on first use (an index used only
        for teacher vectors never pays for it); None for other alias indexes (searched whole).
        Each table is a copy of its rows: the tables of disjoint types together take about the
        alias vectors' size again in fp32, half that in bf16."""
        if not is_exact_cpu_index(self.alias_index):
            return None
        with self._scan_lock:
            if types not in self._alias_scans:
                rows = None
                if types is not None:
                    alias_rows, entity_rows = self._alias_pairs
                    of_types = np.isin(self._type_of_row, list(types))[entity_rows]
                    rows = np.unique(alias_rows[of_types]).astype(np.int64)  # sorted
                self._alias_scans[types] = scan_table(self.alias_index, rows)
            return self._alias_scans[types]

    def link(self, row: int, score: float) -> Link:
        return Link(self.entity_ids[row], self.names[row], self.types[row], float(score))

    def search(self, vectors: np.ndarray, k: int = 10) -> list[list[Link]]:
        """The ``k`` entities of highest inner product with each teacher-space vector."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"query vectors have dim {vectors.shape[1]}, the index has {self.dim}")
        scores, rows = nearest(self.teacher_index, vectors, k)
        return [
            [self.link(r, s) for r, s in zip(rs, ss, strict=True) if r >= 0]
            for rs, ss in zip(rows, scores, strict=True)
        ]

    def lookup(
        self,
        texts: Sequence[str],
        k: int = 5,
        types: Sequence[str] | None = None,
        documents: Sequence[str | None] | None = None,
        namespaces: Sequence[str] | None = None,
    ) -> list[list[Link]]:
        """Top ``k`` entities per mention text: exact normalized aliases, then alias-embedding neighbours.

        ``types`` keeps only entities of those types (None: any; empty: none); ``namespaces`` only
        entities with an id or xref of one of these prefixes (the vocabularies a corpus links to,
        e.g. MESH and OMIM).
        ``documents[i]`` is the text mention i comes from (None: unknown); short forms defined
        there are looked up by their long form."""
        return self.lookup_each(texts, [types] * len(texts), k, documents, namespaces)

    def lookup_each(
        self,
        texts: Sequence[str],
        types: Sequence[Sequence[str] | None],
        k: int = 1,
        documents: Sequence[str | None] | None = None,
        namespaces: Sequence[str] | None = None,
    ) -> list[list[Link]]:
        """``lookup`` where text i keeps only entities of ``types[i]`` (None: any). All texts
        short of ``k`` exact links share one alias-encoder pass and one search, whatever
        their types: the encoder and the search are far faster on one large batch than on many small."""
        wanted = set(namespaces) if namespaces else None
        if wanted is not None and self._prefixes_of_row is None:
            self._prefixes_of_row = [set() for _ in self.entity_ids]
            for any_id, row in self.row_of_id.items():
                self._prefixes_of_row[row].add(prefix_of(any_id))
        if documents is not None:
            texts = expand_in_documents(texts, documents)
        normalized = [normalize_alias(text) for text in texts]
        keeps: dict[frozenset[str] | None, Callable[[int], bool] | None] = {}  # one per distinct set of types
        keep_of = []
        for allowed in types:
            key = None if allowed is None else frozenset(allowed)
            if key not in keeps:
                keeps[key] = self._keeper(allowed, wanted)
            keep_of.append(keeps[key])

        def exact(query: str) -> Iterator[tuple[int, float]]:
            return ((row, 1.0) for row in self.alias_rows.get(query, []))

        results = [
            [] if keep is None else self._first_links(exact(query), k, keep)
            for query, keep in zip(normalized, keep_of, strict=True)
        ]
        # Alias embeddings only for mentions the dictionary left short of k entities. An exact
        # alias index is searched among the aliases of the types each mention allows; other
        # indexes whole, reading 4x as many neighbours to filter, as for namespaces.
        short = [i for i, links in enumerate(results) if len(links) < k and keep_of[i] is not None]
        if short:
            by_type = is_exact_cpu_index(self.alias_index)
            requests = [(normalized[i], frozenset(types[i]) if by_type and types[i] else None) for i in short]
            filtered = wanted is not None or (not by_type and any(types[i] is not None for i in short))
            if k == 1 and not filtered:
                # Every alias searched has an entity each request accepts: the nearest is the
                # answer (one neighbour, not 32: a third of linking's time in the Beam job).
                fetch = 1
            else:
                fetch = min(self.alias_index.ntotal, max(32, 8 * k) * (4 if filtered else 1))
            found = self._alias_neighbours(requests, fetch)
            for i, request in zip(short, requests, strict=True):
                scores, alias_rows = found[request]
                neighbours = (
                    (row, float(score))
                    for alias_row, score in zip(alias_rows, scores, strict=True)
                    if alias_row >= 0
                    for row in self.rows_of_alias_vector[alias_row]
                )
                results[i] = self._first_links(itertools.chain(exact(normalized[i]), neighbours), k, keep_of[i])
        return results

    def _keeper(self, types: Sequence[str] | None, wanted: set[str] | None) -> Callable[[int], bool] | None:
        """Whether an entity row may be linked to (of ``types``, None: any; with an id in one of
        the ``wanted`` namespaces, None: any); None when no entity of the index can be."""
        allowed = set(types) if types is not None else None
        if allowed is not None and allowed.isdisjoint(self.type_names):
            return None  # no entity of these types: nothing to encode or search

        def keep(row: int) -> bool:
            return (allowed is None or self.types[row] in allowed) and (
                wanted is None or not wanted.isdisjoint(self._prefixes_of_row[row])
            )

        return keep

    def _alias_neighbours(
        self, requests: Sequence[AliasRequest], fetch: int
    ) -> dict[AliasRequest, tuple[np.ndarray, np.ndarray]]:
        """(scores, alias rows) of the ``fetch`` nearest aliases of each (normalized query, KG
        types) request, among the aliases of those types (None: all). The distinct queries of
        the requests not in the cache are encoded in one pass, then searched once per set of
        types; the cache keeps the last ``NEIGHBOUR_CACHE`` answers (corpora repeat their
        mentions), each serving any request for as many neighbours or fewer. The lock guards
        the cache only: threads sharing the index (Beam may) encode and search at the same time."""
        distinct = list(dict.fromkeys(requests))
        cache = self._neighbour_cache
        with self._neighbour_lock:
            found = {r: cache[r] for r in distinct if r in cache and len(cache[r][0]) >= fetch}
        missing = [r for r in distinct if r not in found]
        if missing:
            texts = list(dict.fromkeys(query for query, _ in missing))
            vectors = self.encoder.encode(texts)
            position = {text: n for n, text in enumerate(texts)}
            by_types: dict[frozenset[str] | None, list[AliasRequest]] = {}
            for request in missing:
                by_types.setdefault(request[1], []).append(request)
            for types, group in by_types.items():
                queries = vectors[[position[query] for query, _ in group]]
                scores, alias_rows = nearest(self.alias_index, queries, fetch, self._alias_scan(types))
                found.update(zip(group, zip(scores, alias_rows, strict=True), strict=True))
        with self._neighbour_lock:
            for request, neighbours in found.items():
                cache[request] = neighbours
                cache.move_to_end(request)
            while len(cache) > NEIGHBOUR_CACHE:
                cache.popitem(last=False)
        return {r: (scores[:fetch], rows[:fetch]) for r, (scores, rows) in found.items()}

    def _first_links(self, candidates: Iterable[tuple[int, float]], k: int, keep: Callable[[int], bool]) -> list[Link]:
        """Links to the first ``k`` distinct entities of (row, score) ``candidates`` that ``keep`` accepts."""
        links: list[Link] = []
        seen: set[int] = set()
        for row, score in candidates:
            if row not in seen and keep(row):
                seen.add(row)
                links.append(self.link(row, score))
                if len(links) == k:
                    break
        return links

    def add_aliases(self, aliases: Iterable[tuple[str, str]]) -> int:
        """Put (text, entity id or xref) pairs into the exact-alias dictionary, ahead of the KG's own
        entries for the same alias, the most frequent entity of a text first (e.g. a corpus's
        training annotations, as DNorm and BioSyn use them); unknown ids are skipped and the alias
        embeddings are unchanged. Returns the number of (alias, entity) entries added."""
        counts: dict[str, Counter[int]] = {}
        for text, any_id in aliases:
            row, key = self.row_of_id.get(any_id), normalize_alias(text)
            if row is not None and key:
                counts.setdefault(key, Counter())[row] += 1
        for key, rows in counts.items():
            first = [row for row, _ in rows.most_common()]
            self.alias_rows[key] = first + [row for row in self.alias_rows.get(key, []) if row not in rows]
        return sum(len(rows) for rows in counts.values())

    def canonical_id(self, any_id: str) -> str | None:
        """The KG entity id of ``any_id`` (an entity id or one of its xrefs), None when unknown."""
        row = self.row_of_id.get(any_id)
        return None if row is None else self.entity_ids[row]

    def xrefs_of(self, entity_id: str) -> set[str]:
        """Every id that resolves to ``entity_id`` (itself included)."""
        if self._ids_of_row is None:
            self._ids_of_row = self._group(list(self.row_of_id.values()), list(self.row_of_id))
        row = self.row_of_id.get(entity_id)
        return set() if row is None else set(self._ids_of_row[row])

    def teacher_vectors(self, entity_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (n, dim), found mask (n,)): rows of ``entity_ids`` (any xref), zeros where unknown."""
        rows = np.array([self.row_of_id.get(entity_id, -1) for entity_id in entity_ids], dtype=np.int64)
        found = rows >= 0
        vectors = np.zeros((len(rows), self.dim), dtype=np.float32)
        vectors[found] = self.vectors[rows[found]]
        return vectors, found
