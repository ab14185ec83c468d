"""Z'', TransR (Lin et al. 2015): entities and relations in separate spaces.

A triple (h, r, t) is plausible when ``h M_r + r ≈ t M_r``; its distance is
``|| c(c(h) M_r) + r - c(c(t) M_r) ||_2`` where ``c`` rescales vectors longer than 1 onto the
unit sphere (the paper's norm constraints, enforced instead of penalized). Trained
with a margin ranking loss against triples whose head or tail is replaced by a random entity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class TransR(nn.Module):
    """Entity table (N, entity_dim), relation table (R, relation_dim), projections (R, entity_dim, relation_dim)."""

    def __init__(self, num_entities: int, num_relations: int, entity_dim: int = 64, relation_dim: int = 64) -> None:
        super().__init__()
        self.entity = nn.Embedding(num_entities, entity_dim, sparse=True)
        self.relation = nn.Embedding(num_relations, relation_dim, sparse=True)
        self.projection = nn.Parameter(torch.empty(num_relations, entity_dim, relation_dim))
        nn.init.xavier_uniform_(self.entity.weight)
        nn.init.xavier_uniform_(self.relation.weight)
        with torch.no_grad():
            eye = torch.eye(entity_dim, relation_dim)
            self.projection.copy_(eye + 0.01 * torch.randn_like(self.projection))

    def project(self, entity_vectors: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """``c(e M_r)`` row by row, computed one relation at a time (no (B, d, d) gather)."""
        out = entity_vectors.new_empty(len(entity_vectors), self.projection.shape[2])
        for relation in torch.unique(relations):
            rows = (relations == relation).nonzero(as_tuple=True)[0]
            out[rows] = entity_vectors[rows] @ self.projection[relation]
        return clip_norm(out)

    def entity_vectors(self, rows: torch.Tensor) -> torch.Tensor:
        return clip_norm(self.entity(rows))

    def distance(self, triples: torch.Tensor) -> torch.Tensor:
        """The TransR distance of each (head, relation, tail) row (lower = more plausible)."""
        head, rel, tail = triples.unbind(1)
        h = self.project(self.entity_vectors(head), rel)
        t = self.project(self.entity_vectors(tail), rel)
        return (h + self.relation(rel) - t).norm(dim=-1)

    def loss(self, positives: torch.Tensor, negatives: torch.Tensor, margin: float) -> torch.Tensor:
        """Margin ranking loss: each positive should be ``margin`` closer than its negative."""
        return F.relu(margin + self.distance(positives) - self.distance(negatives)).mean()

    @torch.no_grad()
    def tail_distances(self, head: int, relation: int) -> torch.Tensor:
        """Distance of (head, relation, e) for every entity e (for ranking evaluation)."""
        m = self.projection[relation]
        h = clip_norm(self.entity_vectors(torch.tensor([head])) @ m)
        t = clip_norm(clip_norm(self.entity.weight) @ m)
        return (h + self.relation.weight[relation] - t).norm(dim=-1)

    @torch.no_grad()
    def features(self) -> torch.Tensor:
        """Z'': the (norm-clipped) entity vectors."""
        return clip_norm(self.entity.weight)


def clip_norm(vectors: torch.Tensor) -> torch.Tensor:
    """Rows longer than 1 rescaled to length 1; shorter rows unchanged."""
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1.0)


def corrupt(triples: torch.Tensor, num_entities: int, generator: torch.Generator) -> torch.Tensor:
    """A copy of ``triples`` with, per row, the head or the tail (even odds) replaced at random."""
    negatives = triples.clone()
    random_entities = torch.randint(num_entities, (len(triples),), generator=generator)
    replace_head = torch.rand(len(triples), generator=generator) < 0.5
    negatives[replace_head, 0] = random_entities[replace_head]
    negatives[~replace_head, 2] = random_entities[~replace_head]
    return negatives


def train_transr(
    model: TransR,
    triples: torch.Tensor,
    epochs: range,
    batch_size: int,
    lr: float,
    margin: float,
    generator: torch.Generator,
    device: torch.device,
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Train ``model`` in place for ``epochs`` (a range, so training can resume mid-way)."""
    model.to(device).train()
    sparse, dense = optimizers or make_optimizers(model, lr)
    num_entities = model.entity.num_embeddings
    for epoch in epochs:
        order = torch.randperm(len(triples), generator=generator)
        total, steps = 0.0, 0
        for start in tqdm(range(0, len(triples), batch_size), desc=f"TransR epoch {epoch + 1}", leave=False):
            positives = triples[order[start : start + batch_size]]
            negatives = corrupt(positives, num_entities, generator)
            loss = model.loss(positives.to(device), negatives.to(device), margin)
            sparse.zero_grad()
            dense.zero_grad()
            loss.backward()
            sparse.step()
            dense.step()
            total, steps = total + loss.item(), steps + 1
        mean_loss = total / max(steps, 1)
        log.info("TransR epoch %d/%d: loss %.4f", epoch + 1, epochs.stop, mean_loss)
        if on_epoch_end:
            on_epoch_end(epoch, mean_loss)
    return sparse, dense


def make_optimizers(model: TransR, lr: float) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """SparseAdam for the embedding tables (only touched rows move), Adam for the projections."""
    sparse = torch.optim.SparseAdam([model.entity.weight, model.relation.weight], lr=lr)
    return sparse, torch.optim.Adam([model.projection], lr=lr)
