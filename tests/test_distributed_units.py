"""The pieces of distributed training that need no process group: each rank's share of
the loader's batches, its generators and state, the launcher's command line and its
one-line failure report, the backend choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

import netcoach
from netcoach.config import ConfigError
from netcoach.data import build_loaders
from netcoach.data.base import DataBundle, Split
from netcoach.data.loader import DeviceLoader
from netcoach.distributed.launch import failure_line, launcher_args
from netcoach.distributed.setup import backend_for, launched
from netcoach.utils.runtime import make_generator


def split(n: int) -> Split:
    """Sample i has input i, so a batch's inputs are its indices."""
    return Split(torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.zeros(n, dtype=torch.long))


def ranks(n: int, batch: int, world: int, shuffle: bool = True, seed: int = 3) -> list[DeviceLoader]:
    return [DeviceLoader(split(n), batch, shuffle=shuffle, generator=make_generator(seed, 1),
                         rank=r, world_size=world) for r in range(world)]


def indices(batch) -> list[int]:
    return batch[0].flatten().long().tolist()


@pytest.mark.parametrize("n, batch, world", [(1077, 64, 2), (100, 32, 3), (103, 10, 2)])
def test_rank_shares_of_each_batch_are_the_one_process_batch(n, batch, world):
    one = [indices(b) for b in ranks(n, batch, 1)[0]]
    shares = [[indices(b) for b in loader] for loader in ranks(n, batch, world)]
    assert all(len(s) == len(one) for s in shares)  # every rank makes the same number of steps
    for j, whole in enumerate(one):
        parts = [s[j] for s in shares]
        assert sum(parts, []) == whole  # rank order concatenated = the global batch, in order
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1  # an uneven tail is split, not padded
    seen = [i for s in shares for b in s for i in b]
    assert sorted(seen) == list(range(n))  # no sample twice in an epoch, none left out


def test_two_ranks_see_disjoint_halves_and_a_new_order_each_epoch():
    a, b = ranks(1077, 64, 2)
    first = [set(i for batch in loader for i in indices(batch)) for loader in (a, b)]
    second = [[i for batch in loader for i in indices(batch)] for loader in (a, b)]
    assert not first[0] & first[1]
    assert len(first[0]) == 1077 // 2 + 1 and len(first[1]) == 1077 // 2  # 53 = 27 + 26 in the tail
    assert set(second[0]) != first[0]  # the shared generator draws a new permutation per epoch


def test_evaluation_loader_shards_contiguously_and_skips_an_empty_share():
    loaders = ranks(5, 4, 2, shuffle=False)  # batches of 4 and 1: rank 1 has nothing in the second
    assert [indices(b) for b in loaders[0]] == [[0, 1], [4]]
    assert [indices(b) for b in loaders[1]] == [[2, 3]]


def test_training_batch_smaller_than_the_world_is_refused_with_a_fitting_size():
    with pytest.raises(ValueError, match=r"data.batch_size 10: the last training batch holds 1 of the "
                                         r"101 samples, fewer than the 2 processes.*e\.g\. 11"):
        ranks(101, 10, 2)


def test_loader_state_names_its_world_size_and_refuses_another():
    a, _ = ranks(100, 10, 2)
    it = iter(a)
    next(it)
    state = a.state_dict()
    assert state["world_size"] == 2 and state["position"] == 1
    one = ranks(100, 10, 1)[0]
    with pytest.raises(ValueError, match=r"written by a run of 2 process\(es\), this one has 1: "
                                         r"resume with --dist.nproc 2"):
        one.load_state_dict(state)


def test_resumed_share_continues_with_the_same_batches():
    a, _ = ranks(100, 10, 2)
    it = iter(a)
    done = [indices(next(it)) for _ in range(3)]
    state = a.state_dict()
    rest = [indices(b) for b in it]
    b, _ = ranks(100, 10, 2, seed=99)  # another generator: the state must bring the order back
    b.load_state_dict(state)
    assert [indices(x) for x in b] == rest and len(done + rest) == 10


