"""``--ensemble.members K``: K seeds of one config and their ensemble.

The seeds are trained by ``netcoach.experiments.repeat`` (one after another, in this
process: on a few CPU cores parallel runs would only share them), so the members form an
ordinary repeat group (``<run.dir>/<group>/seed-N`` plus ``group.json`` with the spread of
every metric); the ensemble folder goes beside the group, ``<run.dir>/<group>-ensemble``,
where ``compare <group>/*`` does not pick it up as a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from netcoach.config import Config
from netcoach.ensemble.build import EnsembleResult, build_ensemble
from netcoach.experiments.repeat import RepeatResult, repeat
from netcoach.train.resume import with_overrides
from netcoach.train.run import RunExistsError


@dataclass
class MembersResult:
    """The members' repeat group and their ensemble."""

    group: RepeatResult
    ensemble: EnsembleResult


def train_members(config: Config, *, progress: Optional[bool] = False,
                  on_run: Optional[Callable] = None) -> MembersResult:
    """Train ``ensemble.members`` seeds of ``config`` (``train.seed``, +1, ...) and build their
    ensemble; ``on_run(result)`` after each member. A named ensemble folder that exists is
    refused before anything is trained."""
    if config.run.name:
        target = Path(config.run.dir) / f"{config.run.name}-ensemble"
        if target.exists():
            raise RunExistsError(f"ensemble folder {target} already exists; choose another --run.name "
                                 "or remove it")
    group = repeat(with_overrides(config, {"ensemble.members": 1}), config.ensemble.members,
                   progress=progress, on_run=on_run)
    ensemble = build_ensemble(group.run_dirs, name=f"{group.group_dir.name}-ensemble",
                              out_dir=group.group_dir.parent, tta=config.augment.tta)
    return MembersResult(group, ensemble)
