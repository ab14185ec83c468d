"""Scheduled retraining: ``Retrain(date=...)`` trains a new model version and promotes it
when it is not worse than the current one.

    python -m luigi --module workflows.retrain Retrain --date 2026-11-25 --workspace workspace --local-scheduler
    python -m luigi --module workflows.retrain RangeDaily --of Retrain --start 2026-11-20 --local-scheduler

Per run: the KG (and so the teacher and index) is rebuilt only when a source file's sha256
differs from the one recorded when the KG in use was ingested; a new model version (the
date) is trained and scored on the profile's ``[evaluate] dev`` sets; its metrics are kept
in ``WORKSPACE/models/versions/<date>/metrics.json`` and it becomes ``WORKSPACE/models/current``
(a symlink, replaced atomically) only if its dev F1 >= current F1 - tolerance.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import luigi
from luigi.tools.range import RangeDaily  # noqa: F401  (re-exported for `--module workflows.retrain RangeDaily`)

from kogner.io import atomic_dir
from workflows.keying import digest, read_json, write_json
from workflows.tasks import EvaluateNER, IngestKG, TrainNER

log = logging.getLogger(__name__)
CURRENT = "current"
VERSIONS = "versions"
LAST_ORDINAL = date.max.toordinal() + 1


@dataclass(frozen=True)
class Decision:
    """Whether a candidate model replaces the current one, and why."""

    promote: bool
    reason: str
    candidate_f1: float
    current_f1: float | None
    current_version: str | None
    tolerance: float


def decide(
    candidate_f1: float, current_f1: float | None, tolerance: float, current_version: str | None = None
) -> Decision:
    """Promote when there is no current model or ``candidate_f1 >= current_f1 - tolerance``."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if current_f1 is None:
        promote, reason = True, "no current model"
    elif candidate_f1 >= current_f1 - tolerance:
        promote, reason = True, f"dev F1 {candidate_f1:.4f} >= current {current_f1:.4f} - tolerance {tolerance}"
    else:
        promote, reason = False, f"dev F1 {candidate_f1:.4f} < current {current_f1:.4f} - tolerance {tolerance}"
    return Decision(promote, reason, candidate_f1, current_f1, current_version, tolerance)


def current_version(models_dir: Path) -> str | None:
    """The version ``models/current`` points to, if any."""
    pointer = models_dir / CURRENT
    return Path(os.readlink(pointer)).name if pointer.is_symlink() else None


def promote(models_dir: Path, version: str) -> None:
    """Point ``models/current`` at ``versions/<version>``: a new symlink renamed over the old."""
    if not (models_dir / VERSIONS / version).is_dir():
        raise FileNotFoundError(f"no model version {version} in {models_dir / VERSIONS}")
    staging = models_dir / f".{CURRENT}.{os.getpid()}.tmp"
    staging.unlink(missing_ok=True)
    staging.symlink_to(Path(VERSIONS) / version, target_is_directory=True)
    os.replace(staging, models_dir / CURRENT)


def changed_files(recorded: dict[str, str]) -> list[str]:
    """The files whose sha256 is no longer the recorded one (missing files included)."""
    from kogner.kg.ingest import sha256_file

    return [
        path for path, sha in sorted(recorded.items()) if not Path(path).is_file() or sha256_file(Path(path)) != sha
    ]


class Retrain(luigi.Task):
    """Train, evaluate on dev, and maybe promote the model version ``date``."""

    date = luigi.DateParameter()
    workspace = luigi.Parameter()
    profile = luigi.Parameter(default="embedded")
    overrides = luigi.DictParameter(default={})
    data_dir = luigi.Parameter(default="", significant=False)
    tolerance = luigi.FloatParameter(default=0.01, description="allowed dev F1 drop for promotion")

    @property
    def version(self) -> str:
        return self.date.isoformat()

    @property
    def priority(self) -> int:
        """Older dates first, so a backfill decides its promotions in date order.

        Luigi runs higher priorities first and raises each dependency to at least its
        dependent's priority. A wrapper such as RangeDaily has the default priority 0, so
        the priority must stay above 0 for every date or the wrapper flattens them all."""
        return LAST_ORDINAL - self.date.toordinal()

    @property
    def models_dir(self) -> Path:
        return Path(self.workspace) / "models"

    @property
    def kg_state_path(self) -> Path:
        return Path(self.workspace) / "retrain" / "kg_sources.json"

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.workspace) / "retrain" / f"{self.version}.json"))

    def sources_digest(self) -> str:
        """The KG generation to use: the recorded one while its source files are unchanged.

        The first run uses "" (the KG a FullRebuild built, when there is one)."""
        if not self.kg_state_path.is_file():
            return ""
        state = read_json(self.kg_state_path)
        changed = changed_files(state["files"])
        if not changed:
            return state["digest"]
        log.info("Retrain %s: KG sources changed: %s", self.version, changed)
        from kogner.kg.ingest import sha256_file

        return digest({path: sha256_file(Path(path)) for path in state["files"] if Path(path).is_file()})

    def run(self):  # noqa: ANN201 (a generator: Luigi dynamic dependencies)
        common = {
            "workspace": self.workspace,
            "profile": self.profile,
            "overrides": self.overrides,
            "data_dir": self.data_dir,
            "sources_digest": self.sources_digest(),
            "version": self.version,
        }
        evaluation = EvaluateNER(split="dev", **common)
        yield evaluation
        kg = IngestKG(**common)
        self._record_kg_sources(kg, common["sources_digest"])
        model_dir = Path(TrainNER(**common).output().path) / "model"
        scores = read_json(Path(evaluation.output().path) / "scores.json")
        candidate = evaluation.report["mean_f1"]
        previous = current_version(self.models_dir)
        previous_f1 = read_json(self.models_dir / VERSIONS / previous / "metrics.json")["dev_f1"] if previous else None
        decision = decide(candidate, previous_f1, self.tolerance, previous)
        log.info("Retrain %s: %s -> %s", self.version, decision.reason, "promote" if decision.promote else "keep")
        metrics = {
            "version": self.version,
            "dev_f1": candidate,
            "dev_scores": scores,
            "model": str(model_dir),
            "kg": str(Path(kg.output().path) / "kg"),
            "decision": asdict(decision),
        }
        with atomic_dir(self.models_dir / VERSIONS / self.version) as tmp:
            write_json(tmp / "metrics.json", metrics)
            (tmp / "model").symlink_to(os.path.relpath(model_dir, self.models_dir / VERSIONS / self.version))
        if decision.promote:
            promote(self.models_dir, self.version)
        write_json(self.output().path, {**metrics, "current": current_version(self.models_dir)})

    def _record_kg_sources(self, kg: IngestKG, sources_digest: str) -> None:
        manifest = read_json(Path(kg.output().path) / "kg" / "manifest.json")
        files = {f["path"]: f["sha256"] for source in manifest["sources"] for f in source["files"]}
        write_json(self.kg_state_path, {"digest": sources_digest, "files": files, "kg": kg.output().path})
