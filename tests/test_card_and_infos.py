"""The card, dataset_infos.json and the chart are written from the builder and read back by both datasets lines."""

import hashlib
import importlib.util
import json
import re
import shutil
import sys

import datasets
import pytest
from datasets.info import DatasetInfo, DatasetInfosDict
from huggingface_hub import DatasetCard
from PIL import Image

import scifig
from scifig_tools import card, infos, stats
from scifig_tools.serve import RangeServer

from helpers import DUMMY, ROOT, SCRIPTS_RUN, copy_builder

CONFIGS = scifig.CONFIG_NAMES


def test_readme_is_the_card_the_builder_writes():
    assert (ROOT / "README.md").read_text(encoding="utf-8") == card.render(), \
        "README.md is stale: run `python -m scifig_tools card`"


def test_docs_are_written_from_their_templates():
    docs = card.render_docs()
    assert "docs/reliability.md" in docs
    for name, text in docs.items():
        assert (ROOT / name).read_text(encoding="utf-8") == text, f"{name} is stale: run `python -m scifig_tools card`"


def test_card_metadata_loads_and_describes_every_config():
    data = DatasetCard.load(ROOT / "README.md").data
    assert data.license == "cc-by-4.0" and data.language == ["en"]
    for key in ("pretty_name", "task_categories", "task_ids", "size_categories", "source_datasets", "tags"):
        assert data.get(key), key
    assert {"image-to-text", "visual-question-answering", "multiple-choice"} <= set(data.task_categories)
    assert {"image-captioning", "multiple-choice-qa"} <= set(data.task_ids)
    parsed = DatasetInfosDict.from_dataset_card_data(data)  # what load_dataset reads, on this datasets line
    assert sorted(parsed) == sorted(CONFIGS)
    for config in CONFIGS:
        task = scifig.SciFig(config_name=config).config.task
        assert parsed[config].features == scifig.FEATURES[task]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # `list: <type>` is the current lines' form, which datasets 3.6 cannot read (it reads `list:` of fields only)
    assert not re.search(r"list: \S", text.split("\n---\n")[0])
    assert "![Figures and articles per subject](assets/figures_per_subject.png)" in text
    # the order a reader needs: load and evaluate first, the details after, the citation last
    sections = ["## Load", "## Evaluate a model", "## Fine-tune", "## Continue pre-training", "## Configs",
                "## Fields", "## Splits and sizes",
                "## How the data was made", "## Limitations", "## Contamination", "## Licence",
                "## Biases", "## Personal and sensitive content", "## Citation"]
    assert [line for line in text.splitlines() if line.startswith("## ")][:len(sections)] == sections
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    for config in CONFIGS:
        assert any(f"`{config}`" in heading for heading in headings), config
    for doc in card.DOCS:
        assert f"(docs/{doc})" in text and (ROOT / "docs" / doc).is_file()


def test_card_field_tables_list_exactly_the_builder_fields():
    text = card.field_sections(card.example_rows())
    for task, features in scifig.FEATURES.items():
        block = text[text.index(f"### `{task}`"):]
        block = block[:block.index("Example, ")]
        assert [line.split("`")[1] for line in block.splitlines() if line.startswith("| `")] == list(features)


def test_the_card_claims_no_verified_checksum_while_none_is_recorded(measured):
    committed = json.loads((ROOT / "dataset_infos.json").read_text(encoding="utf-8"))
    recorded = [config for config, info in committed.items() if info.get("download_checksums")]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if recorded:
        pytest.skip(f"dataset_infos.json records checksums for {recorded}")
    assert "No archive sizes or checksums are recorded yet, so nothing is verified against them" in text
    assert "checksummed" not in text and "NonMatchingChecksumError" not in text
    assert "The real split sizes are not recorded yet" in text
    # once `infos --data-dir` has measured archives, the card says what is verified, and where
    rendered = card.render(infos={**committed, **measured}, rows=card.example_rows(), contamination="")
    assert scifig.ARCHIVE_URLS["benchmark"] in rendered and 'verification_mode="all_checks"' in rendered
    assert "No archive sizes or checksums are recorded yet" not in rendered


