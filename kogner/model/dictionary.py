"""KG dictionary features: the KG entity types of which a span's text is an alias.

For every enumerated span the student reads one bit per KG entity type, set when the
span's normalized text (``kogner.kg.normalize.normalize_alias``) is an alias of an entity
of that type in the KG it was trained with. That is how the KG's vocabulary reaches NER
directly: a drug the training corpus never names is still a known Chemical alias. The
dictionary is saved in the model directory, so a model needs no KG or index to predict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kogner.errors import InputFormatError

if TYPE_CHECKING:
    from kogner.index import EntityIndex

FILE_NAME = "kg_dictionary.parquet"
MAX_TYPES = 63  # one bit each in an int64 mask


def bits_of(types: Sequence[str]) -> dict[str, int]:
    """Each entity type's bit in a mask over ``types``."""
    return {entity_type: 1 << position for position, entity_type in enumerate(types)}


class KGDictionary:
    """Normalized alias -> bit mask over ``types`` (bit t set: an alias of a ``types[t]`` entity)."""

    def __init__(self, types: Sequence[str], masks: dict[str, int]) -> None:
        if len(types) > MAX_TYPES:
            raise ValueError(f"a KG dictionary holds at most {MAX_TYPES} entity types, got {len(types)}")
        self.types = list(types)
        self.masks = masks
        self.longest: dict[str, int] = {}  # first word of an alias -> most words of one so starting
        for alias in masks:
            words = alias.split(" ")
            self.longest[words[0]] = max(self.longest.get(words[0], 0), len(words))

    @classmethod
    def from_aliases(cls, aliases: Iterable[tuple[str, str]]) -> KGDictionary:
        """From (normalized alias, entity type) pairs; types in sorted order."""
        pairs = list(aliases)
        types = sorted({entity_type for _, entity_type in pairs})
        bit = bits_of(types)
        masks: dict[str, int] = {}
        for alias, entity_type in pairs:
            masks[alias] = masks.get(alias, 0) | bit[entity_type]
        return cls(types, masks)

    @classmethod
    def from_index(cls, index: EntityIndex) -> KGDictionary:
        """The KG's own aliases in ``index`` (before any ``add_aliases``) with their entities' types."""
        table = pq.read_table(index.path / "aliases.parquet", columns=["normalized", "row"])
        rows = table["row"].to_pylist()
        return cls.from_aliases(zip(table["normalized"].to_pylist(), (index.types[row] for row in rows), strict=True))

    def save(self, directory: Path) -> None:
        names = [[t for position, t in enumerate(self.types) if mask >> position & 1] for mask in self.masks.values()]
        table = pa.table({"alias": list(self.masks), "types": names})
        pq.write_table(table, directory / FILE_NAME)

    @classmethod
    def load(cls, directory: Path, types: Sequence[str]) -> KGDictionary:
        """The dictionary saved in a model ``directory`` whose config lists ``types``."""
        path = directory / FILE_NAME
        if not path.is_file():
            raise InputFormatError(
                path, None, "the model's config.json names KG dictionary types but the file is missing"
            )
        try:
            table = pq.read_table(path, columns=["alias", "types"])
        except (OSError, pa.ArrowException) as error:
            raise InputFormatError(path, None, f"not a KG dictionary table: {error}") from error
        bit = bits_of(types)
        masks: dict[str, int] = {}
        for row, (alias, names) in enumerate(zip(table["alias"].to_pylist(), table["types"].to_pylist(), strict=True)):
            unknown = set(names) - set(bit)
            if unknown:
                raise InputFormatError(path, row + 1, f"alias {alias!r} has types {sorted(unknown)} not in config.json")
            masks[alias] = sum(bit[name] for name in names)
        return cls(types, masks)

    def span_masks(self, word_keys: Sequence[str], spans: Sequence[tuple[int, int]] | np.ndarray) -> np.ndarray:
        """The int64 type mask of each (first word, last word) span; 0 unless both end words have
        a key (a span starting or ending at punctuation is not the alias it contains). From each
        first word the key grows word by word, and only as far as the longest alias starting
        with that word reaches: a few lookups per word, not one per span."""
        bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        if not len(bounds):
            return np.zeros(0, dtype=np.int64)
        first, last = bounds[:, 0], bounds[:, 1]
        width = int((last - first).max()) + 1
        found = np.zeros((len(word_keys), width), dtype=np.int64)  # [first word, last - first]
        for start, key in enumerate(word_keys):
            words_left = self.longest.get(key, 0)
            joined = key
            for end in range(start, min(start + width, len(word_keys))):
                if not words_left:
                    break
                if not word_keys[end]:  # punctuation is skipped inside a span, never ends one
                    continue
                if end > start:
                    joined += " " + word_keys[end]
                found[start, end - start] = self.masks.get(joined, 0)
                words_left -= 1
        return found[first, last - first]
