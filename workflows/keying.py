"""Output keys: a task's outputs live under ``WORKSPACE/<task>/<key>/``, where the key hashes
the task's significant settings, its code version and its inputs' keys (gokart-style).

Changing a setting changes the key of that task and of everything downstream of it (their
inputs' keys change), so exactly those tasks rerun; an unchanged rerun finds every output
in place and runs nothing. Outputs are directories written through
:func:`kogner.io.atomic_dir`, so a key directory exists only once complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import luigi
from luigi.task import flatten

from kogner.io import atomic_dir, atomic_path

log = logging.getLogger(__name__)
REPORT = "report.json"


def digest(value: Any, length: int = 16) -> str:
    """A short stable hash of a JSON-serialisable value (dict keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


class KeyedTask(luigi.Task):
    """A task whose output is the directory ``WORKSPACE/<family>/<key>/``.

    Subclasses implement :meth:`key_material` (the settings that change the output) and
    :meth:`build` (write the output into a temporary directory and return the report)."""

    workspace = luigi.Parameter(description="directory holding every output of the workflow")
    #: Bump when a task's code changes what it writes, so old outputs are not reused.
    code_version = 1

    def key_material(self) -> Any:
        return {}

    def build(self, out: Path) -> dict[str, Any]:
        raise NotImplementedError

    @cached_property
    def key(self) -> str:
        upstream = sorted(task.key for task in flatten(self.requires()) if isinstance(task, KeyedTask))
        return digest(
            {
                "task": self.get_task_family(),
                "code": self.code_version,
                "settings": self.key_material(),
                "inputs": upstream,
            }
        )

    @property
    def directory(self) -> Path:
        return Path(self.workspace) / _snake(self.get_task_family()) / self.key

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.directory))

    @property
    def report(self) -> dict[str, Any]:
        """The JSON report of a completed run."""
        return read_json(self.directory / REPORT)

    def upstream_dirs(self) -> Iterator[Path]:
        for task in flatten(self.requires()):
            yield Path(task.output().path)

    def run(self) -> None:
        started = time.monotonic()
        log.info("%s: building %s", self.get_task_family(), self.directory)
        with atomic_dir(self.directory) as tmp:
            report = self.build(Path(tmp))
            report = {
                "task": self.get_task_family(),
                "key": self.key,
                "settings": self.key_material(),
                "inputs": [str(path) for path in self.upstream_dirs()],
                "seconds": round(time.monotonic() - started, 1),
                **report,
            }
            write_json(Path(tmp) / REPORT, report)
        log.info("%s: done in %.1f s -> %s", self.get_task_family(), report["seconds"], self.directory)


def _snake(name: str) -> str:
    """``BuildEntityIndex`` -> ``build_entity_index``, ``TrainNER`` -> ``train_ner``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
