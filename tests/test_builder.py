"""The builder on the bundled dummy data: features, counts, values, images, streaming, filters, sources."""

import shutil
import zipfile

import pytest

import scifig
from scifig_tools import dummy_data
from scifig_tools.layout import benchmark_json

from helpers import DUMMY, rows_of

# Rows per split of the bundled sample (dummy_data/source/articles.json: 9 articles, 11 filings), as loaded by
# default: train leaves out every validation and test article (exclude_eval_articles=True), here ncomms90003, filed
# under a train subject and a test one. 8 train figures with captions, one figure per validation/test article, one
# question per setting and article, one conversation per multi-panel train figure, one pre-training document per
# train article (the planted test article ncomms90007 and ncomms90003 left out; ncomms8779, a real MMSci test
# article planted on fictional text, is not an evaluation article of the sample's benchmark.zip), one row per
# distinct article of the corpus, evaluation articles included; sft is chat + captioning + mcq's train rows, as
# conversations.
SPLIT_SIZES = {
    "captioning": {"train": 8, "validation": 4, "test": 3},
    "mcq": {"train": 6, "validation": 12, "test": 9},
    "mcq_fig2cap": {"train": 2, "validation": 4, "test": 3},
    "mcq_subfig2cap": {"train": 2, "validation": 4, "test": 3},
    "mcq_subcap2fig": {"train": 2, "validation": 4, "test": 3},
    "chat": {"train": 8},
    "sft": {"train": 22},
    "pretraining": {"train": 3},
    "articles": {"train": 8},
}
# Train as upstream released it (exclude_eval_articles=False): ncomms90003's train filing, and in pre-training the
# planted test article ncomms90007, come back.
RELEASED_TRAIN = {"captioning": 12, "mcq": 9, "mcq_fig2cap": 3, "mcq_subfig2cap": 3, "mcq_subcap2fig": 3, "chat": 12,
                  "sft": 33, "pretraining": 5, "articles": 8}
ALL_CONFIGS = ["captioning", "mcq", "mcq_fig2cap", "mcq_subfig2cap", "mcq_subcap2fig", "pretraining"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("prepared"))
    return {config: scifig.load(config, data_dir=str(DUMMY), cache_dir=cache) for config in ALL_CONFIGS}


def test_the_split_table_covers_every_config():
    assert sorted(SPLIT_SIZES) == sorted(scifig.CONFIG_NAMES)


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_features_splits_and_counts(prepared, config):
    dataset = prepared[config]
    assert {split: rows.num_rows for split, rows in dataset.items()} == SPLIT_SIZES[config]
    for split, rows in dataset.items():
        assert rows.features == scifig.FEATURES[scifig.task_of(config)]
        assert list(rows.features)[0] == "id"
        assert len(set(rows["id"])) == len(rows)


@pytest.mark.parametrize("config", sorted(RELEASED_TRAIN))
def test_train_as_released_keeps_the_evaluation_articles(config):
    stream = scifig.load(config, split="train", streaming=True, data_dir=str(DUMMY), exclude_eval_articles=False)
    assert sum(1 for _ in stream.select_columns(["id"])) == RELEASED_TRAIN[config]


@pytest.mark.parametrize("config", ["chat", "articles"])
def test_streamed_split_sizes(config):
    streams = scifig.load(config, streaming=True, data_dir=str(DUMMY))
    counted = {split: sum(1 for _ in rows.select_columns(["id"])) for split, rows in streams.items()}
    assert counted == SPLIT_SIZES[config]


@pytest.mark.parametrize("settings,expected", [
    ("fig2cap", ["fig2cap"]),
    (["subcap2fig", "fig2cap"], ["fig2cap", "subcap2fig"]),  # upstream order, whatever order they are asked in
    (("subfig2cap",), ["subfig2cap"]),
])
def test_settings_take_one_name_or_several(settings, expected):
    stream = scifig.load("mcq", split="validation", streaming=True, data_dir=str(DUMMY), settings=settings)
    seen = [scifig.SETTINGS[row["setting"]] for row in stream.select_columns(["setting"])]
    assert sorted(set(seen), key=scifig.SETTINGS.index) == expected
    assert len(seen) == SPLIT_SIZES["mcq_fig2cap"]["validation"] * len(expected)


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown settings \\['fig2caption'\\].*fig2cap, subfig2cap, subcap2fig"):
        scifig.load("mcq", split="validation", streaming=True, data_dir=str(DUMMY), settings="fig2caption")


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_streaming_yields_exactly_the_prepared_rows(prepared, config):
    streamed = scifig.load(config, streaming=True, data_dir=str(DUMMY))
    for split, dataset in prepared[config].items():
        assert rows_of(streamed[split]) == rows_of(dataset)


