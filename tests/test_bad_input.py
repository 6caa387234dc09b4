"""Bad upstream data: each case is built as a real archive and must end in a clear error or a counted skip."""

import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import pytest

import scifig
from conftest import DUMMY
from scifig_tools.dummy_data import write_zip
from scifig_tools.serve import RangeRequestHandler, RangeServer

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "mmsci" / "examples"
MCQ = "benchmark/dev/image_caption_matching_data.json"
IMAGE = "benchmark/dev/images/ncomms1_figure_0.png"


def _png():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (7, 5), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def _mcq(question="Q?\nA: one\nB: two\nC: three\nD: four", answer="B", **extra):
    return {"uid": "ncomms1", "category": "Physical sciences", "subject": "Physics", "question": question,
            "answer": answer, "image": "ncomms1_figure_0.png", **extra}


def _benchmark(tmp_path, settings, split_folder="dev", raw=None, with_image=True):
    member = f"benchmark/{split_folder}/image_caption_matching_data.json"
    members = {member: raw if raw is not None else json.dumps(settings).encode()}
    if with_image:
        members[f"benchmark/{split_folder}/images/ncomms1_figure_0.png"] = _png()
    write_zip(tmp_path / "benchmark.zip", members)
    return str(tmp_path)


def _validation(data_dir, **kwargs):
    return list(scifig.load("mcq", split="validation", streaming=True, data_dir=data_dir, **kwargs))


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"{EXAMPLES} (the shared upstream examples) is not present")
def test_the_16_real_dev_records_parse_into_four_options():
    settings = json.loads((EXAMPLES / "dev_mcq_16_records_by_setting.json").read_text(encoding="utf-8"))
    assert len(settings) == 3
    parsed = 0
    for records in settings:
        for record in records:
            stem, options = scifig.parse_mcq_prompt(record["question"])
            assert stem.endswith("?") and len(options) == 4
            assert record["question"] == stem + "".join(f"\n{l}: {o}" for l, o in zip("ABCD", options))
            parsed += 1
    assert parsed == 16


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"{EXAMPLES} (the shared upstream examples) is not present")
def test_the_16_real_dev_records_load_through_the_builder(tmp_path):
    settings = json.loads((EXAMPLES / "dev_mcq_16_records_by_setting.json").read_text(encoding="utf-8"))
    images = {f"benchmark/dev/images/{r['image']}": _png() for records in settings for r in records}
    write_zip(tmp_path / "benchmark.zip", {MCQ: json.dumps(settings).encode(), **images})
    rows = _validation(str(tmp_path))
    assert len(rows) == 16
    assert [row["setting"] for row in rows] == [0] * 5 + [1] * 5 + [2] * 6
    assert ["ABCD"[row["answer"]] for row in rows] == [r["answer"] for records in settings for r in records]


@pytest.mark.parametrize("question,found", [
    ("Q?\nA: one\nB: two\nC: three", "['A', 'B', 'C']"),
    ("Q?\nA: one\nB: two\nC: three\nD: four\nE: five", "['A', 'B', 'C', 'D', 'E']"),
    ("Q?\nA: one\nC: two\nB: three\nD: four", "['A', 'C', 'B', 'D']"),
    ("Q? A: one B: two", "none"),
])
def test_options_that_are_not_exactly_a_to_d_name_the_member_and_record(tmp_path, question, found):
    data_dir = _benchmark(tmp_path, [[_mcq(), _mcq(question=question)], [], []])
    with pytest.raises(scifig.ScifigDataError) as error:
        _validation(data_dir)
    message = str(error.value)
    assert MCQ in message and "record 1 of setting fig2cap" in message and "ncomms1" in message
    assert found in message


def test_answer_outside_a_to_d_is_an_error_in_validation_and_withheld_in_test(tmp_path):
    data_dir = _benchmark(tmp_path, [[_mcq(answer="E")], [], []])
    with pytest.raises(scifig.ScifigDataError, match=r"answer 'E' is not one of A-D"):
        _validation(data_dir)
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    _benchmark(test_dir, [[_mcq(answer="E"), _mcq(question="Other?\nA: 1\nB: 2\nC: 3\nD: 4", answer=None)], [], []],
               split_folder="test")
    rows = list(scifig.load("mcq", split="test", streaming=True, data_dir=str(test_dir)))
    assert [row["answer"] for row in rows] == [-1, -1]


def test_missing_image_names_the_member_and_record(tmp_path):
    data_dir = _benchmark(tmp_path, [[_mcq()], [], []], with_image=False)
    with pytest.raises(scifig.ScifigDataError) as error:
        _validation(data_dir)
    assert "record 0 of setting fig2cap (uid 'ncomms1')" in str(error.value)
    assert IMAGE in str(error.value)


