"""A misbehaving HTTP server: every row arrives exactly once, or a clear error comes within a bounded time."""

import itertools
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

import scifig
from scifig_tools.serve import RangeRequestHandler, RangeServer

from helpers import DUMMY, ROOT


class _Plan:
    """Which GET requests misbehave, and how; counts what happened so the tests can check the faults occurred."""

    def __init__(self, drop_every=0, fail_every=0, stall_every=0, stall_seconds=0.0):
        self.drop_every, self.fail_every = drop_every, fail_every
        self.stall_every, self.stall_seconds = stall_every, stall_seconds
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.done = {"drop": 0, "fail": 0, "stall": 0}

    def next(self):
        with self._lock:
            return next(self._numbers)

    def hit(self, every, number, kind):
        if every and number % every == 0:
            with self._lock:
                self.done[kind] += 1
            return True
        return False


def _server(plan):
    class Faulty(RangeRequestHandler):
        def do_GET(self):
            number = plan.next()
            if plan.hit(plan.fail_every, number, "fail"):
                self.send_error(503, "Slow down")
                return
            if plan.hit(plan.stall_every, number, "stall"):
                time.sleep(plan.stall_seconds)
            self._drop = plan.hit(plan.drop_every, number, "drop")
            super().do_GET()

        def copyfile(self, source, outputfile):
            if getattr(self, "_drop", False) and getattr(self, "_remaining", None):
                # promise the whole range, send half, hang up
                outputfile.write(source.read(self._remaining // 2))
                self.close_connection = True
                self._remaining = None
                return
            super().copyfile(source, outputfile)

    return RangeServer(DUMMY, handler=Faulty).start()


def _ids(**kwargs):
    return [row["id"] for row in scifig.load("mcq", split="validation", streaming=True, **kwargs)]


@pytest.fixture(scope="module")
def expected():
    return _ids(data_dir=str(DUMMY))


@pytest.mark.parametrize("plan", [
    _Plan(drop_every=3),
    _Plan(fail_every=4),
    _Plan(drop_every=5, fail_every=7),
    _Plan(stall_every=6, stall_seconds=2.5),
], ids=["dropped bodies", "intermittent 503", "drops and 503s", "a stalled response now and then"])
def test_faults_are_retried_and_every_row_arrives_once(plan, expected):
    server = _server(plan)
    try:
        got = _ids(base_url=server.url, http_timeout=1)
    finally:
        server.stop()
    assert got == expected
    assert sum(plan.done.values()) > 0, "the server never misbehaved: the test proves nothing"


def test_a_server_that_always_stalls_fails_clearly_in_bounded_time():
    plan = _Plan(stall_every=1, stall_seconds=4)
    server = _server(plan)
    started = time.monotonic()
    try:
        with pytest.raises(scifig.ScifigDataError, match="could not be read after 5 attempts"):
            _ids(base_url=server.url, http_timeout=1)
    finally:
        server.stop()
    assert time.monotonic() - started < 30


def test_a_server_that_always_fails_names_the_archive(expected):
    plan = _Plan(fail_every=1)
    server = _server(plan)
    try:
        with pytest.raises(scifig.ScifigDataError) as error:
            _ids(base_url=server.url)
    finally:
        server.stop()
    assert f"{server.url}benchmark.zip" in str(error.value)
    assert plan.done["fail"] > 5  # retried with backoff before giving up


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_server_is_named_as_the_network_with_the_remedy_in_one_line(tmp_path):
    """A prepared load (datasets downloads the archive) and the export command, offline: the URL, that it is the
    network, and data_dir= / base_url= to read a copy instead."""
    mirror = f"http://127.0.0.1:{_closed_port()}/"
    with pytest.raises(scifig.ScifigNetworkError) as error:
        scifig.load("mcq", split="validation", base_url=mirror, cache_dir=str(tmp_path / "cache"))
    message = str(error.value)
    assert message.startswith(f"{mirror}benchmark.zip: cannot be reached (") and "\n" not in message
    assert "is there a network? Pass data_dir= (--data-dir)" in message and "base_url= (--base-url)" in message
    result = subprocess.run([sys.executable, "-m", "scifig_tools", "export", str(tmp_path / "out"), "--configs",
                             "mcq_fig2cap", "--base-url", mirror], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot be reached" in result.stderr and "--data-dir" in result.stderr