def test_mcq_rows_match_upstream_records(prepared, upstream):
    validation = prepared["mcq"]["validation"]
    settings = upstream["records"][benchmark_json("validation", "mcq")]
    expected = sorted(
        (r["uid"], r["subject"], s, r["image"][:-4], "ABCD".index(r["answer"]), r["question"])
        for s, records in enumerate(settings) for r in records
    )
    got = sorted(zip(validation["uid"], validation["subject"], validation["setting"], validation["figure_id"],
                     validation["answer"], validation["prompt"]))
    assert got == expected
    for row in validation:
        assert row["prompt"].startswith(row["question"] + "\nA: ")
        assert len(row["options"]) == 4
        lines = "".join(f"\n{letter}: {o}" for letter, o in zip("ABCD", row["options"]))
        assert lines == row["prompt"][len(row["question"]):]


def test_mcq_quirks_survive(prepared):
    options = [o for row in prepared["mcq"]["train"] for o in row["options"]]
    options += [o for row in prepared["mcq"]["validation"] for o in row["options"]]
    assert any("(c,d)" in o for o in options)
    assert any("\u2009" in o for o in options)
    assert any("ofTnf,Il1bandNos2" in o for o in options)
    assert max(len(o) for o in options) > 1000


def test_test_answers_are_withheld(prepared):
    test = prepared["mcq"]["test"]
    assert set(test["answer"]) == {-1}
    assert all(len(options) == 4 for options in test["options"])


def test_figure_index_ten_and_image_sizes(prepared):
    rows = [r for r in prepared["mcq_fig2cap"]["validation"] if r["uid"] == "ncomms90006"]
    assert [r["figure_id"] for r in rows] == ["ncomms90006_figure_10"]
    assert rows[0]["image"].size == dummy_data.figure_size("ncomms90006", 10)
    for row in prepared["captioning"]["train"]:
        index = int(row["figure_id"].rsplit("_", 1)[1])
        assert row["image"].size == dummy_data.figure_size(row["uid"], index)
        assert row["image"].mode == "RGB"


def test_captioning_flattens_train_and_withholds_missing_captions(prepared, upstream):
    train = prepared["captioning"]["train"]
    articles = upstream["records"][benchmark_json("train", "captioning")]
    expected = {(a["uid"], f["image"][:-4], f["caption"]) for a in articles for f in a["images"]
                if a["uid"] not in upstream["evaluation"]}
    assert set(zip(train["uid"], train["figure_id"], train["caption"])) == expected
    test = prepared["captioning"]["test"]
    assert sum(caption is None for caption in test["caption"]) == 1
    row = train[0]
    assert row["content"].startswith("Strain-tunable excitons") and row["abstract"].startswith("Layered TiS3")
    assert train.features["category"].int2str(row["category"]) == "Physical sciences"


def test_article_filed_under_two_subjects_gives_two_rows_with_distinct_ids(prepared):
    rows = [r for r in prepared["captioning"]["validation"] if r["uid"] == "ncomms90005"]
    assert sorted((r["category"], r["subject"]) for r in rows) == [(1, "Ecology"), (2, "Ecology")]
    assert rows[0]["figure_id"] == rows[1]["figure_id"] and rows[0]["id"] != rows[1]["id"]


def test_pretraining_interleaves_images_before_their_sentence(prepared, upstream):
    documents = [d for shard in sorted(upstream["shards"]) for d in upstream["shards"][shard]
                 if d["url"].rsplit("/", 1)[1] not in upstream["evaluation"]]
    rows = list(prepared["pretraining"]["train"])
    assert [r["url"] for r in rows] == [d["url"] for d in documents]
    for row, document in zip(rows, documents):
        assert row["uid"] == document["url"].rsplit("/", 1)[1]
        assert all((t is None) != (i is None) for t, i in zip(row["texts"], row["images"]))
        assert [t for t in row["texts"] if t is not None] == document["text_list"]
        assert sum(i is not None for i in row["images"]) == len(document["image_info"])
        for info in document["image_info"]:
            # the image sits right before the sentence it was matched to
            sentence = document["text_list"][info["matched_text_index"]]
            at = row["texts"].index(sentence)
            assert row["images"][at - 1] is not None
        first = next(i for i in row["images"] if i is not None)
        width, height = dummy_data.figure_size(row["uid"], 0)
        assert first.format == "JPEG" and first.size == (round(dummy_data.SHORT_SIDE * width / height),
                                                          dummy_data.SHORT_SIDE)
        # and everything MMSci wrote of the images and the document, as written
        assert [dict(info, face_detections=None, image_base64=None) for info in row["image_info"]] == [
            dict(info, image_base64=None) for info in document["image_info"]]
        assert row["similarity_matrix"] == document["similarity_matrix"]


