"""The main command: rebuild everything a profile produces, from KG sources to annotations.

    python -m workflows.rebuild --workspace workspace [--profile embedded|benchmark|tiny]
        [--workers N] [--local-scheduler | --scheduler-host HOST [--scheduler-port PORT]]
        [--set SECTION.KEY=VALUE ...] [--data-dir DIR]

Without a scheduler host it runs with Luigi's local scheduler. Rerunning does only what is
missing or what a changed setting affects. Ends by printing where the model, the scores
and the annotations are, with the headline numbers (also written to
``WORKSPACE/rebuild-<profile>.json``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import luigi

from workflows.keying import read_json, write_json
from workflows.profiles import merge, parse_override, profile_path
from workflows.tasks import AnnotateCorpus, EvaluateNER, FullRebuild, TrainNER

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workflows.rebuild", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="directory for every output (created if missing)")
    parser.add_argument("--profile", default="embedded", help="embedded (default), benchmark, tiny, or a TOML path")
    parser.add_argument("--workers", type=int, default=1, help="Luigi workers: independent tasks run in parallel")
    scheduler = parser.add_mutually_exclusive_group()
    scheduler.add_argument("--local-scheduler", action="store_true", help="Luigi's in-process scheduler (default)")
    scheduler.add_argument("--scheduler-host", help="a running luigid, e.g. 127.0.0.1")
    parser.add_argument("--scheduler-port", type=int, default=8082, help="luigid port (default 8082)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    parser.add_argument("--data-dir", default="", help="reference data directory (default: kogner.datadir)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profile_path(args.profile).resolve(strict=True)
    overrides: dict[str, Any] = {}
    for assignment in args.set:
        overrides = merge(overrides, parse_override(assignment))
    workspace = str(Path(args.workspace).resolve())
    task = FullRebuild(workspace=workspace, profile=args.profile, overrides=overrides, data_dir=args.data_dir)
    scheduler: dict[str, Any] = {"local_scheduler": True}
    if args.scheduler_host:
        scheduler = {"scheduler_host": args.scheduler_host, "scheduler_port": args.scheduler_port}
    started = time.monotonic()
    result = luigi.build([task], workers=args.workers, detailed_summary=True, log_level="INFO", **scheduler)
    if not task.complete():
        print(result.summary_text, file=sys.stderr)
        print("rebuild incomplete (see above); rerun the same command to finish what is missing", file=sys.stderr)
        return 1
    summary = summarize(task, time.monotonic() - started)
    write_json(Path(workspace) / f"rebuild-{Path(args.profile).stem}.json", summary)
    print(format_summary(summary))
    return 0


def summarize(task: FullRebuild, seconds: float) -> dict[str, Any]:
    """Where the outputs of a completed rebuild are, and their headline numbers."""
    evaluation: EvaluateNER = task.requires()["evaluate"]
    annotation: AnnotateCorpus = task.requires()["annotate"]
    model: TrainNER = evaluation.requires()["model"]
    scores = read_json(evaluation.directory / "scores.json")
    corpus = read_json(annotation.output().path)
    return {
        "profile": task.profile,
        "seconds": round(seconds, 1),
        "model": str(model.directory / "model"),
        "scores": str(evaluation.directory / "scores.json"),
        "chart": str(evaluation.directory / "f1_by_type.png"),
        "ner": {name: {k: result["ner"][k] for k in ("precision", "recall", "f1")} for name, result in scores.items()},
        "linking": {name: result["linking"]["f1"] for name, result in scores.items() if "linking" in result},
        "annotations": str(annotation.directory),
        "annotation_totals": corpus["totals"],
        "shards": len(corpus["shards"]),
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"KoGNER rebuild ({summary['profile']} profile) complete in {summary['seconds'] / 60:.1f} min"]
    lines.append(f"  model:       {summary['model']}")
    lines.append(f"  scores:      {summary['scores']}  (chart: {summary['chart']})")
    for name, ner in summary["ner"].items():
        linking = summary["linking"].get(name)
        extra = f", linking F1 {linking:.3f}" if linking is not None else ""
        lines.append(
            f"    {name}: strict NER F1 {ner['f1']:.3f} (P {ner['precision']:.3f}, R {ner['recall']:.3f}){extra}"
        )
    totals = summary["annotation_totals"]
    lines.append(f"  annotations: {summary['annotations']}")
    lines.append(
        f"    {summary['shards']} shards, {totals['documents_annotated']} of {totals['documents_in']} documents "
        f"annotated, {totals['mentions']} mentions, {totals['documents_dead_lettered']} dead-lettered"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
