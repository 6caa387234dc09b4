"""Bad upstream data: each case is built as a real archive and must end in a clear error or a counted skip."""

import base64
import io
import json
import logging
import os
import pickle
import shutil
import struct
import zipfile

import pytest

import scifig
from scifig_tools.layout import benchmark_image, benchmark_json, write_zip
from scifig_tools.serve import RangeRequestHandler, RangeServer

from helpers import DUMMY, ROOT

EXAMPLES = ROOT / "scifig_tools" / "upstream" / "examples"
MCQ = benchmark_json("validation", "mcq")
IMAGE = benchmark_image("validation", "ncomms1_figure_0.png")


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


def test_the_16_real_dev_records_parse_into_four_options():
    settings = json.loads((EXAMPLES / "dev_mcq_16_records_by_setting.json").read_text(encoding="utf-8"))
    assert len(settings) == 3
    parsed = 0
    for records in settings:
        for record in records:
            stem, options = scifig.parse_mcq_prompt(record["question"])
            assert stem.endswith("?") and len(options) == 4
            assert record["question"] == stem + "".join(f"\n{letter}: {o}" for letter, o in zip("ABCD", options))
            parsed += 1
    assert parsed == 16


def test_the_16_real_dev_records_load_through_the_builder(tmp_path):
    settings = json.loads((EXAMPLES / "dev_mcq_16_records_by_setting.json").read_text(encoding="utf-8"))
    images = {benchmark_image("validation", r["image"]): _png() for records in settings for r in records}
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


def _stored_pretraining(tmp_path, data):
    with zipfile.ZipFile(tmp_path / "pretraindata.zip", "w") as archive:  # stored: the pickle's bytes lie in the zip
        archive.writestr("pretraindata/shards/all/shard_0.pkl", data)
    return tmp_path / "pretraindata.zip"


def test_a_byte_flipped_inside_a_pickled_string_fails_the_members_crc(tmp_path):
    documents = [{"url": "https://www.nature.com/articles/ncomms1", "text_list": ["the paragraph"], "image_info": [],
                  "category": "Physical sciences-Physics"}]
    path = _stored_pretraining(tmp_path, pickle.dumps(documents))
    path.write_bytes(path.read_bytes().replace(b"the paragraph", b"the paragrapH"))  # still a valid pickle
    with pytest.raises(scifig.ScifigDataError, match="shard_0.pkl is corrupt .*CRC-32"):
        list(scifig.load("pretraining", split="train", streaming=True, data_dir=str(tmp_path)))


def test_bytes_after_the_end_of_a_pickle_are_an_error(tmp_path):
    documents = [{"url": "https://www.nature.com/articles/ncomms1", "text_list": ["x"], "image_info": [],
                  "category": "Physical sciences-Physics"}]
    _stored_pretraining(tmp_path, pickle.dumps(documents) + b"more")
    with pytest.raises(scifig.ScifigDataError, match="shard_0.pkl: 4 bytes follow the end of the pickle"):
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


def _image_bytes(fmt="PNG", size=(7, 5), mode="RGB"):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=fmt)
    return buffer.getvalue()


def test_corrupt_png_names_the_member_and_record_or_is_skipped(tmp_path, caplog):
    corrupt = bytearray(_png())
    corrupt[40:48] = b"\x00" * 8  # inside IHDR/IDAT: the chunk checksum no longer matches
    settings = [[_mcq(), _mcq(question="Q2?\nA: a\nB: b\nC: c\nD: d", image="ncomms1_figure_1.png")], [], []]
    write_zip(tmp_path / "benchmark.zip", {MCQ: json.dumps(settings).encode(), IMAGE: bytes(corrupt),
                                           benchmark_image("validation", "ncomms1_figure_1.png"): _png()})
    with pytest.raises(scifig.ScifigDataError) as error:
        _validation(str(tmp_path))
    assert IMAGE in str(error.value) and "record 0 of setting fig2cap" in str(error.value)
    assert "not a readable image" in str(error.value)
    with caplog.at_level(logging.WARNING):
        rows = _validation(str(tmp_path), on_error="skip")
    assert [row["figure_id"] for row in rows] == ["ncomms1_figure_1"]
    assert any("skipped 1 bad records" in r.getMessage() for r in caplog.records)


