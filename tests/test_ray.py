"""scifig on a real Ray cluster started here: a head and a worker node on 127.0.0.1 (ray.cluster_utils.Cluster),
reading the sample from the Range server over HTTP. Read tasks are scifig's shards, every node reads its own, Ray
Train's workers get disjoint shards of every row, and bad data is a ScifigDataError."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

import scifig
from scifig_tools.layout import benchmark_json, write_zip
from scifig_tools.serve import RangeServer

from helpers import DUMMY, ROOT

ray = pytest.importorskip("ray", reason="tests/run.sh installs Ray (scifig[ray]) on the current line")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node and a worker node of one CPU each, as two Ray nodes on this machine."""
    from ray.cluster_utils import Cluster

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    made.add_node(num_cpus=1)
    ray.init(address=made.address, log_to_driver=False)
    made.wait_for_nodes()
    yield made
    ray.shutdown()
    made.shutdown()


@pytest.fixture(scope="module")
def mirror():
    server = RangeServer(DUMMY).start()
    yield server
    server.stop()


def _ids(rows):
    return [row["id"] for row in rows]


@pytest.mark.parametrize("config,split,kwargs", [("mcq", "validation", {"shards": 4}), ("sft", "train", {}),
                                                 ("pretraining", "train", {}), ("captioning", "train", {})])
def test_a_ray_dataset_holds_the_rows_load_gives_read_by_every_node(cluster, mirror, config, split, kwargs):
    dataset = scifig.ray_dataset(config, split, base_url=mirror.url, **kwargs)
    rows = dataset.take_all()
    expected = list(scifig.load(config, split=split, streaming=True, base_url=mirror.url, **kwargs).decode(False))
    assert sorted(_ids(rows)) == sorted(_ids(expected)) and len(rows) == len(expected) > 0
    by_id = {row["id"]: row for row in expected}
    for row in rows:  # images as the Hub export stores them, the rest as load gives it
        assert row == {key: value for key, value in by_id[row["id"]].items()} or _equal(row, by_id[row["id"]])
    features = scifig.FEATURES[scifig.task_of(config)]
    decoded = features.decode_example(rows[0])  # the documented one-liner's decoding
    assert decoded.keys() == features.keys()


def _equal(left, right):
    import numpy

    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_equal(left[key], right[key]) for key in left)
    if isinstance(left, (list, tuple, numpy.ndarray)):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right))
    return left == right


def test_every_node_reads_its_own_shards(cluster, mirror):
    """Read tasks run on both nodes, each reading its shards from the server by range: the server sees the
    benchmark's bytes requested by two processes of two nodes, and no task read the whole archive."""
    before = len(mirror.ranges)
    dataset = scifig.ray_dataset("captioning", "train", base_url=mirror.url, train_shards=8)

    def where(row):  # defined here: pickled by value, as the workers cannot import the test module
        import ray

        return {"id": row["id"], "node": ray.get_runtime_context().get_node_id()}

    nodes = {row["node"] for row in dataset.map(where).take_all()}
    assert len(nodes) == 2 and len(mirror.ranges) > before
    size = (DUMMY / "benchmark.zip").stat().st_size
    assert all(last - first + 1 < size for _, first, last in mirror.ranges[before:])


def test_bad_data_is_a_scifig_data_error_with_loads_message(cluster, mirror, tmp_path):
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    questions = json.loads(members[benchmark_json("validation", "mcq")])
    questions[1][0]["answer"] = "Q"
    members[benchmark_json("validation", "mcq")] = json.dumps(questions).encode()
    write_zip(tmp_path / "benchmark.zip", members)
    with pytest.raises(scifig.ScifigDataError) as loaded:
        list(scifig.load("mcq", split="validation", streaming=True, data_dir=str(tmp_path)))
    with pytest.raises(scifig.ScifigDataError) as rayed:  # Ray's RayTaskError(ScifigDataError)
        scifig.ray_dataset("mcq", "validation", data_dir=str(tmp_path)).take_all()
    with pytest.raises(scifig.ScifigDataError) as unwrapped, scifig.unwrapped_errors():
        scifig.ray_dataset("mcq", "validation", data_dir=str(tmp_path)).take_all()
    assert str(unwrapped.value) == str(loaded.value) and "answer 'Q' is not one of A-D" in str(rayed.value)
    skipped = scifig.ray_dataset("mcq", "validation", data_dir=str(tmp_path), on_error="skip").take_all()
    assert len(skipped) == len(list(scifig.load("mcq", split="validation", streaming=True,
                                                data_dir=str(DUMMY)))) - 1


def test_ray_train_workers_get_disjoint_shards_of_every_row(cluster, mirror, tmp_path):
    # the example script, as the card gives it, run against this cluster: a TorchTrainer of 2 workers fed
    # scifig.ray_dataset("sft") through datasets={"train": ...} and get_dataset_shard
    pytest.importorskip("torch")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "ray_train_sft.py"), "--ray-address",
                             cluster.address, "--base-url", mirror.url, "--workers", "2", "--cpus-per-worker", "0.5",
                             "--out", str(tmp_path / "ids")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = [json.loads((tmp_path / "ids" / f"rank-{rank}.json").read_text()) for rank in range(2)]
    every = list(scifig.load("sft", split="train", streaming=True, base_url=mirror.url))
    assert all(part["ids"] for part in seen) and not set(seen[0]["ids"]) & set(seen[1]["ids"])
    assert sorted(seen[0]["ids"] + seen[1]["ids"]) == sorted(_ids(every))
    assert seen[0]["figures"] + seen[1]["figures"] == sum(len(row["images"]) for row in every) > 0
    assert json.loads(result.stdout.strip().splitlines()[-1])["rows"] == [len(part["ids"]) for part in seen]
