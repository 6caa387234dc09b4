"""The synthetic benchmark corpus is in the hosted layout: every config reads it (counts from its own manifest)."""

import json
import zipfile

import scifig
from benchmarks import make_corpus


def test_synthetic_corpus_reads_through_every_config(tmp_path):
    make_corpus.build(tmp_path, 30, figure_kb=(1, 2), content_kb=2, image_pool=4)
    with zipfile.ZipFile(tmp_path / "benchmark.zip") as archive:
        train = json.loads(archive.read("benchmark/train/image_caption_generation_data.json"))
        validation = json.loads(archive.read("benchmark/dev/image_caption_matching_data.json"))
        evaluation = {record["uid"] for folder in ("dev", "test") for name in ("generation", "matching")
                      for record in _records(archive, f"benchmark/{folder}/image_caption_{name}_data.json")}
    counts = {config: {split: sum(1 for _ in stream.select_columns(["id"])) for split, stream in
                       scifig.load(config, streaming=True, data_dir=str(tmp_path)).items()}
              for config in ("captioning", "mcq", "chat", "pretraining", "articles")}
    assert counts["captioning"]["train"] == sum(len(record["images"]) for record in train)
    assert counts["mcq"]["validation"] == sum(len(setting) for setting in validation)
    assert counts["chat"]["train"] == len(train)
    # every article has a pre-training document; by default those of evaluation articles are left out
    assert counts["articles"]["train"] == 30 and 0 < len(evaluation) < 30
    assert counts["pretraining"]["train"] == 30 - len(evaluation)
    released = scifig.load("pretraining", split="train", data_dir=str(tmp_path), exclude_eval_articles=False,
                           streaming=True)
    assert sum(1 for _ in released.select_columns(["id"])) == 30
    assert scifig.load("captioning", split="train", streaming=True, data_dir=str(tmp_path)).n_shards == 8


def _records(archive, member):
    data = json.loads(archive.read(member))
    return [record for part in data for record in (part if isinstance(part, list) else [part])]