@pytest.mark.parametrize("raw,problem", [
    (b'[[{"uid": "ncomms1", "question": ', "malformed JSON"),
    (b'{"fig2cap": []}', "expected a JSON list of lists at the top"),
    (json.dumps([[], []]).encode(), "expected a list of 3 lists (one per setting), found 2"),
    (json.dumps([[], {}, []]).encode(), "item 1 is a object"),
    (json.dumps([["text"], [], []]).encode(), "record 0 of setting 0 (fig2cap) is a string"),
])
def test_wrong_json_is_a_clear_error(tmp_path, raw, problem):
    data_dir = _benchmark(tmp_path, None, raw=raw)
    with pytest.raises(scifig.ScifigDataError) as error:
        _validation(data_dir)
    assert problem in str(error.value) and MCQ in str(error.value)


def test_on_error_skip_counts_and_logs_each_skip(tmp_path, caplog):
    records = [_mcq(), _mcq(question="broken"), _mcq(question="Q2?\nA: a\nB: b\nC: c\nD: d", answer="Z")]
    data_dir = _benchmark(tmp_path, [records, [], []])
    with caplog.at_level(logging.WARNING):
        rows = _validation(data_dir, on_error="skip")
    assert [row["prompt"] for row in rows] == [records[0]["question"]]
    skips = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped: ")]
    assert len(skips) == 2 and "record 1 of setting fig2cap" in skips[0] and "answer 'Z'" in skips[1]
    assert any("skipped 2 bad records" in r.getMessage() for r in caplog.records)


def test_exact_duplicate_records_keep_unique_ids_and_are_reported(tmp_path, caplog):
    data_dir = _benchmark(tmp_path, [[_mcq(), _mcq()], [], []])
    with caplog.at_level(logging.WARNING):
        rows = _validation(data_dir)
    assert len(rows) == 2 and rows[1]["id"] == rows[0]["id"] + "-2"
    assert any("1 duplicate upstream records" in r.getMessage() for r in caplog.records)


def test_truncated_zip_is_a_clear_error(tmp_path):
    shutil.copy(DUMMY / "benchmark.zip", tmp_path / "benchmark.zip")
    size = os.path.getsize(tmp_path / "benchmark.zip")
    with open(tmp_path / "benchmark.zip", "r+b") as file:
        file.truncate(size // 2)
    with pytest.raises(scifig.ScifigDataError, match="truncated or not a zip"):
        _validation(str(tmp_path))


def test_empty_archive_is_a_clear_error(tmp_path):
    write_zip(tmp_path / "benchmark.zip", {})
    with pytest.raises(scifig.ScifigDataError, match="no member ends in dev/image_caption_matching_data.json"):
        _validation(str(tmp_path))


class _Sentinel:
    """Unpickling this calls os.system: it must never run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_a_pickle_that_names_a_callable_is_refused_and_nothing_runs(tmp_path):
    sentinel = tmp_path / "ran"
    documents = [{"url": "https://www.nature.com/articles/ncomms1", "text_list": ["x"], "image_info": [],
                  "category": "Physical sciences-Physics", "payload": _Sentinel(sentinel)}]
    write_zip(tmp_path / "pretraindata.zip", {"pretraindata/shards/all/shard_0.pkl": pickle.dumps(documents)})
    with pytest.raises(scifig.ScifigDataError) as error:
        list(scifig.load("pretraining", split="train", streaming=True, data_dir=str(tmp_path)))
    assert "shard_0.pkl" in str(error.value) and "only plain data" in str(error.value)
    assert "posix.system" in str(error.value) or "os.system" in str(error.value)
    assert not sentinel.exists()


def test_shard_count_file_disagreeing_is_an_error(tmp_path):
    documents = [{"url": "https://www.nature.com/articles/ncomms1", "text_list": ["x"], "image_info": [],
                  "category": "Physical sciences-Physics"}]
    write_zip(tmp_path / "pretraindata.zip", {"pretraindata/shards/all/shard_0.pkl": pickle.dumps(documents),
                                             "pretraindata/shards/all/shard_0.count": b"200"})
    with pytest.raises(scifig.ScifigDataError, match="holds 1 documents but .*shard_0.count says 200"):
        list(scifig.load("pretraining", split="train", streaming=True, data_dir=str(tmp_path)))


class _NoRangeHandler(RangeRequestHandler):
    def send_head(self):
        del self.headers["Range"]
        return super().send_head()


def test_a_server_that_ignores_range_is_named_not_downloaded(tmp_path):
    server = RangeServer(DUMMY, handler=_NoRangeHandler).start()
    try:
        with pytest.raises(scifig.ScifigDataError, match="does not honour Range requests"):
            list(scifig.load("mcq", split="validation", streaming=True, base_url=server.url))
    finally:
        server.stop()
