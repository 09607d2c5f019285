"""Helpers shared by the test files (and ``bench/faults.py``), imported as ``helpers.*``.

- ``kill``: a training run that SIGKILLs itself after a chosen batch or inside a chosen
  file write, in this process or in a fresh interpreter.
- ``runs``: run-folder comparisons (histories without wall times, weights tensor by
  tensor) and one torch thread for deterministic runs.
"""
