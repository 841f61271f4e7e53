"""Self-tests of the broker fixture (start, stop, kill9, restart, cleanup) against a stand-in process, so the
harness is known to work independently of the broker under test."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import INTEROP_DIR, Broker, BrokerDied, free_port, wait_until

FAKE_RIFFLE = INTEROP_DIR / "harness" / "fake_riffle.py"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def fake_broker_factory(broker_factory, monkeypatch):
    monkeypatch.setenv("RIFFLE_BIN", str(FAKE_RIFFLE))
    return broker_factory


def test_fixture_starts_broker_on_free_port_with_fresh_log_dir(fake_broker_factory):
    broker = fake_broker_factory()
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert port_accepts(broker.port)
    assert broker.log_dir.is_dir()
    assert (broker.log_dir / "starts").read_text().split() == [str(broker.proc.pid)]
    assert "--override" in broker.command() and f"log.dirs={broker.log_dir}" in broker.command()


def test_stop_sends_sigterm_and_closes_port(fake_broker_factory):
    broker = fake_broker_factory()
    pid = broker.proc.pid
    assert broker.stop() == 0  # the stand-in exits 0 on SIGTERM
    assert not pid_alive(pid)
    assert not port_accepts(broker.port)


def test_kill9_then_restart_reuses_port_and_log_dir(fake_broker_factory):
    broker = fake_broker_factory()
    first_pid = broker.proc.pid
    assert broker.kill9() == -signal.SIGKILL
    assert not pid_alive(first_pid)
    broker.restart()
    assert broker.proc.pid != first_pid
    assert port_accepts(broker.port)
    assert (broker.log_dir / "starts").read_text().split() == [str(first_pid), str(broker.proc.pid)]


def test_start_failure_reports_exit_code_and_stderr_tail(fake_broker_factory):
    with pytest.raises(BrokerDied) as excinfo:
        fake_broker_factory({"fake.exit.at.start": "3"})
    message = str(excinfo.value)
    assert "exited with code 3" in message
    assert "refusing to start as asked" in message


def test_missing_binary_gives_clear_error(broker_factory, monkeypatch, tmp_path):
    monkeypatch.setenv("RIFFLE_BIN", str(tmp_path / "no-such-riffle"))
    with pytest.raises(FileNotFoundError, match="riffle binary not found"):
        broker_factory()


def test_broker_direct_start_timeout_kills_process(tmp_path):
    # A process that never listens: start() must give up, kill it and say why.
    never_listens = tmp_path / "never_listens.sh"
    never_listens.write_text("#!/bin/sh\necho sleeping >&2\nexec sleep 60\n")
    never_listens.chmod(0o755)
    broker = Broker(never_listens, free_port(), tmp_path, tmp_path / "err", {})
    with pytest.raises(TimeoutError, match="did not accept connections"):
        broker.start(timeout_s=1.0)
    assert not broker.running()


def _run_inner_pytest(tmp_path, body, kill_after_s=None):
    """Runs a generated test file in a child pytest that loads this conftest; returns (proc, pid_file)."""
    pid_file = tmp_path / "inner-broker.pid"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(body).replace("PID_FILE", repr(str(pid_file))))
    env = {**os.environ, "RIFFLE_BIN": str(FAKE_RIFFLE), "PYTHONPATH": str(INTEROP_DIR)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if kill_after_s is not None:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, what="inner broker pid")
        proc.kill()
    out, _ = proc.communicate(timeout=60)
    return proc, pid_file, out.decode(errors="replace")


def test_failing_test_still_kills_broker_and_shows_its_stderr(tmp_path):
    proc, pid_file, out = _run_inner_pytest(
        tmp_path,
        """
        def test_fails(broker):
            open(PID_FILE, "w").write(str(broker.proc.pid))
            assert False, "deliberate failure"
        """,
    )
    assert proc.returncode == 1, out
    pid = int(pid_file.read_text())
    assert not pid_alive(pid), f"broker {pid} survived a failing test"
    assert "riffle broker0 stderr tail" in out and "fake riffle listening" in out, out


def test_sigkilled_pytest_does_not_leave_broker_running(tmp_path):
    proc, pid_file, out = _run_inner_pytest(
        tmp_path,
        """
        import time

        def test_hangs(broker):
            open(PID_FILE, "w").write(str(broker.proc.pid))
            time.sleep(60)
        """,
        kill_after_s=0,
    )
    assert proc.returncode == -signal.SIGKILL, out
    pid = int(pid_file.read_text())
    wait_until(lambda: not pid_alive(pid), 10, what=f"broker {pid} to die with its parent")
