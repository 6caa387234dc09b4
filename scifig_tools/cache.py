"""What scifig keeps in the cache, what it costs, and removing it.

    python -m scifig_tools cache [--cache-dir D]           # list: kind, archive, member, size, last use
    python -m scifig_tools cache --clear                   # remove every entry no reader holds
    python -m scifig_tools cache --limit 5GB               # evict least-recently-used entries down to 5 GB

scifig keeps, in `<cache>/scifig/` (the datasets cache a load uses, HF_DATASETS_CACHE unless cache_dir is given):
member indexes of archives (about 40 bytes per figure), record stores of big train JSON members (their records
compressed: see docs/performance.md for the bytes per GB of JSON), and the evaluation articles read from
benchmark.zip. After writing an entry the builder evicts least-recently-used ones until the cache is under
SCIFIG_CACHE_LIMIT (20GB unless set; "none" for no bound), never one a reader holds.
"""

import datetime
import os

import datasets

from scifig.scifig_io import cache_entries, enforce_cache_limit, remove_entry
from scifig_tools.report import markdown_table


def root(cache_dir=None):
    return os.path.join(os.path.expanduser(str(cache_dir or datasets.config.HF_DATASETS_CACHE)), "scifig")


def _size(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024


def listing(cache_dir=None):
    entries = cache_entries(root(cache_dir))
    rows = [[entry.kind, entry.archive, entry.member, _size(entry.bytes),
             datetime.datetime.fromtimestamp(entry.last_use).isoformat(timespec="seconds")] for entry in entries]
    total = sum(entry.bytes for entry in entries)
    return (markdown_table(["kind", "archive", "member", "size", "last use"], rows)
            + f"\n\n{len(entries)} entries, {_size(total)} in {root(cache_dir)}")


def clear(cache_dir=None):
    """Removes every entry no reader holds; returns (removed, held)."""
    removed, held = [], []
    for entry in cache_entries(root(cache_dir)):
        (removed if remove_entry(entry) else held).append(entry)
    return removed, held


def limit(size, cache_dir=None):
    return enforce_cache_limit(root(cache_dir), size)
