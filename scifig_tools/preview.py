"""Prints a config's features and its first rows, images as size and mode.

    python -m scifig_tools preview mcq --split validation --data-dir dummy_data --limit 3
"""

import itertools
import textwrap

from tqdm.auto import tqdm

import scifig


def describe(value, width=100):
    """One line per value: images as size and mode, long text shortened, lists item by item."""
    if hasattr(value, "size") and hasattr(value, "mode"):
        return f"<image {value.size[0]}x{value.size[1]} {value.mode}>"
    if isinstance(value, list):
        return "[" + ", ".join(describe(item, 40) for item in value) + "]"
    if isinstance(value, str):
        return repr(textwrap.shorten(value, width=width, placeholder=" ..."))
    return repr(value)


def preview(config, split, limit=3, data_dir=None, base_url=None, out=print, **config_kwargs):
    stream = scifig.load(config, split=split, streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    out(f"scifig/{config} [{split}] features:")
    for name, feature in stream.features.items():
        out(f"  {name}: {feature}")
    labels = {name: feature for name, feature in stream.features.items() if hasattr(feature, "int2str")}
    rows = list(tqdm(itertools.islice(stream, limit), total=limit, desc=f"reading {config}/{split}", unit="row"))
    for number, row in enumerate(rows):
        out(f"\nrow {number}:")
        for name, value in row.items():
            shown = describe(value)
            if name in labels and isinstance(value, int) and value >= 0:
                shown += f" ({labels[name].int2str(value)})"
            out(f"  {name}: {shown}")
    return rows
