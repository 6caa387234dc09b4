"""Exports of the sample read by the trainers' own loaders that pin transformers < 5, so they live in their own
environment (tests/run.sh builds .venv-flamingo, with datasets 4.8): open_flamingo's mmc4 pipeline
(preprocess_interleaved and get_mmc4_dataset, from the installed package) on `--format webdataset`, and MosaicML's
StreamingDataset on `--format mds`. Each asserts that what the loader hands a trainer is every row, unchanged."""

import base64
import importlib.util
import io
import json
import subprocess
import sys

import datasets
import pytest
from PIL import Image

import scifig
from scifig_tools import export

from helpers import DUMMY, ROOT


def _stored_rows(config, tmp_path):
    """The train rows as `load` gives them, figures as stored bytes (not decoded)."""
    rows = scifig.load(config, split="train", data_dir=str(DUMMY), cache_dir=str(tmp_path / "load-cache"))
    return [row for row in rows.cast_column("images", datasets.Sequence(datasets.Image(decode=False)))]


@pytest.mark.skipif(importlib.util.find_spec("open_flamingo") is None,
                    reason="open_flamingo's environment is built by tests/run.sh (.venv-flamingo)")
def test_open_flamingo_keeps_every_document_at_its_readme_settings(tmp_path):
    out = tmp_path / "export"
    export.export(out, ["pretraining"], format="webdataset", data_dir=str(DUMMY), cache_dir=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "flamingo_check.py"), str(out / "pretraining")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    rows = _stored_rows("pretraining", tmp_path)
    figures = [sum(image is not None for image in row["images"]) for row in rows]
    assert read["documents"] == len(rows) == 3
    # preprocess_interleaved keeps every image of every document (similarity >= 0.24, over 10 KB, at most 6), each
    # the pixels of the row's figure, with an <image> token each and the document's first sentence
    assert [found["images"] for found in read["found"]] == [min(n, 6) for n in figures] and min(figures) > 0
    assert all(found["pixels"] and found["image_tokens"] == found["images"] and found["first_sentence"]
               for found in read["found"])
    # and its webdataset pipeline (get_mmc4_dataset) yields every document as a training sample
    assert read["loader_samples"] == len(rows)


def _as_mds_reads(row):
    """What MDS should hand back for a row: top-level figures and lists of figures as their bytes (lists as base64
    text), everything else as `load` gives it."""
    read = {}
    for name, value in row.items():
        if name == "images":
            value = [None if image is None else base64.b64encode(image["bytes"]).decode() for image in value]
        elif name == "image":
            value = base64.b64encode(value["bytes"]).decode()
        read[name] = value
    return read


@pytest.mark.parametrize("config", ["sft", "pretraining"])
def test_mosaicml_streaming_reads_every_row_of_the_mds_export(config, tmp_path):
    pytest.importorskip("streaming", reason="mosaicml-streaming is installed in .venv-flamingo by tests/run.sh")
    out = tmp_path / "export"
    report = export.export(out, [config], format="mds", data_dir=str(DUMMY), cache_dir=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "mds_check.py"), str(out / config / "train")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    rows = [_as_mds_reads(row) for row in _stored_rows(config, tmp_path)]
    assert read["iterated"] == len(read["rows"]) == len(rows) == report[f"{config}/train"]["rows"] > 0
    assert read["rows"] == rows
    decoded = [image for row in read["rows"] for image in row["images"] if image is not None]
    assert decoded and all(Image.open(io.BytesIO(base64.b64decode(image))).size for image in decoded)
    # a rerun finds the split whole and writes nothing
    again = export.export(out, [config], format="mds", data_dir=str(DUMMY), cache_dir=str(tmp_path / "cache"))
    assert again[f"{config}/train"]["written"] == 0 and again[f"{config}/train"]["skipped"] == len(rows)
