"""The record store of a big train JSON: rows while the parse runs, a killed build resumed with no row lost or
repeated, and the cache it lives in listed, bounded and cleared."""

import json
import os
import random
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scifig
from scifig.scifig_store import cache_entries, enforce_cache_limit
from scifig_tools import dummy_data
from scifig_tools.layout import benchmark_image, benchmark_json, empty_evaluation_files, write_zip
from scifig_tools.serve import RangeRequestHandler, RangeServer

from helpers import ROOT

RECORDS = 240


class _Throttled(RangeRequestHandler):
    """Sends 64 KiB then waits: a big member arrives over seconds, as from a far server."""

    pause = 0.03


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A benchmark whose train captioning JSON is ~14 MB (240 articles of ~60 KB of text that compresses as text
    does, so the member spans several of the reader's 1 MB range requests), each with one figure."""
    folder = tmp_path_factory.mktemp("big")
    png = dummy_data.encode(dummy_data.figure_image("x", 0), "PNG")
    rng = random.Random(0)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    records, images = [], {}
    for n in range(RECORDS):
        uid = f"ncomms{80000 + n}"
        records.append({"uid": uid, "category": "Physical sciences", "subject": "Physics", "abstract": "A.",
                        "content": " ".join(rng.choices(vocabulary, k=10000)),
                        "images": [{"image": f"{uid}_figure_0.png", "caption": f"Figure of {uid}."}]})
        images[benchmark_image("train", f"{uid}_figure_0.png")] = png
    write_zip(folder / "benchmark.zip", {benchmark_json("train", "captioning"): json.dumps(records).encode(),
                                         **images, **empty_evaluation_files()})
    return folder


def _stores(cache):
    return Path(cache) / "scifig" / "record-stores"


def _entries(cache):
    index = next(_stores(cache).glob("*.index"), None)
    return 0 if index is None else index.stat().st_size // 21


def test_the_first_rows_arrive_while_the_parse_runs(big, cache):
    server = RangeServer(big, handler=_Throttled).start()
    try:
        stream = scifig.load("captioning", split="train", streaming=True, base_url=server.url, cache_dir=cache)
        first = next(iter(stream))
        store = next(_stores(cache).glob("*.index"))
        assert first["uid"] == "ncomms80000"
        assert not store.with_suffix(".done").exists() and _entries(cache) < RECORDS  # not parsed whole yet
        ids = [row["id"] for row in stream.select_columns(["id"])]  # every part, in order, as the build goes on
        assert store.with_suffix(".done").exists() and len(ids) == RECORDS == len(set(ids))
    finally:
        server.stop()


_READ_PART = """
import sys
sys.path.insert(0, {root!r})
import scifig
stream = scifig.load("captioning", split="train", streaming=True, base_url={url!r}, cache_dir={cache!r})
for row in stream.shard(num_shards=stream.n_shards, index=0).select_columns(["id"]):
    print(row["id"], flush=True)
"""


def test_a_build_killed_half_way_is_resumed_and_no_row_is_lost_or_repeated(big, tmp_path):
    cache = str(tmp_path / "cache")
    expected = [row["id"] for row in scifig.load("captioning", split="train", streaming=True, data_dir=str(big))
                .select_columns(["id"])]
    server = RangeServer(big, handler=_Throttled).start()
    try:
        builder = subprocess.Popen([sys.executable, "-c", _READ_PART.format(root=str(ROOT), url=server.url,
                                                                             cache=cache)], stdout=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _entries(cache) < RECORDS // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        builder.send_signal(signal.SIGKILL)
        builder.wait()
        held = _entries(cache)
        assert RECORDS // 4 <= held < RECORDS
        assert not any(_stores(cache).glob("*.done"))  # nothing that looks whole
        _Throttled.pause = 0.0
        resumed = scifig.load("captioning", split="train", streaming=True, base_url=server.url, cache_dir=cache)
        # every row once, in the order a load without any store gives (the parts' round-robin order)
        assert [row["id"] for row in resumed.select_columns(["id"])] == expected
        assert len(set(expected)) == RECORDS
        assert _entries(cache) == RECORDS and any(_stores(cache).glob("*.done"))
    finally:
        _Throttled.pause = 0.03
        server.stop()


_HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from scifig.scifig_store import in_use
with in_use({meta!r}):
    print("holding", flush=True)
    time.sleep(30)
"""


def test_the_cache_is_listed_cleared_and_bounded(big, tmp_path):
    cache = str(tmp_path / "cache")
    rows = scifig.load("captioning", split="train", streaming=True, data_dir=str(big), cache_dir=cache)
    assert sum(1 for _ in rows.select_columns(["id"])) == RECORDS
    listed = subprocess.run([sys.executable, "-m", "scifig_tools", "cache", "--cache-dir", cache], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "record store" in listed.stdout and "benchmark/train/image_caption_generation_data.json" in listed.stdout
    assert "member index" in listed.stdout
    entries = cache_entries(str(Path(cache) / "scifig"))
    store = next(entry for entry in entries if entry.kind == "record store")
    assert store.bytes > 0.05 * (big / "benchmark.zip").stat().st_size  # its records, compressed
    # a reader holds the store: clearing leaves it, and removes the rest
    holder = subprocess.Popen([sys.executable, "-c", _HOLD.format(root=str(ROOT), meta=store.meta)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    cleared = subprocess.run([sys.executable, "-m", "scifig_tools", "cache", "--cache-dir", cache, "--clear"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    holder.kill()
    holder.wait()
    assert cleared.returncode == 0 and "1 in use, kept" in cleared.stdout
    assert [entry.meta for entry in cache_entries(str(Path(cache) / "scifig"))] == [store.meta]
    # bounded: a limit under what the cache holds evicts the least recently used first
    list(scifig.load("captioning", split="validation", streaming=True, data_dir=str(big), cache_dir=cache))
    before = cache_entries(str(Path(cache) / "scifig"))
    assert before[0].meta == store.meta and len(before) > 1
    removed = enforce_cache_limit(str(Path(cache) / "scifig"), sum(entry.bytes for entry in before[1:]))
    assert [entry.meta for entry in removed] == [store.meta]
    assert sum(entry.bytes for entry in cache_entries(str(Path(cache) / "scifig"))) <= sum(
        entry.bytes for entry in before[1:])
    assert not os.path.exists(store.meta)
