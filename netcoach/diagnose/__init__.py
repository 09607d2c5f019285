"""Diagnostics: preflight recipe checks, live monitors, and the post-hoc doctor.

The training entry point uses three functions from here: ``preflight`` before
training, ``monitor_callbacks`` during it, and ``doctor`` afterwards.
"""

from netcoach.diagnose.entry import doctor, monitor_callbacks, preflight

__all__ = ["doctor", "monitor_callbacks", "preflight"]
