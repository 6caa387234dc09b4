"""`chat` (instruction tuning, TRL-ready) and `articles` (the whole raw corpus) on the dummy archives."""

import json
import zipfile

import jinja2
import pytest

import scifig
from scifig_tools import dummy_data
from scifig_tools.layout import benchmark_image, benchmark_json, empty_evaluation_files, write_zip

from helpers import DUMMY, rows_of

# A chat template of the kind vision models ship: one placeholder per image part.
CHAT_TEMPLATE = jinja2.Environment().from_string(
    "{% for message in messages %}<|{{ message.role }}|>"
    "{% for part in message.content %}{% if part.type == 'image' %}<image>{% else %}{{ part.text }}{% endif %}"
    "{% endfor %}<|end|>\n{% endfor %}"
)


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    return scifig.load("chat", data_dir=str(DUMMY), cache_dir=str(tmp_path_factory.mktemp("chat")))


@pytest.fixture(scope="module")
def articles(tmp_path_factory):
    return scifig.load("articles", split="train", data_dir=str(DUMMY),
                       cache_dir=str(tmp_path_factory.mktemp("articles")))


def test_chat_rows_follow_the_upstream_conversations(chat, upstream):
    assert sorted(chat) == ["train"]
    train = chat["train"]
    assert train.features == scifig.FEATURES["chat"] and list(train.features)[0] == "id"
    records = [record for record in upstream["records"][benchmark_json("train", "chat")]
               if record["uid"] not in upstream["evaluation"]]  # left out by default
    assert len(train) == len(records) > 0
    # train is read in round-robin parts (see the card): each record gives exactly one row, found by its figure
    by_figure = {(r["uid"], r["image"][:-4]): r for r in records}
    assert sorted(zip(train["uid"], train["figure_id"])) == sorted(by_figure)
    names = train.features["category"]
    for row in train:
        record = by_figure[(row["uid"], row["figure_id"])]
        assert (names.int2str(row["category"]), row["subject"]) == (record["category"], record["subject"])
        assert len(row["images"]) == 1
        assert row["images"][0].size == dummy_data.figure_size(row["uid"], int(row["figure_id"].rsplit("_", 1)[1]))
        assert [m["role"] for m in row["messages"]] == [
            {"human": "user", "assistant": "assistant"}[turn["from"]] for turn in record["conversations"]]
        texts = [part["text"] for m in row["messages"] for part in m["content"] if part["type"] == "text"]
        assert texts == [turn["value"] for turn in record["conversations"]]
        assert row["messages"][0]["content"][0] == {"type": "image", "text": None, "index": 0}
    assert len(set(train["id"])) == len(train)


def test_chat_renders_through_a_chat_template_with_one_placeholder_per_image(chat):
    for row in chat["train"]:
        rendered = CHAT_TEMPLATE.render(messages=row["messages"])
        assert rendered.count("<image>") == len(row["images"]) == 1
        assert rendered.startswith("<|user|><image>")


def test_chat_streams_the_prepared_rows_and_over_http(chat, server):
    streamed = scifig.load("chat", split="train", streaming=True, base_url=server.url)
    assert rows_of(streamed) == rows_of(chat["train"])


def test_chat_bad_conversation_names_the_record(tmp_path):
    record = {"uid": "ncomms1", "category": "Physical sciences", "subject": "Physics", "image": "ncomms1_figure_0.png",
              "caption": "c", "conversations": [{"from": "robot", "value": "hi"}]}
    write_zip(tmp_path / "benchmark.zip", {
        benchmark_json("train", "chat"): json.dumps([record]).encode(),
        benchmark_image("train", "ncomms1_figure_0.png"): dummy_data.encode(dummy_data.figure_image("x", 0), "PNG"),
        **empty_evaluation_files(),
    })
    with pytest.raises(scifig.ScifigDataError, match=r"record 0 \(uid 'ncomms1'\).*conversations\[0\]"):
        list(scifig.load("chat", split="train", streaming=True, data_dir=str(tmp_path)))


def test_articles_one_row_per_unique_article(articles, upstream):
    assert articles.features == scifig.FEATURES["articles"]
    uids = [a["uid"] for a in upstream["articles"] if dummy_data.in_the_benchmark(a)]
    assert sorted(articles["uid"]) == sorted(set(uids)) and len(uids) > len(set(uids))
    # the whole corpus: evaluation articles are kept, marked with their splits
    assert {row["uid"]: row["eval_splits"] for row in articles if row["eval_splits"]} == {
        "ncomms90003": ["test"], "ncomms90004": ["validation"], "ncomms90005": ["validation"],
        "ncomms90006": ["validation"], "ncomms90007": ["test"], "ncomms90008": ["test"]}
    by_uid = {row["uid"]: row for row in articles}
    twice = by_uid["ncomms90005"]
    names = articles.features["categories"].feature.names
    assert [names[c] for c in twice["categories"]] == ["Earth and environmental sciences", "Biological sciences"]
    assert twice["subjects"] == ["Ecology", "Ecology"]


