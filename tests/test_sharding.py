"""Streams spread over ranks and DataLoader workers: every row arrives exactly once."""

import collections

import pytest
from datasets.distributed import split_dataset_by_node

import scifig

from helpers import DUMMY

RANKS, WORKERS = 4, 2


@pytest.mark.parametrize("config,split", [("pretraining", "train"), ("captioning", "train"), ("mcq", "validation")])
def test_node_split_delivers_every_row_once(config, split):
    stream = scifig.load(config, split=split, streaming=True, data_dir=str(DUMMY))
    every = [row["id"] for row in stream.select_columns(["id"])]
    seen = collections.Counter()
    for rank in range(RANKS):
        part = split_dataset_by_node(stream, rank=rank, world_size=RANKS)
        seen.update(row["id"] for row in part.select_columns(["id"]))
    assert seen == collections.Counter(every) and max(seen.values()) == 1


def test_train_captioning_has_shards_for_workers():
    stream = scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY))
    assert stream.n_shards >= 8


def test_ranks_times_dataloader_workers_deliver_every_row_once():
    torch = pytest.importorskip("torch", reason="torch (CPU) is installed by tests/run.sh on the current line")
    stream = scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY)).select_columns(["id"])
    every = collections.Counter(row["id"] for row in stream)
    seen = collections.Counter()
    for rank in range(RANKS):
        shard = split_dataset_by_node(stream, rank=rank, world_size=RANKS)
        loader = torch.utils.data.DataLoader(shard, batch_size=None, num_workers=WORKERS)
        seen.update(row["id"] for row in loader)
    assert seen == every and max(seen.values()) == 1


@pytest.mark.parametrize("config,split", [("mcq", "validation"), ("captioning", "test"), ("sft", "train")])
def test_shards_cut_any_split_into_n_near_equal_parts_ids_unchanged(config, split):
    whole = scifig.load(config, split=split, streaming=True, data_dir=str(DUMMY))
    cut = scifig.load(config, split=split, streaming=True, data_dir=str(DUMMY), shards=4)
    every = [row["id"] for row in whole.select_columns(["id"])]
    assert sorted(row["id"] for row in cut.select_columns(["id"])) == sorted(every)
    if config != "sft":
        assert cut.n_shards == 4
        parts = [[row["id"] for row in split_dataset_by_node(cut, rank=r, world_size=4).select_columns(["id"])]
                 for r in range(4)]
        assert max(map(len, parts)) - min(map(len, parts)) <= 3  # round-robin within each of up to 3 lists
        for part in parts:  # order kept within each part
            assert part == sorted(part, key=every.index)
