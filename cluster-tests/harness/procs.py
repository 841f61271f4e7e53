"""Process handling shared by cluster-tests/interop/conftest.py and cluster-tests/cluster/conftest.py: starting
`riffle serve` (or a stand-in named by RIFFLE_BIN) with its stderr appended to a file, waiting until it accepts
connections, stopping it (SIGTERM, then SIGKILL) or killing it, and the tail of its stderr for a failed test's
report.

Every process started here is killed by its owner at teardown, by an atexit backstop, and by the kernel
(PR_SET_PDEATHSIG through `setpriv`) if the Python process itself dies. PDEATHSIG fires when the *thread* that
forked the child exits, so start processes from the main thread.
"""

import atexit
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_RIFFLE_BIN = REPO_ROOT / "target" / "release" / "riffle"

LISTEN_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 40

_live_processes = set()


def _kill_all_live_processes():
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _live_processes.discard(proc)


atexit.register(_kill_all_live_processes)


def riffle_bin():
    """The broker binary: $RIFFLE_BIN, else target/release/riffle."""
    return pathlib.Path(os.environ.get("RIFFLE_BIN", str(DEFAULT_RIFFLE_BIN)))


def free_ports(count):
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now (all bound at once, so no
    two are equal)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


class ProcessDied(Exception):
    """The process exited before it accepted connections (or while it was meant to be running)."""


class ServeProcess:
    """One `riffle serve` process: its command line (`overrides` as `--override key=value`), the file its stdout
    and stderr go to, and start/stop/kill. `name` ("broker", "node 2") names it in messages. The binary is
    `binary`, or riffle_bin() at each start when that is None."""

    log_tail_lines = LOG_TAIL_LINES

    def __init__(self, name, port, stderr_path, overrides=None, binary=None):
        self.name = name
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.stderr_path = pathlib.Path(stderr_path)
        self.overrides = dict(overrides or {})
        self.binary = pathlib.Path(binary) if binary is not None else None
        self.proc = None
        self.starts = 0

    def executable(self):
        return self.binary if self.binary is not None else riffle_bin()

    def command(self):
        cmd = [str(self.executable()), "serve"]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        # The kernel kills the process if the thread that started it dies (even by SIGKILL).
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        return cmd

    def launch(self):
        """Starts the process without waiting for it to listen (a cluster node may wait for a quorum first).
        A header line in the stderr file marks each start."""
        if self.running():
            raise RuntimeError(f"{self.name} already running")
        binary = self.executable()
        if not binary.exists():
            raise FileNotFoundError(
                f"riffle binary not found at {binary} (build it with `cargo build --release --bin riffle` "
                "or set RIFFLE_BIN)"
            )
        self.starts += 1
        with open(self.stderr_path, "ab") as err:
            err.write(f"\n===== {self.name} start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            err.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env={**os.environ, "RUST_BACKTRACE": "1"},
            )
        _live_processes.add(self.proc)

    def wait_listening(self, timeout_s=LISTEN_TIMEOUT_S, kill_on_timeout=False):
        """Waits until `port` accepts a connection. Raises ProcessDied (with the stderr tail) if the process
        exits first, TimeoutError if timeout_s passes (killing the process first if kill_on_timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.proc.poll()
            if code is not None:
                _live_processes.discard(self.proc)
                raise ProcessDied(
                    f"{self.name} exited with code {code} before accepting connections on {self.bootstrap}\n"
                    f"--- {self.name} stderr tail ---\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                if kill_on_timeout:
                    self.kill()
                raise TimeoutError(
                    f"{self.name} did not accept connections on {self.bootstrap} within {timeout_s} s\n"
                    f"--- {self.name} stderr tail ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def exited_unasked(self):
        """The exit code if the process has exited without being stopped or killed through this object (reported
        once), else None."""
        if self.proc is not None and self.proc.poll() is not None and self.proc in _live_processes:
            _live_processes.discard(self.proc)
            return self.proc.returncode
        return None

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM (a clean shutdown), then SIGKILL if the process has not exited within timeout_s. Returns the
        exit code (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live_processes.discard(self.proc)
        return self.proc.returncode

    def kill(self):
        """SIGKILL: no chance to flush or clean up, like a power cut for the process (not for the disk). Returns
        the exit code (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _live_processes.discard(self.proc)
        return self.proc.returncode

    def log_tail(self, lines=None):
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no {self.name} stderr file)"
        return "\n".join(text.splitlines()[-(lines or self.log_tail_lines):])


def attach_stderr_tails(report, processes):
    """For a test that failed in setup or call: appends to its report a section per (label, ServeProcess) with
    the tail of that process's stderr."""
    if report.failed and report.when in ("setup", "call"):
        for label, process in processes:
            report.sections.append((f"{label} stderr tail ({process.stderr_path})", process.log_tail()))
