"""``kogner corpus stats PATH`` and ``kogner corpus convert IN OUT --to FORMAT``."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from kogner.corpora import FORMATS, WRITERS, read_corpus, write_corpus


def register(subparsers: argparse._SubParsersAction) -> None:
    corpus = subparsers.add_parser("corpus", help="inspect and convert corpus files")
    commands = corpus.add_subparsers(dest="corpus_command", required=True)

    stats = commands.add_parser("stats", help="print documents, mentions and mentions by type as JSON")
    stats.add_argument("path")
    stats.add_argument("--format", choices=FORMATS, help="input format (default: guessed)")
    stats.set_defaults(func=run_stats)

    convert = commands.add_parser("convert", help="convert a corpus file to another format")
    convert.add_argument("input")
    convert.add_argument("output")
    convert.add_argument("--to", required=True, choices=sorted(WRITERS), help="output format")
    convert.add_argument("--format", choices=FORMATS, help="input format (default: guessed)")
    convert.set_defaults(func=run_convert)


def corpus_stats(path: str, format: str | None = None) -> dict:
    """Documents, passages, mentions (total and by type), relations and PubMed DeleteCitation PMIDs of a file."""
    documents = passages = relations = 0
    by_type: Counter[str] = Counter()
    deleted: list[str] = []
    for document in read_corpus(path, format, on_deleted=deleted.extend):
        documents += 1
        passages += len(document.passages)
        relations += len(document.relations)
        by_type.update(mention.type for mention in document.mentions)
    return {
        "path": path,
        "documents": documents,
        "passages": passages,
        "mentions": sum(by_type.values()),
        "mentions_by_type": dict(sorted(by_type.items())),
        "relations": relations,
        "deleted_citations": len(deleted),
    }


def run_stats(args: argparse.Namespace) -> None:
    print(json.dumps(corpus_stats(args.path, args.format), indent=2))


def run_convert(args: argparse.Namespace) -> None:
    count = write_corpus(read_corpus(args.input, args.format), args.output, args.to)
    print(json.dumps({"input": args.input, "output": args.output, "format": args.to, "documents": count}))