def test_augmentation_generator_differs_per_rank_and_rank0_keeps_the_one_process_stream():
    cfg = netcoach.load_config(overrides={"model.name": "mlp"})
    x, y = torch.zeros(8, 1, 4, 4, dtype=torch.uint8), torch.zeros(8, dtype=torch.long)
    data = DataBundle(name="t", train=Split(x, y), val=Split(x, y), test=Split(x, y), num_classes=2,
                      class_names=["a", "b"], scale=255.0)
    states = [build_loaders(cfg, data, rank=r, world_size=w)["train"].aug_generator.get_state()
              for r, w in ((0, 1), (0, 2), (1, 2))]
    assert torch.equal(states[0], states[1])
    assert not torch.equal(states[1], states[2])


def test_launcher_command_line_is_torchrun_standalone_with_the_module():
    assert launcher_args(2, ["train", "--quiet"]) == [
        "--standalone", "--nproc-per-node", "2", "--module", "netcoach", "train", "--quiet"]
    with pytest.raises(ValueError, match="dist.nproc must be >= 1, got 0"):
        launcher_args(0, [])


def test_failure_line_names_the_rank_and_a_signal(tmp_path):
    failure = ProcessFailure(local_rank=1, pid=4242, exitcode=-9, error_file=str(tmp_path / "none.json"))
    line = failure_line(ChildFailedError("netcoach", {1: failure}))
    assert line.startswith("rank 1 (pid 4242) failed: Signal 9 (SIGKILL) received by PID 4242;")
    assert "--resume RUN and the same --dist.nproc" in line


def test_failure_line_names_the_rank_and_the_exception(tmp_path):
    error = tmp_path / "error.json"  # what torch elastic's ``record`` writes for an exception
    error.write_text(json.dumps({"message": {"message": "ValueError: data.batch_size 10: too small",
                                             "extraInfo": {"py_callstack": "...", "timestamp": "1"}}}))
    failure = ProcessFailure(local_rank=0, pid=7, exitcode=1, error_file=str(error))
    line = failure_line(ChildFailedError("netcoach", {3: failure}))
    assert line.startswith("rank 3 (pid 7) failed: ValueError: data.batch_size 10: too small;")


def test_backend_is_gloo_on_cpu_and_nccl_needs_cuda():
    assert backend_for(torch.device("cpu"), "auto") == "gloo"
    assert backend_for(torch.device("cuda", 0), "auto") == "nccl"
    with pytest.raises(ConfigError, match="dist.backend: nccl needs CUDA devices"):
        backend_for(torch.device("cpu"), "nccl")


