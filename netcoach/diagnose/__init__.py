"""Diagnostics: preflight recipe checks, live monitors, and the post-hoc doctor.

The training entry point uses these from here: ``preflight`` (and ``enforce_strict``)
before training, ``monitor_callbacks`` during it, and ``doctor`` afterwards;
``summary_lines`` is the compact preflight block the command line prints.
"""

from netcoach.diagnose.entry import doctor, monitor_callbacks, preflight
from netcoach.diagnose.preflight import PreflightFailed, enforce_strict, summary_lines

__all__ = ["PreflightFailed", "doctor", "enforce_strict", "monitor_callbacks", "preflight", "summary_lines"]
