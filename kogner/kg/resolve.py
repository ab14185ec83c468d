"""Entity resolution: union-find over ids that sources say name the same thing.

Rules (documented in the README ``kg`` section):

- Every entity id and every cross-referenced id with a resolvable prefix
  (:data:`kogner.kg.ids.RESOLVABLE_PREFIXES`) is a node; a cross-reference unions its two nodes.
- A union is refused when the two components hold entities of different types (an HPO
  phenotype and the MeSH disease it cross-references stay apart), or when both hold an
  entity with the same prefix (a DO term cross-referencing two MeSH descriptors does not
  merge the two descriptors). Refusals are counted per source.
- Each component is named by its entity id of best :func:`kogner.kg.ids.priority`; all other
  ids of the component become its ``xrefs``.

Memory is per id (a dict and two arrays), never per record.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from kogner.kg.ids import RESOLVABLE_PREFIXES, prefix_of, priority


class Resolver:
    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._parent = array("q")
        self._type = array("h")  # type code of an entity node; -1 for a cross-reference only
        self._type_names: list[str] = []
        self._type_codes: dict[str, int] = {}
        self._prefixes: dict[int, frozenset[str]] = {}  # entity prefixes of merged components
        self._canonical: dict[int, str] | None = None

    # -- building -------------------------------------------------------------------------
    def _node(self, node_id: str) -> int:
        index = self._index.get(node_id)
        if index is None:
            index = len(self._ids)
            self._index[node_id] = index
            self._ids.append(node_id)
            self._parent.append(index)
            self._type.append(-1)
        return index

    def add_entity(self, entity_id: str, entity_type: str) -> str | None:
        """Register an entity; returns the type it already had when that differs (a conflict)."""
        code = self._type_codes.setdefault(entity_type, len(self._type_codes))
        if code == len(self._type_names):
            self._type_names.append(entity_type)
        index = self._node(entity_id)
        previous = self._type[index]
        if previous == -1:
            self._type[index] = code
            return None
        return None if previous == code else self._type_names[previous]

    def is_entity(self, node_id: str) -> bool:
        index = self._index.get(node_id)
        return index is not None and self._type[index] != -1

    def is_node(self, node_id: str) -> bool:
        return node_id in self._index

    def __len__(self) -> int:
        return len(self._ids)

    def _find(self, index: int) -> int:
        parent = self._parent
        root = index
        while parent[root] != root:
            root = parent[root]
        while parent[index] != root:
            parent[index], index = root, parent[index]
        return root

    def _entity_prefixes(self, root: int) -> frozenset[str]:
        found = self._prefixes.get(root)
        if found is not None:
            return found
        return frozenset((prefix_of(self._ids[root]),)) if self._type[root] != -1 else frozenset()

    def union(self, entity_id: str, xref_id: str) -> str:
        """Merge the components of two ids. Returns "merged" (two entities' components),
        "linked" (a cross-reference id joined), "same", "refused" (type or prefix clash) or
        "skipped" (``xref_id`` not resolvable: kept as a plain cross-reference)."""
        if not self.is_node(xref_id) and prefix_of(xref_id) not in RESOLVABLE_PREFIXES:
            return "skipped"
        a, b = self._find(self._node(entity_id)), self._find(self._node(xref_id))
        if a == b:
            return "same"
        type_a, type_b = self._type[a], self._type[b]
        if type_a != -1 and type_b != -1 and type_a != type_b:
            return "refused"
        prefixes_a, prefixes_b = self._entity_prefixes(a), self._entity_prefixes(b)
        if prefixes_a & prefixes_b:
            return "refused"
        # the root carries the component's type, so an entity node must stay root
        root, child = (a, b) if type_a != -1 else (b, a)
        self._parent[child] = root
        self._prefixes.pop(child, None)
        if prefixes_a | prefixes_b:
            self._prefixes[root] = prefixes_a | prefixes_b
        return "merged" if type_a != -1 and type_b != -1 else "linked"

    # -- results --------------------------------------------------------------------------
    def finish(self) -> None:
        """Choose every component's canonical id (call once, after all unions)."""
        best: dict[int, int] = {}
        for index, node_id in enumerate(self._ids):
            if self._type[index] == -1:
                continue
            root = self._find(index)
            current = best.get(root)
            if current is None or priority(node_id) < priority(self._ids[current]):
                best[root] = index
        self._canonical = {root: self._ids[index] for root, index in best.items()}

    def canonical(self, node_id: str) -> str | None:
        """The canonical entity id of any id in the graph; None for an unknown id."""
        assert self._canonical is not None, "finish() first"
        index = self._index.get(node_id)
        if index is None:
            return None
        return self._canonical.get(self._find(index))

    def members(self) -> Iterator[tuple[str, str]]:
        """(canonical id, other id) for every non-canonical id of every component."""
        assert self._canonical is not None, "finish() first"
        for index, node_id in enumerate(self._ids):
            canonical = self._canonical.get(self._find(index))
            if canonical is not None and canonical != node_id:
                yield canonical, node_id
