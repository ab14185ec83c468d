"""Train the KG teacher H = [Z; Z'; Z''] and write it atomically.

``out_dir`` receives ``vectors.parquet`` (entity_id, vector: list<float32>), ``teacher.json``
(block dims, encoder, KG manifest sha256, KG path, settings, timings) and ``checkpoints/``
(model weights). While training, checkpoints live in a work directory beside ``out_dir``
(``.{name}.work/<run key>``, removed on success) so an interrupted run resumes where it
stopped; Z is cached in ``.{name}.work`` (or ``settings.cache_dir``) and kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from kogner.device import pick_device
from kogner.io import atomic_dir, atomic_path
from kogner.kg.schema import ENTITY_TYPES
from kogner.teacher.graph import MessageGraph, TripleGraph, load_triple_graph, manifest_sha256
from kogner.teacher.graph_transformer import GraphTransformer, train_graph_transformer
from kogner.teacher.text import text_features, vectors_to_arrow
from kogner.teacher.transr import TransR, make_optimizers, train_transr

log = logging.getLogger(__name__)


@dataclass
class TeacherSettings:
    """Everything that shapes the teacher; recorded in teacher.json."""

    encoder: str | None = None  # Hugging Face path/name; None = packaged all-MiniLM-L6-v2
    max_synonyms: int = 3
    text_max_length: int = 32  # tokens; entity texts beyond it (long descriptions) are cut
    text_batch_size: int = 256
    gt_hidden_dim: int = 128
    gt_heads: int = 4
    gt_layers: int = 2
    gt_relation_dim: int = 32
    gt_steps: int = 400
    gt_batch_size: int = 512
    gt_fanouts: list[int] = field(default_factory=lambda: [10, 5])
    gt_negatives: int = 4
    gt_lr: float = 2e-3
    gt_type_weight: float = 0.5
    transr_dim: int = 64
    transr_epochs: int = 10
    transr_batch_size: int = 4096
    transr_lr: float = 0.01
    transr_margin: float = 0.5
    normalize_blocks: bool = True
    holdout_fraction: float = 0.0  # edges held out of training (written to heldout.parquet) for evaluation
    inference_chunk_edges: int = 500_000
    cache_dir: str | None = None  # where Z is cached; None = the work directory beside out_dir
    seed: int = 13
    device: str | None = None  # "cpu", "cuda", ...; None = CUDA when present

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TeacherSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown teacher settings: {sorted(unknown)}")
        return cls(**values)


def split_holdout(graph: TripleGraph, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training triples, held-out triples): a seeded random ``fraction`` of the triples held out."""
    if fraction <= 0:
        return graph.triples, graph.triples[:0]
    order = torch.randperm(len(graph.triples), generator=torch.Generator().manual_seed(seed))
    n_held = int(round(fraction * len(order)))
    return graph.triples[order[n_held:]], graph.triples[order[:n_held]]


