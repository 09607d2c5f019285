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


def test_mistake_captions_bracket_the_probability_and_never_touch(tmp_path):
    from netcoach.report.images import mistake_captions, mistakes_grid
    from netcoach.report.textboxes import overlapping, outside

    assert mistake_captions([7], [1], [0.514], ["0", "1", "2", "3", "4", "5", "6", "7"]) == ["true 7\npred 1 (51%)"]
    images = np.random.default_rng(0).random((16, 32, 32, 3)).astype(np.float32)
    grid, boxes = mistakes_grid(images, [i % 10 for i in range(16)], [(i + 1) % 10 for i in range(16)],
                                [0.51] * 16, CIFAR)
    captions = [b for b in boxes if b.text.startswith("true")]
    assert len(captions) == 16 and overlapping(boxes) == [] and outside(boxes, *grid.size) == []
    assert grid.size[0] <= 1000  # fits the report's column unscaled
    row = sorted((b for b in captions if b.y0 == captions[0].y0), key=lambda b: b.x0)
    assert min(b.x0 - a.x1 for a, b in zip(row, row[1:])) >= 10  # a visible gap between neighbours


def test_confusion_matrix_text_boxes_do_not_overlap_and_stay_inside(tmp_path):
    from netcoach.report.confusion import confusion_image
    from netcoach.report.textboxes import overlapping, outside, read_boxes

    matrix = np.random.default_rng(1).integers(0, 40, (10, 10))
    img, boxes = confusion_image(matrix, CIFAR)
    assert overlapping(boxes) == [] and outside(boxes, *img.size) == []
    assert sum(b.text == "automobile" for b in boxes) == 2  # row label and rotated column label
    column = next(b for b in boxes if b.text == "automobile" and b.y1 - b.y0 > b.x1 - b.x0)
    assert column.y1 - column.y0 > 50  # drawn vertically
    saved = read_boxes(plot_confusion(matrix, CIFAR, tmp_path / "cm.png").read_bytes())
    assert [b.text for b in saved] == [b.text for b in boxes]  # the PNG carries the same boxes


def test_augment_warnings_for_tiny_images_with_hand_computed_shares():
    from netcoach.augment.preview import augment_warnings, mean_cutout_share, mean_shift_loss
    from netcoach.config import AugmentConfig

    # cutout 8 on 8x8: rows covered by centre 0..7 are 4,5,6,7,8,7,6,5 -> 6 of 8, area (6/8)^2
    assert mean_cutout_share(8, 8, 8) == 0.5625
    # padding 4 on 8 px: kept rows over shifts -4..4 = (72 - 2 * (1+2+3+4)) / 72 per axis
    assert abs(mean_shift_loss(4, 8, 8) - (1 - (52 / 72) ** 2)) < 1e-12
    warnings = augment_warnings(AugmentConfig(transforms=["crop", "cutout"]), (1, 8, 8))
    assert len(warnings) == 2
    assert "crop_padding 4 on 8x8 images shifts 48%" in warnings[0] and "--augment.crop_padding 1 (16%)" in warnings[0]
    assert "cutout_size 8 on 8x8 images hides 56%" in warnings[1] and "--augment.cutout_size 4 (19%)" in warnings[1]
    assert augment_warnings(AugmentConfig(transforms=["crop", "cutout"]), (3, 32, 32)) == []  # CIFAR defaults
    assert augment_warnings({"transforms": ["crop"], "crop_padding": 1}, [1, 8, 8]) == []  # config.toml table


def test_augment_preview_labels_each_tile_and_shows_mixup_shares():
    import torch

    from netcoach.augment.preview import label_text

    names = ["cat", "dog", "frog"]
    assert label_text(torch.tensor(1), names) == "dog"
    assert label_text(torch.tensor([0.62, 0.38, 0.0]), names) == "cat (62%) + dog (38%)"
    assert label_text(torch.tensor([0.0, 0.0, 1.0]), names) == "frog"