def test_committed_infos_agree_with_the_builder():
    committed = json.loads((ROOT / "dataset_infos.json").read_text(encoding="utf-8"))
    assert sorted(committed) == sorted(CONFIGS)
    for config in CONFIGS:
        built = infos.declared_info(config)
        for field in infos.DECLARED:
            assert committed[config][field] == built[field], (config, field)
        loaded = DatasetInfo.from_dict(committed[config])  # the way datasets reads this file, this line
        assert loaded.features == scifig.FEATURES[scifig.SciFig(config_name=config).config.task]
    assert '"List"' not in (ROOT / "dataset_infos.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """dataset_infos.json as `infos --data-dir` writes it on real archives (here: the dummy ones)."""
    return infos.build(str(DUMMY), configs=["mcq", "pretraining"],
                       cache_dir=str(tmp_path_factory.mktemp("measure")))


def test_infos_measure_split_sizes_and_archive_checksums(measured):
    assert measured["mcq"]["splits"]["validation"]["num_examples"] == len(
        scifig.load("mcq", split="validation", data_dir=str(DUMMY)))
    checksum = measured["mcq"]["download_checksums"][scifig.ARCHIVE_URLS["benchmark"]]
    archive = (DUMMY / "benchmark.zip").read_bytes()
    assert checksum == {"num_bytes": len(archive), "checksum": hashlib.sha256(archive).hexdigest()}
    assert scifig.ARCHIVE_URLS["pretraindata"] in measured["pretraining"]["download_checksums"]


def _clone_with(tmp_path, measured):
    """A folder named scifig holding the script with a card and infos that record sizes and checksums."""
    # Different bytes, so datasets 3.6 gives this copy its own module folder (it keys them by the script's hash).
    clone = copy_builder(tmp_path / "scifig", {"scifig.py": f"# {tmp_path / 'scifig'}\n"})
    shutil.copytree(ROOT / "assets", clone / "assets")
    recorded = {**{c: infos.declared_info(c) for c in CONFIGS}, **measured}
    infos.write(recorded, clone / "dataset_infos.json")
    card.write(clone / "README.md", infos=recorded)
    return clone


def _load_from(clone, *args, **kwargs):
    if SCRIPTS_RUN:
        return datasets.load_dataset(str(clone / "scifig.py"), *args, trust_remote_code=True, **kwargs)
    name = f"scifig_clone_{hashlib.sha1(str(clone).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, clone / "scifig.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # datasets re-imports a builder's module by name
    spec.loader.exec_module(module)
    return module.load(*args, **kwargs)


def test_recorded_sizes_do_not_break_filtered_or_copied_loads(tmp_path, measured):
    clone = _clone_with(tmp_path, measured)
    copy = tmp_path / "copy"
    shutil.copytree(DUMMY, copy)
    filtered = _load_from(clone, "mcq", split="validation", data_dir=str(copy), subjects=["Ecology"],
                          cache_dir=str(tmp_path / "c1"))
    assert set(filtered["subject"]) == {"Ecology"} and 0 < len(filtered) < 12
    whole = _load_from(clone, "mcq", split="validation", data_dir=str(copy), cache_dir=str(tmp_path / "c2"),
                       verification_mode="all_checks")
    assert len(whole) == 12


def test_a_changed_archive_on_a_mirror_is_named_under_all_checks(tmp_path, measured):
    clone = _clone_with(tmp_path, measured)
    mirror = tmp_path / "mirror"
    shutil.copytree(DUMMY, mirror)
    server = RangeServer(mirror).start()
    try:
        ok = _load_from(clone, "mcq", split="validation", base_url=server.url, cache_dir=str(tmp_path / "c1"),
                        verification_mode="all_checks")
        assert len(ok) == 12
        with open(mirror / "benchmark.zip", "ab") as archive:
            archive.write(b"changed upstream")
        with pytest.raises(Exception) as error:
            _load_from(clone, "mcq", split="validation", base_url=server.url, cache_dir=str(tmp_path / "c2"),
                       verification_mode="all_checks")
        assert type(error.value).__name__ == "NonMatchingChecksumError"
        assert f"{server.url}benchmark.zip" in str(error.value)
    finally:
        server.stop()


def test_stats_counts_upstream_and_any_source(tmp_path):
    counts, source = stats.upstream_counts()
    assert len(counts) == 72 and "summary2.json" in source
    # every taxonomy entry, in taxonomy order ("Ecology" once under each of its two categories)
    assert list(counts) == [(c, s) for c, subjects in scifig.TAXONOMY.items() for s in subjects]
    # the per-subject table against the corpus totals published beside it (and in the MMSci paper)
    total = json.loads(stats.SUMMARY.read_text(encoding="utf-8"))["total"]
    assert sum(c["articles"] for c in counts.values()) == total["num_articles"] == 131393
    assert sum(c["figures"] for c in counts.values()) == pytest.approx(total["num_figures"], rel=1e-4)
    assert total["num_figures"] == 742273
    assert all(0 < c["articles"] <= c["figures"] for c in counts.values())
    sample = stats.counted(data_dir=str(DUMMY))
    captioning = scifig.load("captioning", data_dir=str(DUMMY), cache_dir=str(tmp_path / "c"))
    rows = [row for split in captioning.values() for row in split.select_columns(["uid", "category", "subject"])]
    assert sum(c["figures"] for c in sample.values()) == len(rows)
    assert sample[("Biological sciences", "Ecology")] == {"articles": 1, "figures": 1}
    path, _, _ = stats.main(data_dir=str(DUMMY), out=tmp_path / "chart.png")
    with Image.open(path) as chart:
        assert chart.format == "PNG" and chart.size[0] > 400
    with Image.open(ROOT / "assets" / "figures_per_subject.png") as committed:
        assert committed.size[1] > 1000  # 72 subjects drawn
