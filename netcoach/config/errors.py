"""The user-error types: everything the user can fix by changing an input.

``NetcoachError`` is the one base the CLI turns into a one-line message with exit
status 2 (config, data, checkpoint and run-folder problems all derive from it).
It lives in ``config`` because that package imports nothing else from netcoach, so
every layer can raise it without an import cycle.
"""


class NetcoachError(Exception):
    """A bad input (config value, data file, checkpoint, run folder); the message says
    which one, what was expected and the valid alternatives."""


class ConfigError(NetcoachError, ValueError):
    """A config value or key is wrong; the message names it and the valid alternatives."""
