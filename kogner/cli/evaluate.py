"""``kogner evaluate MODEL --dataset NAME --split test``: strict NER (+ linking) scores as JSON."""

from __future__ import annotations

import argparse
import json

from kogner.cli import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="score a KoGNER model on a registry dataset")
    parser.add_argument("model", help="model directory")
    parser.add_argument("--dataset", required=True, help="registry dataset name, e.g. ncbi-disease")
    parser.add_argument("--split", default="test")
    parser.add_argument("--data-dir", help="data directory (default: $KOGNER_DATA_DIR or ../shared/data)")
    parser.add_argument("--limit", type=positive_int, help="score only the first N documents")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument(
        "--whole-documents",
        action="store_true",
        help="read a sentence corpus in the abstracts it comes from (bc5cdr-chem, bc5cdr-disease)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kogner.datasets import get_dataset, load_dataset
    from kogner.errors import KognerError
    from kogner.model import KoGNER
    from kogner.training import evaluate_model

    dataset = get_dataset(args.dataset)
    model = KoGNER.from_pretrained(args.model, inference_only=True)
    documents = load_dataset(args.dataset, args.split, args.data_dir, args.whole_documents)[: args.limit]
    type_map = model.config.type_map
    prefixes = {type_map.get(t, t): p for t, p in dataset.id_prefixes.items()}
    types = sorted({type_map.get(t, t) for t in dataset.types} & set(model.types))
    if not types:
        raise KognerError(f"the model knows none of {args.dataset}'s types {dataset.types}")
    scores = evaluate_model(model, documents, types, prefixes, type_map, args.batch_size)
    scores.update(
        dataset=args.dataset, split=args.split, whole_documents=args.whole_documents, model_version=model.model_version
    )
    print(json.dumps(scores, indent=2))
    return 0
