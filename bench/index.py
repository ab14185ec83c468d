"""Entity-index benchmark: linking accuracy with gold mentions, faiss build time and throughput.

    nice -n 10 .venv/bin/python bench/index.py link TEACHER_DIR INDEX_DIR [--kg KG_DIR] [--split dev]
        [--misses FILE] [--train-dictionary] [--alias-encoder static|contextual]
    nice -n 10 .venv/bin/python bench/index.py faiss --n 1000000 --dim 576

``link`` builds the index (unless INDEX_DIR holds one already, which is then reused; with
``--alias-encoder``, default static) and
scores ``lookup`` on the gold mentions of NCBI-disease test and BC5CDR test: a prediction is
correct when a gold id is the predicted entity's id or one of its xrefs (``canonical_id``);
acc@1 / acc@5 with the mention's document passed (abbreviations defined there expanded) and
without it, the mention's dataset type mapped onto KG types, beside exact
normalized-dictionary matching. ``--misses`` writes the acc@1 misses (with document) as JSON lines.
``--train-dictionary`` scores each corpus a second time (reported apart, "DATASET+train-dictionary")
with the single-id gold mentions of its own train and dev splits (train alone with ``--split
dev``, which scores the dev mentions instead of the test ones) added to the exact dictionary.
``faiss`` times building flat and IVF indexes over N random unit vectors and k=10 queries/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple, TextIO

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kogner.datasets import DATASETS, load_dataset, to_curie  # noqa: E402
from kogner.index import ALIAS_ENCODERS, EntityIndex, build_index, make_faiss_index  # noqa: E402
from kogner.kg.normalize import normalize_alias  # noqa: E402
from kogner.kg.schema import linkable_types  # noqa: E402

log = logging.getLogger("bench.index")
# The vocabularies each corpus is annotated with (NCBI-disease: MEDIC, i.e. MeSH + OMIM; BC5CDR: MeSH)
NAMESPACES = {"ncbi-disease": ["MESH", "OMIM"], "bc5cdr": ["MESH"]}


class GoldMention(NamedTuple):
    """A gold mention with ids, and the text of its document."""

    text: str
    type: str
    ids: list[str]
    document: str


def gold_mentions(dataset: str, split: str = "test") -> list[GoldMention]:
    """Every mention of ``split`` that has ids, with its gold CURIEs and its document's text."""
    prefixes = DATASETS[dataset].id_prefixes
    mentions = []
    for document in load_dataset(dataset, split):
        text = document.text
        for mention in document.mentions:
            ids = [to_curie(i, prefixes.get(mention.type)) for i in mention.ids if i and i != "-1"]
            if ids:
                mentions.append(GoldMention(mention.text, mention.type, ids, text))
    return mentions


def training_aliases(dataset: str, splits: tuple[str, ...]) -> list[tuple[str, str]]:
    """(text, gold CURIE) of the mentions of ``dataset``'s ``splits`` that name one entity."""
    prefixes = DATASETS[dataset].id_prefixes
    aliases = []
    for split in splits:
        for document in load_dataset(dataset, split):
            for mention in document.mentions:
                ids = [i for i in mention.ids if i and i != "-1"]
                if len(ids) == 1:
                    aliases.append((mention.text, to_curie(ids[0], prefixes.get(mention.type))))
    return aliases


def linking_accuracy(index: EntityIndex, dataset: str, split: str = "test", misses: TextIO | None = None) -> dict:
    """acc@1/@5 of ``lookup`` with and without the documents, exact-dictionary acc@1, per type too."""
    mentions = gold_mentions(dataset, split)
    resolvable = sum(any(index.canonical_id(g) for g in m.ids) for m in mentions)
    counts: Counter[str] = Counter()  # hits per measure
    typed: Counter[str] = Counter()  # acc@1 hits (with documents) per dataset type
    started = time.monotonic()
    by_type: dict[str, list[int]] = {}
    for i, mention in enumerate(mentions):
        by_type.setdefault(mention.type, []).append(i)
    namespaces = NAMESPACES[dataset]
    for mention_type, rows in by_type.items():
        # as the model links them: every dataset type here but Chemical is a kind of disease
        types = linkable_types("Chemical" if mention_type == "Chemical" else "Disease")
        texts = [mentions[i].text for i in rows]
        alone = index.lookup(texts, k=5, types=types, namespaces=namespaces)
        documents = [mentions[i].document for i in rows]
        in_context = index.lookup(texts, k=5, types=types, documents=documents, namespaces=namespaces)
        for i, links, context_links in zip(rows, alone, in_context, strict=True):
            mention = mentions[i]
            gold = {index.canonical_id(g) or g for g in mention.ids}
            exact = [r for r in index.alias_rows.get(normalize_alias(mention.text), []) if index.types[r] in types]
            counts["exact_dictionary_acc@1"] += bool(exact) and index.entity_ids[exact[0]] in gold
            for key, found in (("", context_links), ("mention_only_", links)):
                predicted = [link.entity_id for link in found]
                counts[f"{key}acc@1"] += bool(predicted) and predicted[0] in gold
                counts[f"{key}acc@5"] += any(p in gold for p in predicted)
            hit = bool(context_links) and context_links[0].entity_id in gold
            typed[mention_type] += hit
            if misses is not None and not hit:
                row = {"dataset": dataset, "text": mention.text, "type": mention_type, "gold": sorted(gold)}
                row["gold_names"] = [index.names[index.row_of_id[g]] for g in gold if g in index.row_of_id]
                row["predicted"] = [(link.entity_id, link.name, round(link.score, 3)) for link in context_links]
                misses.write(json.dumps(row) + "\n")
    result: dict = {"mentions": len(mentions), "gold_id_in_kg": resolvable / len(mentions)}
    result |= {key: hits / len(mentions) for key, hits in sorted(counts.items())}
    result["acc@1_by_type"] = {t: typed[t] / len(rows) for t, rows in by_type.items()}
    result["lookup_s"] = time.monotonic() - started  # both lookups
    return result