def test_not_launched_without_the_launcher_environment(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert not launched()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert launched()


def test_sync_bn_on_the_cpu_is_refused_before_launch_and_in_a_process():
    from netcoach.distributed.setup import check_config, convert_sync_bn
    from netcoach.utils.runtime import Runtime

    cfg = netcoach.load_config(overrides={"dist.nproc": "2", "dist.sync_bn": "true", "train.device": "cpu"})
    with pytest.raises(ConfigError, match="dist.sync_bn: torch's SyncBatchNorm runs on CUDA devices only"):
        check_config(cfg)
    with pytest.raises(ConfigError, match="dist.sync_bn"):
        convert_sync_bn(torch.nn.BatchNorm1d(3), Runtime(torch.device("cpu"), 0, 2), True)
    bn = torch.nn.BatchNorm1d(3)  # one process: nothing to synchronise, the model is unchanged
    assert convert_sync_bn(bn, Runtime(torch.device("cpu")), True) is bn
    with pytest.raises(ConfigError, match="dist.nproc must be >= 1"):
        check_config(netcoach.load_config(overrides={"dist.nproc": "0"}))


def test_restore_takes_this_ranks_own_generators_and_share_from_a_two_rank_state():
    from netcoach.api import build_trainer
    from netcoach.train.checkpoint import CheckpointError
    from netcoach.train.state import capture, rank_states, restore
    from netcoach.utils.runtime import Runtime

    cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": "16", "model.dropout": "0.5",
                                          "train.epochs": "1", "augment.transforms": "hflip"})
    trainers = [build_trainer(cfg, runtime=Runtime(torch.device("cpu"), r, 2)) for r in (0, 1)]
    parts = []
    for r, trainer in enumerate(trainers):  # each rank a little way into its epoch, its own RNG
        torch.manual_seed(100 + r)
        it = iter(trainer.loaders["train"])
        for _ in range(r + 1):
            next(it)
        parts.append(rank_states(trainer)[0])  # no process group: this rank's own part only
    torch.manual_seed(999)  # the top-level (rank 0) copy holds yet another stream
    state = capture(trainers[0])
    state["ranks"] = parts
    fresh = build_trainer(cfg, runtime=Runtime(torch.device("cpu"), 1, 2))
    restore(fresh, state)
    assert torch.equal(torch.get_rng_state(), parts[1]["rng"]["torch"])
    loader = fresh.loaders["train"]
    assert torch.equal(loader.aug_generator.get_state(), parts[1]["loader"]["aug_state"])
    assert not torch.equal(parts[0]["loader"]["aug_state"], parts[1]["loader"]["aug_state"])
    assert loader.state_dict()["position"] == 2  # rank 1 had taken two batches
    state["ranks"] = parts[:1]
    with pytest.raises(CheckpointError, match=r"written by a run of 1 process\(es\), this one has 2"):
        restore(fresh, state)


def test_failure_line_blames_the_signalled_rank_not_the_peer_that_failed_first(tmp_path):
    # rank 1 is SIGKILLed; rank 0 then fails in its collective and can be recorded earlier
    error = tmp_path / "error.json"
    error.write_text(json.dumps({"message": {"message": "RuntimeError: gloo: connection closed by peer",
                                             "extraInfo": {"py_callstack": "...", "timestamp": "1"}}}))
    # ... and is then stopped by the launcher's SIGTERM: a signal too, but after recording its error
    peer = ProcessFailure(local_rank=0, pid=7, exitcode=-15, error_file=str(error))
    killed = ProcessFailure(local_rank=1, pid=8, exitcode=-9, error_file=str(tmp_path / "none.json"))
    killed.timestamp = peer.timestamp + 5  # seen later by the agent
    err = ChildFailedError("netcoach", {0: peer, 1: killed})
    assert err.get_first_failure()[0] == 0
    assert failure_line(err).startswith("rank 1 (pid 8) failed: Signal 9 (SIGKILL) received by PID 8;")


def test_failure_line_blames_the_aborted_rank_not_the_one_the_launcher_then_sigtermed(tmp_path):
    # neither records an error; the agent stamps both in the same second
    aborted = ProcessFailure(local_rank=1, pid=8, exitcode=-6, error_file=str(tmp_path / "none1.json"))
    stopped = ProcessFailure(local_rank=0, pid=7, exitcode=-15, error_file=str(tmp_path / "none0.json"))
    stopped.timestamp = aborted.timestamp
    line = failure_line(ChildFailedError("netcoach", {0: stopped, 1: aborted}))
    assert line.startswith("rank 1 (pid 8) failed: Signal 6 (SIGABRT) received by PID 8;")


LAUNCH_ENV = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}


def run_module_probe(body: str, launched: bool, **env) -> subprocess.CompletedProcess:
    """``python -m netcoach`` after ``body`` (statements that set sys.argv and patch), in a
    process that prints FINALIZED from an atexit handler if the interpreter finalizes;
    ``launched``: with the variables torchrun gives a worker."""
    probe = ("import atexit, runpy, sys; atexit.register(lambda: print('FINALIZED'));" + body
             + "runpy.run_module('netcoach', run_name='__main__')")
    full = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    full.update(PYTHONPATH=str(Path(__file__).resolve().parents[1]), **env, **(LAUNCH_ENV if launched else {}))
    return subprocess.run([sys.executable, "-c", probe], env=full, capture_output=True, text=True, timeout=120)


