"""The `sft` mixture as upstream's script builds it, and the trainer formats `export --format` writes, read back by
the readers trainers use: webdataset for the tars, the plain-data unpickler for VILA's pickles, LLaMA-Factory's
sharegpt layout. Files are named from counters, never from names found in an archive."""

import base64
import json
import pickle
import subprocess
import sys

import pytest
import webdataset

from helpers import DUMMY, ROOT, SCRIPTS_RUN

if SCRIPTS_RUN:
    pytest.skip("the exports are written with datasets >= 4, the trainers' own lines", allow_module_level=True)

import scifig  # noqa: E402
from scifig.scifig_formats import load_plain_pickle  # noqa: E402
from scifig_tools import dummy_data, export  # noqa: E402
from scifig_tools.layout import benchmark_image, benchmark_json, empty_evaluation_files, write_zip  # noqa: E402


def _rows(config, **kwargs):
    return list(scifig.load(config, split="train", streaming=True, data_dir=str(DUMMY), **kwargs).decode(False))


def test_sft_is_chat_captioning_and_multiple_choice_as_conversations(upstream):
    rows = _rows("sft")
    tasks = scifig.FEATURES["sft"]["task"]
    by_task = {name: [row for row in rows if tasks.int2str(row["task"]) == name] for name in tasks.names}
    assert {name: len(found) for name, found in by_task.items()} == {
        "chat": len(_rows("chat")), "captioning": len(_rows("captioning")),
        **{setting: len(_rows(f"mcq_{setting}")) for setting in scifig.SETTINGS}}
    for row in by_task["captioning"]:
        question = row["messages"][0]["content"][1]["text"]
        template = next(t for t in scifig.CAPTION_TEMPLATES if question.startswith(t.split("{}")[0]))
        assert question == template.format("Article", question.split("\nArticle: ", 1)[1])
    mcq = {row["id"]: row for row in _rows("mcq")}
    for row in by_task["fig2cap"] + by_task["subfig2cap"]:
        source = mcq[row["id"]]
        assert row["messages"][0]["content"][1]["text"] == source["prompt"]
        letter = "ABCD"[source["answer"]]
        assert row["messages"][1]["content"][0]["text"] == f"{letter}: {source['options'][source['answer']]}"
    assert all(row["messages"][0]["content"][0]["type"] == "image" and len(row["images"]) == 1 for row in rows)
    assert len({row["id"] for row in rows}) == len(rows)
    assert not {row["uid"] for row in rows} & upstream["evaluation"]  # clean by default


def test_sft_keeps_at_most_two_fig2cap_questions_per_article_in_file_order(tmp_path):
    def question(n, uid="ncomms1", subject="Physics"):
        return {"uid": uid, "category": "Physical sciences", "subject": subject, "image": f"{uid}_figure_{n}.png",
                "question": f"Q{n}?\nA: a\nB: b\nC: c\nD: d", "answer": "B"}
    figures = {benchmark_image("train", f"ncomms1_figure_{n}.png"): dummy_data.encode(
        dummy_data.figure_image("ncomms1", n), "PNG") for n in range(4)}
    write_zip(tmp_path / "benchmark.zip", {
        benchmark_json("train", "mcq"): json.dumps([[question(n) for n in range(4)], [question(9)], []]).encode(),
        benchmark_json("train", "chat"): b"[]", benchmark_json("train", "captioning"): b"[]",
        **figures, benchmark_image("train", "ncomms1_figure_9.png"): figures[benchmark_image(
            "train", "ncomms1_figure_0.png")], **empty_evaluation_files()})
    rows = list(scifig.load("sft", split="train", streaming=True, data_dir=str(tmp_path)).select_columns(["id"]))
    kept = [row["id"].split("-")[1] for row in rows]
    assert kept == ["ncomms1_figure_0", "ncomms1_figure_1", "ncomms1_figure_9"]  # the first two fig2cap, then all


def test_sft_order_is_the_same_however_it_is_sharded():
    one = [row["id"] for row in scifig.load("sft", split="train", streaming=True, data_dir=str(DUMMY))]
    sharded = scifig.load("sft", split="train", streaming=True, data_dir=str(DUMMY), train_shards=3)
    assert sharded.n_shards == 3 + 3 + 1 + 3 + 3  # fig2cap is read whole: its cap runs over the file in order
    assert sorted(row["id"] for row in sharded) == sorted(one)


def test_llamafactory_export_is_sharegpt_with_one_tag_per_image(tmp_path):
    written = export.export(tmp_path, ["sft"], format="llamafactory", data_dir=str(DUMMY),
                            cache_dir=str(tmp_path / "c"))
    examples = json.loads((tmp_path / "sft.json").read_text(encoding="utf-8"))
    rows = _rows("sft")
    assert len(examples) == len(rows) == written["sft/train"]["rows"]
    for example, row in zip(examples, rows):
        assert [turn["from"] for turn in example["messages"]] == [
            {"user": "human", "assistant": "gpt"}[m["role"]] for m in row["messages"]]
        text = "".join(turn["value"] for turn in example["messages"])
        assert text.count(export.IMAGE_TAG) == len(example["images"]) == len(row["images"])
        assert [(tmp_path / path).read_bytes() for path in example["images"]] == [i["bytes"] for i in row["images"]]
    info = json.loads((tmp_path / "dataset_info.json").read_text())["scifig_sft"]
    assert info["formatting"] == "sharegpt" and info["tags"] == export.SHAREGPT_TAGS
    recipe = (tmp_path / "qwen2vl_lora_sft.yaml").read_text()
    for setting in ("template: qwen2_vl", "cutoff_len: 4096", "learning_rate: 1.0e-4", "lr_scheduler_type: cosine",
                    "warmup_ratio: 0.1", "finetuning_type: lora", "lora_target: all", "bf16: true",
                    "model_name_or_path: Qwen/Qwen2-VL-2B-Instruct", f"dataset_dir: {tmp_path.resolve()}"):
        assert setting in recipe


