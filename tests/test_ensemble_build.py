"""Ensembles of finished runs: the averaged predictions, the folder, the compatibility
checks (one-line errors naming the key), and prediction through an ensemble folder."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import netcoach
from netcoach.cli import main
from netcoach.ensemble import MemberError, build_ensemble, is_ensemble, load_ensemble
from netcoach.predict import predict
from netcoach.train.run import RunExistsError


def _train(parent: Path, name: str, **extra) -> Path:
    overrides = {"model.name": "mlp", "model.width": "32", "train.epochs": "2", "optim.lr": "0.003",
                 "run.dir": str(parent), "run.name": name, "diagnose.preflight": "false",
                 "report.enabled": "false", **extra}
    return netcoach.train(netcoach.load_config(overrides=overrides), progress=False).run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    parent = tmp_path_factory.mktemp("runs")
    return [_train(parent, f"seed{s}", **{"train.seed": str(s)}) for s in range(3)]


def _member_probs(run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The test probabilities each run stored at the end of its own training."""
    stored = load_file(str(run / "predictions.safetensors"))
    return stored["probs"].double(), stored["labels"]


def _entries(parent: Path) -> set[str]:
    return {p.name for p in parent.iterdir()}


def test_ensemble_accuracy_is_that_of_the_mean_of_the_members_stored_probabilities(runs, tmp_path):
    result = build_ensemble(runs, name="ens", out_dir=tmp_path)
    probs = [_member_probs(r) for r in runs]
    labels = probs[0][1]
    mean = sum(p for p, _ in probs) / 3
    expected = (mean.argmax(1) == labels).double().mean().item()
    assert result.summary["ensemble"]["test_acc"] == pytest.approx(expected)
    loss = torch.nn.functional.nll_loss(mean.log(), labels).item()
    assert result.summary["ensemble"]["test_loss"] == pytest.approx(loss, rel=1e-5)
    for row, run in zip(result.summary["members"], runs):
        own = json.loads((run / "summary.json").read_text())["test"]
        assert row["test"]["test_acc"] == pytest.approx(own["test_acc"])
    best = max(r["test"]["test_acc"] for r in result.summary["members"])
    assert result.summary["gain_over_best"] == pytest.approx(expected - best)


def test_pairwise_disagreement_is_the_fraction_of_samples_with_different_classes(runs, tmp_path):
    summary = build_ensemble(runs, name="ens", out_dir=tmp_path).summary
    preds = [_member_probs(r)[0].argmax(1) for r in runs]
    matrix = summary["disagreement"]["matrix"]
    pairs = []
    for i, j in combinations(range(3), 2):
        value = (preds[i] != preds[j]).double().mean().item()
        assert matrix[i][j] == pytest.approx(value) and matrix[j][i] == pytest.approx(value)
        pairs.append(value)
    assert summary["disagreement"]["mean"] == pytest.approx(sum(pairs) / 3)
    assert all(matrix[i][i] == 0 for i in range(3))


