"""The tiny profile end to end: FullRebuild against a real ``luigid`` on 127.0.0.1, then the
same command with ``--local-scheduler`` (nothing to do), a changed setting (only what depends
on it reruns), a failing shard (the others finish; a rerun does only what is missing), and
scheduled retraining with a ``RangeDaily`` backfill."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from workflows.retrain import Retrain, current_version
from workflows.tasks import AnnotateCorpus, FullRebuild

pytestmark = pytest.mark.slow
PROFILE = "tiny"
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def luigid(state_dir: Path):
    """A central scheduler on a free loopback port with its own state and log paths."""
    port = free_port()
    (state_dir / "log").mkdir(parents=True)
    binary = Path(sys.executable).with_name("luigid")
    command = [str(binary), "--address", "127.0.0.1", "--port", str(port)]
    command += ["--state-path", str(state_dir / "state.pickle"), "--logdir", str(state_dir / "log")]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("luigid did not start")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def scheduler_tasks(port: int, status: str) -> dict:
    query = urllib.parse.urlencode({"data": json.dumps({"status": status, "upstream_status": "", "search": ""})})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list?{query}", timeout=10) as response:
        return json.load(response)["response"]


def rebuild(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "workflows.rebuild", "--workspace", str(workspace), "--profile", PROFILE, *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


def luigi_run(module: str, task: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m luigi`` in a fresh interpreter, as cron or a user would run it. (Luigi forks
    its workers; a fork of this test process, which has already run torch and Beam, is not safe.)"""
    command = [sys.executable, "-m", "luigi", "--module", module, task, "--local-scheduler", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The task families a run executed (from Luigi's log lines "... running   Task(...)")."""
    lines = (result.stdout + result.stderr).splitlines()
    return {line.split(" running   ")[1].split("(")[0] for line in lines if " running   " in line}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("rebuild")
    with luigid(root / "luigid") as port:
        result = rebuild(root / "ws", "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port), "--workers", "2")
        done = scheduler_tasks(port, "DONE")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return root / "ws", result, done


def test_full_rebuild_through_luigid(workspace):
    ws, result, done = workspace
    families = {task["name"] for task in done.values()}
    assert {"IngestKG", "TrainTeacher", "BuildEntityIndex", "PrepareNERO", "TrainNER"} <= families
    assert {"EvaluateNER", "AnnotateShard", "AnnotateCorpus", "FullRebuild"} <= families
    summary = json.loads((ws / f"rebuild-{PROFILE}.json").read_text())
    assert f"model:       {summary['model']}" in result.stdout
    assert "strict NER F1" in result.stdout and "annotations:" in result.stdout
    model_config = json.loads((Path(summary["model"]) / "config.json").read_text())
    assert model_config["kg_dictionary_types"], "the index's KG aliases reach the student as span features"
    assert (Path(summary["model"]) / "kg_dictionary.parquet").is_file()
    assert Path(summary["chart"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores = json.loads(Path(summary["scores"]).read_text())
    assert 0.0 <= scores["nero:heldout"]["ner"]["f1"] <= 1.0
    corpus = json.loads((Path(summary["annotations"]) / "report.json").read_text())
    heldout = json.loads(next((ws / "prepare_nero").glob("*/report.json")).read_text())["documents"]["heldout"]
    assert corpus["totals"]["documents_in"] == heldout
    assert corpus["totals"]["documents_annotated"] + corpus["totals"]["documents_dead_lettered"] == heldout
    assert len(corpus["shards"]) >= 2, "the held-out corpus is annotated as several shards"
    for task_dir in ws.glob("*/*/"):
        if task_dir.parent.name != "annotate_corpus":
            assert (task_dir / "report.json").is_file(), task_dir


def test_unchanged_rerun_with_local_scheduler_does_nothing(workspace):
    ws, first, _ = workspace
    before = sorted(p.relative_to(ws) for p in ws.rglob("*"))
    again = rebuild(ws, "--local-scheduler")
    assert again.returncode == 0, again.stderr[-3000:]
    assert ran(again) == set()
    assert sorted(p.relative_to(ws) for p in ws.rglob("*") if p.name != f"rebuild-{PROFILE}.json") == [
        p for p in before if p.name != f"rebuild-{PROFILE}.json"
    ]


def test_changed_setting_reruns_only_what_depends_on_it(workspace):
    ws, _, _ = workspace
    changed = rebuild(ws, "--local-scheduler", "--set", "annotate.options.batch_size=8")
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert ran(changed) == {"AnnotateCorpus", "AnnotateShard", "FullRebuild"}
    assert len(list((ws / "annotate_corpus").iterdir())) == 2


def test_failing_shard_does_not_stop_the_others(workspace, tmp_path):
    ws, _, _ = workspace
    heldout_shards = sorted((next((ws / "prepare_nero").glob("*/shards"))).glob("*.jsonl"))
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    for shard in heldout_shards[:2]:
        shutil.copy(shard, data / "in" / shard.name)
    broken = data / "in" / "broken.dat"  # a format the Beam job cannot read: the shard fails
    broken.write_text("not a corpus\n")
    overrides = {"annotate": {"inputs": ["in/*"]}}
    task = AnnotateCorpus(workspace=str(ws), profile=PROFILE, overrides=overrides, data_dir=str(data))
    args = ["--workspace", str(ws), "--profile", PROFILE, "--overrides", json.dumps(overrides)]
    args += ["--data-dir", str(data), "--workers", "2"]
    failed = luigi_run("workflows.tasks", "AnnotateCorpus", *args)
    assert failed.returncode != 0 and "broken.dat" in failed.stderr
    done = sorted(p.parent.name for p in task.directory.glob("*/manifest.json"))
    assert done == sorted(s.stem for s in heldout_shards[:2]), "the good shards finished"
    broken.unlink()
    shutil.copy(heldout_shards[2], data / "in" / "broken.jsonl")
    rerun = luigi_run("workflows.tasks", "AnnotateCorpus", *args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert ran(rerun) == {"AnnotateShard", "AnnotateCorpus"}
    report = json.loads(Path(task.output().path).read_text())
    assert sorted(report["shards"]) == sorted([*done, "broken"])


def test_retrain_backfill_and_promotion(workspace):
    ws, _, _ = workspace
    params = {"workspace": str(ws), "profile": PROFILE, "tolerance": 1.0}
    args = ["--of", "Retrain", "--of-params", json.dumps(params), "--start", "2026-11-23", "--stop", "2026-11-25"]
    backfill = luigi_run("workflows.retrain", "RangeDaily", *args)
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    versions = sorted(p.name for p in (ws / "models" / "versions").iterdir())
    assert versions == ["2026-11-23", "2026-11-24"]
    for version in versions:
        metrics = json.loads((ws / "models" / "versions" / version / "metrics.json").read_text())
        assert 0.0 <= metrics["dev_f1"] <= 1.0 and metrics["dev_scores"]["nero:dev"]["ner"]["f1"] == metrics["dev_f1"]
        assert (ws / "models" / "versions" / version / "model" / "config.json").is_file()
    assert current_version(ws / "models") == "2026-11-24", "within the tolerance, the newer version is promoted"
    newer = json.loads((ws / "models" / "versions" / "2026-11-24" / "metrics.json").read_text())
    assert newer["decision"]["current_version"] == "2026-11-23", "the backfill decides in date order"
    assert len(list((ws / "ingest_kg").iterdir())) == 1, "unchanged KG sources: the rebuild's KG is reused"
    assert len(list((ws / "train_teacher").iterdir())) == 1
    state = json.loads((ws / "retrain" / "kg_sources.json").read_text())
    assert state["digest"] == "" and all(os.path.isfile(path) for path in state["files"])
    # Re-deciding the older version with no tolerance (its model and dev scores exist, so
    # nothing is retrained): promoted exactly when its dev F1 is not below the current one's.
    (ws / "retrain" / "2026-11-23.json").unlink()
    strict = Retrain(date=date(2026, 11, 23), workspace=str(ws), profile=PROFILE, tolerance=0.0)
    args = ["--date", "2026-11-23", "--workspace", str(ws), "--profile", PROFILE, "--tolerance", "0.0"]
    redecided = luigi_run("workflows.retrain", "Retrain", *args)
    assert redecided.returncode == 0, redecided.stderr[-3000:]
    decision = json.loads(Path(strict.output().path).read_text())["decision"]
    assert decision["current_version"] == "2026-11-24"
    assert decision["promote"] == (decision["candidate_f1"] >= decision["current_f1"])
    assert current_version(ws / "models") == ("2026-11-23" if decision["promote"] else "2026-11-24")
    assert len(list((ws / "train_ner").iterdir())) == 3, "the rebuild's model and two versions, none retrained"
    assert FullRebuild(workspace=str(ws), profile=PROFILE).complete()
