"""``kogner teacher train KG_DIR OUT_DIR``: train the KG teacher H = [Z; Z'; Z'']."""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib

from kogner.teacher import TeacherSettings, train_teacher


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("teacher", help="KG teacher vectors")
    commands = parser.add_subparsers(dest="teacher_command", required=True)
    train = commands.add_parser("train", help="train the teacher on a KG directory")
    train.add_argument("kg_dir", help="KG directory (output of kogner kg ingest)")
    train.add_argument("out_dir", help="teacher directory to write (atomically)")
    train.add_argument("--settings", help="TOML file of TeacherSettings fields")
    train.add_argument(
        "--set", action="append", default=[], metavar="FIELD=JSON", help="override one setting, e.g. gt_steps=100"
    )
    train.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    values = {}
    if args.settings:
        with open(args.settings, "rb") as handle:
            values.update(tomllib.load(handle))
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        values[name] = json.loads(value) if value[:1] in "[{0123456789-tfn" else value
    settings = TeacherSettings.from_dict(values)
    out = train_teacher(args.kg_dir, args.out_dir, settings)
    print(json.dumps({"teacher_dir": str(out), "settings": dataclasses.asdict(settings)}))
    return 0
