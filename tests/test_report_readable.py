"""Report pictures and tables a person reads: rotated confusion-matrix column labels that do
not run together, a constant learning rate shown as constant, rounded preflight details, the
summary listing only settings that apply, and the config dump collapsed."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFont

from netcoach.report.applies import applicable
from netcoach.report.confusion import columns_need_rotation, plot_confusion
from netcoach.report.sections import _details

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _ink_columns(img: Image.Image, y0: int, y1: int) -> np.ndarray:
    """Which pixel columns hold dark text between rows y0 and y1."""
    a = np.asarray(img.convert("L"))[y0:y1]
    return (a < 128).any(axis=0)


def test_cifar_column_labels_are_rotated_and_separated_by_blank_columns(tmp_path):
    font = ImageFont.load_default(size=12)
    assert columns_need_rotation(CIFAR, font, cell=36) and not columns_need_rotation(list("0123"), font, 36)
    matrix = np.diag(np.full(10, 50)) + 1
    img = Image.open(plot_confusion(matrix, CIFAR, tmp_path / "cm.png"))
    grid_top, cell = 46, 36
    grid_bottom = grid_top + 10 * cell
    ink = _ink_columns(img, grid_bottom + 4, grid_bottom + 60)  # the column-label band
    runs, inside = 0, False  # count separate blocks of ink: one per label
    for dark in ink:
        runs += dark and not inside
        inside = dark
    assert runs == 10  # ten labels, none touching its neighbour


def test_constant_learning_rate_is_drawn_against_zero(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from netcoach.report import plots

    captured = {}
    real = plots.save_png

    def keep(fig, path):
        captured["ylim"] = fig.axes[0].get_ylim()
        captured["texts"] = [t.get_text() for t in fig.axes[0].texts]
        return real(fig, path)

    plots.save_png = keep
    try:
        plots.plot_lr([{"step": i, "lr": 1e-3} for i in range(1, 50)], [], tmp_path / "lr.png")
    finally:
        plots.save_png = real
    assert captured["ylim"] == (0.0, 2e-3) and "constant lr 0.001" in captured["texts"]


def test_preflight_details_are_rounded_also_when_nested():
    text = _details({"measured": 2.3125478954123, "layers": {"net.1": {"dead_frac": 0.123456789}}})
    assert text == "measured: 2.3125, layers: {net.1: {dead_frac: 0.1235}}"


def test_summary_lists_only_the_settings_that_apply():
    model = {"name": "cnn", "width": 32, "vgg_layout": "A", "resnet_depth": 20, "init": "default",
             "init_std": 0.01}
    assert applicable("model", model) == {"name": "cnn", "width": 32, "init": "default"}
    assert "rho" not in applicable("optim", {"name": "adam", "rho": 0.9, "betas": [0.9, 0.999]})
    assert "rho" in applicable("optim", {"name": "rmsprop", "rho": 0.9})
    assert applicable("schedule", {"name": "constant", "gamma": 0.1, "warmup_steps": 0}) == {
        "name": "constant", "warmup_steps": 0}
