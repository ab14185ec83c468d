"""Time a full rebuild of a profile against its budget (embedded: 20 min, tiny: 5 min).

    nice -n 10 .venv/bin/python bench/rebuild.py --profile embedded --workspace /tmp/ws-embedded

Runs ``python -m workflows.rebuild`` (local scheduler) in the workspace, then prints the
wall time, each task's own time (from its ``report.json``) and the headline numbers as
Markdown for bench/RESULTS.md. Exits 1 when the budget is missed. A workspace that already
holds outputs is timed as a rerun (only what is missing runs), so use a fresh one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BUDGETS = {"embedded": 20 * 60, "tiny": 5 * 60}
REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    command = [sys.executable, "-m", "workflows.rebuild", "--workspace", args.workspace, "--profile", args.profile]
    command += ["--workers", str(args.workers), "--local-scheduler"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO_ROOT)
    seconds = time.monotonic() - started
    workspace = Path(args.workspace)
    print("\n| task | seconds |\n| --- | ---: |")
    for report_path in sorted(workspace.glob("*/*/report.json")):
        report = json.loads(report_path.read_text())
        if "seconds" in report:
            print(f"| {report['task']} ({report_path.parent.name}) | {report['seconds']:.0f} |")
    print(f"| **rebuild, wall** | **{seconds:.0f}** |")
    summary_path = workspace / f"rebuild-{Path(args.profile).stem}.json"
    if result.returncode != 0 or not summary_path.is_file():
        print(f"\nrebuild FAILED (exit {result.returncode}) after {seconds / 60:.1f} min")
        return 1
    summary = json.loads(summary_path.read_text())
    print(f"\nNER: {json.dumps(summary['ner'])}\nannotations: {json.dumps(summary['annotation_totals'])}")
    budget = BUDGETS.get(args.profile)
    if budget is not None:
        verdict = "within" if seconds <= budget else "MISSED"
        print(f"\n{args.profile}: {seconds / 60:.1f} min, budget {budget / 60:.0f} min: {verdict}")
        return 0 if seconds <= budget else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
