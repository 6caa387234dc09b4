"""No train split holds an evaluation article by default: where the evaluation articles come from, what the default
leaves out, what `exclude_eval_articles=False` gives back and says, and the shipped list behind the fallback."""

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import scifig
from scifig_tools import eval_articles, infos
from scifig_tools.layout import write_zip
from scifig_tools.serve import RangeServer

from helpers import DUMMY, ROOT, copy_builder, rows_of


def _uids(config, **kwargs):
    stream = scifig.load(config, split="train", streaming=True, **kwargs)
    return [row["uid"] for row in stream.select_columns(["uid"])]


def test_without_benchmark_zip_the_shipped_list_stands_in_and_says_so(tmp_path, caplog):
    shutil.copy(DUMMY / "pretraindata.zip", tmp_path)
    scifig.scifig_sources.eval_articles.cache_clear()
    with caplog.at_level(logging.INFO):
        kept = _uids("pretraining", data_dir=str(tmp_path))
    # ncomms8779 is a real MMSci test article (in the list); the sample's fictional ones are not in it
    assert "ncomms8779" in scifig.shipped_eval_articles().test
    assert kept == ["ncomms90001", "ncomms90002", "ncomms90003", "ncomms90007"]
    assert [r.getMessage() for r in caplog.records if "evaluation articles:" in r.getMessage()] == [
        "evaluation articles: benchmark.zip is not among the archives, so they come from the list shipped with "
        "scifig (Leezekun/MMSci, mmsci-data/rawdata/{train,dev,test}_split_ids.json at commit f9be52c)"]


def test_with_benchmark_zip_its_files_decide_and_the_source_is_logged(caplog):
    scifig.scifig_sources.eval_articles.cache_clear()
    with caplog.at_level(logging.INFO):
        kept = _uids("pretraining", data_dir=str(DUMMY))
    assert kept == ["ncomms90001", "ncomms90002", "ncomms8779"]  # benchmark.zip's files win over the list
    [said] = [r.getMessage() for r in caplog.records if "evaluation articles:" in r.getMessage()]
    assert said.startswith("evaluation articles: ") and "benchmark.zip" in said
    assert "dev/image_caption_matching_data.json" in said


def test_validation_and_test_are_never_filtered():
    for config in ("captioning", "mcq"):
        for split in ("validation", "test"):
            clean = scifig.load(config, split=split, streaming=True, data_dir=str(DUMMY))
            released = scifig.load(config, split=split, streaming=True, data_dir=str(DUMMY),
                                   exclude_eval_articles=False)
            assert rows_of(clean) == rows_of(released)


def test_kept_rows_keep_their_ids():
    clean = {row["id"] for row in scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY))
             .select_columns(["id"])}
    released = {row["id"] for row in scifig.load("captioning", split="train", streaming=True, data_dir=str(DUMMY),
                                                  exclude_eval_articles=False).select_columns(["id"])}
    assert clean < released and all(not row_id.startswith("ncomms90003") for row_id in clean)


