"""How the Hub export lays its Parquet files out, said once: `<config>/<split>-NNNNN-of-NNNNN.parquet`.

The export writes these names, its card's `configs:` maps every split to them, and croissant.json reads each row's
split back from them.
"""

import posixpath
import re
from pathlib import Path

import scifig

SHARD_SUFFIX = r"-\d{5}-of-\d{5}\.parquet$"  # after the split's name


def shard_name(split, index, count):
    """The file name of shard `index` (0-based) of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def split_of(name):
    """The split a shard's file name says it holds, or None for a name that is not a shard's."""
    found = re.match(r"^(.+?)" + SHARD_SUFFIX, name)
    return found[1] if found else None


def data_files(config, split):
    """The `data_files` pattern of a split in the card's `configs:` (relative to the export's folder)."""
    return f"{config}/{split}-*.parquet"


def exported_files(out_dir, filesystem=None):
    """{config: {split: [paths]}} of every shard in an export folder, configs and splits in scifig's order: Paths of a
    local folder, or paths on `filesystem` (a pyarrow filesystem, for an export in object storage)."""
    found = {}
    for config in scifig.CONFIG_NAMES:
        if filesystem is None:
            paths = sorted((Path(out_dir) / config).glob("*.parquet"))
        else:
            from pyarrow.fs import FileSelector, FileType

            listed = filesystem.get_file_info(FileSelector(f"{out_dir}/{config}", allow_not_found=True))
            paths = sorted(info.path for info in listed if info.type == FileType.File)
        for path in paths:
            split = split_of(posixpath.basename(str(path)))
            if split is not None:
                found.setdefault(config, {}).setdefault(split, []).append(path)
    return {config: {split: splits[split] for split in scifig.SPLITS if split in splits}
            for config, splits in found.items()}
