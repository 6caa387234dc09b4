"""The script-free Hub export: what the Hub viewer and load_dataset(<repo>) read, equal to the builder's rows."""

import json
import re

import datasets
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

import scifig
from scifig_tools import dummy_data
from scifig_tools.layout import benchmark_image, benchmark_json, write_zip

from helpers import DUMMY, SCRIPTS_RUN, rows_of

if SCRIPTS_RUN:
    pytest.skip("the export is written and read with datasets >= 4, the Hub's own line", allow_module_level=True)

from scifig_tools import export  # noqa: E402

CONFIGS = scifig.CONFIG_NAMES


REPO_ID = "example-org/scifig"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export.export(out, data_dir=str(DUMMY), cache_dir=str(tmp_path_factory.mktemp("cache")), progress=False,
                  repo_id=REPO_ID)
    return out


@pytest.mark.parametrize("config", CONFIGS)
def test_load_dataset_on_the_export_returns_the_builder_rows(exported, config, tmp_path):
    built = scifig.load(config, data_dir=str(DUMMY), cache_dir=str(tmp_path / "b"))
    loaded = datasets.load_dataset(str(exported), config, cache_dir=str(tmp_path / "e"))
    streamed = datasets.load_dataset(str(exported), config, streaming=True)
    assert sorted(loaded) == sorted(built)
    for split in built:
        assert loaded[split].features == built[split].features
        assert rows_of(loaded[split]) == rows_of(built[split])
        assert rows_of(streamed[split]) == rows_of(built[split])


def test_export_card_validates_and_maps_every_split(exported):
    assert not list(exported.rglob("*.py"))
    data = DatasetCard.load(exported / "README.md").data
    configs = {entry["config_name"]: entry for entry in data.configs}
    assert sorted(configs) == sorted(CONFIGS)
    assert [name for name, entry in configs.items() if entry.get("default")] == ["mcq"]
    for name, entry in configs.items():
        for files in entry["data_files"]:
            assert list(exported.glob(files["path"])), files
    assert (exported / "assets" / "figures_per_subject.png").is_file()
    assert datasets.load_dataset(str(exported), split="validation").features == scifig.FEATURES["mcq"]


def test_export_card_stands_alone_and_names_its_hub_id(exported):
    text = (exported / "README.md").read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]
    linked = sorted(set(re.findall(r"\]\((?!https?:|#)([^)#]+)(?:#[^)]*)?\)", body)))
    assert linked and all((exported / path).is_file() for path in linked), linked  # every relative link resolves
    # nothing that needs a clone of the code repository, in the card or in what it links to
    for text in [body] + [(exported / path).read_text(encoding="utf-8") for path in linked if path.endswith(".md")]:
        for repository_only in ("requirements.txt", "dummy_data", "tests/run.sh", ".venv", "bash ", "pip install .",
                                "scifig.load(", "import scifig\n", "from a clone", "huggingface-cli"):
            assert repository_only not in text, repository_only
    assert f'load_dataset("{REPO_ID}", "mcq", split="validation", streaming=True)' in body
    assert f"https://huggingface.co/datasets/{REPO_ID}" in body
    assert f"--dataset {REPO_ID}" in body
    assert "Rows in this export:" in body


def test_the_export_card_recipe_scores_against_the_export(exported, tmp_path):
    """The exported card's evaluation command, run on the export folder itself (a Hub id reads the same way)."""
    rows = list(datasets.load_dataset(str(exported), "mcq", split="validation"))
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("".join(json.dumps({"id": row["id"], "prediction": "ABCD"[row["answer"]]}) + "\n"
                                   for row in rows), encoding="utf-8")
    from scifig_tools.evaluate import evaluate

    metrics = evaluate("mcq", "validation", predictions=predictions, dataset=exported)
    assert metrics["overall"]["accuracy"] == 1.0 and metrics["overall"]["n"] == len(rows)


