"""``kogner link INDEX_DIR MENTION... [-k K] [--type T] [--namespace P] [--document FILE]``:
link mention texts to KG entities, as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from kogner.cli import positive_int
from kogner.index import EntityIndex


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("link", help="link mention texts to KG entities (JSON)")
    parser.add_argument("index_dir")
    parser.add_argument("mentions", nargs="+")
    parser.add_argument("-k", type=positive_int, default=5, help="candidates per mention")
    parser.add_argument("--type", dest="types", action="append", help="keep only entities of this type (repeatable)")
    parser.add_argument(
        "--namespace", dest="namespaces", action="append", help="keep only entities with an id of this prefix"
    )
    parser.add_argument("--document", type=Path, help="the text the mentions come from (expands its abbreviations)")
    parser.set_defaults(func=run_link)


def run_link(args: argparse.Namespace) -> int:
    index = EntityIndex.load(args.index_dir)
    documents = [args.document.read_text()] * len(args.mentions) if args.document else None
    results = index.lookup(args.mentions, args.k, types=args.types, documents=documents, namespaces=args.namespaces)
    output = [
        {"mention": mention, "links": [dataclasses.asdict(link) for link in links]}
        for mention, links in zip(args.mentions, results, strict=True)
    ]
    print(json.dumps(output, indent=2))
    return 0
