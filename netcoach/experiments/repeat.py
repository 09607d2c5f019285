"""Repeated seeds: train one configuration K times and summarise every metric.

``repeat(config, seeds=3)`` writes one ordinary run folder per seed into a group folder
(``runs/<group>/seed-0``, ``seed-1``, ...; ``compare runs/<group>/*`` reads them) and
``group.json`` with mean, sample std and 95% t-interval of each summary metric: every
test metric, the best monitored validation value, the epochs run and the wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from netcoach.config import Config, ConfigError
from netcoach.experiments.space import apply_params, check_single_process
from netcoach.report.stats import Spread, spread
from netcoach.train.run import RunExistsError
from netcoach.utils.io import atomic_write_json, atomic_write_text

GROUP_FILE = "group.json"


@dataclass
class RepeatResult:
    """The group folder, each seed's run folder and the spread of each metric."""

    group_dir: Path
    run_dirs: list[Path]
    values: dict[str, list[float]]
    metrics: dict[str, Spread]


def summary_metrics(summary: dict) -> dict[str, float]:
    """The numbers of a run's summary that a repeat aggregates."""
    out = {k: float(v) for k, v in (summary.get("test") or {}).items() if isinstance(v, (int, float))}
    if isinstance(summary.get("best_value"), (int, float)):
        out[f"best_{summary.get('monitor', 'value')}"] = float(summary["best_value"])
    for key in ("epochs_run", "wall_time_s"):
        if isinstance(summary.get(key), (int, float)):
            out[key] = float(summary[key])
    return out


def seed_configs(config: Config, seeds: int) -> tuple[Path, list[Config]]:
    """The group folder and each seed's config (seeds train.seed, train.seed + 1, ...);
    everything validated before anything is written."""
    if seeds < 1:
        raise ConfigError(f"--seeds: expected a positive integer, got {seeds}")
    check_single_process(config, "repeat")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    group = config.run.name or f"{config.data.name}-{config.model.name}-seeds-{stamp}"
    group_dir = Path(config.run.dir) / group
    if group_dir.exists():
        raise RunExistsError(f"group folder {group_dir} already exists; choose another --run.name "
                             "or remove it")
    first = config.train.seed
    configs = [apply_params(config, {"run.dir": str(group_dir), "run.name": f"seed-{first + i}",
                                     "train.seed": first + i}) for i in range(seeds)]
    return group_dir, configs


def repeat(config: Config, seeds: int, *, progress: Optional[bool] = False, callbacks: Iterable = (),
           on_run=None) -> RepeatResult:
    """Train ``config`` with ``seeds`` consecutive seeds; ``on_run(result)`` after each."""
    from netcoach import train

    group_dir, configs = seed_configs(config, seeds)  # the first run creates group_dir, once valid
    run_dirs, values = [], {}
    for cfg in configs:
        result = train(cfg, callbacks=list(callbacks), progress=progress)
        run_dirs.append(result.run_dir)
        for key, value in summary_metrics(result.summary).items():
            values.setdefault(key, []).append(value)
        if on_run is not None:
            on_run(result)
    metrics = {k: spread(v) for k, v in values.items() if len(v) == len(configs)}
    write_group(group_dir, run_dirs, values, metrics)
    return RepeatResult(group_dir, run_dirs, values, metrics)


def write_group(group_dir: Path, run_dirs: list[Path], values: dict, metrics: dict[str, Spread]) -> None:
    """``group.json`` (every value and its spread) and ``group.md`` (a table for pasting)."""
    atomic_write_json(group_dir / GROUP_FILE, {
        "runs": [p.name for p in run_dirs],
        "metrics": {k: {**m.to_dict(), "values": values[k]} for k, m in metrics.items()}})
    lines = ["| metric | mean ± std | 95% CI | n |", "|---|---|---|---|"]
    for key, m in metrics.items():
        lines.append(f"| {key} | {m.mean:.4f} ± {m.std:.4f} | {m.low:.4f} – {m.high:.4f} | {m.n} |")
    atomic_write_text(group_dir / "group.md", "\n".join(lines) + "\n")
