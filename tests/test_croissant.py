"""The export's croissant.json, checked by the reference implementation: mlcroissant validates it and reads every
config's records from a local export of the sample, equal to scifig.load's rows."""

import datetime
import json
import os
import shutil
import subprocess
import sys

import mlcroissant
import numpy as np
import pytest

from helpers import DUMMY, ROOT, SCRIPTS_RUN, copy_builder

if SCRIPTS_RUN:
    pytest.skip("the export is written and read with datasets >= 4, the Hub's own line", allow_module_level=True)

import scifig  # noqa: E402
from scifig_tools import croissant, facts  # noqa: E402
from scifig_tools.export import export  # noqa: E402

# mlcroissant 1.1.1 maps a transform over one level of lists only (apply_transforms_fn in its
# operation_graph/operations/field.py), so it cannot read a list inside a list: the messages/content parts of chat
# and sft.
# The file describes them (checked below); the records are read without them.
UNREADABLE = {"chat": ["chat/messages/content"], "sft": ["sft/messages/content"]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export(out, data_dir=str(DUMMY), cache_dir=str(tmp_path_factory.mktemp("cache")), progress=False)
    return out


def test_mlcroissant_validates_the_file(exported):
    result = subprocess.run([sys.executable, "-m", "mlcroissant.scripts.validate", "--jsonld",
                             str(exported / "croissant.json")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Done." in result.stderr and "error" not in result.stderr.lower()


def _readable(exported, tmp_path):
    document = json.loads((exported / "croissant.json").read_text(encoding="utf-8"))
    for record_set in document["recordSet"]:
        for skipped in UNREADABLE.get(record_set["@id"], []):
            parent = next(f for f in record_set["field"] if skipped.startswith(f["@id"] + "/"))
            parent["subField"] = [sub for sub in parent["subField"] if sub["@id"] != skipped]
    shutil.copytree(exported, tmp_path / "readable", ignore=shutil.ignore_patterns("croissant.json"))
    path = tmp_path / "readable" / "croissant.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return mlcroissant.Dataset(jsonld=str(path))


def _plain(value, prefix):
    """An mlcroissant value as scifig.load gives it (text as str, images as their bytes, dates as dates)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "fp") and hasattr(value, "format"):  # PIL keeps the BytesIO it was opened on
        return value.fp.getvalue()
    if isinstance(value, dict):
        return {key.rsplit("/", 1)[1]: _plain(item, prefix) for key, item in value.items()}
    if isinstance(value, (list, np.ndarray)):
        return [_plain(item, prefix) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().date()
    return value


def _scifig(value):
    if isinstance(value, dict) and set(value) == {"bytes", "path"}:
        return value["bytes"]
    if isinstance(value, dict):
        return {key: _scifig(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scifig(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.date()
    return value


@pytest.mark.parametrize("config", scifig.CONFIG_NAMES)
def test_mlcroissant_reads_every_config_as_scifig_loads_it(exported, tmp_path, config):
    records = list(_readable(exported, tmp_path).records(record_set=config))
    theirs = {}
    for record in records:
        row = {key.split("/", 1)[1]: _plain(value, config) for key, value in record.items()}
        theirs[(row.pop("split"), row["id"])] = row
    ours = {}
    for split, stream in scifig.load(config, streaming=True, data_dir=str(DUMMY)).items():
        for row in stream.decode(False):
            ours[(split, row["id"])] = _scifig(row)
    assert sorted(theirs) == sorted(ours) and ours
    for key, row in ours.items():
        if config in UNREADABLE:  # the content parts are the unreadable list inside a list
            row["messages"] = [{"role": message["role"]} for message in row["messages"]]
        assert theirs[key] == row, key


def test_the_file_describes_every_feature_and_label(exported):
    document = json.loads((exported / "croissant.json").read_text(encoding="utf-8"))
    record_sets = {record_set["@id"]: record_set for record_set in document["recordSet"]}
    for config in scifig.CONFIG_NAMES:
        fields = {f["@id"].split("/", 1)[1]: f for f in record_sets[config]["field"]}
        assert list(fields) == ["split", *scifig.FEATURES[scifig.task_of(config)]]
    images = {f["@id"]: f for f in record_sets["mcq"]["field"]}["mcq/image"]
    assert images["dataType"] == "sc:ImageObject"
    category = {f["@id"]: f for f in record_sets["mcq"]["field"]}["mcq/category"]
    assert category["references"] == {"field": {"@id": "category-names/index"}}
    names = record_sets["category-names"]["data"]
    assert [entry["category-names/name"] for entry in names] == scifig.CATEGORIES
    content = next(f for f in {f["@id"]: f for f in record_sets["chat"]["field"]}["chat/messages"]["subField"]
                   if f["@id"] == "chat/messages/content")
    assert content["isArray"] and [sub["@id"].rsplit("/", 1)[1] for sub in content["subField"]] == [
        "type", "text", "index"]
    assert {fs["includes"] for fs in document["distribution"]} == {f"{c}/*.parquet" for c in scifig.CONFIG_NAMES}


def test_the_responsible_ai_fields_say_what_the_card_says(exported):
    document = json.loads((exported / "croissant.json").read_text(encoding="utf-8"))
    assert set(document["conformsTo"]) == {croissant.CROISSANT, croissant.RAI}
    assert document["rai:dataCollection"] == facts.COLLECTION
    assert document["rai:personalSensitiveInformation"] == facts.SENSITIVE
    assert document["rai:dataBiases"] == facts.BIASES and document["rai:dataUseCases"] == facts.USES
    leak = document["rai:dataLimitations"][0]
    assert "1,169 of 1,343 (87%) test articles" in leak and "commit f9be52c" in leak
    assert document["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert document["creator"][0] == {"@type": "sc:Person", "name": "Zekun Li"} and len(document["creator"]) == 14
    card = (exported / "README.md").read_text(encoding="utf-8")
    assert "[`croissant.json`](croissant.json)" in card and facts.COLLECTION in card


def test_the_file_follows_the_features_of_what_is_exported(tmp_path):
    """A builder copy whose mcq features lose `question` exports files without it, and croissant.json follows."""
    copy = copy_builder(tmp_path / "edited", {"scifig.py": (
        "\nFEATURES['mcq'] = datasets.Features({k: v for k, v in FEATURES['mcq'].items() if k != 'question'})\n")})
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "scifig_tools", "export", str(out), "--data-dir", str(DUMMY), "--configs",
         "mcq_fig2cap"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{ROOT}", "HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "croissant.json").read_text(encoding="utf-8"))
    [record_set] = [r for r in document["recordSet"] if r["@id"] == "mcq_fig2cap"]
    fields = [f["@id"] for f in record_set["field"]]
    assert "mcq_fig2cap/prompt" in fields and "mcq_fig2cap/question" not in fields
