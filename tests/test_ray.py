"""scifig on a real Ray cluster started here: a head and a worker node on 127.0.0.1 (ray.cluster_utils.Cluster),
reading the sample from the Range server over HTTP. Read tasks are scifig's shards, every node reads its own, Ray
Train's workers get disjoint shards of every row, and bad data is a ScifigDataError. `export --engine ray` writes
the local engine's files byte for byte (to a folder, or to S3 on moto's server), and completes every row once after
a lost node or a killed driver."""

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

import scifig
from scifig_tools import export
from scifig_tools.__main__ import main
from scifig_tools.layout import benchmark_json, write_zip
from scifig_tools.serve import RangeRequestHandler, RangeServer

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


def _with_a_bad_answer(folder):
    """The sample's benchmark.zip written into `folder` with one validation answer that is not a letter."""
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    questions = json.loads(members[benchmark_json("validation", "mcq")])
    questions[1][0]["answer"] = "Q"
    members[benchmark_json("validation", "mcq")] = json.dumps(questions).encode()
    folder.mkdir(exist_ok=True)
    write_zip(folder / "benchmark.zip", members)


def test_bad_data_is_a_scifig_data_error_with_loads_message(cluster, mirror, tmp_path):
    _with_a_bad_answer(tmp_path)
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


# ---------------------------------------------------------------------------------------------- export --engine ray

class _Slow(RangeRequestHandler):
    pause = 0.05  # a far server: each read task takes long enough for a node to be lost, or a driver killed, mid-read


@pytest.fixture(scope="module")
def slow_mirror():
    server = RangeServer(DUMMY, handler=_Slow).start()
    yield server
    server.stop()


def _files(root):
    """{relative path: bytes} of every file in an export folder."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _rows(root, config):
    import pyarrow.parquet as pq

    return {split: [row for path in sorted((root / config).glob(f"{split}-*.parquet"))
                    for row in pq.read_table(path).to_pylist()] for split in ("train", "validation", "test")}


def test_a_ray_export_equals_the_local_export_file_for_file(cluster, mirror, tmp_path):
    # small shards, so each split is cut into files whose rows come from several read tasks' blocks
    options = {"configs": ["mcq", "sft", "pretraining"], "base_url": mirror.url, "max_shard_size": "20KB",
               "progress": False}
    export.export(tmp_path / "local", **options)
    report = export.export(tmp_path / "ray", engine="ray", **options)
    local, rayed = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert sorted(rayed) == sorted(local) and sum(name.endswith(".parquet") for name in local) > 6
    assert all(rayed[name] == local[name] for name in local)  # Parquet, card, croissant.json: byte for byte
    assert report["mcq/validation"] == {"rows": 12, "written": 12, "skipped": 0}


@pytest.mark.parametrize("format,config", [("vila", "pretraining"), ("llamafactory", "sft")])
def test_a_ray_export_of_a_trainers_format_equals_the_local_one(cluster, mirror, tmp_path, format, config):
    options = {"configs": [config], "base_url": mirror.url, "format": format, "progress": False}
    export.export(tmp_path / "local", **options)
    export.export(tmp_path / "ray", engine="ray", **options)
    local, rayed = _files(tmp_path / "local"), _files(tmp_path / "ray")
    recipe = f"qwen2vl_lora_{config}.yaml"  # names its own folder
    assert sorted(rayed) == sorted(local) and len(local) > 3
    assert all(rayed[name] == local[name] for name in local if name != recipe)


def test_a_ray_export_writes_straight_to_object_storage(cluster, mirror, tmp_path):
    """OUT as an s3:// URI, on a real S3 server (moto's) on 127.0.0.1: the objects are the local export's files."""
    server = pytest.importorskip("moto.server").ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        import boto3
        from pyarrow import fs

        host, port = server.get_host_and_port()
        boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1", aws_access_key_id="k",
                     aws_secret_access_key="s").create_bucket(Bucket="exports")
        uri = f"s3://k:s@exports/scifig?scheme=http&endpoint_override={host}:{port}&region=us-east-1"
        options = {"configs": ["mcq"], "base_url": mirror.url, "max_shard_size": "10KB", "progress": False}
        export.export(uri, engine="ray", **options)
        export.export(tmp_path / "local", **options)
        s3, root = fs.FileSystem.from_uri(uri)
        stored = {info.path[len(root) + 1:]: s3.open_input_stream(info.path).readall()
                  for info in s3.get_file_info(fs.FileSelector(root, recursive=True))
                  if info.type == fs.FileType.File}
        assert stored == _files(tmp_path / "local")
        with pytest.raises(ValueError, match="--engine ray writes to object storage"):
            export.export(uri, **options)
    finally:
        server.stop()


