"""The builder's features written in the form both datasets lines read.

datasets >= 4 serialises lists as `List` (`list:` in YAML); datasets 3.6 knows only `Sequence` and fails on the
newer form, while the newer lines still read `Sequence`. Everything scifig writes (dataset_infos.json, the card's
`dataset_info`, Parquet schema metadata) goes through here.
"""

import json

import scifig


def features_of(config):
    return scifig.SciFig(config_name=config).info.features


def to_sequence_dict(features):
    """Features.to_dict() with every unsized List written as Sequence."""
    def convert(node):
        if isinstance(node, dict):
            node = {key: convert(value) for key, value in node.items()}
            if node.get("_type") == "List" and node.get("length", -1) == -1:
                node = {key: value for key, value in node.items() if key != "length"}
                node["_type"] = "Sequence"
            return node
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    return convert(features.to_dict())


def to_sequence_yaml(features):
    """Features._to_yaml_list() with `list:` written as `sequence:`."""
    def convert(node):
        if isinstance(node, dict):
            return {("sequence" if key == "list" else key): convert(value) for key, value in node.items()}
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    return convert(features._to_yaml_list())


def parquet_metadata(features):
    """The schema metadata datasets reads features back from."""
    return {"huggingface": json.dumps({"info": {"features": to_sequence_dict(features)}})}