def test_a_png_that_would_decompress_to_a_huge_image_is_refused_unread(tmp_path):
    from PIL import Image

    side = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)  # over PIL's limit, under its hard error
    bomb = _image_bytes(size=(side, side), mode="1")
    assert len(bomb) < 5_000_000  # small on disk, ~100 million pixels once decoded
    write_zip(tmp_path / "benchmark.zip", {MCQ: json.dumps([[_mcq()], [], []]).encode(), IMAGE: bomb})
    with pytest.raises(scifig.ScifigDataError, match=rf"{IMAGE} is {side}x{side} pixels, over the"):
        _validation(str(tmp_path))


def test_missing_fields_are_errors_and_extra_fields_are_tolerated(tmp_path, caplog):
    no_uid = _mcq()
    del no_uid["uid"]
    extra = _mcq(question="Q3?\nA: a\nB: b\nC: c\nD: d", figure_caption="unexpected", scores=[1, 2])
    data_dir = _benchmark(tmp_path, [[no_uid, extra], [], []])
    missing = r"record 0 of setting fig2cap \(uid None\): field 'uid' is missing"
    with pytest.raises(scifig.ScifigDataError, match=missing):
        _validation(data_dir)
    with caplog.at_level(logging.WARNING):
        rows = _validation(data_dir, on_error="skip")
    assert [row["question"] for row in rows] == ["Q3?"] and "figure_caption" not in rows[0]


def test_non_utf8_json_names_the_member(tmp_path):
    raw = json.dumps([[_mcq(question="Q?\nA: x\nB: y\nC: z\nD: w")], [], []]).encode().replace(b"Q?", b"Q\xff\xfe?")
    data_dir = _benchmark(tmp_path, None, raw=raw)
    with pytest.raises(scifig.ScifigDataError) as error:
        _validation(data_dir)
    assert MCQ in str(error.value)


