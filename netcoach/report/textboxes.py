"""Where each piece of text sits inside a report PNG, stored in the PNG itself.

Every picture of a report records the box of each text it draws (captions, labels,
tick labels, legends), measured by the renderer that drew it: Pillow's ``textbbox``
for the image grids and the confusion matrix, matplotlib's ``get_window_extent`` on
the Agg renderer for the plots. The boxes go into a ``tEXt`` chunk of the PNG, so a
browser check can place them on the page where the image is shown and assert that no
two texts overlap and that none is cut, at the size a person sees them
(``tests/test_report_browser.py``). A PNG viewer ignores the chunk.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

KEY = "netcoach:text-boxes"


@dataclass(frozen=True)
class TextBox:
    """One drawn text: its box in image pixels (y down) and its font size in pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    text: str

    def to_list(self) -> list:
        return [round(self.x0, 1), round(self.y0, 1), round(self.x1, 1), round(self.y1, 1),
                round(self.size, 1), self.text]

    @classmethod
    def from_list(cls, row: Sequence) -> "TextBox":
        return cls(*map(float, row[:5]), str(row[5]))


def encode(boxes: Iterable[TextBox]) -> str:
    return json.dumps([b.to_list() for b in boxes], ensure_ascii=True, separators=(",", ":"))


def with_boxes(png: bytes, boxes: Iterable[TextBox]) -> bytes:
    """``png`` with a ``tEXt`` chunk holding ``boxes``, inserted right after IHDR."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    ihdr_end = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4  # signature, length+type, data, crc
    body = b"tEXt" + KEY.encode("latin-1") + b"\0" + encode(boxes).encode("latin-1")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def read_boxes(png: bytes) -> list[TextBox]:
    """The text boxes stored in a PNG (empty when it has none)."""
    pos = 8
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I", png[pos:pos + 4])[0], png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and data.startswith(KEY.encode("latin-1") + b"\0"):
            return [TextBox.from_list(r) for r in json.loads(data[len(KEY) + 1:].decode("latin-1"))]
        if kind == b"IEND":
            break
        pos += 12 + length
    return []


def pillow_box(draw, xy, text: str, font, size: float, **kwargs) -> TextBox:
    """The box Pillow gives ``text`` drawn at ``xy`` (same arguments as ``draw.text``)."""
    x0, y0, x1, y1 = draw.multiline_textbbox(xy, text, font=font, **kwargs)
    return TextBox(x0, y0, x1, y1, size, text)


def matplotlib_boxes(fig) -> list[TextBox]:
    """Every visible, non-empty text of a drawn figure (titles, axis and tick labels, legend
    entries, annotations) with its extent from the figure's renderer, in image pixels."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    height = fig.bbox.height
    drawn_ticks, all_ticks = set(), set()
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for major, locs in ((True, axis.get_majorticklocs()), (False, axis.get_minorticklocs())):
                ticks = axis.get_major_ticks() if major else axis.get_minor_ticks()
                all_ticks |= {id(label) for t in ticks for label in (t.label1, t.label2)}
                # matplotlib draws the first len(locs) ticks, and only those inside the view
                drawn_ticks |= {id(label) for t, loc in zip(ticks, locs) if _inside(axis, loc, limits)
                                for label in (t.label1, t.label2)}
    boxes = []
    for text in fig.findobj(Text):
        if (id(text) in all_ticks and id(text) not in drawn_ticks) or not text.get_visible() \
                or not text.get_text().strip():
            continue
        ext = text.get_window_extent(renderer)
        size = text.get_fontsize() * fig.dpi / 72
        boxes.append(TextBox(ext.x0, height - ext.y1, ext.x1, height - ext.y0, size, text.get_text()))
    return boxes


def _inside(axis, value: float, limits: tuple[float, float]) -> bool:
    """Whether a tick at ``value`` lies in the view, compared in the axis's scaled space
    (log10 on a log axis, where a linear tolerance would admit every small value)."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        v, a, b = axis.get_transform().transform(np.array([value, *limits], dtype=float))
    if not np.isfinite(v):
        return False
    low, high = min(a, b), max(a, b)
    slack = (high - low) * 1e-9
    return low - slack <= v <= high + slack


def overlapping(boxes: Sequence[TextBox], tolerance: float = 0.5) -> list[tuple[TextBox, TextBox]]:
    """Pairs of boxes whose interiors overlap by more than ``tolerance`` pixels both ways."""
    pairs = []
    ordered = sorted(boxes, key=lambda b: b.x0)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.x0 >= a.x1 - tolerance:
                break
            if min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance:
                pairs.append((a, b))
    return pairs


def outside(boxes: Sequence[TextBox], width: float, height: float, tolerance: float = 0.5) -> list[TextBox]:
    """Boxes that stick out of a ``width`` x ``height`` image (cut text)."""
    return [b for b in boxes if b.x0 < -tolerance or b.y0 < -tolerance
            or b.x1 > width + tolerance or b.y1 > height + tolerance]
