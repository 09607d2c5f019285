"""Report building blocks: confusion counts (checked against scikit-learn), per-class
accuracy by hand, number formatting, image conversion, and records of a folder."""

from __future__ import annotations

import numpy as np
import pytest

from netcoach.report import html
from netcoach.report.confusion import confusion, per_class_accuracy
from netcoach.report.images import filter_colours, to_display
from netcoach.report.records import flatten, load_run_record


def test_confusion_matches_sklearn():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    probs = rng.random((500, 7)).astype(np.float32)
    labels = rng.integers(0, 7, 500)
    ours = confusion(probs, labels, 7)
    assert (ours == confusion_matrix(labels, probs.argmax(1), labels=list(range(7)))).all()


def test_per_class_accuracy_by_hand():
    # class 0: 2 of 3 right; class 1: 1 of 1; class 2: no samples
    probs = np.array([[.9, .1, 0], [.8, .2, 0], [.1, .9, 0], [.2, .7, .1]])
    labels = np.array([0, 0, 0, 1])
    acc = per_class_accuracy(confusion(probs, labels, 3))
    assert acc[0] == pytest.approx(2 / 3) and acc[1] == 1.0 and np.isnan(acc[2])


def test_to_display_scales_like_the_loader():
    x = np.array([[[[0, 8], [16, 4]]]], dtype=np.uint8)  # digits: uint8 with scale 16
    assert to_display(x, 16.0)[0].tolist() == [[0.0, 0.5], [1.0, 0.25]]
    rgb = np.zeros((2, 3, 4, 5), np.float32)
    assert to_display(rgb, None).shape == (2, 4, 5, 3)


def test_filter_colours_signs():
    out = filter_colours(np.array([[[-1.0, 0.0, 1.0]]]))
    assert out[0, 0].tolist() == [[5, 113, 176], [255, 255, 255], [202, 0, 32]]


def test_fmt_and_escaping():
    assert html.fmt(0.98333333) == "0.9833"
    assert html.fmt(12345) == "12,345" and html.fmt(None) == "—" and html.fmt(True) == "true"
    assert html.fmt(3e-5) == "3e-05" and html.fmt([0.9, 0.999]) == "0.9, 0.999"
    assert "&lt;script&gt;" in html.table(["a"], [["<script>"]])


def test_records_of_empty_and_foreign_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run_record(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_run_record(tmp_path / "nope")
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_plot_lr_find_survives_a_diverged_sweep(tmp_path):
    from PIL import Image

    from netcoach.report.plots import plot_lr_find

    record = {"lrs": [1e-6, 1e-4, 1e-2, 1.0], "losses": [2.3, 1.2, 0.9, float("inf")],
              "smoothed": [2.3, 1.6, 1.2, float("nan")], "suggestion": None,
              "rule": "minimum of the smoothed loss divided by ten " * 3, "stopped_early": True}
    out = plot_lr_find(record, tmp_path / "lrf.png")
    with Image.open(out) as im:
        assert im.size[0] > 300 and im.size[1] > 200


def test_rgb_grids_and_many_classes(tmp_path):
    """CIFAR-like inputs: RGB filters and mistakes, and a 100-class confusion matrix."""
    from PIL import Image

    from netcoach.report.confusion import plot_confusion
    from netcoach.report.images import plot_filters, plot_mistakes

    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 256, (10, 3, 32, 32)).astype(np.uint8)
    out = plot_mistakes(to_display(inputs, 255.0), list(range(10)), [9 - i for i in range(10)],
                        [0.9] * 10, [f"class{i}" for i in range(10)], tmp_path / "m.png")
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size[0] > 8 * 64  # 8 columns of upscaled 32x32 tiles
    out = plot_filters(rng.normal(size=(16, 3, 5, 5)).astype(np.float32), tmp_path / "f.png")
    with Image.open(out) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 50  # colour filters, not grey
    probs = rng.random((2000, 100)).astype(np.float32)
    out = plot_confusion(confusion(probs, rng.integers(0, 100, 2000), 100),
                         [str(i) for i in range(100)], tmp_path / "c.png")
    with Image.open(out) as im:
        assert min(im.size) > 600


def test_log_axis_has_ticks_over_many_decades():
    """Over 8 decades (the LR finder's 1e-8..1) 1-2-5 subdivisions gave no ticks at all."""
    from netcoach.report.plots import log_axis, new_figure

    for low, high, at_least in ((1e-8, 1.0, 4), (1e-3, 1e-1, 3)):
        fig, (ax,) = new_figure(4.0, 3.0)
        ax.plot([low, high], [1.0, 2.0])
        log_axis(ax, "x")
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert len(ticks) >= at_least, (low, high, ticks)
