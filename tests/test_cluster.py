"""Many readers, warm starts: the member index kept across processes, one parse of a big JSON per machine,
train shards sized to the job, and a real two-rank torchrun with DataLoader workers."""

import collections
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest
from datasets.distributed import split_dataset_by_node

import scifig
from scifig_tools.layout import benchmark_json
from scifig_tools.serve import RangeRequestHandler, RangeServer

from helpers import DUMMY, ROOT

TRAIN_JSON = benchmark_json("train", "captioning")


def _fresh_process_cache():
    """What a new process starts with: no archive indexed in memory."""
    scifig.scifig_archives._opened_archive.cache_clear()


def _extent(archive, member):
    with zipfile.ZipFile(archive) as opened:
        info = opened.getinfo(member)
        start = info.header_offset
        return start, start + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size - 1, \
            opened.start_dir, info.compress_size


def _served(server, archive, first, last):
    """Bytes the server sent of `archive` within [first, last]."""
    return sum(max(0, min(end, last) - max(start, first) + 1) for path, start, end in server.ranges
               if path.endswith(archive))


def _ids(stream):
    return [row["id"] for row in stream.select_columns(["id"])]


def test_the_member_index_is_kept_and_a_later_process_skips_the_directory(tmp_path):
    server = RangeServer(DUMMY).start()
    try:
        cache = str(tmp_path / "cache")
        _fresh_process_cache()
        cold = _ids(scifig.load("mcq", split="validation", streaming=True, base_url=server.url, cache_dir=cache))
        _, _, directory, _ = _extent(DUMMY / "benchmark.zip", TRAIN_JSON)
        size = (DUMMY / "benchmark.zip").stat().st_size
        read_cold = _served(server, "benchmark.zip", directory, size)
        assert read_cold >= size - directory  # the whole central directory, and the end records
        kept = list((tmp_path / "cache" / "scifig" / "member-index").glob("*.figures"))
        assert kept, "the first reader kept no index"
        server.ranges.clear()
        _fresh_process_cache()
        warm = _ids(scifig.load("mcq", split="validation", streaming=True, base_url=server.url, cache_dir=cache))
        assert warm == cold
        assert _served(server, "benchmark.zip", directory, size) <= 1024  # only the archive's last KiB, to compare
    finally:
        server.stop()


_LOAD = """
import json, sys
sys.path.insert(0, {root!r})
import scifig
stream = scifig.load("mcq", split="validation", streaming=True, data_dir={data_dir!r}, cache_dir={cache!r})
print(json.dumps([row["id"] for row in stream.select_columns(["id"])]))
"""


