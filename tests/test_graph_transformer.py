"""Graph Transformer on a real MeSH slice: sampling, forward/backward, chunked inference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from teacher_kg_slice import write_mesh_slice

from kogner.kg.schema import ENTITY_TYPES
from kogner.teacher.graph import MessageGraph, TripleGraph, load_triple_graph
from kogner.teacher.graph_transformer import GraphTransformer, train_graph_transformer


@pytest.fixture(scope="module")
def mesh_graph(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TripleGraph:
    return load_triple_graph(write_mesh_slice(data_dir, tmp_path_factory.mktemp("kg")))


def make_model(graph: TripleGraph) -> GraphTransformer:
    torch.manual_seed(0)
    return GraphTransformer(48, graph.num_relations, len(ENTITY_TYPES), hidden_dim=32, heads=4, layers=2)


def test_slice_is_a_real_tree(mesh_graph: TripleGraph) -> None:
    assert mesh_graph.num_entities > 500 and len(mesh_graph.triples) > 500
    assert mesh_graph.relations == ["is_a"]
    myocardial_infarction = mesh_graph.entity_ids.to_pylist().index("MESH:D009203")
    assert myocardial_infarction in mesh_graph.triples[:, 0].tolist()


def test_sampled_subgraph_leaves_out_predicted_triples(mesh_graph: TripleGraph) -> None:
    graph = MessageGraph(mesh_graph.triples, mesh_graph.num_entities, mesh_graph.num_relations)
    excluded = torch.arange(0, 40)
    seeds = mesh_graph.triples[excluded][:, [0, 2]].flatten()
    nodes, edge_index, edge_type, seed_local = graph.sample_subgraph(
        seeds, [50, 50], torch.Generator().manual_seed(0), excluded
    )
    assert torch.equal(nodes[seed_local], seeds)
    pairs = {(int(nodes[s]), int(nodes[d])) for s, d in edge_index.t().tolist()}
    assert pairs, "neighbourhood sampled"
    for head, _, tail in mesh_graph.triples[excluded].tolist():
        assert (head, tail) not in pairs and (tail, head) not in pairs
    assert set(edge_type.tolist()) <= {0, 1}  # is_a and its inverse


def test_forward_backward_reaches_every_parameter(mesh_graph: TripleGraph) -> None:
    model = make_model(mesh_graph)
    graph = MessageGraph(mesh_graph.triples, mesh_graph.num_entities, mesh_graph.num_relations)
    z = torch.randn(mesh_graph.num_entities, 48)
    losses = []
    train_graph_transformer(
        model,
        z,
        mesh_graph.triples,
        mesh_graph.type_codes,
        graph,
        range(30),
        64,
        [10, 5],
        2,
        5e-3,
        0.5,
        torch.Generator().manual_seed(0),
        torch.device("cpu"),
        on_step_end=lambda _step, loss: losses.append(loss),
    )
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert sum(losses[-5:]) < sum(losses[:5])


def test_chunked_inference_equals_full_graph_forward(mesh_graph: TripleGraph) -> None:
    model = make_model(mesh_graph).eval()
    graph = MessageGraph(mesh_graph.triples, mesh_graph.num_entities, mesh_graph.num_relations)
    z = torch.randn(mesh_graph.num_entities, 48)
    edge_index = torch.stack([graph.src, graph.dst_of(torch.arange(len(graph.src)))])
    with torch.no_grad():
        full = model(z, edge_index, graph.edge_type)
    chunked = model.embed_all(z, graph, torch.device("cpu"), chunk_edges=100)
    assert len(graph.dst_chunks(100)) > 5
    assert torch.allclose(full, chunked, atol=1e-5)
