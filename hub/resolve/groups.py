"""Union-find with "keep apart" tags: the grouping both resolutions share.

Each member may carry tags; two groups that hold the same tag are never joined. Account
resolution tags the accounts of one ``accounts.different_companies`` entry with that entry;
duplicate detection tags every deal with its source, so a group never holds two deals of
one source.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Groups(Generic[K]):
    def __init__(self, members: Iterable[K] = ()) -> None:
        self._parent: dict[K, K] = {}
        self._tags: dict[K, frozenset[Any]] = {}
        for member in members:
            self.add(member)

    def add(self, member: K, tags: Iterable[Any] = ()) -> None:
        if member not in self._parent:
            self._parent[member] = member
            self._tags[member] = frozenset(tags)

    def __contains__(self, member: object) -> bool:
        return member in self._parent

    def find(self, member: K) -> K:
        parent = self._parent
        root = member
        while parent[root] != root:
            root = parent[root]
        while parent[member] != root:  # path compression
            parent[member], member = root, parent[member]
        return root

    def tags(self, member: K) -> frozenset[Any]:
        return self._tags[self.find(member)]

    def can_join(self, a: K, b: K) -> bool:
        ra, rb = self.find(a), self.find(b)
        return ra == rb or not (self._tags[ra] & self._tags[rb])

    def join(self, a: K, b: K) -> bool:
        """Join the groups of ``a`` and ``b``; False (and nothing done) when their tags
        clash. The smaller member (sort order) stays root."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self._tags[ra] & self._tags[rb]:
            return False
        if rb < ra:  # type: ignore[operator]
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._tags[ra] = self._tags[ra] | self._tags.pop(rb)
        return True

    def groups(self) -> dict[K, list[K]]:
        """Root -> members (in insertion order)."""
        out: dict[K, list[K]] = {}
        for member in self._parent:
            out.setdefault(self.find(member), []).append(member)
        return out
