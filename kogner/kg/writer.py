"""Batched Parquet writing: rows are buffered per column and flushed every ``batch_rows``,
so memory stays bounded however many rows a table gets."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BATCH_ROWS = 100_000


class TableWriter:
    """Append rows (tuples in schema order) to one Parquet file."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str = "zstd", batch_rows: int = BATCH_ROWS):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows = 0
        self._batch_rows = batch_rows
        self._columns: list[list] = [[] for _ in schema]
        self._writer = pq.ParquetWriter(path, schema, compression=compression)

    def append(self, row: tuple) -> None:
        for column, value in zip(self._columns, row, strict=True):
            column.append(value)
        self.rows += 1
        if len(self._columns[0]) >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._columns[0]:
            self._writer.write_batch(pa.record_batch(self._columns, schema=self.schema))
            self._columns = [[] for _ in self.schema]

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_rows(path: Path, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS):
    """Stream a Parquet file back as tuples, one batch in memory at a time."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