def test_weights_are_normalized_and_weight_the_average(runs, tmp_path):
    result = build_ensemble(runs, weights=[2, 1, 1], name="ens", out_dir=tmp_path)
    probs = [_member_probs(r) for r in runs]
    mean = (2 * probs[0][0] + probs[1][0] + probs[2][0]) / 4
    stored = load_file(str(result.path / "predictions.safetensors"))
    torch.testing.assert_close(stored["probs"].double(), mean, atol=1e-5, rtol=0)
    record = json.loads((result.path / "ensemble.json").read_text())
    assert record["weights"] == pytest.approx([0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="--weights: 2 weights given for 3 members"):
        build_ensemble(runs, weights=[1, 1], name="bad", out_dir=tmp_path)
    with pytest.raises(ValueError, match="positive finite number, got -1"):
        build_ensemble(runs, weights=[1, -1, 1], name="bad", out_dir=tmp_path)
    assert not (tmp_path / "bad").exists()


def test_folder_holds_record_summary_and_report(runs, tmp_path):
    result = build_ensemble(runs, name="ens", out_dir=tmp_path)
    assert is_ensemble(result.path) and result.path == tmp_path / "ens"
    record = json.loads((result.path / "ensemble.json").read_text())
    assert [(result.path / m["path"]).resolve() for m in record["members"]] == [r.resolve() for r in runs]
    html = (result.path / "report.html").read_text()
    assert "Diversity of members" in html and "seed1" in html and "data:image/png;base64," in html
    assert _entries(tmp_path) == {"ens"}  # the temporary build folder is gone
    with pytest.raises(RunExistsError, match="already exists"):
        build_ensemble(runs, name="ens", out_dir=tmp_path)


def test_load_ensemble_and_predict_average_the_members_on_raw_inputs(runs, tmp_path):
    path = build_ensemble(runs, weights=[1, 2, 3], name="ens", out_dir=tmp_path).path
    raw = torch.randint(0, 17, (5, 1, 8, 8), dtype=torch.uint8)
    expected = sum(w * predict(r, raw) for w, r in zip([1 / 6, 2 / 6, 3 / 6], runs))
    torch.testing.assert_close(predict(path, raw), expected, atol=1e-6, rtol=0)
    model = load_ensemble(path)
    assert isinstance(model, torch.nn.Module) and not model.training
    from netcoach.predict import prepare_inputs
    x = prepare_inputs(raw, model.record)
    torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(model.outputs(x).softmax(1), expected, atol=1e-6, rtol=0)


def test_members_with_another_split_seed_are_refused_naming_the_key(runs, tmp_path):
    other = _train(tmp_path / "other", "split1", **{"data.split_seed": "1"})
    with pytest.raises(MemberError) as info:
        build_ensemble([runs[0], other], name="ens", out_dir=tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message
    assert "data.split_seed" in message and "has 0" in message and "has 1" in message
    assert not (tmp_path / "out").exists()


def test_members_with_other_preprocessing_are_refused_naming_the_key(runs, tmp_path):
    other = _train(tmp_path / "other", "raw", **{"data.normalize": "none"})
    with pytest.raises(MemberError, match=r"data.normalize: .* has 'per_channel', .* has 'none'"):
        build_ensemble([runs[0], other], name="ens", out_dir=tmp_path)


def test_members_with_other_classes_are_refused_naming_the_key(runs, tmp_path):
    other = tmp_path / "renamed"
    import shutil
    shutil.copytree(runs[1], other)
    record = json.loads((other / "data.json").read_text())
    record["class_names"] = [f"c{i}" for i in range(10)]
    (other / "data.json").write_text(json.dumps(record))
    with pytest.raises(MemberError, match=r"data.json:class_names"):
        build_ensemble([runs[0], other], name="ens", out_dir=tmp_path / "out")


def test_missing_or_corrupt_member_gives_a_clear_error_and_no_folder(runs, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(MemberError, match=r"ensemble member .*nope: no such run folder"):
        build_ensemble([runs[0], tmp_path / "nope"], name="ens", out_dir=out)
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(runs[1], broken)
    (broken / "checkpoints" / "best.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(MemberError, match=r"ensemble member .*broken: .*not a valid safetensors"):
        build_ensemble([runs[0], broken], name="ens", out_dir=out)
    (broken / "data.json").write_text("{")
    with pytest.raises(MemberError, match=r"data.json is not valid JSON"):
        build_ensemble([runs[0], broken], name="ens", out_dir=out)
    assert not out.exists()


def test_a_failure_while_writing_leaves_no_partial_folder(runs, tmp_path, monkeypatch):
    from netcoach.ensemble import build

    def failing_report(*args):
        raise OSError("disk full")

    monkeypatch.setattr(build, "report_html", failing_report)
    with pytest.raises(OSError, match="disk full"):
        build_ensemble(runs, name="ens", out_dir=tmp_path)
    assert _entries(tmp_path) == set()


def test_tta_scores_members_and_ensemble_over_the_views(runs, tmp_path):
    summary = build_ensemble(runs, name="ens", out_dir=tmp_path, tta=True).summary
    assert summary["tta_views"] == ["identity", "hflip"]
    assert set(summary["ensemble_tta"]) == {"test_loss", "test_acc"}
    assert all("test_tta" in m for m in summary["members"])
    # digits mirrored are other digits: averaging with mirrors changes the predictions
    assert summary["ensemble_tta"]["test_loss"] != pytest.approx(summary["ensemble"]["test_loss"])


def test_cli_prints_members_then_the_gain_and_reports_errors_in_one_line(runs, tmp_path, capsys):
    rc = main(["ensemble", *map(str, runs), "--weights", "1,1,2", "--name", "cli", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("member 1") and "ensemble of 3: test_acc" in out
    assert lines[-2].startswith("gain over the best member:") and (tmp_path / "cli" / "summary.json").is_file()
    assert main(["ensemble", str(runs[0]), str(tmp_path / "missing"), "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing: no such run folder" in err
    assert main(["ensemble", str(runs[0]), str(runs[1]), "--weights", "a,b"]) == 2
    assert "--weights: expected comma-separated numbers" in capsys.readouterr().err
