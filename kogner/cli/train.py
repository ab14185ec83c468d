"""``kogner train CONFIG``: train a KoGNER student from a TOML training config."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a KoGNER model from a TOML config")
    parser.add_argument("config", help="training config (TOML; see configs/train/)")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kogner.training import TrainConfig, train

    config = TrainConfig.from_toml(args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    print(train(config))
    return 0