def test_launched_worker_skips_finalization_but_its_output_and_exit_code_arrive():
    # a launched worker leaves through os._exit (see netcoach/__main__.py): piped stdout is
    # block-buffered, so what it printed arrives only if it is flushed first
    body = "sys.argv = ['netcoach', 'recipes'];"
    proc = run_module_probe(body, launched=True)
    assert proc.returncode == 0, proc.stderr
    assert "mnist-fast" in proc.stdout and "cifar10-fast" in proc.stdout
    assert "FINALIZED" not in proc.stdout  # atexit handlers are part of the finalization skipped
    alone = run_module_probe(body, launched=False)
    assert alone.returncode == 0 and "FINALIZED" in alone.stdout  # an ordinary process finalizes


def test_launched_worker_failing_with_an_exception_reports_it_and_exits_1_without_finalization(tmp_path):
    # the exception path of netcoach/__main__.py: the launcher's error file and the traceback
    # are written, then the worker leaves through os._exit with the interpreter's status 1
    body = ("import netcoach.cli.train_cmd as t;"
            "t.train_here = lambda args, config: (_ for _ in ()).throw(RuntimeError('probe failure'));"
            "sys.argv = ['netcoach', 'train', '--model.name', 'mlp'];")
    error_file = tmp_path / "error.json"
    proc = run_module_probe(body, launched=True, TORCHELASTIC_ERROR_FILE=str(error_file))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr and proc.stderr.strip().splitlines()[-1] == "RuntimeError: probe failure"
    assert "FINALIZED" not in proc.stdout
    failure = ProcessFailure(local_rank=0, pid=7, exitcode=proc.returncode, error_file=str(error_file))
    assert failure_line(ChildFailedError("netcoach", {0: failure})).startswith(
        "rank 0 (pid 7) failed: RuntimeError: probe failure;")  # what the launcher prints
    alone = run_module_probe(body, launched=False, TORCHELASTIC_ERROR_FILE=str(error_file))
    assert alone.returncode == 1 and "FINALIZED" in alone.stdout  # an ordinary process finalizes
    assert alone.stderr.strip().splitlines()[-1] == "RuntimeError: probe failure"


def test_launched_worker_stopped_by_a_usage_error_prints_it_and_exits_2_without_finalization():
    # SystemExit (argparse's usage error) takes the same way out, with its own status
    proc = run_module_probe("sys.argv = ['netcoach', 'recipes', '--no-such-flag'];", launched=True)
    assert proc.returncode == 2, proc.stderr
    assert "unrecognized arguments: --no-such-flag" in proc.stderr
    assert "FINALIZED" not in proc.stdout


def test_failure_line_blames_the_rank_that_raised_not_the_peer_the_launcher_then_sigtermed(tmp_path):
    # rank 1 raises and records it; the launcher then SIGTERMs rank 0, which records nothing
    error = tmp_path / "error1.json"
    error.write_text(json.dumps({"message": {"message": "RuntimeError: probe failure",
                                             "extraInfo": {"py_callstack": "...", "timestamp": "1"}}}))
    raised = ProcessFailure(local_rank=1, pid=8, exitcode=1, error_file=str(error))
    stopped = ProcessFailure(local_rank=0, pid=7, exitcode=-15, error_file=str(tmp_path / "none0.json"))
    stopped.timestamp = raised.timestamp - 1  # the agent may stamp the stopped one first
    line = failure_line(ChildFailedError("netcoach", {0: stopped, 1: raised}))
    assert line.startswith("rank 1 (pid 8) failed: RuntimeError: probe failure;")
    # with nothing recorded and no other signal, the SIGTERMed rank is all there is to name
    alone = ProcessFailure(local_rank=0, pid=7, exitcode=-15, error_file=str(tmp_path / "none0.json"))
    assert failure_line(ChildFailedError("netcoach", {0: alone})).startswith("rank 0 (pid 7) failed: Signal 15")
