"""Old spellings that saved run folders may hold, and what they mean now.

A run folder's ``config.toml`` is a record that an older netcoach wrote; loading it to
rebuild, resume or predict must not fail because a value was renamed since. Only a
config read back from a run folder (``load_toml(..., saved=True)``, which
``RunFolder.config`` uses) is upgraded, each old value to the exact meaning it had. A new
config (a file, a flag, a Python object) with an old spelling is refused like any other
invalid value, and the message names the current spelling (``hint``).

- ``early_stop.mode = ""`` meant "train.mode". When early stopping watches
  ``train.monitor`` (``early_stop.monitor`` empty or equal), that is ``"auto"``; when it
  watches another metric, it is ``train.mode``'s value (``"max"`` or ``"min"`` in every
  config that could hold ``""``), so a resumed run stops exactly as it would have.
- ``data.normalize = true/false`` (a bool) meant per-channel standardization or none:
  ``"per_channel"`` / ``"none"``.
"""

from __future__ import annotations

from typing import Any, Mapping

# (section, key, old value) -> the current spelling a new config must use
RENAMED = {("early_stop", "mode", ""): "auto",
           ("data", "normalize", "true"): "per_channel", ("data", "normalize", "false"): "none"}


def upgrade_saved(data: Mapping[str, Any]) -> dict:
    """``data`` (the parsed TOML of a saved run's config) with every old spelling replaced
    by what it meant; the input is not changed."""
    out = {section: dict(values) if isinstance(values, Mapping) else values for section, values in data.items()}
    stop = out.get("early_stop")
    if isinstance(stop, dict) and stop.get("mode") == "":
        train = out.get("train") if isinstance(out.get("train"), dict) else {}
        watched = stop.get("monitor", "")
        same_metric = watched == "" or watched == train.get("monitor", watched)
        stop["mode"] = "auto" if same_metric else train.get("mode", "auto")
    data = out.get("data")
    if isinstance(data, dict) and isinstance(data.get("normalize"), bool):
        data["normalize"] = "per_channel" if data["normalize"] else "none"
    return out


def hint(key: str, value: Any) -> str:
    """`` ('' is the old spelling of 'auto')`` when ``value`` is an old spelling of ``key``, else ''."""
    section, _, name = key.partition(".")
    new = RENAMED.get((section, name, value)) if isinstance(value, str) else None
    return f" ({value!r} is the old spelling of {new!r}, read only from a saved run folder's config.toml)" if new else ""
