"""Z', a Graph Transformer over the KG: TransformerConv layers with relation-type edge features.

Input features are Z (text); each layer is a multi-head ``TransformerConv`` whose attention
and messages see a learned embedding of the edge's relation type (``edge_dim``), followed by
a residual connection and LayerNorm. Self-supervised heads: DistMult link prediction and
entity-type classification. Training runs on sampled neighbourhoods
(:meth:`MessageGraph.sample_subgraph`); inference propagates layer by layer over chunks of
destination nodes, so neither needs pyg-lib or torch-sparse and memory stays bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import TransformerConv
from tqdm.auto import tqdm

from kogner.device import autocast
from kogner.teacher.graph import MessageGraph

log = logging.getLogger(__name__)


class GraphTransformer(nn.Module):
    """Z -> Z' encoder with link-prediction and entity-type heads."""

    def __init__(
        self,
        in_dim: int,
        num_relations: int,
        num_types: int,
        hidden_dim: int = 128,
        heads: int = 4,
        layers: int = 2,
        relation_dim: int = 32,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.input = nn.Linear(in_dim, hidden_dim)
        # Message-passing edges carry relation r (head->tail) or its inverse r + R (tail->head).
        self.edge_relation = nn.Embedding(2 * num_relations, relation_dim)
        self.convs = nn.ModuleList(
            TransformerConv(hidden_dim, hidden_dim // heads, heads=heads, edge_dim=relation_dim, dropout=dropout)
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(layers))
        self.dropout = dropout
        self.link_relation = nn.Embedding(num_relations, hidden_dim)
        nn.init.ones_(self.link_relation.weight)
        self.type_head = nn.Linear(hidden_dim, num_types)

    def layer(
        self, i: int, x_src: torch.Tensor, x_dst: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor
    ) -> torch.Tensor:
        """Layer ``i`` for destination nodes ``x_dst`` given source nodes ``x_src`` (bipartite)."""
        message = self.convs[i]((x_src, x_dst), edge_index, self.edge_relation(edge_type))
        out = self.norms[i](x_dst + F.dropout(F.gelu(message), self.dropout, self.training))
        return out

    def forward(self, z: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        """Z' of every node of a (sub)graph."""
        x = self.input(z)
        for i in range(len(self.convs)):
            x = self.layer(i, x, x, edge_index, edge_type)
        return x

    def link_score(self, head: torch.Tensor, relation: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        """DistMult logit of (head, relation, tail) from their Z' vectors, scaled by 1/sqrt(dim)."""
        return (head * self.link_relation(relation) * tail).sum(-1) / head.shape[-1] ** 0.5

    @torch.no_grad()
    def embed_all(
        self, z: torch.Tensor, graph: MessageGraph, device: torch.device, chunk_edges: int = 500_000
    ) -> torch.Tensor:
        """Z' of every entity by layer-wise propagation over destination chunks of the full graph."""
        self.eval()
        x = torch.cat([self.input(z[a:b].to(device)).cpu() for a, b in _ranges(len(z), 65536)])
        for i in range(len(self.convs)):
            out = torch.empty_like(x)
            for a, b in tqdm(graph.dst_chunks(chunk_edges), desc=f"Z' layer {i + 1}", leave=False):
                lo, hi = int(graph.rowptr[a]), int(graph.rowptr[b])
                src_rows, src_local = torch.unique(graph.src[lo:hi], return_inverse=True)
                dst_local = graph.dst_of(torch.arange(lo, hi)) - a
                with autocast(device, cpu=False):
                    out[a:b] = (
                        self.layer(
                            i,
                            x[src_rows].to(device),
                            x[a:b].to(device),
                            torch.stack([src_local, dst_local]).to(device),
                            graph.edge_type[lo:hi].to(device),
                        )
                        .float()
                        .cpu()
                    )
            x = out
        return x


def _ranges(n: int, step: int) -> list[tuple[int, int]]:
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def train_graph_transformer(
    model: GraphTransformer,
    z: torch.Tensor,
    triples: torch.Tensor,
    type_codes: torch.Tensor,
    graph: MessageGraph,
    steps: range,
    batch_size: int,
    fanouts: list[int],
    negatives: int,
    lr: float,
    type_weight: float,
    generator: torch.Generator,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    on_step_end: Callable[[int, float], None] | None = None,
) -> torch.optim.Optimizer:
    """Self-supervised training on sampled subgraphs around batches of triples.

    Per step: ``batch_size`` triples, ``negatives`` random tails per triple, the sampled
    neighbourhood of every node involved with the predicted triples removed from message
    passing; loss = BCE(link) + ``type_weight`` * CE(entity type of the seeds)."""
    model.to(device).train()
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    num_entities = len(z)
    progress = tqdm(steps, desc="Graph Transformer", leave=False)
    for step in progress:
        batch_ids = torch.randint(len(triples), (batch_size,), generator=generator)
        head, rel, tail = triples[batch_ids].unbind(1)
        fake_tails = torch.randint(num_entities, (batch_size * negatives,), generator=generator)
        seeds = torch.cat([head, tail, fake_tails])
        nodes, edge_index, edge_type, seed_local = graph.sample_subgraph(seeds, fanouts, generator, batch_ids)
        with autocast(device, cpu=False):
            x = model(z[nodes].to(device), edge_index.to(device), edge_type.to(device))
        x = x.float()
        h_local, t_local, f_local = seed_local.to(device).split([batch_size, batch_size, batch_size * negatives])
        rel = rel.to(device)
        positive = model.link_score(x[h_local], rel, x[t_local])
        negative = model.link_score(x[h_local].repeat(negatives, 1), rel.repeat(negatives), x[f_local])
        logits = torch.cat([positive, negative])
        labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)])
        link_loss = F.binary_cross_entropy_with_logits(logits, labels)
        type_loss = F.cross_entropy(model.type_head(x), type_codes[nodes].to(device))
        loss = link_loss + type_weight * type_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        progress.set_postfix(link=f"{link_loss.item():.3f}", type=f"{type_loss.item():.3f}")
        if (step + 1) % 50 == 0 or step + 1 == steps.stop:
            log.info(
                "Graph Transformer step %d/%d: link %.4f type %.4f",
                step + 1,
                steps.stop,
                link_loss.item(),
                type_loss.item(),
            )
        if on_step_end:
            on_step_end(step, loss.item())
    return optimizer
