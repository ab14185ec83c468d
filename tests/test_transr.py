"""TransR: distance and loss on hand-set weights, corruption, and learning a tiny graph."""

from __future__ import annotations

import math

import torch

from kogner.teacher.transr import TransR, corrupt, train_transr


def hand_set_model() -> TransR:
    """Entities e0=(1,0), e1=(0,1), e2=(-1,0); one relation r=(-1,1) with identity projection."""
    model = TransR(num_entities=3, num_relations=1, entity_dim=2, relation_dim=2)
    with torch.no_grad():
        model.entity.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
        model.relation.weight.copy_(torch.tensor([[-1.0, 1.0]]))
        model.projection.copy_(torch.eye(2).unsqueeze(0))
    return model


def test_distance_is_zero_for_an_exact_translation_and_known_otherwise() -> None:
    model = hand_set_model()
    distances = model.distance(torch.tensor([[0, 0, 1], [0, 0, 0], [0, 0, 2]]))
    # e0 + r = (0,1) = e1; (0,1) - e0 = (-1,1); (0,1) - e2 = (1,1)
    assert torch.allclose(distances, torch.tensor([0.0, math.sqrt(2), math.sqrt(2)]), atol=1e-6)
    assert torch.allclose(model.tail_distances(0, 0), distances[[1, 0, 2]], atol=1e-6)


def test_margin_loss() -> None:
    model = hand_set_model()
    positives, negatives = torch.tensor([[0, 0, 1]]), torch.tensor([[0, 0, 2]])
    assert model.loss(positives, negatives, margin=1.0).item() == 0.0  # sqrt(2) > 0 + 1
    assert math.isclose(model.loss(positives, negatives, margin=2.0).item(), 2 - math.sqrt(2), rel_tol=1e-5)
    assert math.isclose(model.loss(negatives, positives, margin=0.5).item(), 0.5 + math.sqrt(2), rel_tol=1e-5)


def test_corrupt_replaces_exactly_one_end() -> None:
    triples = torch.tensor([[0, 1, 2]] * 200)
    negatives = corrupt(triples, 1000, torch.Generator().manual_seed(0))
    assert torch.equal(negatives[:, 1], triples[:, 1])
    head_changed = negatives[:, 0] != 0
    tail_changed = negatives[:, 2] != 2
    assert not (head_changed & tail_changed).any()
    assert 60 < int(head_changed.sum()) < 140 and 60 < int(tail_changed.sum()) < 140


def test_training_ranks_true_tails_first() -> None:
    """36 entities: r0 maps i -> 12+i and r1 maps i -> 24+i for heads i < 12 (one-to-one)."""
    torch.manual_seed(0)
    triples = torch.tensor([[i, 0, 12 + i] for i in range(12)] + [[i, 1, 24 + i] for i in range(12)])
    model = TransR(36, 2, entity_dim=16, relation_dim=16)
    train_transr(model, triples, range(300), 64, 0.02, 0.5, torch.Generator().manual_seed(0), torch.device("cpu"))
    hits = sum(int(model.tail_distances(h, r).argmin()) == t for h, r, t in triples.tolist())
    assert hits >= 0.9 * len(triples)