def _ids_in_a_new_process(data_dir, cache):
    """What a later process reads, sharing only the cache folder."""
    run = subprocess.run([sys.executable, "-c", _LOAD.format(root=str(ROOT), data_dir=str(data_dir), cache=cache)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stderr


def test_a_changed_archive_is_never_mistaken_for_the_kept_index(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DUMMY / "benchmark.zip", data / "benchmark.zip")
    cache = str(tmp_path / "cache")
    before, _ = _ids_in_a_new_process(data, cache)
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as source, zipfile.ZipFile(data / "benchmark.zip", "w") as out:
        for info in source.infolist():  # the same members, the last dev question gone
            payload = source.read(info)
            if info.filename == benchmark_json("validation", "mcq"):
                settings = json.loads(payload)
                settings[0] = settings[0][:-1]
                payload = json.dumps(settings).encode()
            out.writestr(info, payload)
    after, _ = _ids_in_a_new_process(data, cache)
    assert len(after) == len(before) - 1 and set(after) < set(before)
    # and in one process that had already read it
    same = _ids(scifig.load("mcq", split="validation", streaming=True, data_dir=str(data), cache_dir=cache))
    assert same == after


def test_a_damaged_index_is_read_again_from_the_archive(tmp_path):
    cache = str(tmp_path / "cache")
    expected, _ = _ids_in_a_new_process(DUMMY, cache)
    kept = list((tmp_path / "cache" / "scifig" / "member-index").glob("*.figures"))
    assert kept
    for path in kept:
        path.write_bytes(path.read_bytes()[:200])
    again, log = _ids_in_a_new_process(DUMMY, cache)
    assert again == expected and "ignoring the member index" in log


_OPEN = """
import sys
sys.path.insert(0, {root!r})
import scifig
archive = scifig.open_archive({location!r}, r"(^|/)dev/", cache={cache!r})
print(int(archive.from_index), len(list(archive.names())))
"""


def test_concurrent_first_readers_leave_one_whole_index(tmp_path):
    cache = str(tmp_path / "cache")
    code = _OPEN.format(root=str(ROOT), location=str(DUMMY / "benchmark.zip"), cache=cache)
    readers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [reader.communicate(timeout=120)[0].split() for reader in readers]
    assert all(reader.returncode == 0 for reader in readers) and len({names for _, names in outputs}) == 1
    # one of them read the central directory; the others waited for its index and read that
    assert sorted(from_index for from_index, _ in outputs) == ["0", "1", "1", "1"]
    kept = sorted(path.name for path in (tmp_path / "cache" / "member-index").glob("*"))
    # one index (its figures, its other members), its description for the cache listing and the lock its
    # builder held; no partial file
    digest = kept[0].split(".")[0]
    assert kept == [f"{digest}.build.lock", f"{digest}.figures", f"{digest}.members.json", f"{digest}.meta.json"]
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert again == ["1", outputs[0][1]]


class _SlowToOpen(RangeRequestHandler):
    """Answers a request for the bytes at one of `slow` a second late: the files those open stay long in reading."""

    slow = frozenset()

    def send_head(self):
        if self.headers.get("Range", "").startswith("bytes=") and int(
                self.headers["Range"][6:].split("-")[0] or -1) in self.slow:
            time.sleep(1)
        return super().send_head()


_FIRST_ROW = """
import os, sys, time
sys.path.insert(0, {root!r})
import scifig
print("imported", flush=True)
while not os.path.exists({go!r}):  # all start together, as a job's workers do
    time.sleep(0.01)
stream = scifig.load("captioning", split="train", streaming=True, base_url={url!r}, cache_dir={cache!r})
print(next(iter(stream))["id"])
"""


def test_concurrent_first_readers_read_the_evaluation_files_once(tmp_path):
    # a cluster's first workers at once: one reads the dev and test files, the others wait for the articles it keeps
    files = [benchmark_json(split, task) for split in ("validation", "test") for task in ("captioning", "mcq")]
    starts = [_extent(DUMMY / "benchmark.zip", member)[0] for member in files]
    server = RangeServer(DUMMY, handler=type("Handler", (_SlowToOpen,), {"slow": frozenset(starts)})).start()
    try:
        go = tmp_path / "go"
        code = _FIRST_ROW.format(root=str(ROOT), url=server.url, cache=str(tmp_path / "cache"), go=str(go))
        readers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
                   for _ in range(3)]
        assert [reader.stdout.readline() for reader in readers] == ["imported\n"] * 3
        go.touch()
        outputs = [reader.communicate(timeout=300)[0] for reader in readers]
    finally:
        server.stop()
    assert all(reader.returncode == 0 for reader in readers) and len(set(outputs)) == 1
    for member, start in zip(files, starts):
        assert [first for _, first, _ in server.ranges].count(start) == 1, member


def test_the_train_json_is_parsed_once_however_many_shards(tmp_path):
    server = RangeServer(DUMMY).start()
    try:
        first, last, _, compressed = _extent(DUMMY / "benchmark.zip", TRAIN_JSON)
        stream = scifig.load("captioning", split="train", streaming=True, base_url=server.url,
                             cache_dir=str(tmp_path / "cache"), train_shards=12)
        assert stream.n_shards == 12
        rows = _ids(stream)
        assert _served(server, "benchmark.zip", first, last) <= 1.1 * compressed
    finally:
        server.stop()
    parsed_each_time = _ids(scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY),
                                        train_shards=12))  # no cache folder: every part parses the JSON itself
    assert rows == parsed_each_time


