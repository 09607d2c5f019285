"""The text sections of a run report (summary, diagnosis, model, config, environment)."""

from __future__ import annotations

import json
from typing import Any

from netcoach.report import html as h
from netcoach.report.applies import applicable
from netcoach.report.layers import display_names
from netcoach.report.records import RunRecord
from netcoach.tasks import task_of_config


def headline(rec: RunRecord) -> dict[str, Any]:
    """The few numbers a reader looks for first."""
    s, cfg = rec.summary or {}, rec.config or {}
    last = rec.metrics[-1] if rec.metrics else {}
    out: dict[str, Any] = {}
    for key, value in (s.get("test") or {}).items():
        out[key.replace("_", " ")] = value
    if s.get("best_value") is not None:
        out[f"best {s.get('monitor', 'value')} (epoch {s.get('best_epoch')})"] = s["best_value"]
    else:
        key = task_of_config(cfg).default_monitor
        if key in last:
            out[f"last {key.replace('_', ' ')}"] = last[key]
    if s.get("parameters") is not None:
        out["parameters"] = s["parameters"]
    epochs = s.get("epochs_run", last.get("epoch"))
    if epochs is not None:
        planned = (cfg.get("train") or {}).get("epochs")
        out["epochs"] = f"{epochs}/{planned}" if planned else epochs
    if s.get("wall_time_s") is not None:
        out["wall time (s)"] = round(float(s["wall_time_s"]), 1)
    return out


def summary_section(rec: RunRecord) -> str:
    s, cfg, data, env = rec.summary or {}, rec.config or {}, rec.data or {}, rec.env or {}
    model, optim, sched = cfg.get("model") or {}, cfg.get("optim") or {}, cfg.get("schedule") or {}
    status = "finished" if rec.summary else "incomplete (no summary.json: the run stopped early)"
    times = [m["epoch_time"] for m in rec.metrics if isinstance(m.get("epoch_time"), (int, float))]
    speed = [m["samples_per_s"] for m in rec.metrics if isinstance(m.get("samples_per_s"), (int, float))]
    facts = {
        "status": status,
        "data": _data_text(data, cfg),
        "model": _section_text(applicable("model", model)),
        "parameters": s.get("parameters"),
        "optimizer": _section_text(applicable("optim", optim)),
        "schedule": _section_text(applicable("schedule", sched)),
        "epochs run": s.get("epochs_run", len(rec.metrics)),
        "optimizer steps": s.get("steps"),
        "best epoch": s.get("best_epoch"),
        "wall time (s)": s.get("wall_time_s"),
        "mean epoch time (s)": sum(times) / len(times) if times else None,
        "mean throughput (samples/s)": sum(speed) / len(speed) if speed else None,
        "device": env.get("device"),
        "started": env.get("started"),
    }
    body = h.cards(headline(rec)) + h.kv_table({k: v for k, v in facts.items() if v is not None})
    return body + _run_notes(s) + _metrics_table(s)


def _run_notes(s: dict) -> str:
    """What the run itself reported (early stopping, restored weights, NaN-guard rollbacks)."""
    notes = [n for n in s.get("notes") or [] if n]
    if not notes:
        return ""
    return "<h3>Notes</h3><ul>" + "".join(f"<li>{h.esc(n)}</li>" for n in notes) + "</ul>"


def _data_text(data: dict, cfg: dict) -> str:
    if not data:
        return str((cfg.get("data") or {}).get("name", "unknown (data.json missing)"))
    sizes = data.get("sizes") or {}
    split = ", ".join(f"{k} {v:,}" for k, v in sizes.items())
    shape = "x".join(str(d) for d in data.get("input_shape") or [])
    task = ((cfg.get("task") or {}).get("name")) or data.get("task", "classification")
    outputs = (f"{data.get('num_classes')} classes" if task_of_config(cfg).has_classes
               else f"{data.get('num_outputs', data.get('num_classes'))} outputs")
    return f"{data.get('name')} ({task}; input {shape}; {outputs}; {split})"


def _section_text(section: dict) -> str:
    if not section:
        return "—"
    name = section.get("name", "")
    rest = ", ".join(f"{k}={h.fmt(v)}" for k, v in section.items() if k != "name")
    return f"{name} ({rest})" if rest else str(name)


def _metrics_table(s: dict) -> str:
    """Metrics at the best epoch, the last epoch, and on the test split."""
    best, final, test = s.get("best") or {}, s.get("final") or {}, s.get("test") or {}
    keys = [k for k in final if k.startswith(("train_", "val_"))]
    keys += [k for k in best if k.startswith(("train_", "val_")) and k not in keys]
    if not keys and not test:
        return ""
    rows = [[k, best.get(k), final.get(k)] for k in keys]
    rows += [[k, None, None, v] for k, v in test.items()]
    rows = [r + [None] * (4 - len(r)) for r in rows]
    return "<h3>Metrics</h3>" + h.table(
        ["metric", f"best epoch ({s.get('best_epoch')})", f"last epoch ({final.get('epoch')})", "test"], rows)