def test_member_names_that_climb_out_write_nothing_outside_the_cache(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    settings = json.dumps([[_mcq()], [], []]).encode()
    write_zip(data / "benchmark.zip", {
        MCQ: settings, IMAGE: _png(),
        "benchmark/train/image_caption_matching_data.json": b"[[],[],[]]",
        "benchmark/test/image_caption_matching_data.json": b"[[],[],[]]",
        "../../escaped.txt": b"x", "/tmp/absolute-escape.txt": b"x", "benchmark/../../../up.txt": b"x",
        "benchmark/dev/images/../../../../climbed.png": _png(),
    })
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = {p for p in tmp_path.rglob("*")}
    rows = scifig.load("mcq", split="validation", data_dir=str(data), cache_dir=str(tmp_path / "cache"))
    assert len(rows) == 1
    written = {p for p in tmp_path.rglob("*")} - before
    assert written and all(str(p).startswith(str(tmp_path / "cache")) for p in written)
    for folder in (tmp_path, tmp_path.parent, data.parent.parent):
        for name in ("escaped.txt", "up.txt", "climbed.png", "absolute-escape.txt"):
            assert not (folder / name).exists()


# ---- regressions found by damaging the bundled archives (tests/fuzz.py) ----

def _central_entry(data, member):
    """Where `member`'s central directory entry starts in a zip's bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        at = archive.start_dir
    while True:
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, at + 28)
        if data[at + 46:at + 46 + name_length].decode() == member:
            return at
        at += 46 + name_length + extra_length + comment_length


@pytest.mark.parametrize("offset", [10 ** 6, 0xFFFFFFFE])
def test_a_directory_entry_pointing_past_the_archive_is_a_data_error(tmp_path, offset):
    data = bytearray((DUMMY / "benchmark.zip").read_bytes())
    struct.pack_into("<L", data, _central_entry(bytes(data), MCQ) + 42, offset)  # the local header offset
    (tmp_path / "benchmark.zip").write_bytes(bytes(data))
    with pytest.raises(scifig.ScifigDataError, match=f"member {MCQ} ends past the archive"):
        _validation(str(tmp_path))


@pytest.mark.parametrize("category", [{"name": "Physical sciences"}, ["Physical sciences"], 3])
def test_a_category_that_is_not_a_string_names_the_record(tmp_path, category):
    record = {"uid": "ncomms1", "category": category, "subject": "Physics", "image": "ncomms1_figure_0.png",
              "caption": "c", "abstract": "a", "content": "t"}
    write_zip(tmp_path / "benchmark.zip", {benchmark_json("validation", "captioning"): json.dumps([record]).encode(),
                                           IMAGE: _png()})
    with pytest.raises(scifig.ScifigDataError, match=r"record 0 \(uid 'ncomms1'\): unknown category"):
        list(scifig.load("captioning", split="validation", streaming=True, data_dir=str(tmp_path)))


def test_a_count_file_whose_shard_is_missing_is_an_error(tmp_path):
    documents = [{"url": "https://www.nature.com/articles/ncomms1", "text_list": ["x"], "image_info": [],
                  "category": "Physical sciences-Physics"}]
    write_zip(tmp_path / "pretraindata.zip", {"pretraindata/shards/all/shard_0.pkl": pickle.dumps(documents),
                                             "pretraindata/shards/all/shard_0.count": b"1",
                                             "pretraindata/shards/all/shard_1.count": b"200"})
    with pytest.raises(scifig.ScifigDataError, match="shard_1.count counts documents of a shard that is not there"):
        list(scifig.load("pretraining", split="train", streaming=True, data_dir=str(tmp_path)))


def test_fewer_directory_entries_than_the_directory_holds_is_an_error(tmp_path):
    data = bytearray((DUMMY / "pretraindata.zip").read_bytes())
    end = data.rindex(b"PK\x05\x06")
    entries = struct.unpack_from("<H", data, end + 10)[0]
    struct.pack_into("<2H", data, end + 8, entries - 1, entries - 1)  # the last shard would vanish
    (tmp_path / "pretraindata.zip").write_bytes(bytes(data))
    with pytest.raises(scifig.ScifigDataError, match="holds more than the .* entries its end record counts"):
        list(scifig.load("pretraining", split="train", streaming=True, data_dir=str(tmp_path)))


def _pretraining_with_url(tmp_path, url):
    documents = [{"url": url, "text_list": ["x"], "image_info": [], "category": "Physical sciences-Physics"}]
    write_zip(tmp_path / "pretraindata.zip", {"pretraindata/shards/all/shard_0.pkl": pickle.dumps(documents)})


def _article_with_title(tmp_path, title):
    record = {"pdf_link": "URL not found", "review_pdf_link": "URL not found", "unique_id": "ncomms1", "images": [],
              "title": title, "published_time": "2020-01-01", "abstract": "A", "sections": [], "references": []}
    write_zip(tmp_path / "rawdata.zip", {"rawdata/Physical sciences/Physics/ncomms1/ncomms1_data.json":
                                         json.dumps(record).encode()})  # "\\ud800" in the text: json reads it back


# Pickles hold any str, and json.loads reads an escaped lone surrogate back; no file or Arrow table can hold one.
@pytest.mark.parametrize("config,write,problem", [
    ("pretraining", lambda path: _pretraining_with_url(path, "https://www.nature.com/articles/ncomms1\ud800"),
     "field 'url' is not valid Unicode"),
    ("articles", lambda path: _article_with_title(path, "A title\udfff"), "field 'title' is not valid Unicode"),
])
def test_lone_surrogates_are_data_errors_streamed_and_prepared(tmp_path, config, write, problem):
    write(tmp_path)
    with pytest.raises(scifig.ScifigDataError, match=problem):
        list(scifig.load(config, split="train", streaming=True, data_dir=str(tmp_path)))
    with pytest.raises(scifig.ScifigDataError, match=problem):
        scifig.load(config, split="train", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))


def test_numbers_too_large_for_their_column_are_data_errors_when_prepared(tmp_path):
    record = {"pdf_link": "URL not found", "review_pdf_link": "URL not found", "unique_id": "ncomms1", "images": [],
              "title": "T", "published_time": "2020-01-01", "abstract": "A", "sections": [],
              "references": [{"idx": str(2 ** 40), "title": "R", "link": "URL not found"}]}
    write_zip(tmp_path / "rawdata.zip", {"rawdata/Physical sciences/Physics/ncomms1/ncomms1_data.json":
                                         json.dumps(record).encode()})
    with pytest.raises(scifig.ScifigDataError, match="reference idx 1099511627776 does not fit a 32-bit integer"):
        scifig.load("articles", split="train", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))


def test_a_truncated_jpeg_is_named_where_it_is_read(tmp_path):
    jpeg = _image_bytes("JPEG", size=(64, 48))
    documents = [{"url": "https://www.nature.com/articles/ncomms1", "text_list": ["x"], "category":
                  "Physical sciences-Physics", "image_info": [{"image_name": "ncomms1_1.png", "matched_text_index": 0,
                                                              "image_base64": base64.b64encode(jpeg[:-40]).decode()}]}]
    write_zip(tmp_path / "pretraindata.zip", {"pretraindata/shards/all/shard_0.pkl": pickle.dumps(documents)})
    with pytest.raises(scifig.ScifigDataError, match=r"record 0 \(url .*ncomms1_1.png\) is not a readable image"):
        list(scifig.load("pretraining", split="train", streaming=True, data_dir=str(tmp_path)))
