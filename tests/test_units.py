"""The pieces under the builder, each on a small input: the row functions (with a real Origin over a real folder
archive), the multiple-choice prompt parser, JSON streaming, the id stage, the error policies and the zip's central
directory parser. The archive-level tests (test_builder, test_bad_input, the fuzzer) cover them together."""

import base64
import io
import json
import logging
import struct
import zipfile

import pytest

import scifig
from scifig.scifig_archives import _CENTRAL, FolderArchive, _CentralDirectory
from scifig.scifig_bytes import LocalBytes
from scifig.scifig_errors import Count, RaiseOnError, RecordError, SkipAndCount
from scifig.scifig_formats import ListOfLists, json_records
from scifig.scifig_rows import article_rows, captioning_rows, chat_rows, mcq_rows, pretraining_rows
from scifig.scifig_sources import Origin
from scifig_tools import dummy_data

from helpers import DUMMY

PROMPT = "Which caption fits?\nA: one\nB: two\nC: three\nD: four"
RECORD = {"uid": "ncomms1", "category": "Physical sciences", "subject": "Physics", "image": "ncomms1_figure_0.png"}


# ---- the multiple-choice prompt ----

def test_the_prompt_parser_splits_stem_and_options_and_mcq_prompt_inverts_it():
    stem, options = scifig.parse_mcq_prompt(PROMPT)
    assert (stem, options) == ("Which caption fits?", ["one", "two", "three", "four"])
    assert scifig.mcq_prompt(stem, options) == PROMPT
    # an option may run over several lines; only a capital letter, colon and space at a line start marks one
    stem, options = scifig.parse_mcq_prompt("Q?\nA: a\nwith more\nB: b\nC: c (see D:x)\nD: d")
    assert options == ["a\nwith more", "b", "c (see D:x)", "d"]


@pytest.mark.parametrize("prompt,problem", [
    ("Q?\nA: a\nB: b\nC: c", "found ['A', 'B', 'C']"),
    ("Q?\nA: a\nB: b\nB: b\nD: d", "found ['A', 'B', 'B', 'D']"),
    ("Q?", "found none"),
    ("Q?\nA: a\nB:  \nC: c\nD: d", "an option is empty"),
    ("\nA: a\nB: b\nC: c\nD: d", "stem or an option is empty"),
])
def test_the_prompt_parser_refuses_anything_but_four_options(prompt, problem):
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        scifig.parse_mcq_prompt(prompt)


# ---- row functions, with a real Origin over a real (folder) archive ----

@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(3):
        (images / f"ncomms1_figure_{index}.png").write_bytes(
            dummy_data.encode(dummy_data.figure_image("ncomms1", index), "PNG"))
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    return FolderArchive(str(tmp_path), keep=lambda name: True)


def _origin(archive, split="validation", setting=-1):
    return Origin(archive, "data.json", 0, "uid 'ncomms1'", split, setting, folder="images/")


def test_mcq_rows_turn_a_record_into_one_typed_row(folder):
    [row] = mcq_rows({**RECORD, "question": PROMPT, "answer": "C"}, _origin(folder, setting=1))
    assert row["answer"] == 2 and row["setting"] == 1 and row["options"][2] == "three"
    assert row["question"] == "Which caption fits?" and row["prompt"] == PROMPT
    assert row["id"].startswith("subfig2cap-ncomms1_figure_0-") and row["figure_id"] == "ncomms1_figure_0"
    assert row["image"]["path"] == "ncomms1_figure_0.png" and row["image"]["bytes"].startswith(b"\x89PNG")
    # the id is stable: the same record gives the same id, another prompt another
    [again] = mcq_rows({**RECORD, "question": PROMPT, "answer": "C"}, _origin(folder, setting=1))
    [other] = mcq_rows({**RECORD, "question": PROMPT + " ", "answer": "C"}, _origin(folder, setting=1))
    assert again["id"] == row["id"] != other["id"]


def test_mcq_rows_withhold_test_answers_and_refuse_bad_ones(folder):
    [row] = mcq_rows({**RECORD, "question": PROMPT, "answer": ""}, _origin(folder, "test", 0))
    assert row["answer"] == -1
    with pytest.raises(RecordError, match="answer 'E' is not one of A-D"):
        list(mcq_rows({**RECORD, "question": PROMPT, "answer": "E"}, _origin(folder, "validation", 0)))
    with pytest.raises(RecordError, match="figure images/broken.png is not a readable image"):
        list(mcq_rows({**RECORD, "image": "broken.png", "question": PROMPT, "answer": "A"}, _origin(folder)))
    with pytest.raises(RecordError, match="figure images/gone.png is not in the archive"):
        list(mcq_rows({**RECORD, "image": "gone.png", "question": PROMPT, "answer": "A"}, _origin(folder)))


