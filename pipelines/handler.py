"""The KoGNER model inside Beam: a RunInference ModelHandler, and the model a worker loads.

The model is loaded once per worker process (``WorkerModel``): the inference and linking
stages acquire the same copy through ``apache_beam.utils.shared.Shared``, so a worker holds
one model and one entity index, however many stages use them.
Model directories on ``gs://``/``s3://`` are copied to local disk first (the model loads
from local files). The model runs on CUDA when present, under bf16/fp16 autocast (inside
``KoGNER``); on CPU it uses the cores it is given (``torch_threads``; 0 = PyTorch's
default, all cores), in two threads where it has two or more (``KoGNER.predict``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils.shared import Shared

from kogner.model import KoGNER
from pipelines.windows import DocumentWindows

log = logging.getLogger(__name__)


def local_dir(directory: str) -> str:
    """``directory`` itself when local, else a local copy of it (from any Beam filesystem)."""
    if isinstance(FileSystems.get_filesystem(directory), LocalFileSystem):
        return directory
    target = tempfile.mkdtemp(prefix="kogner-")
    prefix = directory.rstrip("/") + "/"
    for metadata in FileSystems.match([prefix + "**"])[0].metadata_list:
        local = os.path.join(target, metadata.path[len(prefix) :])
        os.makedirs(os.path.dirname(local), exist_ok=True)
        stored = FileSystems.open(metadata.path, compression_type=CompressionTypes.UNCOMPRESSED)
        with stored as source, open(local, "wb") as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
    log.info("copied %s to %s", directory, target)
    return target


def load_model(
    model_dir: str, device: str | None = None, torch_threads: int = 0, index_dir: str | None = None, link: bool = True
) -> KoGNER:
    """The model from ``model_dir`` on ``device`` (CUDA when present), in eval mode; to
    ``link``, with the entity index ``index_dir`` (default: the one the model names, if present)."""
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    index = local_dir(index_dir) if index_dir and link else None
    return KoGNER.from_pretrained(
        local_dir(model_dir), device=device, index_dir=index, load_index=link, inference_only=True
    )


@dataclass(frozen=True)
class WorkerModel:
    """The model of ``model_dir`` as a worker process loads it (``load_model``), once: every
    stage given this object (or a pickled copy: the ``Shared`` handle survives pickling)
    acquires the same copy. ``link``: with the entity index (``index_dir``, default the one the
    model names); without, the index (GBs for a full KG) is never loaded."""

    model_dir: str
    device: str | None = None
    torch_threads: int = 0
    index_dir: str | None = None
    link: bool = False
    shared: Shared = field(default_factory=Shared, compare=False, repr=False)

    def acquire(self) -> KoGNER:
        return self.shared.acquire(
            lambda: load_model(self.model_dir, self.device, self.torch_threads, self.index_dir, self.link),
            tag=(self.model_dir, self.device, self.torch_threads, self.index_dir, self.link),
        )


class KoGNERModelHandler(ModelHandler[DocumentWindows, PredictionResult, KoGNER]):
    """Runs the span model (``model``, a directory or a ``WorkerModel`` shared with other
    stages) over groups of documents' windows: all windows of a group sorted by subword count
    and cut into batches of ``batch_size`` (no linking: that is its own stage; with
    ``span_vectors`` the mentions of a model that links by vector carry their span vectors to
    it). One result per document: its windows' mentions, window by window."""

    def __init__(
        self,
        model: str | WorkerModel,
        *,
        types: Sequence[str] | None = None,
        threshold: float | None = None,
        batch_size: int = 32,
        span_vectors: bool = False,
    ) -> None:
        super().__init__(min_batch_size=1, max_batch_size=batch_size)
        self._model = model if isinstance(model, WorkerModel) else WorkerModel(model)
        self._types = list(types) if types else None
        self._threshold = threshold
        self._batch_size = batch_size
        self._span_vectors = span_vectors

    def load_model(self) -> KoGNER:
        return self._model.acquire()

    def run_inference(
        self, batch: Sequence[DocumentWindows], model: KoGNER, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        found = model.predict(  # batches of ``batch_size`` windows of similar subword count
            [window.text for item in batch for window in item.windows],
            types=self._types,
            threshold=self._threshold,
            batch_size=self._batch_size,
            link=False,
            abbreviation_consistency=False,  # a document-level step, after the windows are merged
            span_vectors=self._span_vectors,
        )
        by_window = iter(found)
        return [PredictionResult(item, [next(by_window) for _ in item.windows]) for item in batch]

    def get_num_bytes(self, batch: Sequence[DocumentWindows]) -> int:
        return sum(len(window.text.encode("utf-8")) for item in batch for window in item.windows)

    def get_metrics_namespace(self) -> str:
        return "kogner.inference"
