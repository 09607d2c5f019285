"""The one exception type for configuration problems.

It lives in its own module so that both the schema (checks made when a section is
created) and the loader (types and keys) raise it without importing each other.
"""


class ConfigError(ValueError):
    """A config value or key is wrong; the message names it and the valid alternatives."""