def test_captioning_rows_give_a_row_per_figure_and_withhold_blank_captions(folder):
    record = {**RECORD, "abstract": "Abs.", "images": [{"image": "ncomms1_figure_1.png", "caption": "Fig 2."},
                                                       {"image": "ncomms1_figure_2.png", "caption": "  "}]}
    rows = list(captioning_rows(record, _origin(folder, "train")))
    assert [row["figure_id"] for row in rows] == ["ncomms1_figure_1", "ncomms1_figure_2"]
    assert [row["caption"] for row in rows] == ["Fig 2.", None]
    assert all(row["abstract"] == "Abs." and row["content"] is None for row in rows)
    with pytest.raises(RecordError, match="unknown category 'Alchemy'"):
        list(captioning_rows({**record, "category": "Alchemy"}, _origin(folder, "train")))


def test_chat_rows_map_roles_and_put_the_figure_first(folder):
    record = {**RECORD, "conversations": [{"from": "human", "value": "What is (a)?"},
                                          {"from": "gpt", "value": "A plot."}]}
    [row] = chat_rows(record, _origin(folder, "train"))
    assert [message["role"] for message in row["messages"]] == ["user", "assistant"]
    assert row["messages"][0]["content"][0] == {"type": "image", "text": None, "index": 0}
    assert row["messages"][0]["content"][1]["text"] == "What is (a)?" and len(row["images"]) == 1
    with pytest.raises(RecordError, match="does not start with a human turn"):
        list(chat_rows({**record, "conversations": record["conversations"][::-1]}, _origin(folder, "train")))


def test_pretraining_rows_place_each_image_before_its_sentence(folder):
    jpeg = dummy_data.encode(dummy_data.figure_image("x", 0), "JPEG")
    document = {"url": "https://www.nature.com/articles/ncomms1", "category": "Physical sciences-Physics",
                "text_list": ["One.", "Two.", "Three."],
                "image_info": [{"image_name": "a.jpg", "image_base64": base64.b64encode(jpeg).decode(),
                                "matched_text_index": 1}]}
    [row] = pretraining_rows(document, _origin(folder, "train"))
    assert row["texts"] == ["One.", None, "Two.", "Three."]
    assert [image and image["path"] for image in row["images"]] == [None, "a.jpg", None, None]
    assert row["uid"] == "ncomms1" and row["subject"] == "Physics"
    document["image_info"][0]["matched_text_index"] = 3
    with pytest.raises(RecordError, match="matched_text_index 3 is outside text_list"):
        list(pretraining_rows(document, _origin(folder, "train")))


def test_article_rows_number_figures_as_printed(tmp_path, folder):
    (tmp_path / "images" / "ncomms1_data.json").write_text(json.dumps({
        "title": "T", "published_time": "2020-01-02", "review_pdf_link": "URL not found",
        "images": [{"image_filename": "ncomms1_figure_0.png", "caption": "Figure 1: First. More."},
                   {"image_filename": "ncomms1_figure_2.png", "caption": "no number"}],
        "references": [{"idx": "7", "title": "R", "link": ""}]}))
    article = scifig.scifig_rows.Article("ncomms1", [("Physical sciences", "Physics", "")], ["test"])
    [row] = article_rows(article, _origin(FolderArchive(str(tmp_path), keep=lambda name: True), "train"))
    assert row["figures"]["number"] == [1, 3] and row["figures"]["title"] == ["First. More.", "no number"]
    assert row["review_pdf_url"] is None and row["references"]["number"] == [7] and row["eval_splits"] == ["test"]
    assert str(row["published"]) == "2020-01-02"


# ---- JSON streaming ----

def _records(data, **kwargs):
    return list(json_records(io.BytesIO(json.dumps(data).encode()), "x.json", **kwargs))


def test_json_records_stream_a_list_or_a_list_of_lists_and_step_over_unwanted_records():
    assert _records([{"a": 1}, {"a": 2}]) == [(-1, 0, {"a": 1}), (-1, 1, {"a": 2})]
    lists = ListOfLists("setting", ("x", "y"))
    assert _records([[{"a": 1}], [{"a": 2}, {"a": 3}]], lists=lists) == [
        (0, 0, {"a": 1}), (1, 0, {"a": 2}), (1, 1, {"a": 3})]
    wanted = _records([[{"a": 1}], [{"a": 2}, {"bad": [1, {"deep": True}]}]], lists=lists,
                      wanted=lambda outer, index: (outer, index) != (1, 1))
    assert wanted == [(0, 0, {"a": 1}), (1, 0, {"a": 2})]