def test_article_fields(articles, upstream):
    source = {a["uid"]: a for a in upstream["articles"]}
    for row in articles:
        article = source[row["uid"]]
        assert row["id"] == row["uid"] and row["title"] == article["title"]
        assert row["url"] == f"https://www.nature.com/articles/{row['uid']}"
        assert row["pdf_url"] == row["url"] + ".pdf"
        assert row["review_pdf_url"] in (None, row["url"] + "-review.pdf")
        assert row["sections"]["title"] == [s["title"] for s in article["sections"]]
        figures = row["figures"]
        assert figures["number"] == list(range(1, len(article["figures"]) + 1))
        assert figures["title"] == [f["title"] for f in article["figures"]]
        assert [image.size for image in figures["image"]] == [
            dummy_data.figure_size(row["uid"], i) for i in range(len(article["figures"]))]
        assert row["references"]["number"] == [1, 2, 3]
        assert row["published"].year >= 2010
    assert any(row["review_pdf_url"] is None for row in articles)
    assert max(len(row["figures"]["number"]) for row in articles) == 11


def test_articles_stream_equals_prepared_and_shards_by_subject_folder(articles):
    streamed = scifig.load("articles", split="train", streaming=True, data_dir=str(DUMMY))
    order = [(c, s) for c, subjects in scifig.TAXONOMY.items() for s in subjects]
    folders = {}
    for article in filter(dummy_data.in_the_benchmark, dummy_data.load_articles()):
        folders.setdefault(article["uid"], []).append(order.index((article["category"], article["subject"])))
    # an article's row comes from its first folder in taxonomy order: one shard per folder that is first for some
    assert streamed.n_shards == len({min(found) for found in folders.values()})
    assert rows_of(streamed) == rows_of(articles)


def _extents(archive_path):
    """member name -> (first byte, last byte) of its local header and data."""
    with zipfile.ZipFile(archive_path) as archive:
        infos = archive.infolist()
    return {i.filename: (i.header_offset, i.header_offset + 30 + len(i.filename.encode()) + len(i.extra)
                         + i.compress_size - 1) for i in infos}, min(i.header_offset for i in infos)


def _central_directory_start(archive_path):
    with zipfile.ZipFile(archive_path) as archive:
        return archive.start_dir


def _served_members(server, archive_path):
    """Members whose bytes were served, besides the central directory."""
    extents, _ = _extents(archive_path)
    cd_start = _central_directory_start(archive_path)
    touched = set()
    for path, first, last in server.ranges:
        if not path.endswith(archive_path.name) or first >= cd_start:
            continue
        hits = {name for name, (a, b) in extents.items() if first <= b and last >= a}
        assert hits, (first, last)
        touched |= hits
    return touched


def test_streaming_the_first_article_reads_only_its_members(server):
    stream = scifig.load("articles", split="train", streaming=True, base_url=server.url)
    first = next(iter(stream))
    touched = _served_members(server, DUMMY / "rawdata.zip")
    folder = f"rawdata/Physical sciences/Materials science/{first['uid']}/"
    assert touched and all(name.startswith(folder) for name in touched)
    assert not any(name.endswith("_info.txt") for name in touched)


def test_subject_filter_never_reads_other_folders(server):
    rows = list(scifig.load("articles", split="train", streaming=True, base_url=server.url, subjects=["Oncology"]))
    assert [row["uid"] for row in rows] == ["ncomms90007"]
    touched = _served_members(server, DUMMY / "rawdata.zip")
    assert touched and all(name.startswith("rawdata/Health sciences/Oncology/") for name in touched)


def test_unzipped_folders_give_the_same_chat_and_articles(tmp_path, articles, chat):
    for archive in ("benchmark", "rawdata"):
        with zipfile.ZipFile(DUMMY / f"{archive}.zip") as z:
            z.extractall(tmp_path)
    for config, expected in (("articles", articles), ("chat", chat["train"])):
        assert rows_of(scifig.load(config, split="train", streaming=True, data_dir=str(tmp_path))) == rows_of(expected)
