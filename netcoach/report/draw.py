"""Drawing a report figure without letting a failure break the report."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from netcoach.report import html as h


def guarded(notes: list[str], what: str, fn: Callable, *args, **kwargs) -> Optional[Path]:
    """Draw one plot; a failure becomes a note (a report must never break a finished run)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - unexpected record content from any writer
        notes.append(f"could not draw {what}: {type(exc).__name__}: {exc}")
        return None


def figure(path: Optional[Path], alt: str, missing: str) -> str:
    """The embedded PNG at ``path``, or a note saying it is ``missing``."""
    return h.image(path, alt) if path is not None else h.note(missing)
