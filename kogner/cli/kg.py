"""``kogner kg ingest CONFIG OUT_DIR [--data-dir D]`` and ``kogner kg stats KG_DIR``."""

from __future__ import annotations

import argparse
import json

from kogner.kg.ingest import ingest, read_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    kg = subparsers.add_parser("kg", help="build and inspect knowledge graphs")
    commands = kg.add_subparsers(dest="kg_command", required=True)
    build = commands.add_parser("ingest", help="ingest the sources a KG config lists into a KG directory")
    build.add_argument("config", help="KG config (TOML), e.g. configs/kg/dev.toml")
    build.add_argument("out_dir", help="KG directory to write (replaced atomically)")
    build.add_argument("--data-dir", default=None, help="data directory for relative source paths")
    build.set_defaults(func=_ingest)
    stats = commands.add_parser("stats", help="print a KG directory's manifest counts as JSON")
    stats.add_argument("kg_dir")
    stats.set_defaults(func=_stats)


def _ingest(args: argparse.Namespace) -> int:
    manifest = ingest(args.config, args.out_dir, args.data_dir)
    print(json.dumps(manifest["counts"]["tables"]))
    return 0


def _stats(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.kg_dir)
    print(json.dumps({"counts": manifest["counts"], "validation": manifest["validation"]}, indent=2))
    return 0
