"""Property-based fuzzing of every config value (Hypothesis).

For any ``--section.key value`` flags, netcoach must either refuse them with a one-line
user error (which the CLI prints and exits 2 with, before any run folder exists) or
accept them and run; never a traceback. Most examples go through the CLI's parsing and
validation only (fast); a sample goes on through ``build_trainer`` (data and model
built), and a few train a tiny run through the CLI.

``NETCOACH_FUZZ_EXAMPLES`` scales every example count (the default keeps CI under a
minute; ``bench`` runs use more).
"""

from __future__ import annotations

import os
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netcoach
from netcoach.cli import USER_ERRORS, build_parser, main
from netcoach.cli.options import config_from_args, reject_unknown
from netcoach.config import option_keys
from netcoach.config.loader import BOUNDS, validate

SCALE = float(os.environ.get("NETCOACH_FUZZ_EXAMPLES", "1"))
KEYS = option_keys()
PARSER = build_parser()
ODD = ["", "none", "null", "true", "false", "nan", "inf", "-inf", "1e400", "-0", "0", "-1", "1",
       "[1, 2]", "[", "a,b", "1,2,3", "0.5", "-0.5", "2", "1e-300", "../x", "/abs", ".", "é", " 7 "]


def number_texts(meta) -> st.SearchStrategy[str]:
    """Values on and around the field's declared bounds, and far from them."""
    edges = [meta[name] for name, _, _ in BOUNDS if name in meta]
    near = [v + d for v in edges for d in (-1, -1e-9, 0, 1e-9, 1)]
    return st.one_of(st.sampled_from([repr(v) for v in near] or ["0"]),
                     st.integers(-2**40, 2**40).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


def value_texts(dotted: str) -> st.SearchStrategy[str]:
    tp, f = KEYS[dotted]
    meta = f.metadata
    options = [st.sampled_from(ODD), st.text(max_size=10), number_texts(meta)]
    if meta.get("choices"):
        choices = [str(c) for c in meta["choices"]]
        options.append(st.sampled_from(choices))
        options.append(st.lists(st.sampled_from(choices), max_size=3).map(",".join))
    if typing.get_origin(tp) is list:
        options.append(st.lists(number_texts(meta), max_size=3).map(",".join))
    return st.one_of(*options)


def registered() -> dict[str, list[str]]:
    """Valid names of the name-valued keys (from the registries themselves)."""
    from netcoach.augment.base import transforms
    from netcoach.models.registry import models
    from netcoach.nn.activations import activations
    from netcoach.nn.init import inits
    from netcoach.optim.optimizers import optimizers
    from netcoach.optim.schedules import schedules

    return {"model.name": ["mlp", "linear", "cnn"], "model.activation": activations.names(),
            "model.init": inits.names(), "optim.name": optimizers.names(),
            "schedule.name": schedules.names(), "augment.transforms": transforms.names(),
            "augment.tta_views": ["hflip", "vflip", "shift", "hflip_shift"],
            "schedule.monitor": ["val_loss", "val_acc", "train_loss"],
            "train.monitor": ["val_loss", "val_acc", "val_acc_ema", ""],
            "early_stop.monitor": ["val_loss", "val_acc", ""]}


NAMES = registered()


def plausible_texts(dotted: str) -> st.SearchStrategy[str]:
    """Values a user would type: in range, a valid name, or one step off (for the build
    and train samples, which need mostly-valid configs to get past the parser)."""
    tp, f = KEYS[dotted]
    meta, inner = f.metadata, typing.get_args(tp)[0] if typing.get_args(tp) else tp
    if dotted in NAMES:
        one = st.sampled_from(NAMES[dotted])
        return st.lists(one, max_size=3).map(",".join) if typing.get_origin(tp) is list else one
    if meta.get("choices"):
        return st.sampled_from([str(c) for c in meta["choices"]])
    if inner is bool:
        return st.sampled_from(["true", "false"])
    if inner in (int, float):
        lo = meta.get("min", meta.get("above", -10))
        hi = meta.get("max", meta.get("below", lo + 10))
        hi = min(hi, lo + 50)
        numbers = (st.integers(int(lo), int(hi)) if inner is int else
                   st.floats(lo, hi, exclude_min="above" in meta, exclude_max="below" in meta))
        one = numbers.map(repr)
        return st.lists(one, min_size=1, max_size=3).map(",".join) if typing.get_origin(tp) is list else one
    return value_texts(dotted)


@st.composite
def flag_sets(draw, keys=tuple(KEYS), plausible: bool = False, most: int = 4) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=most, unique=True))
    texts = plausible_texts if plausible else value_texts
    return {k: draw(st.one_of(texts(k), value_texts(k)) if plausible and draw(st.booleans()) and
                    draw(st.booleans()) else texts(k)) for k in chosen}