def test_layer_names_come_from_the_model_summary():
    from netcoach.report.layers import display_names, labelled

    summary = {"layers": [{"name": "backbone.0", "type": "Conv2d"}, {"name": "backbone.1", "type": "ReLU"},
                          {"name": "backbone.4", "type": "Conv2d"}, {"name": "backbone.9", "type": "Linear"},
                          {"name": "head.fc", "type": "Linear"}]}
    names = display_names(summary, ["backbone.0", "extra.3"])
    assert names == {"backbone.0": "conv1", "backbone.4": "conv2", "backbone.9": "fc1", "head.fc": "head",
                     "extra.3": "extra.3"}
    assert labelled("backbone.4", names) == "conv2 (backbone.4)" and labelled("extra.3", names) == "extra.3"


def test_identical_compare_curves_are_found_and_shifted(tmp_path):
    from netcoach.report import plots
    from netcoach.report.textboxes import read_boxes

    curves = {"a": {"val_loss": ([1, 2, 3], [1.0, 0.5, 0.4])}, "b": {"val_loss": ([1, 2, 3], [1.0, 0.5, 0.4])},
              "c": {"val_loss": ([1, 2, 3], [1.0, 0.6, 0.4])}, "d": {"val_loss": ([1, 2, 3], [1.0, 0.5, 0.4])}}
    assert plots.identical_to(curves, "val_loss") == {"b": "a", "d": "a"}
    texts = [b.text for b in read_boxes(plots.plot_overlay(curves, ["val_loss"], tmp_path / "o.png").read_bytes())]
    assert "b (= a, shifted 0.08 epoch)" in texts and "d (= a, shifted 0.16 epoch)" in texts and "c" in texts


def test_lr_finder_axis_holds_every_raw_loss_until_divergence():
    from netcoach.report.plots import lr_find_view

    losses = [2.3, 2.5, 2.0, 1.2, 1.5, 0.9, 2.6, 40.0]  # noisy raw losses, then a diverged tail
    smoothed = [2.3, 2.32, 2.2, 1.9, 1.7, 1.4, 2.4, 9.0]  # back above its start (2.3) at index 6
    bottom, top, end = lr_find_view(losses, smoothed)
    assert end == 6 and bottom < 0.9 and 2.5 < top < 2.8  # raw 2.5 in view; 40 is not


def test_missing_pieces_lists_every_section_that_says_absent(tmp_path):
    from netcoach.report.entry import build_sections
    from netcoach.report.records import load_run_record
    from netcoach.utils.io import append_jsonl

    run = tmp_path / "bare"
    run.mkdir()
    (run / "config.toml").write_text('[model]\nname = "mlp"\n')
    append_jsonl(run / "metrics.jsonl", {"epoch": 1, "lr": 0.1, "train_loss": 2.0, "val_loss": 2.1})
    parts = build_sections(load_run_record(run), run)
    notes = dict((i, b) for i, _, b in parts)["notes"]
    for ident in ("lr-finder", "monitors", "augment", "model", "preflight"):
        assert f'href="#{ident}"' in notes, ident
    assert "every piece" not in notes and "Sections with nothing to show" in notes


def test_augment_preview_cli_prints_the_tiny_image_warnings(tmp_path, capsys):
    from netcoach.cli import main

    assert main(["augment", "preview", "--augment.transforms", "crop,cutout", "--out", str(tmp_path / "p.png"),
                 "--samples", "2", "--views", "2"]) == 0
    out = capsys.readouterr().out
    assert "warning: augment.crop_padding 4 on 8x8 images" in out and "--augment.cutout_size 4" in out
    assert main(["augment", "preview", "--augment.transforms", "crop,cutout", "--augment.crop_padding", "1",
                 "--augment.cutout_size", "3", "--out", str(tmp_path / "q.png")]) == 0
    assert "warning" not in capsys.readouterr().out