def test_train_as_released_warns_once_how_many_evaluation_articles_it_holds(caplog):
    with caplog.at_level(logging.WARNING):
        uids = _uids("captioning", data_dir=str(DUMMY), exclude_eval_articles=False)  # 8 shards
    assert "ncomms90003" in uids
    said = [r.getMessage() for r in caplog.records if "as released" in r.getMessage()]
    assert said == ["captioning: exclude_eval_articles=False gives upstream's train as released, which holds 1 of "
                    "the 6 validation and test articles under other subjects (ncomms90003: they have figures in its "
                    "train split)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _uids("captioning", data_dir=str(DUMMY))
        _uids("articles", data_dir=str(DUMMY))  # keeps them by design: nothing to warn about
    assert not [r for r in caplog.records if "as released" in r.getMessage()]


def test_the_evaluation_articles_are_read_once_per_machine(tmp_path, cache):
    for archive in ("benchmark.zip", "pretraindata.zip"):
        shutil.copy(DUMMY / archive, tmp_path)
    code = (f"import scifig; rows = scifig.load('chat', split='train', streaming=True, data_dir={str(tmp_path)!r}, "
            f"cache_dir={cache!r}); print(sum(1 for _ in rows.select_columns(['id'])))")
    first = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    kept = [path for path in (Path(cache) / "scifig" / "eval-articles").glob("*.json")
            if not path.name.endswith(".meta.json")]
    assert first.returncode == 0, first.stderr
    assert len(kept) == 1 and sorted(json.loads(kept[0].read_text())["test"]) == [
        "ncomms90003", "ncomms90007", "ncomms90008"]
    # a second process reads what was kept (changed here, to see it is not read again from the archive)
    kept[0].write_text(json.dumps({"validation": [], "test": ["ncomms90001"]}))
    second = subprocess.run([sys.executable, "-c", code.replace("'chat'", "'pretraining'")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    # ncomms90001 left out, ncomms90003 and ncomms90007 kept: the changed copy was read
    assert second.returncode == 0 and second.stdout.split() == ["4"], second.stderr


def test_recorded_sizes_describe_the_default_load(tmp_path):
    """dataset_infos.json records what the default (clean) load gives; opting out drops the recorded sizes."""
    measured = infos.build(str(DUMMY), configs=["chat"], cache_dir=str(tmp_path / "measure"))
    clone = copy_builder(tmp_path / "scifig", {"scifig.py": f"# {tmp_path}\n"})
    infos.write({**{c: infos.declared_info(c) for c in scifig.CONFIG_NAMES}, **measured}, clone / "dataset_infos.json")
    assert measured["chat"]["splits"]["train"]["num_examples"] == 8
    spec = importlib.util.spec_from_file_location("scifig_recorded", clone / "scifig.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["scifig_recorded"] = module
    spec.loader.exec_module(module)
    server = RangeServer(DUMMY).start()
    try:
        default = module.builder("chat", base_url=server.url)
        released = module.builder("chat", base_url=server.url, exclude_eval_articles=False)
        assert default.info.splits["train"].num_examples == 8 and released.info.splits is None
        assert len(module.load("chat", split="train", base_url=server.url, cache_dir=str(tmp_path / "c"),
                               verification_mode="all_checks")) == 8
    finally:
        server.stop()


def test_the_shipped_list_is_written_from_upstreams_split_files(tmp_path):
    filed = {"train": {"Physical sciences": {"Physics": ["a1", "a2", "t1"], "Chemistry": ["a2", "v1"]}},
             "dev": {"Physical sciences": {"Physics": ["v1"], "Chemistry": ["v2", "b1"]}},
             "test": {"Physical sciences": {"Chemistry": ["t1", "b1"]}, "Health sciences": {"Oncology": ["t1"]}}}
    for split, content in filed.items():
        (tmp_path / f"{split}_split_ids.json").write_text(json.dumps(content))
    result = subprocess.run([sys.executable, "-m", "scifig_tools", "eval-articles", str(tmp_path), "--commit",
                             "0" * 40, "--out", str(tmp_path / "list.json")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = json.loads((tmp_path / "list.json").read_text())
    assert listed["validation"] == ["b1", "v1", "v2"] and listed["test"] == ["b1", "t1"]
    assert listed["entries"] == {"train": 5, "validation": 3, "test": 3}
    assert listed["also_in_train"] == {"validation": 1, "test": 1} and listed["in_validation_and_test"] == 1
    assert listed["commit"] == "0" * 40 and listed["source"] == eval_articles.SOURCE


def test_the_committed_list_holds_what_it_counts():
    listed = json.loads((ROOT / scifig.EVAL_ARTICLES_FILE).read_text(encoding="utf-8"))
    assert len(listed["validation"]) == listed["articles"]["validation"] == 1344
    assert len(listed["test"]) == listed["articles"]["test"] == 1343
    assert listed["also_in_train"] == {"validation": 1162, "test": 1169}
    assert len(set(listed["validation"]) & set(listed["test"])) == listed["in_validation_and_test"] == 112
    shipped = scifig.shipped_eval_articles()
    assert shipped.validation == frozenset(listed["validation"]) and shipped.test == frozenset(listed["test"])


@pytest.mark.parametrize("config", ["captioning", "chat", "pretraining", "mcq_subcap2fig"])
def test_every_training_config_is_clean_by_default(config, upstream):
    assert not set(_uids(config, data_dir=str(DUMMY))) & upstream["evaluation"]


@pytest.mark.parametrize("exclude", [True, False])
def test_a_benchmark_without_its_dev_and_test_files_still_loads_train(tmp_path, caplog, exclude):
    """A partial copy or a train-only mirror: the evaluation articles come from the shipped list, with a warning
    that says so, and exclude_eval_articles=False (which counts the leak) loads too."""
    scifig.scifig_sources.eval_articles.cache_clear()
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()
                   if not info.is_dir() and "/train/" in info.filename}
    write_zip(tmp_path / "benchmark.zip", members)
    with caplog.at_level(logging.WARNING):
        rows = scifig.load("captioning", split="train", data_dir=str(tmp_path), exclude_eval_articles=exclude)
    assert "holds no dev/image_caption_generation_data.json" in caplog.text and "shipped with scifig" in caplog.text
    shipped = scifig.shipped_eval_articles()
    every = scifig.load("captioning", split="train", data_dir=str(DUMMY), exclude_eval_articles=False)
    expected = [row["id"] for row in every.select_columns(["id", "uid"])
                if not exclude or row["uid"] not in shipped.every]
    assert rows["id"] == expected and len(expected) > 0
