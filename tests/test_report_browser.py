"""Reports as a person sees them in Chromium: a digits run (with an LR-finder sweep added by
``lr-find --run``), a run on a folder of RGB images with CIFAR's class names, and a compare
page. Every text box, the HTML's (measured in the page) and the pictures' (recorded by
their renderer, placed and scaled as Chromium shows the image), must be free of overlaps,
inside its picture and at least ``MIN_PX`` high; the pages log no console message."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import netcoach
from netcoach.cli import main
from netcoach.report.browser import Browser, find_chromium
from netcoach.report.compare import compare_runs, write_comparison
from netcoach.report.images import save_pil
from netcoach.report.legibility import check_layout, check_page
from netcoach.report.textboxes import pillow_box

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (Debian: "
                                "apt-get install chromium); the browser checks are skipped")


def _train(runs: Path, name: str, **overrides) -> Path:
    cfg = netcoach.load_config(overrides={"model.name": "cnn", "model.width": "8", "train.epochs": "2",
                                          "run.dir": str(runs), "run.name": name,
                                          "diagnose.preflight": "false", **overrides})
    return netcoach.train(cfg, progress=False).run_dir


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for every page of this module (each check_page reads only the
    console messages of its own page): starting one per check cost seconds each."""
    with Browser() as shared:
        yield shared


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """report.html of a digits run (+ lr-find --run) and of a CIFAR-named RGB folder run, and
    a compare page of two identical digits runs and the CIFAR-free third one."""
    tmp = tmp_path_factory.mktemp("browser")
    rng = np.random.default_rng(0)
    folder = tmp / "rgb"
    for k, name in enumerate(CIFAR):
        (folder / name).mkdir(parents=True)
        for i in range(12):  # a class colour plus noise: learnable, with some mistakes
            base = np.array([(k * 73) % 256, (k * 151) % 256, (k * 199) % 256])
            pixels = np.clip(base + rng.normal(0, 60, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i:03d}.png")
    runs = tmp / "runs"
    digits = _train(runs, "digits", **{"augment.transforms": "crop,cutout"})
    assert main(["lr-find", "--run", str(digits), "--num", "30"]) == 0
    cifar = _train(runs, "cifar", **{"data.name": "folder", "data.path": str(folder),
                                     "data.cache": "false", "augment.transforms": "hflip"})
    twin = _train(runs, "digits-twin", **{"augment.transforms": "crop,cutout"})
    other = _train(runs, "digits-sgd", **{"optim.name": "momentum", "optim.lr": "0.05"})
    compare = write_comparison(compare_runs([digits, twin, other]), tmp / "cmp")["html"]
    return {"digits": digits / "report.html", "cifar": cifar / "report.html", "compare": compare}


@pytest.mark.parametrize("name", ["digits", "cifar", "compare"])
def test_page_text_never_overlaps_and_no_console_errors(pages, browser, name, tmp_path):
    shot = tmp_path / f"{name}.png"
    result = check_page(pages[name], 1280, 900, screenshot=shot, browser=browser)
    assert result.console == [], result.console
    assert result.problems == [], "\n".join(result.problems)
    with Image.open(shot) as im:
        assert im.size[0] == 1280 and im.size[1] > 900  # the whole page, not the viewport
    assert result.images >= (1 if name == "compare" else 5) and result.texts > 50


def _picture_texts(page: Path, alt: str) -> list[str]:
    """The texts recorded in the embedded PNG with ``alt``."""
    from netcoach.report.textboxes import read_boxes

    html = page.read_text(encoding="utf-8")
    data = re.search(rf'<img alt="{re.escape(alt)}" src="data:image/png;base64,([^"]+)"', html).group(1)
    return [b.text for b in read_boxes(base64.b64decode(data))]


def test_the_checked_boxes_are_the_captions_and_matrix_labels(pages):
    """The browser check above covers the mistake captions and the confusion-matrix labels:
    they are among the boxes recorded in the pictures it measured."""
    captions = _picture_texts(pages["cifar"], "worst mistakes")
    assert len([c for c in captions if c.startswith("true ")]) >= 1
    assert all(re.fullmatch(r"true \w+\npred \w+ \(\d+%\)", c) for c in captions if c.startswith("true "))
    labels = _picture_texts(pages["cifar"], "confusion matrix and per-class accuracy")
    assert all(labels.count(n) == 2 for n in CIFAR)  # row and (rotated) column label of each class


def test_lr_find_run_puts_the_sweep_in_the_report(pages):
    html = pages["digits"].read_text(encoding="utf-8")
    section = html.split('<section id="lr-finder">', 1)[1].split("</section>", 1)[0]
    assert "Suggested learning rate" in section and 'alt="LR finder"' in section
    legend = _picture_texts(pages["digits"], "LR finder")
    assert "loss of each batch" in legend and "smoothed loss" in legend


def test_monitor_plot_names_layers_from_the_model(pages):
    texts = _picture_texts(pages["digits"], "per-layer monitors")
    assert {"conv1", "conv2", "head"} <= set(texts) and "backbone.4" not in texts
    assert "‖Δw‖ / ‖w‖" in texts and "‖∇w‖" in texts and "epoch" in texts  # y labels, x label
    assert not any("per step" in t for t in texts)


def test_compare_page_links_reports_and_separates_identical_curves(pages):
    html = pages["compare"].read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"#]+)">', html)
    assert len(links) == 3 and all((pages["compare"].parent / link).resolve().is_file() for link in links)
    legend = _picture_texts(pages["compare"], "validation curves")
    assert any(t.startswith("digits-twin (= digits, shifted") for t in legend)


def test_augmentation_warning_for_tiny_images_in_the_report(pages):
    html = pages["digits"].read_text(encoding="utf-8")
    section = html.split('<section id="augment">', 1)[1].split("</section>", 1)[0]
    assert "augment.crop_padding 4 on 8x8 images" in section and "--augment.crop_padding 1" in section
    assert "augment.cutout_size 8 on 8x8 images hides 56%" in section
    assert "Augmentation too strong" not in pages["cifar"].read_text(encoding="utf-8")


def _bad_picture(path: Path) -> Path:
    """A PNG whose recorded texts overlap, stick out of the picture and are tiny."""
    img = Image.new("RGB", (200, 60), "white")
    draw = ImageDraw.Draw(img)
    font, tiny = ImageFont.load_default(size=13), ImageFont.load_default(size=6)
    boxes = []
    for xy, text, f in (((5, 5), "pred 1", font), ((40, 5), "51%", font), ((150, 40), "cut off here", font),
                        ((5, 40), "tiny", tiny)):
        draw.text(xy, text, font=f, fill="black")
        boxes.append(pillow_box(draw, xy, text, f, f.size))
    return save_pil(img, path, boxes)


def test_the_check_catches_overlaps_cut_and_tiny_text_and_console_errors(browser, tmp_path):
    png = _bad_picture(tmp_path / "bad.png")
    data = base64.b64encode(png.read_bytes()).decode()
    page = tmp_path / "bad.html"
    page.write_text(f'<html><body><img alt="bad" src="data:image/png;base64,{data}">'
                    '<p style="margin-top:-20px">over the picture? no: text over text</p>'
                    '<p style="margin-top:-30px">text over text</p>'
                    "<script>console.error('boom')</script></body></html>")
    result = check_page(page, 800, 600, browser=browser)
    assert any("'pred 1' overlaps '51%'" in p for p in result.overlaps)
    assert any("'cut off here' is cut" in p for p in result.cut)
    assert any("'tiny' shown at" in p for p in result.small)
    assert any("text over text" in p and "page text" in p for p in result.overlaps)
    assert any("boom" in m for m in result.console)


def test_a_picture_scaled_down_by_the_page_is_measured_at_its_shown_size():
    layout = {"width": 1000, "texts": [], "images": [
        {"x": 0, "y": 0, "w": 500, "h": 100, "nw": 1000, "nh": 200, "alt": "wide",
         "src": "data:image/png;base64," + base64.b64encode(_wide_png()).decode()}]}
    small = check_layout(layout, Path("x.html")).small
    assert small and "6.5 px" in small[0]  # 13 px text shown at half size


def _wide_png() -> bytes:
    import io

    from netcoach.report.textboxes import TextBox, with_boxes

    buffer = io.BytesIO()
    Image.new("RGB", (1000, 200), "white").save(buffer, format="PNG")
    return with_boxes(buffer.getvalue(), [TextBox(10, 10, 60, 23, 13, "label")])
