"""Small HTML building blocks for self-contained pages (no JavaScript, no external
resources: styles inline, images as base64 ``data:`` URIs)."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

STYLE = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d232a;
 background:#f6f7f9;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:12px 24px 40px}
header{background:#1f3a5f;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{font-size:13px;margin:10px 0} nav a{margin-right:10px;color:#1f3a5f}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 18px;margin:14px 0}
h2{font-size:18px;margin:4px 0 10px;color:#1f3a5f} h3{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #dde1e6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:6px 0}
pre{background:#f3f4f6;padding:8px;overflow-x:auto;font-size:12px;border-radius:4px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 10px}
.card{border:1px solid #dde1e6;border-radius:6px;padding:6px 12px;min-width:120px;background:#fafbfc}
.card b{display:block;font-size:18px} .card span{font-size:12px;color:#5b6570}
.note{color:#5b6570;font-style:italic}
.status-pass,.status-ok{color:#1a7f37;font-weight:600}
.status-warn,.status-warning{color:#9a6700;font-weight:600}
.status-fail,.status-error{color:#cf222e;font-weight:600}
.status-skip,.status-skipped{color:#5b6570}
.finding{border-left:4px solid #9a6700;padding:4px 10px;margin:8px 0;background:#fffbf0}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A number shown compactly (4 significant digits), anything else as text."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def cell(value: Any) -> str:
    cls = ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    return f"<td{cls}>{esc(fmt(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    """An HTML table; ``raw=True`` leaves cells as given (already HTML)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" if raw else cell(v) for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(items: Mapping[str, Any]) -> str:
    """A two-column table of label -> value."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v))}</td></tr>" for k, v in items.items())
    return f"<table><tbody>{rows}</tbody></table>"


def image(png: bytes | str | Path, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a base64 data URI."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{encoded}">'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


class Absent(str):
    """The HTML of a section that has nothing to show, with ``reason`` saying why: the
    report's "Missing pieces" section lists every one, so it cannot claim that everything
    was found while a section says something is absent."""

    reason: str


def absent(reason: str) -> Absent:
    """A section body saying what is absent (``reason``), marked as such."""
    body = Absent(note(reason))
    body.reason = reason
    return body


def status(value: Any) -> str:
    word = str(value).lower()
    return f'<span class="status-{esc(word)}">{esc(value)}</span>'


def cards(items: Mapping[str, Any]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{esc(fmt(v))}</b><span>{esc(k)}</span></div>' for k, v in items.items()
    ) + "</div>"


def section(ident: str, title: str, body: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]],
         footer: Optional[str] = None) -> str:
    """A complete HTML document: a header, a table of contents and the sections
    given as ``(id, title, body_html)``."""
    toc = " ".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t, _ in sections)
    body = "\n".join(section(i, t, b) for i, t, b in sections)
    foot = f'<p class="note">{esc(footer)}</p>' if footer else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n"
            f"<main><nav>{toc}</nav>\n{body}\n{foot}</main></body></html>\n")