def diagnosis_section(rec: RunRecord) -> str:
    """The doctor's findings (with evidence and remedies) and the preflight checks."""
    s = rec.summary or {}
    findings = s.get("doctor")
    if findings is None:
        return h.absent("no doctor findings recorded (summary.json missing or written before the doctor ran)")
    if not findings:
        parts = [h.note("the doctor found nothing to flag in the learning curves")]
    else:
        parts = [_finding(f) for f in findings]
    return "<h3>Doctor</h3>" + "".join(parts)


def _finding(f: Any) -> str:
    if not isinstance(f, dict):
        return f'<div class="finding">{h.esc(f)}</div>'
    epochs = f.get("epochs")
    remedies = f.get("remedies") or []
    if isinstance(remedies, str):
        remedies = [remedies]
    items = "".join(f"<li>{h.esc(r)}</li>" for r in remedies)
    return (f'<div class="finding"><b>{h.esc(f.get("label", "finding"))}</b>'
            + (f" <span class=\"note\">(epochs {h.esc(h.fmt(epochs))})</span>" if epochs else "")
            + f"<p>{h.esc(f.get('evidence', ''))}</p>"
            + (f"<p>What to try:</p><ul>{items}</ul>" if items else "") + "</div>")


def preflight_section(rec: RunRecord) -> str:
    checks = (rec.summary or {}).get("preflight")
    if checks is None:
        return h.absent("no preflight results recorded")
    if not checks:
        return h.absent("preflight checks were not run (diagnose.preflight = false) or none applied")
    rows = []
    for c in checks:
        c = c if isinstance(c, dict) else {"check": str(c)}
        details = c.get("details")
        rows.append([h.esc(c.get("check", "")), h.status(c.get("status", "")),
                     h.esc(c.get("reason", "")),
                     h.esc(_details(details))])
    return h.table(["check", "status", "reason", "details"], rows, raw=True)


def _details(details: Any, limit: int = 400) -> str:
    """A check's details as ``key: value; ...`` with numbers rounded, cut at ``limit`` chars."""
    if not details:
        return ""
    text = _readable(details)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _readable(value: Any) -> str:
    """Nested details as ``key: value; key: {k: v, ...}`` with every number rounded."""
    if isinstance(value, dict):
        inner = ", " if any(isinstance(v, dict) for v in value.values()) else "; "
        return inner.join(f"{k}: {_nested(v)}" for k, v in value.items())
    return _nested(value)


def _nested(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_nested(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return h.fmt(value)


def model_section(rec: RunRecord) -> str:
    """``model_summary.json`` as a table (a list of layer records, or a dict holding one)."""
    ms = rec.model_summary
    if ms is None:
        return h.absent("model_summary.json not recorded")
    layers, extra = (ms, {}) if isinstance(ms, list) else (None, ms if isinstance(ms, dict) else {})
    if layers is None:
        for key, value in extra.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                layers = value
                extra = {k: v for k, v in extra.items() if k != key}
                break
    parts = []
    scalars = {k: v for k, v in extra.items() if not isinstance(v, dict)
               and not (isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v))}
    if scalars:
        parts.append(h.kv_table(scalars))
    if layers:
        columns: list[str] = []
        for row in layers:
            columns += [k for k in (row if isinstance(row, dict) else {}) if k not in columns]
        names = display_names(layers)  # the names the monitor plot uses
        shown = ["shown as"] if names and "name" in columns else []
        parts.append(h.table(columns[:1] + shown + columns[1:],
                             [[_plain(r.get(columns[0]))] + ([names.get(str(r.get("name")), "")] if shown else [])
                              + [_plain(r.get(c)) for c in columns[1:]] for r in layers if isinstance(r, dict)]))
    if not parts:
        parts.append(f"<pre>{h.esc(json.dumps(ms, indent=2, default=str))}</pre>")
    return "".join(parts)


def _plain(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def config_section(rec: RunRecord) -> str:
    if rec.config_text is None:
        return h.absent("config.toml missing")
    lines = rec.config_text.count("\n") + 1
    return ("<p>Re-run with <code>netcoach train --config config.toml</code>.</p>"
            f"<details><summary>config.toml ({lines} lines)</summary>"
            f"<pre>{h.esc(rec.config_text)}</pre></details>")


def environment_section(rec: RunRecord) -> str:
    return h.kv_table(rec.env) if rec.env else h.absent("env.json missing")


def notes_section(notes: list[str], parts: list[tuple[str, str, str]]) -> str:
    """What the report could not show: the run-folder files that are missing or unreadable
    (``notes``) and every section of ``parts`` that has nothing to show (``h.Absent``)."""
    empty = [(ident, title, body.reason) for ident, title, body in parts if isinstance(body, h.Absent)]
    if not notes and not empty:
        return h.note("every piece of the run folder was found, and every section above has content")
    out = ""
    if notes:
        out += (f"<h3>Files missing or unreadable ({len(notes)})</h3><ul>"
                + "".join(f"<li>{h.esc(n)}</li>" for n in notes) + "</ul>")
    if empty:
        out += (f"<h3>Sections with nothing to show ({len(empty)})</h3><ul>"
                + "".join(f'<li><a href="#{h.esc(i)}">{h.esc(t)}</a>: {h.esc(r)}</li>' for i, t, r in empty)
                + "</ul>")
    return out
