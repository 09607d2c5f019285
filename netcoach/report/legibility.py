"""Check a rendered page as a person sees it: no two texts overlap, none is cut, none is
too small, and the page logs no console error.

The page is laid out by headless Chromium (``browser.Browser``). Its HTML text is
measured there (``Range.getClientRects`` of every text node); the text inside each
embedded PNG comes from the boxes the picture's renderer recorded in the PNG
(``textboxes``), placed where Chromium shows the image and scaled as it is shown.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from netcoach.report.browser import Browser
from netcoach.report.textboxes import TextBox, overlapping, read_boxes

MIN_PX = 10.0  # smallest font a picture's text may be shown at (pixels at 100% zoom)

# Every non-blank text node's line boxes and every image's place, in page coordinates.
LAYOUT_JS = r"""
(() => {
  const sx = window.scrollX, sy = window.scrollY, texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node, id = 0;
  while ((node = walker.nextNode())) {
    const text = node.textContent.trim();
    // text a person cannot see (a closed <details>, display:none) has no place on the page
    if (!text || !node.parentElement.checkVisibility({visibilityProperty: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects())
      if (r.width > 0 && r.height > 0)
        texts.push([id, r.left + sx, r.top + sy, r.right + sx, r.bottom + sy, text.slice(0, 60)]);
    id++;
  }
  const images = [...document.images].map(im => {
    const r = im.getBoundingClientRect();
    return {x: r.left + sx, y: r.top + sy, w: r.width, h: r.height, nw: im.naturalWidth,
            nh: im.naturalHeight, alt: im.alt, src: im.src.startsWith('data:') ? im.src : ''};
  });
  return {texts, images, width: document.documentElement.clientWidth};
})()
"""


@dataclass
class PageCheck:
    """What ``check_page`` found on one page (empty lists: readable)."""

    page: Path
    console: list[str] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    small: list[str] = field(default_factory=list)
    images: int = 0  # images whose text boxes were checked
    texts: int = 0  # text boxes checked, HTML and pictures together

    @property
    def problems(self) -> list[str]:
        return self.console + self.overlaps + self.cut + self.small


def _picture_boxes(image: dict) -> list[TextBox]:
    """The text boxes of one shown PNG in page coordinates, scaled as Chromium shows it."""
    if not image["src"].startswith("data:image/png;base64,") or not image["nw"]:
        return []
    boxes = read_boxes(base64.b64decode(image["src"].split(",", 1)[1]))
    sx, sy = image["w"] / image["nw"], image["h"] / image["nh"]
    return [TextBox(image["x"] + b.x0 * sx, image["y"] + b.y0 * sy, image["x"] + b.x1 * sx,
                    image["y"] + b.y1 * sy, b.size * sy, b.text) for b in boxes]


def check_layout(layout: dict, page: Path) -> PageCheck:
    """Overlapping, cut and too small text in a ``LAYOUT_JS`` result."""
    result = PageCheck(Path(page))
    for image in layout["images"]:
        boxes = _picture_boxes(image)
        if not boxes:
            continue
        result.images += 1
        result.texts += len(boxes)
        name = image["alt"] or "image"
        result.overlaps += [f"{name}: {a.text!r} overlaps {b.text!r}" for a, b in overlapping(boxes)]
        right, bottom = image["x"] + image["w"], image["y"] + image["h"]
        result.cut += [f"{name}: {b.text!r} is cut at the picture's edge" for b in boxes
                       if b.x0 < image["x"] - 0.5 or b.y0 < image["y"] - 0.5 or b.x1 > right + 0.5
                       or b.y1 > bottom + 0.5]
        result.small += [f"{name}: {b.text!r} shown at {b.size:.1f} px (< {MIN_PX:g})" for b in boxes
                         if b.size < MIN_PX]
        if image["x"] + image["w"] > layout["width"] + 0.5:
            result.cut.append(f"{name}: wider than the page ({image['w']:.0f} px)")
    texts = [TextBox(x0, y0, x1, y1, 0.0, f"{ident}:{text}") for ident, x0, y0, x1, y1, text in layout["texts"]]
    result.texts += len(texts)
    result.overlaps += [f"page text {a.text.split(':', 1)[1]!r} overlaps {b.text.split(':', 1)[1]!r}"
                        for a, b in overlapping(texts, tolerance=1.0)
                        if a.text.split(":", 1)[0] != b.text.split(":", 1)[0]]
    return result


def check_page(page: str | Path, width: int = 1280, height: int = 900,
               screenshot: str | Path | None = None, browser: Browser | None = None) -> PageCheck:
    """Open ``page`` in headless Chromium at ``width`` x ``height`` CSS pixels, check its
    text, collect its console errors and (optionally) save a full-page screenshot."""
    own = browser is None
    browser = browser or Browser()
    if own:
        browser.__enter__()
    try:
        seen = len(browser.console)
        browser.open(page, width, height)
        result = check_layout(browser.evaluate(LAYOUT_JS), Path(page))
        if screenshot is not None:
            browser.screenshot(screenshot, full_page=True)
        result.console = browser.console[seen:]
    finally:
        if own:
            browser.__exit__(None, None, None)
    return result
