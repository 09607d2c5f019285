"""Named registries of components (models, optimizers, datasets, ...).

Components register under a name; config values pick them by that name; an unknown
name raises an error that lists what exists. Tests parametrize over a registry's
names so that a new entry is tested automatically.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate name; the message lists the available names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """A mapping from names to components, with helpful errors.

    Example:
        >>> models = Registry("model")
        >>> @models.register("tiny")
        ... def tiny(): return "built"
        >>> models.get("tiny")()
        'built'
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (case-insensitive)."""

        def add(obj: T) -> T:
            key = name.lower()
            if key in self._items:
                raise RegistryError(f"{self.kind} '{name}' is registered twice")
            self._items[key] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The component called ``name``; raises RegistryError listing the valid names."""
        try:
            return self._items[name.lower()]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} '{name}'; available: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
