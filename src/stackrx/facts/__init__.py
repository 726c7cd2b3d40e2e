"""Typed facts derived from a host view, computed on first use and cached per host.

A loader is a plain function `load_x(view, *args) -> X`. `Facts.get(load_x, *args)` memoises its value
or the exception it raised (MissingEvidence / ParseError), so ten checks that need `sysctl -a` parse it once
and all see the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from stackrx.sources.base import HostView

T = TypeVar("T")


class Facts:
    def __init__(self, view: HostView) -> None:
        self.view = view
        self._cache: dict[tuple[Any, ...], tuple[bool, Any]] = {}

    def get(self, loader: Callable[..., T], *args: Hashable) -> T:
        key = (loader, *args)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = (True, loader(self.view, *args))
            except Exception as exc:  # memoised so every check sees the same failure
                hit = (False, exc)
            self._cache[key] = hit
        ok, value = hit
        if not ok:
            assert isinstance(value, Exception)
            raise value
        return cast(T, value)

    def maybe(self, loader: Callable[..., T], *args: Hashable) -> T | None:
        """Like `get`, but missing evidence is None (for optional corroborating facts)."""
        from stackrx.errors import MissingEvidence, NotApplicable

        try:
            return self.get(loader, *args)
        except (MissingEvidence, NotApplicable):
            return None
