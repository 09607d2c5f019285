"""What ``netcoach train`` shows while it works: a resumed run says where it continues and
its batch bar starts there; a large image folder shows a decode bar."""

from __future__ import annotations

import io

import torch
from rich.console import Console

import netcoach
from netcoach.cli.train_cmd import StartReporter
from netcoach.train.progress import ProgressBar

BATCHES = 23  # digits: 1,078 training images in batches of 48 (the last one short)


def config(tmp_path, **extra):
    over = {"model.name": "mlp", "model.width": "16", "train.epochs": "3", "data.batch_size": "48",
            "train.grad_accum": "2", "run.dir": str(tmp_path), "run.name": "r",
            "diagnose.preflight": "false", "diagnose.monitor": "false", "report.enabled": "false",
            **extra}
    return netcoach.load_config(overrides=over)


class StopAt(netcoach.Callback):
    """Asks the trainer to stop (as Ctrl-C does) at batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch: int, batch: int):
        self.epoch, self.batch, self.seen = epoch, batch, 0

    def on_epoch_start(self, trainer):
        self.seen = 0

    def on_batch_end(self, trainer, batch):
        self.seen += 1
        if trainer.epoch == self.epoch and self.seen == self.batch:
            trainer.interrupt()


class BarWatcher(netcoach.Callback):
    """Reads the batch bar of ``bar`` (the callback before it) when each epoch starts and
    after each epoch's first batch."""

    def __init__(self, bar: ProgressBar):
        self.bar, self.at_start, self.after_first, self.first = bar, [], [], False

    def batch_task(self):
        return self.bar._progress.tasks[-1]

    def on_epoch_start(self, trainer):
        self.at_start.append((trainer.epoch + 1, self.batch_task().completed, self.batch_task().total))
        self.first = True

    def on_batch_end(self, trainer, batch):
        if self.first:
            self.after_first.append(self.batch_task().completed)
            self.first = False


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, highlight=False, color_system=None)


def test_a_resumed_run_reports_its_batch_and_its_bar_starts_there(tmp_path):
    torch.set_num_threads(1)
    cut = netcoach.train(config(tmp_path), progress=False, callbacks=[StopAt(epoch=1, batch=10)])
    assert cut.summary["interrupted"]["epoch"] == 1
    events = []
    bar = ProgressBar(terminal())
    watcher = BarWatcher(bar)
    netcoach.train(resume=tmp_path / "r", progress=False, callbacks=[bar, watcher],
                   reporter=lambda event, value: events.append((event, value)))
    resumed = [v for e, v in events if e == "resume"]
    # 10 batches of epoch 2 were done: with grad_accum 2 that is 5 optimizer steps
    assert resumed == [{"epoch": 1, "step": 12 + 5, "batches_done": 10, "batches": BATCHES}]
    assert watcher.at_start == [(2, 10, BATCHES), (3, 0, BATCHES)]  # epoch 2 starts at batch 11
    assert watcher.after_first[0] == 11  # the first resumed batch is batch 11 (later redraws are throttled)


def test_the_resume_line_names_the_epoch_and_the_next_batch():
    out = terminal()
    StartReporter(out)("resume", {"epoch": 1, "step": 17, "batches_done": 10, "batches": BATCHES})
    assert out.file.getvalue().strip() == f"resuming at epoch 2, batch 11 of {BATCHES} (after optimizer step 17)"


def test_a_large_decode_shows_a_bar_and_a_summary_line_a_small_one_nothing():
    out = terminal()
    reporter = StartReporter(out)
    for done in (0, 512, 1024, 1536, StartReporter.DECODE_BAR_MIN):
        reporter("decode", {"done": done, "total": StartReporter.DECODE_BAR_MIN})
    text = out.file.getvalue()
    assert "decoding images" in text and f"{StartReporter.DECODE_BAR_MIN}/{StartReporter.DECODE_BAR_MIN}" in text
    assert f"decoded {StartReporter.DECODE_BAR_MIN:,} images" in text
    small = terminal()
    StartReporter(small)("decode", {"done": 300, "total": 300})
    assert small.file.getvalue() == ""


def test_a_decode_bar_left_open_by_an_error_is_closed():
    out = terminal()
    reporter = StartReporter(out)
    reporter("decode", {"done": 512, "total": 50_000})
    assert reporter.decoding is not None
    reporter.close()
    assert reporter.decoding is None and not out.is_alt_screen
