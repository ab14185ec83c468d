"""Z, the text features of KG entities, cached in Parquet per (encoder, KG manifest, recipe).

The entity text is ``"{name} ({type}): {synonym}; {synonym}; {synonym}. {description}"``:
the preferred name, the entity type, up to ``max_synonyms`` other aliases (exact kinds
first, then shorter ones) and the description, truncated by the encoder's ``max_length``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kogner.device import autocast_dtype, pick_device
from kogner.encoder import DEFAULT_ENCODER, TextEncoder
from kogner.io import atomic_path
from kogner.kg.schema import ALIAS_KINDS
from kogner.teacher.graph import manifest_sha256, read_table

log = logging.getLogger(__name__)
TEXT_RECIPE = "name-type-synonyms-description/v1"


def top_synonyms(kg_dir: str | Path, max_synonyms: int) -> dict[str, list[str]]:
    """Per entity id, up to ``max_synonyms`` aliases other than the name, best kinds first."""
    aliases = read_table(kg_dir, "aliases").select(["entity_id", "alias", "kind"])
    aliases = aliases.filter(pc.not_equal(aliases["kind"], "preferred"))
    rank = pc.fill_null(pc.index_in(aliases["kind"], value_set=pa.array(ALIAS_KINDS)), len(ALIAS_KINDS))
    aliases = aliases.append_column("rank", rank).append_column("length", pc.utf8_length(aliases["alias"]))
    aliases = aliases.sort_by([("entity_id", "ascending"), ("rank", "ascending"), ("length", "ascending")])
    synonyms: dict[str, list[str]] = {}
    for entity_id, alias in zip(aliases["entity_id"].to_pylist(), aliases["alias"].to_pylist(), strict=True):
        chosen = synonyms.setdefault(entity_id, [])
        if len(chosen) < max_synonyms and alias not in chosen:
            chosen.append(alias)
    return synonyms


def entity_texts(kg_dir: str | Path, max_synonyms: int = 3) -> list[str]:
    """The documented entity text of every entity, in the order of the ``entities`` table."""
    entities = read_table(kg_dir, "entities")
    synonyms = top_synonyms(kg_dir, max_synonyms)
    texts = []
    for entity_id, name, type_, description in zip(
        *(entities[c].to_pylist() for c in ("entity_id", "name", "type", "description")), strict=True
    ):
        text = f"{name or entity_id} ({type_ or 'Other'})"
        if synonyms.get(entity_id):
            text += ": " + "; ".join(synonyms[entity_id])
        if description:
            text += ". " + description
        texts.append(text)
    return texts


def text_features(
    kg_dir: str | Path,
    cache_dir: str | Path,
    encoder: str | None = None,
    max_length: int = 64,
    batch_size: int = 256,
    device: str | None = None,
    max_synonyms: int = 3,
) -> np.ndarray:
    """Z for every entity (float32, L2-normalized), from the Parquet cache when it is there.

    The encoder is loaded only when the cache misses."""
    encoder_name = encoder or DEFAULT_ENCODER
    precision = autocast_dtype(pick_device(device))
    key_text = f"{encoder_name}|{max_length}|{manifest_sha256(kg_dir)}|{TEXT_RECIPE}|{max_synonyms}|{precision}"
    key = hashlib.sha256(key_text.encode()).hexdigest()[:20]
    cache = Path(cache_dir) / f"text-features-{key}.parquet"
    if cache.is_file():
        log.info("text features from cache %s", cache)
        return arrow_to_vectors(pq.read_table(cache, columns=["vector"])["vector"])
    texts = entity_texts(kg_dir, max_synonyms)
    log.info("encoding %d entity texts with %s", len(texts), encoder_name)
    text_encoder = TextEncoder(encoder, device=device, max_length=max_length, batch_size=batch_size)
    vectors = text_encoder.encode(texts, progress=True)
    entity_ids = read_table(kg_dir, "entities")["entity_id"]
    with atomic_path(cache) as tmp:
        pq.write_table(pa.table({"entity_id": entity_ids, "vector": vectors_to_arrow(vectors)}), tmp)
    return vectors


def vectors_to_arrow(vectors: np.ndarray) -> pa.ListArray:
    """A ``list<float32>`` column holding the rows of ``vectors``."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def arrow_to_vectors(column: pa.ChunkedArray | pa.ListArray) -> np.ndarray:
    """The inverse of :func:`vectors_to_arrow` (rows must share one length)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return column.values.to_numpy().reshape(len(column), -1).astype(np.float32, copy=False)