def train_teacher(kg_dir: str | Path, out_dir: str | Path, settings: TeacherSettings | None = None) -> Path:
    """Train Z, Z', Z'' on the KG in ``kg_dir``; write the teacher to ``out_dir`` (atomically)."""
    settings = settings or TeacherSettings()
    kg_dir, out_dir = Path(kg_dir), Path(out_dir)
    started = time.monotonic()
    kg_sha = manifest_sha256(kg_dir)
    device = pick_device(settings.device)
    torch.manual_seed(settings.seed)
    run_key = hashlib.sha256(json.dumps([kg_sha, dataclasses.asdict(settings)], sort_keys=True).encode()).hexdigest()
    work_dir = out_dir.parent / f".{out_dir.name}.work" / run_key[:16]
    work_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    tick = time.monotonic()
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else work_dir.parent
    z = text_features(
        kg_dir,
        cache_dir,
        settings.encoder,
        settings.text_max_length,
        settings.text_batch_size,
        str(device),
        settings.max_synonyms,
    )
    z = torch.from_numpy(np.require(z, requirements="W"))  # the Parquet cache gives a read-only view
    timings["text_s"] = time.monotonic() - tick

    graph = load_triple_graph(kg_dir)
    train_triples, held_out = split_holdout(graph, settings.holdout_fraction, settings.seed)
    message_graph = MessageGraph(train_triples, graph.num_entities, graph.num_relations)

    tick = time.monotonic()
    gt = GraphTransformer(
        z.shape[1],
        max(graph.num_relations, 1),
        len(ENTITY_TYPES),
        settings.gt_hidden_dim,
        settings.gt_heads,
        settings.gt_layers,
        settings.gt_relation_dim,
    )
    z_prime = _train_gt(gt, z, graph, train_triples, message_graph, settings, device, work_dir)
    timings["graph_transformer_s"] = time.monotonic() - tick

    tick = time.monotonic()
    transr = TransR(graph.num_entities, max(graph.num_relations, 1), settings.transr_dim, settings.transr_dim)
    _train_transr(transr, train_triples, settings, device, work_dir)
    z_second = transr.features().cpu()
    timings["transr_s"] = time.monotonic() - tick

    blocks = [z, z_prime, z_second]
    if settings.normalize_blocks:  # unit blocks scaled so that H is a unit vector: H·H' = mean block cosine
        blocks = [F.normalize(block.float(), dim=-1) / len(blocks) ** 0.5 for block in blocks]
    vectors = torch.cat(blocks, dim=1).numpy().astype(np.float32)
    timings["total_s"] = time.monotonic() - started

    with atomic_dir(out_dir) as tmp:
        pq.write_table(
            pa.table({"entity_id": graph.entity_ids, "vector": vectors_to_arrow(vectors)}), tmp / "vectors.parquet"
        )
        if len(held_out):
            pq.write_table(_triples_table(graph, held_out), tmp / "heldout.parquet")
        shutil.copytree(work_dir / "checkpoints", tmp / "checkpoints")
        meta = {
            "dims": {"z": int(z.shape[1]), "z_prime": int(z_prime.shape[1]), "z_second": int(z_second.shape[1])},
            "dim": int(vectors.shape[1]),
            "num_entities": graph.num_entities,
            "num_triples": len(graph.triples),
            "relations": graph.relations,
            "encoder": settings.encoder or "all-MiniLM-L6-v2",
            "kg_manifest_sha256": kg_sha,
            "kg_dir": str(kg_dir.resolve()),
            "settings": dataclasses.asdict(settings),
            "device": str(device),
            "timings": timings,
        }
        (tmp / "teacher.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(work_dir, ignore_errors=True)
    log.info(
        "teacher written to %s (%d entities, dim %d) in %.0f s",
        out_dir,
        len(vectors),
        vectors.shape[1],
        timings["total_s"],
    )
    return out_dir


def _train_gt(
    model: GraphTransformer,
    z: torch.Tensor,
    graph: TripleGraph,
    train_triples: torch.Tensor,
    message_graph: MessageGraph,
    settings: TeacherSettings,
    device: torch.device,
    work_dir: Path,
) -> torch.Tensor:
    checkpoint = work_dir / "checkpoints" / "graph_transformer.pt"
    state = torch.load(checkpoint, weights_only=False) if checkpoint.is_file() else None
    done = state["step"] + 1 if state else 0
    generator = torch.Generator().manual_seed(settings.seed + done)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.gt_lr, weight_decay=1e-4)
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        log.info("Graph Transformer resumes after step %d", done)

    def save(step: int, _loss: float) -> None:
        if (step + 1) % 100 == 0 or step + 1 == settings.gt_steps:
            _save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step})

    if len(train_triples) and done < settings.gt_steps:
        train_graph_transformer(
            model,
            z,
            train_triples,
            graph.type_codes,
            message_graph,
            range(done, settings.gt_steps),
            settings.gt_batch_size,
            settings.gt_fanouts,
            settings.gt_negatives,
            settings.gt_lr,
            settings.gt_type_weight,
            generator,
            device,
            optimizer,
            save,
        )
    elif not checkpoint.is_file():
        _save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": -1})
    return model.embed_all(z, message_graph, device, settings.inference_chunk_edges)


def _train_transr(
    model: TransR, train_triples: torch.Tensor, settings: TeacherSettings, device: torch.device, work_dir: Path
) -> None:
    checkpoint = work_dir / "checkpoints" / "transr.pt"
    state = torch.load(checkpoint, weights_only=False) if checkpoint.is_file() else None
    done = state["epoch"] + 1 if state else 0
    optimizers = make_optimizers(model, settings.transr_lr)
    if state:
        model.load_state_dict(state["model"])
        for optimizer, saved in zip(optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        log.info("TransR resumes after epoch %d", done)

    def save(epoch: int, _loss: float) -> None:
        _save(
            checkpoint,
            {"model": model.state_dict(), "optimizers": [o.state_dict() for o in optimizers], "epoch": epoch},
        )

    if len(train_triples) and done < settings.transr_epochs:
        generator = torch.Generator().manual_seed(settings.seed + 1000 + done)
        train_transr(
            model,
            train_triples,
            range(done, settings.transr_epochs),
            settings.transr_batch_size,
            settings.transr_lr,
            settings.transr_margin,
            generator,
            device,
            optimizers,
            save,
        )
    elif not checkpoint.is_file():
        save(-1, 0.0)
    model.cpu()


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _triples_table(graph: TripleGraph, triples: torch.Tensor) -> pa.Table:
    head, rel, tail = (column.numpy() for column in triples.unbind(1))
    return pa.table(
        {
            "head": graph.entity_ids.take(pa.array(head)),
            "relation": pa.array(graph.relations).take(pa.array(rel)),
            "tail": graph.entity_ids.take(pa.array(tail)),
        }
    )