@pytest.mark.parametrize("config,asked,shards", [("captioning", None, 8), ("captioning", 16, 16), ("chat", 5, 5),
                                                 ("mcq", None, 3), ("mcq", 7, 9), ("mcq_fig2cap", 4, 4)])
def test_train_shards_cut_the_train_split_and_keep_every_row_once(config, asked, shards):
    stream = scifig.load(config, split="train", streaming=True, data_dir=str(DUMMY), train_shards=asked)
    assert stream.n_shards == shards
    every = collections.Counter(_ids(scifig.load(config, split="train", streaming=True, data_dir=str(DUMMY))))
    seen = collections.Counter()
    for rank in range(4):
        seen.update(_ids(split_dataset_by_node(stream, rank=rank, world_size=4)))
    assert seen == every


def test_train_shards_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="train_shards must be a positive integer"):
        scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY), train_shards=0)


_RANK = """
import json, os, sys
sys.path.insert(0, {root!r})
import torch
import torch.distributed as dist
from datasets.distributed import split_dataset_by_node
import scifig

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
stream = scifig.load("captioning", split="train", streaming=True, base_url={url!r} + f"rank{{rank}}/",
                     cache_dir={cache!r} + f"/rank{{rank}}").select_columns(["id", "uid", "figure_id"])
loader = torch.utils.data.DataLoader(split_dataset_by_node(stream, rank=rank, world_size=world), batch_size=None,
                                     num_workers=2)
rows = [[row["id"], row["figure_id"]] for row in loader]
with open(os.path.join({out!r}, f"rank{{rank}}.json"), "w") as out:
    json.dump(rows, out)
dist.barrier()
dist.destroy_process_group()
"""


def test_torchrun_two_ranks_two_workers_each_row_once_and_no_rank_reads_anothers_figures(tmp_path):
    pytest.importorskip("torch", reason="torch (CPU) is installed by tests/run.sh on the current line")
    served = tmp_path / "served"
    served.mkdir()
    for rank in range(2):  # one path per rank on one server, so the bytes each rank asked for can be told apart
        (served / f"rank{rank}").symlink_to(DUMMY, target_is_directory=True)
    server = RangeServer(served).start()
    try:
        script = tmp_path / "rank.py"
        script.write_text(_RANK.format(root=str(ROOT), url=server.url, cache=str(tmp_path / "cache"),
                                       out=str(tmp_path)))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master_port", str(29500 + os.getpid() % 1000), str(script)],
                             capture_output=True, text=True, timeout=600, env=env)
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        server.stop()
    rows = {rank: json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)}
    every = collections.Counter(_ids(scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY))))
    assert collections.Counter(row_id for rank in rows for row_id, _ in rows[rank]) == every  # each row once
    assert all(rows[rank] for rank in rows)
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        figures = {info.filename.rsplit("/", 1)[1]: (info.header_offset, info.header_offset + 30 + len(info.filename)
                                                     + len(info.extra) + info.compress_size - 1)
                   for info in archive.infolist() if info.filename.startswith("benchmark/train/images/")}
    for rank in rows:
        asked = {name for name, (first, last) in figures.items()
                 for path, start, end in server.ranges if path.startswith(f"/rank{rank}/") and start <= last
                 and end >= first}
        assert asked == {f"{figure_id}.png" for _, figure_id in rows[rank]}, rank


def test_a_clean_train_load_reads_the_archives_directory_once(tmp_path):
    # the evaluation articles come from the archive the train split opened: one directory read, one index kept
    _fresh_process_cache()
    cache = str(tmp_path / "cache")
    assert list(scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY), cache_dir=cache))
    kept = list((tmp_path / "cache" / "scifig" / "member-index").glob("*.figures"))
    assert len(kept) == 1
