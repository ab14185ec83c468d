"""``kogner data list`` and ``kogner data fetch NAME``: the registered datasets and the data directory."""

from __future__ import annotations

import argparse
import json

from kogner.datadir import data_dir
from kogner.datasets import DATASETS
from kogner.fetch import fetch_dataset


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="registered datasets and the data directory")
    commands = data.add_subparsers(dest="data_command", required=True)
    for command in ("list", "fetch"):
        parser = commands.add_parser(command, help=f"{command} datasets")
        parser.add_argument("--data-dir", help="data directory (default: $KOGNER_DATA_DIR, else ../shared/data)")
        if command == "fetch":
            parser.add_argument("names", nargs="+", choices=sorted(DATASETS), metavar="NAME")
            parser.add_argument("--base-url", help="mirror laid out like the data directory, instead of the sources")
            parser.add_argument("--force", action="store_true", help="download even files already present")
        parser.set_defaults(func=run_list if command == "list" else run_fetch)


def run_list(args: argparse.Namespace) -> None:
    root = data_dir(args.data_dir)
    rows = [
        {
            "name": dataset.name,
            "present": dataset.present(root),
            "format": dataset.format,
            "splits": dataset.splits,
            "types": dataset.types,
            "description": dataset.description,
        }
        for dataset in DATASETS.values()
    ]
    print(json.dumps({"data_dir": str(root), "datasets": rows}, indent=2))


def run_fetch(args: argparse.Namespace) -> None:
    for name in args.names:
        paths = fetch_dataset(name, args.data_dir, args.base_url, args.force)
        print(json.dumps({"dataset": name, "files": [str(path) for path in paths]}))