@pytest.mark.parametrize("data,lists,problem", [
    ({"a": 1}, None, "expected a JSON list of objects at the top, found start_map"),
    ([{"a": 1}, 5], None, "record 1 is a number, not an object"),
    ([[{"a": 1}], [3]], ListOfLists("setting", ("x", "y")), "record 0 of setting 1 \\(y\\) is a number"),
    ([[{"a": 1}]], ListOfLists("setting", ("x", "y")), "expected a list of 2 lists \\(one per setting\\), found 1"),
    ([{"a": 1}, {}], ListOfLists("setting", ("x",)), "item 0 is a object"),
])
def test_json_records_name_what_is_wrong_and_where(data, lists, problem):
    with pytest.raises(scifig.ScifigDataError, match=f"^x.json: .*{problem}"):
        _records(data, lists=lists)


def test_json_records_name_the_record_malformed_json_follows():
    with pytest.raises(scifig.ScifigDataError, match="x.json: malformed JSON after record 1: parse error"):
        list(json_records(io.BytesIO(b'[{"a": 1}, {"a": ]'), "x.json"))


# ---- the stages and the error policies ----

def test_unique_ids_suffix_exact_repeats_and_count_them():
    repeats = Count()
    rows = [{"id": name} for name in ("a", "a", "b", "a-2", "a")]
    assert [row["id"] for row in scifig.unique_ids(rows, repeats)] == ["a", "a-2", "b", "a-2-2", "a-3"]
    assert repeats.value == 3


def test_skip_and_count_logs_and_counts_and_raise_on_error_raises(caplog):
    skip, error = SkipAndCount(), scifig.ScifigDataError("x.json: record 3 (uid 'u'): bad")
    with caplog.at_level(logging.WARNING):
        skip(error)
        skip(error)
    assert skip.value == 2 and caplog.text.count("skipped: x.json: record 3 (uid 'u'): bad") == 2
    with pytest.raises(scifig.ScifigDataError, match="record 3"):
        RaiseOnError()(error)
    assert set(scifig.scifig_errors.ERROR_POLICIES) == {"raise", "skip"}


def test_built_hands_a_bad_record_to_the_policy_with_where_it_sits(folder):
    good = {**RECORD, "question": PROMPT, "answer": "A"}
    pairs = [(good, _origin(folder, setting=0)), ({**good, "answer": "Z"}, _origin(folder, setting=0)._replace(
        index=1)), (good, _origin(folder, setting=2))]
    policy = SkipAndCount()
    for ahead in (0, 2):  # built in order, or read ahead on threads: the same rows, the same skip
        policy.value = 0
        rows = list(scifig.built(iter(pairs), mcq_rows, policy, ahead))
        assert [row["setting"] for row in rows] == [0, 2] and policy.value == 1
    with pytest.raises(scifig.ScifigDataError, match="data.json: record 1 of setting fig2cap .*answer 'Z'"):
        list(scifig.built(iter(pairs), mcq_rows, RaiseOnError()))


# ---- the zip's central directory ----

def test_the_central_directory_parser_reads_entries_as_zipfile_lists_them(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("top/a.json", b"{}" * 50, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("top/images/Ünï.PNG", b"x" * 7)
        archive.writestr(zipfile.ZipInfo("top/PK\x01\x02-in-a-name.txt"), b"yz")
        archive.comment = b"a comment"
    listed = zipfile.ZipFile(path).infolist()
    source = LocalBytes(str(path))
    offset = listed and min(info.header_offset for info in listed)
    data = path.read_bytes()
    start = data.rfind(b"PK\x05\x06")
    _, _, _, _, count, size, at, _ = struct.unpack_from("<4s4H2LH", data, start)
    assert offset == 0 and count == len(listed)
    found = []
    with _CentralDirectory(source, str(path), at, size) as directory:
        while len(found) < count:
            batch = directory.entries(count - len(found))
            if batch is None:  # a signature inside a name ends a run: that entry is read on its own
                header, name, _ = directory.entry()
                assert header[0] == b"PK\x01\x02"
                batch = scifig.scifig_archives._Entries.one(header, name, b"")
            found += list(zip(batch.decoded(), batch.csize.tolist(), batch.usize.tolist(), batch.offset.tolist()))
        assert directory.exhausted()
    assert found == [(info.filename, info.compress_size, info.file_size, info.header_offset) for info in listed]
    assert _CENTRAL.size == 46


def test_the_sample_archives_list_the_same_members_through_either_archive_kind(tmp_path):
    """The zip reader and the folder reader agree on what the bundled benchmark.zip holds."""
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        archive.extractall(tmp_path)
        figures = [name for name in archive.namelist() if scifig.is_figure(name)]
        others = sorted(name for name in archive.namelist() if not name.endswith("/") and name not in figures)
    zipped = scifig.open_archive(str(DUMMY / "benchmark.zip"), ".*")
    unzipped = FolderArchive(str(tmp_path), keep=lambda name: True)
    assert sorted(zipped.names()) == sorted(unzipped.names()) == others
    assert all(zipped.has_figure(name) and unzipped.has_figure(name) for name in figures)
    assert all(zipped.read(name) == unzipped.read(name) for name in figures[:5] + others)
