"""The package version, in a module of its own so that code recording it (run
environments, ``--version``) needs no import of the top-level package, which imports
everything; pyproject.toml reads it from here too."""

__version__ = "0.1.0"