def bench_link(
    teacher_dir: Path,
    index_dir: Path,
    kg_dir: Path | None,
    split: str = "test",
    misses: Path | None = None,
    train_dictionary: bool = False,
    alias_encoder: str = "static",
) -> dict:
    result: dict = {}
    if not (index_dir / "index.json").is_file():
        started = time.monotonic()
        build_index(teacher_dir, kg_dir, index_dir, alias_encoder=alias_encoder)
        result["build_s"] = time.monotonic() - started
        result["build_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    index = EntityIndex.load(index_dir, device="cpu")
    result["index"] = index.meta
    with misses.open("w") if misses else contextlib.nullcontext() as out:
        for dataset in ("ncbi-disease", "bc5cdr"):
            result[dataset] = linking_accuracy(index, dataset, split, out)
            log.info("%s: %s", dataset, result[dataset])
            if train_dictionary:
                kg_only = dict(index.alias_rows)  # add_aliases replaces entries: restored for the next corpus
                added = index.add_aliases(training_aliases(dataset, ("train",) if split == "dev" else ("train", "dev")))
                key = f"{dataset}+train-dictionary"
                result[key] = {"dictionary_entries_added": added} | linking_accuracy(index, dataset, split)
                log.info("%s: %s", key, result[key])
                index.alias_rows = kg_only
    return result


def bench_faiss(n: int, dim: int, queries: int = 2000) -> dict:
    faiss.omp_set_num_threads(2)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sources = rng.choice(n, queries, replace=False)  # queries: stored vectors moved by ~5% of their length
    query = vectors[sources] + 0.05 / np.sqrt(dim) * rng.standard_normal((queries, dim), dtype=np.float32)
    result: dict = {"n": n, "dim": dim, "queries": queries, "threads": 2}
    truth = None
    for kind in ("flat", "ivf"):
        started = time.monotonic()
        index = make_faiss_index(vectors, kind)
        build_s = time.monotonic() - started
        started = time.monotonic()
        _, rows = index.search(query, 10)
        search_s = time.monotonic() - started
        truth = rows if kind == "flat" else truth
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth, strict=True)]))
        result[kind] = {
            "build_s": build_s,
            "queries_per_s": queries / search_s,
            "recall@10_vs_flat": recall,  # random data has no clusters: the hard case for IVF
            "source_found@1": float(np.mean(rows[:, 0] == sources)),
        }
        log.info("%s: %s", kind, result[kind])
        del index
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    link = commands.add_parser("link")
    link.add_argument("teacher_dir", type=Path)
    link.add_argument("index_dir", type=Path)
    link.add_argument("--kg", type=Path)
    link.add_argument("--split", default="test", choices=["test", "dev"], help="dev: for choosing settings")
    link.add_argument("--misses", type=Path, help="write the acc@1 misses here (JSON lines)")
    link.add_argument("--train-dictionary", action="store_true", help="also score with train+dev aliases added")
    link.add_argument("--alias-encoder", default="static", choices=ALIAS_ENCODERS, help="for an index built here")
    speed = commands.add_parser("faiss")
    speed.add_argument("--n", type=int, default=1_000_000)
    speed.add_argument("--dim", type=int, default=576)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "link":
        result = bench_link(
            args.teacher_dir,
            args.index_dir,
            args.kg,
            args.split,
            args.misses,
            args.train_dictionary,
            args.alias_encoder,
        )
    else:
        result = bench_faiss(args.n, args.dim)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
