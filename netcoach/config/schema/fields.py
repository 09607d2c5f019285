"""``opt``: a schema field with its help text and the valid values the loader checks.

Metadata: ``help`` (the flag's help), ``min``/``max`` (inclusive), ``above``/``below``
(exclusive), ``choices`` (on a list: for every item), ``plain_name`` (one path component).
"""

from __future__ import annotations

from dataclasses import field


def opt(default, help: str, **kw):
    """A dataclass field with a help text (shown by ``netcoach train --help``)."""
    if isinstance(default, (list, dict)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})
