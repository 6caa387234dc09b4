"""The builder's features written in the form both datasets lines read.

datasets >= 4 serialises lists as `List` (`list:` in YAML); datasets 3.6 knows only `Sequence` (and plain lists of
structs) and fails on the newer form, while the newer lines still read both. Everything scifig writes
(dataset_infos.json, the card's `dataset_info`, Parquet schema metadata) goes through here.
"""

import json

import datasets
from huggingface_hub import DatasetCardData

import scifig
from scifig.scifig_compat import infos_dict


def features_of(config):
    return scifig.FEATURES[scifig.task_of(config)]


def _unsized_list(node):
    return isinstance(node, dict) and node.get("_type") == "List" and node.get("length", -1) == -1


def to_sequence_dict(features):
    """Features.to_dict() in the 3.6 form: unsized List -> Sequence, a list of structs -> a plain list, and a
    struct whose fields are all lists (what Sequence({...}) builds on current lines) -> Sequence({...})."""
    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if _unsized_list(node):
            feature = node["feature"]
            if "_type" not in feature:  # a list of structs: the plain-list form, read as such by every line
                return [convert(feature)]
            return {"feature": convert(feature), "_type": "Sequence"}
        if "_type" not in node and node and all(_unsized_list(value) for value in node.values()):
            return {"feature": {key: convert(value["feature"]) for key, value in node.items()}, "_type": "Sequence"}
        return {key: convert(value) for key, value in node.items()}

    return {name: convert(feature) for name, feature in features.to_dict().items()}


def to_sequence_yaml(features):
    """The features as a card's `dataset_info` lists them (written by datasets' public
    DatasetInfosDict.to_dataset_card_data), in the 3.6 form: `list: <type>` -> `sequence: <type>`, a struct of lists
    -> `sequence: [fields]`; a list of structs keeps `list: [fields]`, which 3.6 reads as a plain list of structs."""
    def convert(entry):
        entry = dict(entry)
        if "list" in entry and not isinstance(entry["list"], list):
            entry["sequence"] = entry.pop("list")
        if isinstance(entry.get("sequence"), dict):  # a list of lists: {list: float64} inside -> {sequence: ...}
            entry["sequence"] = convert(entry["sequence"])
        elif "struct" in entry and all("list" in f and not isinstance(f["list"], list) for f in entry["struct"]):
            entry["sequence"] = [{"name": f["name"], "dtype": f["list"]} for f in entry.pop("struct")]
        for key in ("list", "struct"):
            if isinstance(entry.get(key), list):
                entry[key] = [convert(field) for field in entry[key]]
        return entry

    card_data = DatasetCardData()
    infos_dict({"config": datasets.DatasetInfo(features=features)}).to_dataset_card_data(card_data)
    return [convert(entry) for entry in card_data["dataset_info"]["features"]]


def parquet_metadata(features):
    """The schema metadata datasets reads features back from."""
    return {"huggingface": json.dumps({"info": {"features": to_sequence_dict(features)}})}