def test_b_a_worker_node_lost_mid_export_the_export_completes_every_row_once(cluster, slow_mirror, tmp_path):
    import threading

    doomed = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    served, outcome = len(slow_mirror.ranges), {}

    def run():
        try:
            outcome["report"] = export.export(tmp_path / "ray", configs=["captioning"], base_url=slow_mirror.url,
                                              engine="ray", progress=False, train_shards=8)
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error

    exporting = threading.Thread(target=run)
    exporting.start()
    while len(slow_mirror.ranges) < served + 6 and exporting.is_alive():
        time.sleep(0.05)
    assert exporting.is_alive()  # the node goes while its read tasks are running
    cluster.remove_node(doomed)
    exporting.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    expected = {split: _ids(scifig.load("captioning", split=split, streaming=True, base_url=slow_mirror.url))
                for split in ("train", "validation", "test")}
    assert {split: _ids(rows) for split, rows in _rows(tmp_path / "ray", "captioning").items()} == expected
    assert all(done["written"] == done["rows"] for done in outcome["report"].values())
    assert not [path for path in (tmp_path / "ray").rglob("*") if path.name.endswith(".partial")]


def test_c_a_killed_driver_rerun_completes_writing_nothing_twice(cluster, slow_mirror, mirror, tmp_path):
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "scifig_tools", "export", str(out), "--engine", "ray", "--ray-address",
               cluster.address, "--base-url", slow_mirror.url, "--configs", "mcq", "captioning"]
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 600
    while not list(out.glob("mcq/test-*.parquet")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.poll() is None  # killed mid-export: mcq written, captioning still being read
    driver.kill()
    driver.wait()
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.rglob("*.parquet")}
    assert before and not list(out.glob("captioning/*.parquet"))
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert all((path.stat().st_ino, path.stat().st_mtime_ns) == kept for path, kept in before.items())
    assert "mcq/test: 0 rows written, 9 already complete (hub)" in rerun.stdout
    assert not [path for path in out.rglob("*") if path.name.endswith(".partial")]
    export.export(tmp_path / "local", configs=["mcq", "captioning"], base_url=mirror.url, progress=False)
    local, rayed = _files(tmp_path / "local"), _files(out)
    assert sorted(rayed) == sorted(local) and all(rayed[name] == local[name] for name in local)


def test_d_a_damaged_archive_fails_the_job_with_loads_one_line_error(cluster, tmp_path, capsys):
    _with_a_bad_answer(tmp_path / "damaged")
    server = RangeServer(tmp_path / "damaged").start()
    try:
        with pytest.raises(scifig.ScifigDataError) as loaded:
            list(scifig.load("mcq", split="validation", streaming=True, base_url=server.url))
        status = main(["export", str(tmp_path / "ray"), "--engine", "ray", "--configs", "mcq", "--base-url",
                       server.url])
        printed = capsys.readouterr().err  # Ray Data's progress lines, then the error: one line, no traceback
        assert status == 1 and printed.strip().splitlines()[-1] == f"python -m scifig_tools export: {loaded.value}"
        assert "Traceback" not in printed and "RayTaskError" not in printed
        # under the skip policy, from a driver of its own (as a user runs it): the read task that skipped the record
        # logs the count on its node, and Ray shows its workers' logs on the driver's terminal
        skipping = subprocess.run([sys.executable, "-m", "scifig_tools", "export", str(tmp_path / "skipped"),
                                   "--engine", "ray", "--ray-address", cluster.address, "--configs", "mcq",
                                   "--base-url", server.url, "--on-error", "skip"],
                                  cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert skipping.returncode == 0, skipping.stderr[-3000:]
        assert "mcq/validation: 11 rows written (hub)" in skipping.stdout
        assert "mcq validation: skipped 1 bad records (on_error='skip')" in skipping.stderr
    finally:
        server.stop()


def test_a_network_error_from_a_ray_task_stays_a_network_error():
    from ray.exceptions import RayTaskError

    network = scifig.ScifigNetworkError("http://127.0.0.1:9/rawdata.zip", ConnectionRefusedError("refused"))
    with pytest.raises(scifig.ScifigNetworkError) as raised, scifig.unwrapped_errors():
        raise RayTaskError("Readscifig", "a worker's traceback", network).as_instanceof_cause()
    assert str(raised.value) == str(network) and "cannot be reached" in str(raised.value)
