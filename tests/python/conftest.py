"""The Python tests' fixture: a real shmqd (from $SHMQD, the build tree's)
on a socket in a fresh temporary directory, started for each test and
stopped with SIGTERM after it, which must end it with status 0 and
remove the socket (as tests/system/daemon.c checks for the C tests).
Without $SHMQD every test is skipped. No test asserts how fast anything
is; every wait is bounded by HANG_S so that a bug fails instead of hangs."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

HANG_S = 30


class Daemon:
    """A running shmqd: .sock is its socket path, .log its stderr."""

    def __init__(self) -> None:
        self.bin = os.environ.get("SHMQD")
        if not self.bin:
            pytest.skip("SHMQD is not set (run through meson test)")
        self.dir = tempfile.mkdtemp(prefix="shmq-py.", dir="/tmp")
        self.sock = os.path.join(self.dir, "s")
        self.log = os.path.join(self.dir, "shmqd.log")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.bin, "--socket", self.sock], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + HANG_S
        while not self._accepts():
            if self.proc.poll() is not None:
                raise RuntimeError(f"shmqd exited during start:\n{self.read_log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"shmqd did not accept within {HANG_S} s")
            time.sleep(0.002)

    def _accepts(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def read_log(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(HANG_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"shmqd did not stop on SIGTERM:\n{self.read_log()}")
        assert status == 0, f"shmqd stopped with status {status}:\n{self.read_log()}"
        assert not os.path.exists(self.sock), "shmqd left its socket behind"

    def remove(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def daemon():
    """A real shmqd for one test."""
    d = Daemon()
    try:
        yield d
        d.stop()
    finally:
        d.remove()


@pytest.fixture
def client(daemon):
    """A connected shmq.Client on the test's daemon, closed after it."""
    import shmq

    with shmq.connect(daemon.sock) as c:
        yield c


@pytest.fixture
def tool():
    """The build tree's shmq command ($SHMQ_TOOL)."""
    path = os.environ.get("SHMQ_TOOL")
    if not path:
        pytest.skip("SHMQ_TOOL is not set (run through meson test)")
    return path
