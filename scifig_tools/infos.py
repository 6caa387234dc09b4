"""Writes dataset_infos.json from the builder.

    python -m scifig_tools infos                 # what the builder alone determines: text, licence, features
    python -m scifig_tools infos --data-dir D    # plus split sizes, example counts and archive checksums, from
                                                 # the real archives in D (as downloaded: benchmark.zip, ...)

Sizes and checksums describe the hosted archives: the builder applies them only to unfiltered loads of the
hosted archives or a mirror (see SciFig._limit_recorded_info_to_where_it_holds).
"""

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import scifig
from scifig_tools import paths
from scifig_tools.schema import to_sequence_dict

# Fields the builder alone determines; everything else is measured from data.
DECLARED = ("description", "citation", "homepage", "license", "features", "builder_name", "dataset_name",
            "config_name", "version")


def info_dict(info):
    """A DatasetInfo as dataset_infos.json holds it, with features in the form datasets 3.6 reads too."""
    out = dataclasses.asdict(info)
    out["features"] = to_sequence_dict(info.features)
    out["version"] = {"version_str": str(info.version), "major": info.version.major,
                      "minor": info.version.minor, "patch": info.version.patch}
    return out


def declared_info(config):
    return info_dict(scifig.SciFig(config_name=config).info)


def size_and_sha256(path):
    """{num_bytes, checksum}: a download's entry in dataset_infos.json, as datasets records it (sha256 hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return {"num_bytes": os.path.getsize(path), "checksum": digest.hexdigest()}


def measured_info(config, data_dir, cache_dir=None, num_proc=None):
    """The builder's info after preparing `config` from the archives in data_dir."""
    builder = scifig.builder(config, data_dir, cache_dir)
    scifig.prepare(builder, num_proc=num_proc)
    info = builder.info
    checksums = {}
    archive = scifig.RECIPES[scifig.task_of(config)].archive
    path = os.path.join(os.path.abspath(os.path.expanduser(data_dir)), f"{archive}.zip")
    if os.path.isfile(path):  # an unzipped copy has no zip to checksum
        checksums[scifig.ARCHIVE_URLS[archive]] = size_and_sha256(path)
    info.download_checksums = checksums or None
    info.download_size = sum(c["num_bytes"] for c in checksums.values()) if checksums else None
    info.size_in_bytes = (info.download_size or 0) + (info.dataset_size or 0) if checksums else None
    return info_dict(info)


def build(data_dir=None, configs=scifig.CONFIG_NAMES, cache_dir=None, num_proc=None):
    if data_dir is None:
        return {config: declared_info(config) for config in configs}
    return {config: measured_info(config, data_dir, cache_dir, num_proc) for config in configs}


def write(infos, path=None):
    path = path or paths.output("dataset_infos.json", "infos writes dataset_infos.json")
    Path(path).write_text(json.dumps(infos, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