def parse(flags: dict[str, str]):
    """The CLI's path from argv to a validated Config (``netcoach train``), no training."""
    argv = ["train"]
    for k, v in flags.items():
        argv.append(f"--{k}={v}")
    args, extra = PARSER.parse_known_args(argv)
    if extra:
        reject_unknown(extra)
    return validate(config_from_args(args))


def assert_user_error(exc: BaseException, flags: dict) -> None:
    assert isinstance(exc, USER_ERRORS), f"{type(exc).__name__} is not a user error: {exc} for {flags}"
    text = str(exc)
    assert text and "\n" not in text.strip(), f"not one line: {text!r} for {flags}"


@settings(max_examples=int(2000 * SCALE), deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(flags=flag_sets())
def test_any_flags_parse_to_a_valid_config_or_a_one_line_user_error(flags):
    try:
        config = parse(flags)
    except SystemExit as exc:  # argparse itself: an option given without its value
        assert exc.code == 2
        return
    except Exception as exc:  # noqa: BLE001 - the property: only user errors, one line
        assert_user_error(exc, flags)
        return
    for dotted in flags:  # what was accepted is what the config holds
        section, key = dotted.split(".", 1)
        assert hasattr(getattr(config, section), key)


# Keys whose valid values are expensive rather than wrong (sizes, counts, paths that
# download): pinned small in the build and train samples, fuzzed freely above.
PINNED = {"model.width": "8", "model.depth": "1", "data.name": "digits", "data.download": "false",
          "data.batch_size": "64", "data.eval_batch_size": "512", "train.epochs": "1",
          "train.threads": "1", "data.num_workers": "0", "model.resnet_depth": "20",
          "model.width_mult": "0.25", "model.maxout_pieces": "2", "log.mlflow": "false",
          "log.tensorboard": "false", "train.compile": "false", "data.cache_dir": None,
          "data.streaming": "false", "diagnose.overfit_steps": "5", "diagnose.batch_size": "32",
          "diagnose.overfit_size": "8", "model.vgg_layout": "8,M", "train.device": "cpu", "dist.nproc": "1"}
FREE = tuple(k for k in KEYS if k not in PINNED and not k.startswith("run."))


def pinned(tmp_path: Path, flags: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in PINNED.items() if v is not None}
    return {**base, **flags, "run.dir": str(tmp_path / "runs"), "run.name": "fuzz",
            "report.enabled": "false"}


@settings(max_examples=int(150 * SCALE), deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(flags=flag_sets(FREE, plausible=True))
def test_accepted_flags_build_a_trainer_or_fail_with_a_one_line_user_error(tmp_path_factory, flags):
    tmp = tmp_path_factory.mktemp("build")
    try:
        config = parse(pinned(tmp, flags))
        netcoach.build_trainer(config)
    except SystemExit as exc:
        assert exc.code == 2
    except Exception as exc:  # noqa: BLE001
        assert_user_error(exc, flags)
    assert not (tmp / "runs").exists(), "building a trainer wrote a run folder"


TRAINED: dict = {}  # exit status -> count, printed by the test below


@settings(max_examples=int(10 * SCALE), deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(flags=flag_sets(FREE, plausible=True, most=2))
def test_cli_train_finishes_or_exits_2_with_one_line_and_no_run_folder(tmp_path_factory, capsys, flags):
    tmp = tmp_path_factory.mktemp("train")
    argv = ["train", "--quiet"] + [f"--{k}={v}" for k, v in pinned(tmp, flags).items()]
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    TRAINED[rc] = TRAINED.get(rc, 0) + 1
    assert "Traceback" not in err
    if rc == 2:
        assert len(err.strip().splitlines()) <= 2, err  # argparse adds a usage line
        assert not (tmp / "runs" / "fuzz").exists(), f"a refused run left a folder: {flags}"
    elif rc == 1 and "diagnose.strict is true: training not started" in err:
        # a strict preflight that FAILed stops before the run folder, in one line
        assert len(err.strip().splitlines()) == 1, err
        assert not (tmp / "runs" / "fuzz").exists(), f"a strict preflight refusal left a folder: {flags}"
    else:
        assert rc in (0, 1), (rc, err, flags)  # 1: training stopped (the guard), with a message
        assert (tmp / "runs" / "fuzz" / "summary.json").is_file()


def test_the_train_sample_trained_some_runs():
    """The tiny-training sample is not all refusals (run after the sample above)."""
    if not TRAINED:
        pytest.skip("run together with the training sample")
    assert TRAINED.get(0, 0) + TRAINED.get(1, 0) >= 1, TRAINED


@pytest.mark.parametrize("dotted", sorted(KEYS))
def test_every_key_accepts_its_default(dotted):
    """The schema's bounds and choices admit every default (one test per key)."""
    from netcoach.config import Config, to_dict
    from netcoach.train.resume import as_override_text

    section, key = dotted.split(".", 1)
    default = to_dict(Config())[section][key]
    if default is None or default == []:
        return
    parse({dotted: as_override_text(default)})
