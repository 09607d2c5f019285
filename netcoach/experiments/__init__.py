"""Experiments over many runs: hyperparameter studies on Optuna and repeated seeds.

- ``space``: the search-space file, validated before any trial runs.
- ``spec``: what defines a study (``StudySpec``), every option checked before anything is touched.
- ``storage``: the Optuna storage, samplers, pruners, the study itself and the ask lock.
- ``recovery``: trials of dead workers marked failed, failed trials queued again.
- ``study``: the worker loop and the local worker processes (``run_study``).
- ``trial``: one trial = one ordinary run folder per seed, pruned through a callback.
- ``repeat``: one configuration over K seeds, every metric as mean ± std with a t-interval.
- ``study_report``: the study's HTML report.
"""

from netcoach.experiments.repeat import RepeatResult, repeat
from netcoach.experiments.space import SearchSpace, load_space
from netcoach.experiments.spec import StudySpec
from netcoach.experiments.study import run_study

__all__ = ["RepeatResult", "SearchSpace", "StudySpec", "load_space", "repeat", "run_study"]
