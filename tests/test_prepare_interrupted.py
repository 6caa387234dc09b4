"""Prepared loads that are killed, or run twice at once: the next run (or both runs) ends with the whole dataset.

Each load runs in its own process (`scifig.load`, as a user runs it), on a synthetic corpus large enough that the
kill lands in the middle: while the train split is being written, or while the archive is downloaded from a mirror.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import scifig
from benchmarks import make_corpus
from scifig_tools.serve import RangeRequestHandler, RangeServer

from helpers import ROOT

CONFIG = "captioning"

_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
import scifig
dataset = scifig.load({config!r}, cache_dir={cache!r}, **{source!r})
print(json.dumps({{split: list(dataset[split]["id"]) for split in dataset}}))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    make_corpus.build(folder, 1500, figure_kb=(1, 2), content_kb=1, archives=("benchmark",), image_pool=8)
    return folder


@pytest.fixture(scope="module")
def expected(corpus):
    """Every split's ids in order, streamed: what any prepared copy must hold."""
    return {split: [row["id"] for row in stream.select_columns(["id"])]
            for split, stream in scifig.load(CONFIG, streaming=True, data_dir=str(corpus)).items()}


def _start(cache, **source):
    code = _CHILD.format(root=str(ROOT), config=CONFIG, cache=str(cache), source=source)
    env = {**os.environ, "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _finish(child, timeout=300):
    out, err = child.communicate(timeout=timeout)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _kill_when(child, ready, timeout=120):
    """SIGKILL the child as soon as ready() holds; fails if the child finished first (the test proves nothing)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert child.poll() is None, f"the load finished before it could be killed:\n{child.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "the load never reached the point where it is killed"
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def test_killed_while_writing_the_train_split_then_run_again(corpus, expected, tmp_path):
    cache = tmp_path / "cache"
    first = _start(cache, data_dir=str(corpus))
    partial = f"{cache}/**/*.incomplete/*train*.arrow"
    _kill_when(first, lambda: glob.glob(partial, recursive=True))
    assert glob.glob(partial, recursive=True), "the kill left no half-written split behind"
    assert _finish(_start(cache, data_dir=str(corpus))) == expected


class _Throttled(RangeRequestHandler):
    """Sends bodies slowly, so a download is still under way when the test kills the loader."""

    pause = 0.01


def test_killed_while_downloading_from_a_mirror_then_run_again(corpus, expected, tmp_path):
    server = RangeServer(corpus, handler=_Throttled).start()
    try:
        cache = tmp_path / "cache"
        first = _start(cache, base_url=server.url)
        archive = (corpus / "benchmark.zip").stat().st_size
        _kill_when(first, lambda: server.bytes_sent > archive // 3)
        assert _finish(_start(cache, base_url=server.url)) == expected
    finally:
        server.stop()


def test_two_processes_preparing_at_once_both_get_the_whole_dataset(corpus, expected, tmp_path):
    cache = tmp_path / "cache"
    loads = [_start(cache, data_dir=str(corpus)) for _ in range(2)]
    assert [_finish(load) for load in loads] == [expected, expected]
