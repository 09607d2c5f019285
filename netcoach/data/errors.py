"""The error type of bad data files.

``DataError`` subclasses ValueError, so the CLI reports it in one line and exits
with status 2 like every other user error. Every message names the file and the
problem.
"""

from __future__ import annotations


class DataError(ValueError):
    """A data file or folder is missing, malformed or inconsistent."""
