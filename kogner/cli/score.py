"""``kogner score GOLD PRED``: strict NER (and linking) scores of two corpus files as JSON."""

from __future__ import annotations

import argparse
import json

from kogner.corpora import FORMATS, read_corpus
from kogner.datasets import get_dataset
from kogner.evaluation import score_documents


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser("score", help="strict entity-level scores of PRED against GOLD")
    score.add_argument("gold")
    score.add_argument("pred")
    score.add_argument("--format", choices=FORMATS, help="format of both files (default: guessed)")
    score.add_argument("--dataset", help="registered dataset whose id prefixes make ids comparable as CURIEs")
    score.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    prefixes = get_dataset(args.dataset).id_prefixes if args.dataset else None
    scores = score_documents(read_corpus(args.gold, args.format), read_corpus(args.pred, args.format), prefixes)
    print(json.dumps(scores, indent=2))