def _source_documents():
    """The sample's pre-training documents as MMSci wrote them (the pickles' own), evaluation articles left out as
    a train load leaves them: what the mmc4 exports must give back, field for field."""
    articles = dummy_data.load_articles()
    evaluation = scifig.eval_articles_of(str(DUMMY)).every  # benchmark.zip's, as the builder reads them
    documents = [document for shard in dummy_data.pretraining_shards(articles).values() for document in shard]
    return [document for document in documents if document["url"].rsplit("/", 1)[-1] not in evaluation]


def test_vila_gives_back_mmscis_documents_field_for_field_in_shards_for_every_gpu_count(tmp_path):
    export.export(tmp_path, ["pretraining"], format="vila", data_dir=str(DUMMY), cache_dir=str(tmp_path / "c"))
    folder = tmp_path / "pretraining"
    shards = export.vila_shards(len(_source_documents()), export.VILA_SHARDS)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"shard_{n}.{kind}" for n in range(shards) for kind in ("count", "pkl"))  # VILA counts files / 2
    documents = []
    for n in range(shards):
        shard = load_plain_pickle((folder / f"shard_{n}.pkl").read_bytes(), f"shard_{n}.pkl")
        assert (folder / f"shard_{n}.count").read_text().strip() == str(len(shard))
        documents += shard
    expected = _source_documents()
    assert len(documents) == len(expected) == len(_rows("pretraining")) > 0
    assert documents == expected  # every field: text_list, image_info (image bytes too), similarity_matrix, ...
    assert all(type(info["matched_sim"]) is float for document in documents for info in document["image_info"])
    assert all(info["image_name"].endswith(".png") for document in documents for info in document["image_info"])
    assert min(len(load_plain_pickle(path.read_bytes(), path.name)) for path in folder.glob("*.pkl")) >= 1
    assert [export.vila_shards(n, 8) for n in (1, 3, 4, 7, 8, 1600, 1601)] == [1, 2, 4, 4, 8, 8, 16]


def test_webdataset_tars_read_back_with_webdataset_as_mmscis_documents(tmp_path):
    export.export(tmp_path, ["pretraining"], format="webdataset", data_dir=str(DUMMY),
                  cache_dir=str(tmp_path / "c"))
    tars = sorted(str(path) for path in (tmp_path / "pretraining").glob("shard-*.tar"))
    samples = list(webdataset.WebDataset(tars, shardshuffle=False).decode())
    assert [sample["json"] for sample in samples] == _source_documents()
    assert [sample["__key__"] for sample in samples] == [f"{n:09d}" for n in range(len(samples))]


def test_a_format_takes_only_its_configs():
    with pytest.raises(ValueError, match="--format vila writes pretraining, not sft"):
        export.export("/nonexistent", ["sft"], format="vila", data_dir=str(DUMMY))


HOSTILE = ["../../escape.png", "/tmp/absolute.png", "nul\x00name.png"]


def _export(tmp_path, out, format_name, config, data):
    return subprocess.run([sys.executable, "-m", "scifig_tools", "export", str(out), "--format", format_name,
                           "--configs", config, "--data-dir", str(data)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                       "HF_HOME": str(tmp_path / "hf")})


def _inside(out):
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve()), path
        assert not any(word in path.name for word in ("escape", "absolute", "nul")), path


def test_names_from_an_archive_never_decide_where_a_file_lands(tmp_path):
    """Pre-training images named to climb out of the folder, absolute, or holding a NUL: every format writes
    only inside OUT, under names of its own; figures so named in benchmark.zip are refused by the builder."""
    data = tmp_path / "data"
    data.mkdir()
    jpeg = base64.b64encode(dummy_data.encode(dummy_data.figure_image("x", 1), "JPEG")).decode()
    documents = [{"text_list": ["One.", "Two."], "url": f"https://www.nature.com/articles/ncomms{n}",
                  "category": "Physical sciences-Physics",
                  "image_info": [{"image_name": name, "image_base64": jpeg, "matched_text_index": 1}]}
                 for n, name in enumerate(HOSTILE)]
    write_zip(data / "pretraindata.zip", {"pretraindata/shards/all/shard_0.pkl": pickle.dumps(documents),
                                          "pretraindata/shards/all/shard_0.count": b"3"})
    for format_name in ("vila", "webdataset", "hub"):
        out = tmp_path / f"out-{format_name}"
        result = _export(tmp_path, out, format_name, "pretraining", data)
        assert result.returncode == 0, (format_name, result.stderr[-2000:])
        _inside(out)
    assert not (tmp_path / "escape.png").exists() and not (tmp_path.parent / "escape.png").exists()
    # a figure whose name leaves the images folder is not a figure of the split: an error that names it
    record = {"uid": "ncomms1", "category": "Physical sciences", "subject": "Physics", "caption": "c",
              "image": HOSTILE[0], "conversations": [{"from": "human", "value": "What?"}, {"from": "gpt",
                                                                                          "value": "This."}]}
    png = dummy_data.encode(dummy_data.figure_image("x", 0), "PNG")
    write_zip(data / "benchmark.zip", {benchmark_json("train", "chat"): json.dumps([record]).encode(),
                                       benchmark_image("train", HOSTILE[0]): png, **empty_evaluation_files()})
    out = tmp_path / "out-llamafactory"
    result = _export(tmp_path, out, "llamafactory", "chat", data)
    assert result.returncode == 1 and "figure benchmark/train/images/../../escape.png is not in the archive" in (
        result.stderr)
    if out.exists():
        _inside(out)
