"""``kogner index build TEACHER_DIR OUT_DIR [--kg KG_DIR]``: the faiss entity index of a teacher."""

from __future__ import annotations

import argparse

from kogner.index import ALIAS_ENCODERS, build_index

KINDS = ["auto", "flat", "ivf", "hnsw"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="entity index over teacher vectors and aliases")
    commands = parser.add_subparsers(dest="index_command", required=True)
    build = commands.add_parser("build", help="build the index of a teacher directory")
    build.add_argument("teacher_dir")
    build.add_argument("out_dir")
    build.add_argument("--kg", dest="kg_dir", help="KG directory (default: the one teacher.json records)")
    build.add_argument("--kind", default="auto", choices=KINDS, help="teacher-vector index")
    build.add_argument("--alias-kind", default="auto", choices=KINDS, help="alias index (auto: exact up to 1M)")
    build.add_argument("--encoder", help="text encoder for the aliases (default: the teacher's encoder)")
    build.add_argument(
        "--alias-encoder",
        default="static",
        choices=ALIAS_ENCODERS,
        help="static: a subword table distilled from --encoder (fast lookups); contextual: --encoder itself",
    )
    build.set_defaults(
        func=lambda args: print(
            build_index(
                args.teacher_dir,
                args.kg_dir,
                args.out_dir,
                args.kind,
                args.encoder,
                args.alias_kind,
                args.alias_encoder,
            )
        )
    )