def test_features_are_stored_in_parquet_metadata_in_sequence_form(exported):
    schema = pq.read_schema(next((exported / "pretraining").glob("train-*.parquet")))
    stored = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert stored["images"]["_type"] == "Sequence"
    assert datasets.Features.from_dict(stored) == scifig.FEATURES["pretraining"]
    table = pq.read_table(next((exported / "mcq").glob("validation-*.parquet")))
    image = table.column("image")[0].as_py()
    assert set(image) == {"bytes", "path"} and image["bytes"][:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def big_benchmark(tmp_path_factory):
    """250 validation questions: enough for several shards under a small shard limit and several row groups."""
    folder = tmp_path_factory.mktemp("big")
    articles = [article for article in dummy_data.load_articles() if dummy_data.in_the_benchmark(article)]
    records, images = [[], [], []], {}
    for n in range(250):
        article = dict(articles[n % len(articles)], uid=f"ncomms{70000 + n}")
        for setting, record in enumerate(dummy_data.mcq_records(article)):
            if setting == n % 3:
                records[setting].append(record)
                name = benchmark_image("validation", record["image"])
                images[name] = dummy_data.encode(dummy_data.figure_image(article["uid"], n % 4), "PNG")
    write_zip(folder / "benchmark.zip", {
        benchmark_json("validation", "mcq"): json.dumps(records).encode(), **images,
        benchmark_json("train", "mcq"): b"[[],[],[]]",
        benchmark_json("test", "mcq"): b"[[],[],[]]",
    })
    return folder


def test_shards_and_row_groups_respect_the_limits(big_benchmark, tmp_path):
    out = tmp_path / "out"
    export.export(out, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                  cache_dir=str(tmp_path / "c"), progress=False)
    shards = sorted((out / "mcq").glob("validation-*.parquet"))
    assert len(shards) > 2
    assert all(s.name.endswith(f"-of-{len(shards):05d}.parquet") for s in shards)
    total = 0
    for shard in shards:
        metadata = pq.ParquetFile(shard).metadata
        total += metadata.num_rows
        assert metadata.num_row_groups >= 1
        groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
        assert all(group.num_rows <= export.IMAGE_ROW_GROUP_ROWS for group in groups)
        # each shard holds about 1/n of the data: within the limit plus one row's worth
        assert sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)) < 40_000 * 1.2
    assert total == 250
    loaded = datasets.load_dataset(str(out), "mcq", split="validation", cache_dir=str(tmp_path / "e"))
    assert len(set(loaded["id"])) == 250


def test_a_rerun_resumes_only_what_is_missing_or_broken(big_benchmark, tmp_path):
    out, cache = tmp_path / "out", str(tmp_path / "c")
    first = export.export(out, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                          cache_dir=cache, progress=False)
    assert first["mcq/validation"] == {"rows": 250, "written": 250, "skipped": 0}
    again = export.export(out, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                          cache_dir=cache, progress=False)
    assert again["mcq/validation"] == {"rows": 250, "written": 0, "skipped": 250}
    shards = sorted((out / "mcq").glob("validation-*.parquet"))
    removed = pq.ParquetFile(shards[0]).metadata.num_rows
    shards[0].unlink()
    shards[1].write_bytes(shards[1].read_bytes()[:100])  # a shard cut off mid-write by an earlier crash
    resumed = export.export(out, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                            cache_dir=cache, progress=False)
    assert resumed["mcq/validation"]["written"] > removed
    assert resumed["mcq/validation"]["written"] + resumed["mcq/validation"]["skipped"] == 250
    loaded = datasets.load_dataset(str(out), "mcq", split="validation", cache_dir=str(tmp_path / "e"))
    assert len(set(loaded["id"])) == 250


