"""The error type of bad data files.

``DataError`` is a ``NetcoachError`` (and a ValueError), so the CLI reports it in one line and exits
with status 2 like every other user error. Every message names the file and the
problem.
"""

from __future__ import annotations

from netcoach.config.errors import NetcoachError


class DataError(NetcoachError, ValueError):
    """A data file or folder is missing, malformed or inconsistent."""