def test_ids_are_stable_across_runs_and_sources(prepared, tmp_path):
    again = scifig.load("mcq", split="validation", data_dir=str(DUMMY), cache_dir=str(tmp_path))
    assert again["id"] == prepared["mcq"]["validation"]["id"]


@pytest.mark.parametrize("kwargs,expected", [
    ({"subjects": ["Ecology"]}, {("Ecology", 1), ("Ecology", 2)}),
    ({"categories": ["Physical sciences"]}, {("Optics and photonics", 0), ("Materials science", 0)}),
    ({"subjects": ["Ecology"], "categories": ["Biological sciences"]}, {("Ecology", 2)}),
])
def test_filters(kwargs, expected, prepared, tmp_path):
    filtered = scifig.load("mcq", split="validation", data_dir=str(DUMMY), cache_dir=str(tmp_path), **kwargs)
    assert set(zip(filtered["subject"], filtered["category"])) == expected
    full = prepared["mcq"]["validation"]
    kept = [i for i, (s, c) in enumerate(zip(full["subject"], full["category"])) if (s, c) in expected]
    assert filtered["id"] == [full["id"][i] for i in kept]


def test_filters_apply_to_pretraining_streams():
    stream = scifig.load("pretraining", split="train", streaming=True, data_dir=str(DUMMY), subjects=["Physics"])
    assert [row["uid"] for row in stream] == ["ncomms8779"]
    # the planted test article, filed under Oncology, is there only as released
    for exclude, expected in ((True, []), (False, ["ncomms90007"])):
        stream = scifig.load("pretraining", split="train", streaming=True, data_dir=str(DUMMY), subjects=["Oncology"],
                             exclude_eval_articles=exclude)
        assert [row["uid"] for row in stream] == expected


@pytest.mark.parametrize("kwargs,named,valid", [
    ({"subjects": ["Ecologgy"]}, "Ecologgy", "Materials science"),
    ({"categories": ["Physics"]}, "Physics", "Health sciences"),
])
def test_unknown_filter_names_list_the_valid_ones(kwargs, named, valid):
    with pytest.raises(ValueError) as error:
        scifig.load("mcq", split="validation", data_dir=str(DUMMY), **kwargs)
    assert named in str(error.value) and valid in str(error.value)


def test_streaming_over_http_reads_only_what_a_split_needs(server, prepared):
    stream = scifig.load("mcq", split="validation", streaming=True, base_url=server.url)
    assert rows_of(stream) == rows_of(prepared["mcq"]["validation"])
    archive_size = (DUMMY / "benchmark.zip").stat().st_size
    assert 0 < server.bytes_sent < archive_size


def test_streaming_over_http_every_config(server, prepared):
    for config in ("captioning", "pretraining", "mcq_subcap2fig"):
        streamed = scifig.load(config, streaming=True, base_url=server.url)
        for split, dataset in prepared[config].items():
            assert rows_of(streamed[split]) == rows_of(dataset)


def test_prepared_load_from_a_mirror(server, prepared, tmp_path):
    dataset = scifig.load("pretraining", split="train", base_url=server.url, cache_dir=str(tmp_path))
    assert rows_of(dataset) == rows_of(prepared["pretraining"]["train"])


def test_unzipped_folders_and_other_top_level_folders(tmp_path, prepared):
    unzipped = tmp_path / "unzipped"
    for archive in ("benchmark", "pretraindata"):
        with zipfile.ZipFile(DUMMY / f"{archive}.zip") as z:
            z.extractall(unzipped)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    # a zip whose top-level folder is not the one upstream uses
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as source, zipfile.ZipFile(renamed / "benchmark.zip", "w") as out:
        for info in source.infolist():
            out.writestr(info.filename.replace("benchmark/", "MMSci-release/v1/", 1), source.read(info))
    shutil.copy(DUMMY / "pretraindata.zip", renamed / "pretraindata.zip")
    for data_dir in (unzipped, renamed):
        for config in ("mcq", "pretraining"):
            streamed = scifig.load(config, streaming=True, data_dir=str(data_dir))
            for split, dataset in prepared[config].items():
                assert rows_of(streamed[split]) == rows_of(dataset), (data_dir, config, split)


def test_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark.zip"):
        scifig.load("mcq", split="validation", data_dir=str(tmp_path))


def test_streaming_shards_spread_settings_and_pickles():
    mcq = scifig.load("mcq", split="validation", streaming=True, data_dir=str(DUMMY))
    pretraining = scifig.load("pretraining", split="train", streaming=True, data_dir=str(DUMMY))
    assert mcq.n_shards == len(scifig.SETTINGS)
    assert pretraining.n_shards == len(list(zipfile.ZipFile(DUMMY / "pretraindata.zip").namelist())) // 2
