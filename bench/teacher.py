"""Teacher benchmark: training time / peak RSS, held-out link prediction, linear type probes.

    nice -n 10 .venv/bin/python bench/teacher.py KG_DIR OUT_DIR [--set gt_steps=400 ...]
    nice -n 10 .venv/bin/python bench/teacher.py --synthetic 1000000 10000000 OUT_DIR

With a KG: trains with 5% of the triples held out, then reports filtered MRR / Hits@10 of
TransR and of the Graph Transformer's DistMult predictor on (up to 1000) held-out tails
against random ranking, and the entity-type accuracy of a linear probe on Z, Z', Z'', H.
``--synthetic N E`` times Graph Transformer and TransR training plus full-graph Z' inference
on a random KG of N entities / E triples (random 384-d Z: text encoding is not timed).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kogner.kg.schema import ENTITY_TYPES  # noqa: E402
from kogner.teacher import TeacherSettings, train_teacher  # noqa: E402
from kogner.teacher.graph import MessageGraph, load_triple_graph  # noqa: E402
from kogner.teacher.graph_transformer import GraphTransformer, train_graph_transformer  # noqa: E402
from kogner.teacher.text import arrow_to_vectors  # noqa: E402
from kogner.teacher.transr import TransR, train_transr  # noqa: E402

log = logging.getLogger("bench.teacher")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def filtered_ranks(score_tails, queries: torch.Tensor, known: dict[tuple[int, int], set[int]]) -> np.ndarray:
    """Rank of each true tail among all entities (higher score = better), other known tails removed."""
    ranks = []
    for head, rel, tail in queries.tolist():
        scores = score_tails(head, rel).clone()
        target = scores[tail].item()
        others = [t for t in known[(head, rel)] if t != tail]
        scores[others] = -float("inf")
        ranks.append(int((scores > target).sum()) + 1)
    return np.array(ranks)


def summarize(ranks: np.ndarray) -> dict[str, float]:
    return {"mrr": float(np.mean(1 / ranks)), "hits@10": float(np.mean(ranks <= 10))}


def random_baseline(queries: torch.Tensor, known: dict, n: int) -> dict[str, float]:
    """Expected filtered MRR / Hits@10 of a uniformly random ranking."""
    candidates = np.array([n - len(known[(h, r)]) + 1 for h, r, _ in queries.tolist()])
    harmonic = np.log(candidates) + 0.5772 + 1 / (2 * candidates)
    return {
        "mrr": float(np.mean(harmonic / candidates)),
        "hits@10": float(np.mean(np.minimum(10, candidates) / candidates)),
    }


def linear_probe(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Test accuracy of a softmax-regression probe (80/20 split, full-batch Adam)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    cut = int(0.8 * len(order))
    x = torch.from_numpy(features).float()
    y = torch.from_numpy(labels).long()
    train, test = torch.from_numpy(order[:cut]), torch.from_numpy(order[cut:])
    probe = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(probe(x[train]), y[train]).backward()
        optimizer.step()
    return float((probe(x[test]).argmax(1) == y[test]).float().mean())


def bench_kg(kg_dir: Path, out_dir: Path, overrides: dict) -> dict:
    settings = TeacherSettings.from_dict({"holdout_fraction": 0.05, **overrides})
    started = time.monotonic()
    if not (out_dir / "teacher.json").is_file():  # an existing teacher is evaluated, not retrained
        train_teacher(kg_dir, out_dir, settings)
    result: dict = {"train_s": time.monotonic() - started, "train_peak_rss_mib": peak_rss_mib()}
    meta = json.loads((out_dir / "teacher.json").read_text())
    result["teacher"] = {k: meta[k] for k in ("dims", "num_entities", "num_triples", "timings")}

    graph = load_triple_graph(kg_dir)
    ids = {entity_id: row for row, entity_id in enumerate(graph.entity_ids.to_pylist())}
    relations = {name: code for code, name in enumerate(graph.relations)}
    held = pq.read_table(out_dir / "heldout.parquet").to_pylist()
    held = torch.tensor([[ids[t["head"]], relations[t["relation"]], ids[t["tail"]]] for t in held])
    known: dict[tuple[int, int], set[int]] = {}
    for head, rel, tail in graph.triples.tolist():
        known.setdefault((head, rel), set()).add(tail)
    queries = held[torch.randperm(len(held), generator=torch.Generator().manual_seed(0))[:1000]]
    held_set = {tuple(t) for t in held.tolist()}
    train_triples = torch.tensor([t for t in graph.triples.tolist() if tuple(t) not in held_set])

    transr = TransR(graph.num_entities, graph.num_relations, settings.transr_dim, settings.transr_dim)
    transr.load_state_dict(torch.load(out_dir / "checkpoints" / "transr.pt", weights_only=False)["model"])
    result["transr"] = summarize(filtered_ranks(lambda h, r: -transr.tail_distances(h, r), queries, known))

    vectors = arrow_to_vectors(pq.read_table(out_dir / "vectors.parquet")["vector"])
    dims = meta["dims"]
    z = torch.from_numpy(vectors[:, : dims["z"]] * np.float32(np.sqrt(3)))  # Z is unit-norm before block scaling
    gt = GraphTransformer(
        dims["z"],
        graph.num_relations,
        len(ENTITY_TYPES),
        settings.gt_hidden_dim,
        settings.gt_heads,
        settings.gt_layers,
        settings.gt_relation_dim,
    )
    gt.load_state_dict(torch.load(out_dir / "checkpoints" / "graph_transformer.pt", weights_only=False)["model"])
    message_graph = MessageGraph(train_triples, graph.num_entities, graph.num_relations)
    z_prime = gt.embed_all(z, message_graph, torch.device("cpu"))

    def gt_scores(head: int, rel: int) -> torch.Tensor:
        with torch.no_grad():
            return gt.link_score(z_prime[head].expand_as(z_prime), torch.full((len(z_prime),), rel), z_prime)

    result["graph_transformer"] = summarize(filtered_ranks(gt_scores, queries, known))
    result["random"] = random_baseline(queries, known, graph.num_entities)
    result["link_queries"] = len(queries)

    labels = graph.type_codes.numpy()
    blocks = np.cumsum([0, dims["z"], dims["z_prime"], dims["z_second"]])
    sample = np.random.default_rng(0).permutation(len(labels))[:50_000]
    result["type_probe_accuracy"] = {
        name: linear_probe(vectors[sample, a:b], labels[sample])
        for name, a, b in [
            ("Z", 0, blocks[1]),
            ("Z'", blocks[1], blocks[2]),
            ("Z''", blocks[2], blocks[3]),
            ("H", 0, blocks[3]),
        ]
    }
    result["majority_type_share"] = float(np.bincount(labels[sample]).max() / len(sample))
    return result


def bench_synthetic(num_entities: int, num_triples: int, settings: TeacherSettings) -> dict:
    """Train both graph models and infer Z' on a random KG (power-law-ish heads, 20 relations)."""
    generator = torch.Generator().manual_seed(0)
    started = time.monotonic()
    heads = (torch.rand(num_triples, generator=generator) ** 2 * num_entities).long()
    triples = torch.stack(
        [
            heads,
            torch.randint(20, (num_triples,), generator=generator),
            torch.randint(num_entities, (num_triples,), generator=generator),
        ],
        dim=1,
    )
    z = torch.randn(num_entities, 384, generator=generator)
    types = torch.randint(len(ENTITY_TYPES), (num_entities,), generator=generator)
    graph = MessageGraph(triples, num_entities, 20)
    result = {"entities": num_entities, "triples": num_triples, "setup_s": time.monotonic() - started}
    gt = GraphTransformer(384, 20, len(ENTITY_TYPES), settings.gt_hidden_dim, settings.gt_heads, settings.gt_layers)
    tick = time.monotonic()
    train_graph_transformer(
        gt,
        z,
        triples,
        types,
        graph,
        range(settings.gt_steps),
        settings.gt_batch_size,
        settings.gt_fanouts,
        settings.gt_negatives,
        settings.gt_lr,
        settings.gt_type_weight,
        generator,
        torch.device("cpu"),
    )
    result["gt_train_s"] = time.monotonic() - tick
    tick = time.monotonic()
    gt.embed_all(z, graph, torch.device("cpu"), settings.inference_chunk_edges)
    result["gt_inference_s"] = time.monotonic() - tick
    tick = time.monotonic()
    transr = TransR(num_entities, 20, settings.transr_dim, settings.transr_dim)
    train_transr(
        transr,
        triples,
        range(settings.transr_epochs),
        settings.transr_batch_size,
        settings.transr_lr,
        settings.transr_margin,
        generator,
        torch.device("cpu"),
    )
    result["transr_train_s"] = time.monotonic() - tick
    result["total_s"] = time.monotonic() - started
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="KG_DIR OUT_DIR, or N E OUT_DIR with --synthetic")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    overrides = {name: json.loads(value) for name, _, value in (s.partition("=") for s in args.set)}
    if args.synthetic:
        n, e, out = int(args.paths[0]), int(args.paths[1]), Path(args.paths[2])
        result = bench_synthetic(n, e, TeacherSettings.from_dict(overrides))
    else:
        out = Path(args.paths[1])
        result = bench_kg(Path(args.paths[0]), out, overrides)
    result["settings_overrides"] = overrides
    text = json.dumps(result, indent=2)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out.parent / f"{out.name}.bench.json").write_text(text)


if __name__ == "__main__":
    main()
