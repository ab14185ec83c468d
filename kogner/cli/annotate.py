"""``kogner annotate MODEL FILE...``: annotate corpus files (or ``-``: plain text on stdin,
one document per non-empty line) and write the documents with predicted, linked mentions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from kogner.cli import positive_int, probability
from kogner.documents import Document

FORMATS = {"jsonl": "jsonl", "pubtator": "pubtator", "bioc": "bioc-xml"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("annotate", help="annotate documents with a KoGNER model")
    parser.add_argument("model", help="model directory")
    parser.add_argument("files", nargs="+", help="corpus files (any read_corpus format) or - for stdin text")
    parser.add_argument("--format", choices=sorted(FORMATS), default="jsonl", help="output format")
    parser.add_argument("--input-format", help="format of the input files (default: guessed)")
    parser.add_argument("--output", help="output file (default: stdout)")
    parser.add_argument("--types", help="comma-separated entity types (default: the model's)")
    parser.add_argument("--threshold", type=probability)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--no-link", action="store_true", help="do not link mentions to KG entities")
    parser.set_defaults(func=run)


def read_inputs(files: list[str], input_format: str | None) -> Iterator[Document]:
    from kogner.corpora import read_corpus

    for name in files:
        if name == "-":
            lines = (line.strip() for line in sys.stdin)
            yield from (Document.from_text(f"stdin:{n}", line) for n, line in enumerate(lines, 1) if line)
        else:
            yield from read_corpus(name, input_format)


def run(args: argparse.Namespace) -> int:
    from kogner.corpora import WRITERS, write_corpus
    from kogner.model import KoGNER

    model = KoGNER.from_pretrained(args.model, load_index=not args.no_link, inference_only=True)
    documents = list(read_inputs(args.files, args.input_format))
    types = args.types.split(",") if args.types else None
    found = model.predict(
        [doc.text for doc in documents], types, args.threshold, args.batch_size, link=not args.no_link
    )
    annotated = [
        Document(doc.id, doc.passages, [m.to_mention() for m in mentions], [], doc.metadata)
        for doc, mentions in zip(documents, found, strict=True)
    ]
    output_format = FORMATS[args.format]
    if args.output:
        write_corpus(annotated, args.output, output_format)
    else:
        WRITERS[output_format](annotated, sys.stdout)
    return 0