def test_a_parallel_export_writes_the_same_shards(big_benchmark, tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    export.export(serial, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                  cache_dir=str(tmp_path / "c1"), progress=False)
    report = export.export(parallel, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                           cache_dir=str(tmp_path / "c2"), progress=False, num_proc=2)
    assert report["mcq/validation"] == {"rows": 250, "written": 250, "skipped": 0}
    names = sorted(path.name for path in (serial / "mcq").glob("*.parquet"))
    assert len(names) > 2 and names == sorted(path.name for path in (parallel / "mcq").glob("*.parquet"))
    assert not list((parallel / "mcq").glob("*.partial"))
    for name in names:  # byte for byte, though two processes cut the prepared rows into other chunks
        assert (serial / "mcq" / name).read_bytes() == (parallel / "mcq" / name).read_bytes()
    (parallel / "mcq" / names[1]).unlink()
    again = export.export(parallel, configs=["mcq"], data_dir=str(big_benchmark), max_shard_size="40KB",
                          cache_dir=str(tmp_path / "c2"), progress=False, num_proc=2)
    assert 0 < again["mcq/validation"]["written"] < 250
    assert again["mcq/validation"]["written"] + again["mcq/validation"]["skipped"] == 250


def test_shards_are_planned_by_the_values_whatever_the_chunking():
    """Engines cut the same rows into other chunks (a prepared dataset's write batches, Ray's blocks): the plan's
    measure is the same for any cut, where pyarrow's nbytes (offsets, validity bitmaps) is not."""
    import pyarrow as pa

    rows = [{"id": f"r{n}", "images": [{"bytes": bytes(n * 7), "path": None}] * (n % 3),
             "answer": None if n % 4 else n, "flag": n % 2 == 0} for n in range(40)]
    whole = pa.Table.from_pylist(rows)
    rechunked = pa.Table.from_batches(whole.to_batches(max_chunksize=3))
    sliced = pa.concat_tables([whole.slice(0, 17), whole.slice(17)])
    assert export.value_bytes(whole) == export.value_bytes(rechunked) == export.value_bytes(sliced)
    assert whole.nbytes != rechunked.nbytes
    assert export.value_bytes(whole) == sum(n * 7 * (n % 3) for n in range(40)) + sum(len(f"r{n}") for n in range(
        40)) + 40 * 8 + 40  # image bytes, ids, int64 answers (null slots too), booleans
    plan = export.plan_split("validation", 3, 10**9, "1MB")  # never a file of no rows
    assert plan.names == [f"validation-0000{n}-of-00003.parquet" for n in range(3)] and plan.bounds == [
        (0, 1), (1, 2), (2, 3)]


def test_a_shard_whose_rows_fail_midway_leaves_nothing_behind(tmp_path):
    import pyarrow as pa
    from pyarrow import fs

    def batches():  # a row group written, then the rows stop with an error (a lost archive, a killed read)
        yield pa.table({"id": ["a", "b"]})
        raise scifig.ScifigDataError("benchmark.zip: cut off")

    with pytest.raises(scifig.ScifigDataError, match="cut off"):
        export.write_shard(fs.LocalFileSystem(), str(tmp_path / "validation-00000-of-00001.parquet"), batches(),
                           {"huggingface": "{}"}, 100)
    assert list(tmp_path.iterdir()) == []


def test_the_engines_refuse_what_is_not_theirs(tmp_path):
    with pytest.raises(ValueError, match="--engine ray writes to object storage"):
        export.export("s3://bucket/out", configs=["mcq"], data_dir=str(DUMMY))
    with pytest.raises(ValueError, match="--num-proc is the local engine's"):
        export.export(tmp_path / "out", configs=["mcq"], data_dir=str(DUMMY), engine="ray", num_proc=2)
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        export.export(tmp_path / "out", configs=["mcq"], data_dir=str(DUMMY), engine="spark")
    assert not (tmp_path / "out").exists()


def test_an_export_refuses_a_folder_it_did_not_write_and_resumes_its_own(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty and no scifig export wrote it"):
        export.export(mine, configs=["mcq_fig2cap"], data_dir=str(DUMMY), progress=False)
    assert sorted(path.name for path in mine.iterdir()) == ["notes.txt"]
    out = tmp_path / "out"
    first = export.export(out, configs=["mcq_fig2cap"], data_dir=str(DUMMY), progress=False)
    again = export.export(out, configs=["mcq_fig2cap"], data_dir=str(DUMMY), progress=False)
    assert first["mcq_fig2cap/validation"]["written"] == again["mcq_fig2cap/validation"]["skipped"] == 4
    with pytest.raises(ValueError, match="holds a scifig export in the hub format"):
        export.export(out, ["pretraining"], format="vila", data_dir=str(DUMMY))


def test_the_card_of_an_export_of_the_sample_says_it_is_fictional_and_sizes_its_rows(exported):
    card = (exported / "README.md").read_text(encoding="utf-8")
    first_screen = card.split("\n## ", 1)[0]
    counts = export.exported_splits(exported)
    rows = sum(split["num_examples"] for splits in counts.values() for split in splits.values())
    assert f"This is the fictional sample bundled with scifig, {rows} rows" in first_screen
    assert DatasetCard.load(exported / "README.md").data.size_categories == ["n<1K"]
