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

from scifig import cache_entries, cache_root, enforce_cache_limit, remove_entry
from scifig_tools.report import markdown_table, size


def listing(cache_dir=None):
    entries = cache_entries(cache_root(cache_dir))
    rows = [[entry.kind, entry.archive, entry.member, size(entry.bytes),
             datetime.datetime.fromtimestamp(entry.last_use).isoformat(timespec="seconds")] for entry in entries]
    total = sum(entry.bytes for entry in entries)
    return (markdown_table(["kind", "archive", "member", "size", "last use"], rows)
            + f"\n\n{len(entries)} entries, {size(total)} in {cache_root(cache_dir)}")


def clear(cache_dir=None):
    """Removes every entry no reader holds; returns (removed, held)."""
    removed, held = [], []
    for entry in cache_entries(cache_root(cache_dir)):
        (removed if remove_entry(entry) else held).append(entry)
    return removed, held


def limit(bound, cache_dir=None):
    """Evicts least-recently-used entries no reader holds until the cache is under `bound` (e.g. "5GB")."""
    return enforce_cache_limit(cache_root(cache_dir), bound)
