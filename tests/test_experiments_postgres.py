"""A study on a PostgreSQL storage: a throwaway server on a loopback port in a temporary
folder, two ``netcoach search`` workers on it, every trial complete exactly once.

Skipped, with the reason, when no PostgreSQL server binary (initdb, pg_ctl) or no
psycopg2 driver is present (Debian: ``apt-get install postgresql``; ``.ci/run`` tries it).
As root the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--model.name", "mlp", "--model.width", "16", "--train.epochs", "2", "--train.threads", "1",
        "--diagnose.preflight", "false", "--diagnose.monitor", "false", "--report.enabled", "false",
        "--log.steps", "false"]


def _server_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # the version folder, which also holds createdb
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _as_server_user() -> list[str]:
    """The command prefix that runs the server as a non-root user."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing")
    return [runuser, "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binary (initdb) found; apt-get install postgresql")
    pytest.importorskip("psycopg2", reason="the psycopg2 driver is missing (pip install psycopg2-binary)")
    prefix = _as_server_user()
    home = Path(tempfile.mkdtemp(prefix="netcoach-pg-"))
    if prefix:
        shutil.chown(home, "postgres")
    data, port = home / "data", _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *map(str, cmd)], check=True, capture_output=True,
                                      text=True, timeout=120)
    try:
        run(bin_dir / "initdb", "-D", data, "-U", "netcoach", "--auth=trust", "-E", "UTF8")
        run(bin_dir / "pg_ctl", "-D", data, "-l", home / "server.log", "-w", "-t", "60", "start",
            "-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1")
        try:
            run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "netcoach", "studies")
            yield f"postgresql+psycopg2://netcoach@127.0.0.1:{port}/studies"
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_on_postgresql_share_one_study(postgres_url, tmp_path):
    runs = tmp_path / "runs"
    space = tmp_path / "space.toml"
    space.write_text('"optim.lr" = {log_uniform = [1e-3, 3e-2]}\n"model.dropout" = {uniform = [0.0, 0.3]}\n')
    args = [sys.executable, "-m", "netcoach", "search", "--space", str(space), "--study", "pg",
            "--sampler", "random", "--trials", "4", "--storage", postgres_url, "--no-report",
            "--run.dir", str(runs), *FAST]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for proc in workers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    trials = optuna.load_study(study_name="pg", storage=postgres_url).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]  # the advisory lock keeps the budget exact
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    folders = sorted(p.name for p in (runs / "pg").iterdir() if p.is_dir())
    assert folders == [f"trial-000{i}-seed-0" for i in range(4)]
    assert not (runs / "pg" / "study.journal").exists()  # the study lives in the database
