"""Profiles: one TOML file per way of running the workflow (``configs/profiles/NAME.toml``).

Sections, each read by the task of the same stage (its content is that task's key):

* ``[kg]`` ``config``: the KG ingestion config (``configs/kg/*.toml``).
* ``[teacher]``: :class:`kogner.teacher.TeacherSettings` fields.
* ``[index]``: ``kind``, ``alias_kind``, ``alias_encoder`` (``kogner.index.build_index``).
* ``[nero]``: ``types``, ``shard_docs``, ``max_docs`` (per split) of the NERO corpus, when
  the profile uses it (``nero:<split>`` in the sections below).
* ``[ner]``: :class:`kogner.training.TrainConfig` fields; ``train``/``dev`` name the data:
  ``nero:<split>`` or a dataset of :data:`kogner.datasets.DATASETS` as ``name:<split>``.
* ``[evaluate]``: ``test`` and ``dev``, lists of ``nero:<split>`` / ``dataset:<split>``.
* ``[annotate]``: ``inputs``: ``nero:heldout`` or paths/globs relative to the data
  directory; ``options``: keyword arguments of ``pipelines.annotate.annotate_shard``.

Overrides (``--set ner.epochs=2`` on the command line) are merged into the profile, so a
changed setting reruns exactly the tasks that read it and what depends on them.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILE_DIR = REPO_ROOT / "configs" / "profiles"
NAMES = ("embedded", "benchmark", "tiny")


def profile_path(profile: str) -> Path:
    """``configs/profiles/<profile>.toml`` for a name, or the profile file itself for a path."""
    path = Path(profile)
    if path.suffix == ".toml":
        return path
    return PROFILE_DIR / f"{profile}.toml"


def load_profile(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The profile's settings with ``overrides`` (nested dicts) merged in."""
    path = profile_path(profile)
    if not path.is_file():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))
        raise FileNotFoundError(f"no profile {profile!r} ({path}); known profiles: {known}")
    with open(path, "rb") as handle:
        settings = tomllib.load(handle)
    return merge(settings, overrides or {})


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, recursively for nested tables."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(assignment: str) -> dict[str, Any]:
    """``"ner.epochs=2"`` -> ``{"ner": {"epochs": 2}}`` (the value parsed as TOML, else a string)."""
    dotted, sep, raw = assignment.partition("=")
    if not sep or not dotted:
        raise ValueError(f"expected SECTION.KEY=VALUE, got {assignment!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def repo_path(path: str) -> Path:
    """A path from a profile: relative paths are relative to the repository root."""
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() else REPO_ROOT / resolved
