"""What scifig keeps in the cache, what it costs, and removing it.

    python -m scifig_tools cache [--cache-dir D]           # list: kind, archive, member, size, last use
    python -m scifig_tools cache --clear                   # remove every entry no reader holds
    python -m scifig_tools cache --limit 5GB               # evict least-recently-used entries down to 5 GB

scifig keeps, in `<cache>/scifig/` (the datasets cache a load uses, HF_DATASETS_CACHE unless cache_dir is given):
member indexes of archives (about 40 bytes per figure), record stores of big train JSON members (their records
compressed: see docs/performance.md for the bytes per GB of JSON), and the evaluation articles read from
benchmark.zip. After writing an entry the builder evicts least-recently-used ones until the cache is under
SCIFIG_CACHE_LIMIT (20GB unless set; "none" for no bound), never one a reader holds. Beside them, in the same
folder, datasets keeps the datasets `load` prepares on disk (`<config id>/<version>/<hash>/`): listed and cleared
too, never evicted by the bound (a prepared dataset is what a load returns; `--clear` removes it).
"""

import datetime
import shutil
from pathlib import Path
from typing import NamedTuple

from scifig import CACHE_FOLDERS, cache_entries, cache_root, enforce_cache_limit, remove_entry
from scifig_tools.report import markdown_table, size


class Prepared(NamedTuple):
    """A config's datasets prepared on disk: its folder (every version and hash of it), size and last change."""

    config_id: str
    folder: Path
    bytes: int
    last_use: float


def prepared(cache_dir=None):
    """The prepared datasets in scifig's cache folder, by config id."""
    root = Path(cache_root(cache_dir))
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if folder.is_dir() and folder.name not in CACHE_FOLDERS:
            files = [path for path in folder.rglob("*") if path.is_file()]
            found.append(Prepared(folder.name, folder, sum(path.stat().st_size for path in files),
                                  max((path.stat().st_mtime for path in files), default=folder.stat().st_mtime)))
    return found


def listing(cache_dir=None):
    entries, datasets_ = cache_entries(cache_root(cache_dir)), prepared(cache_dir)
    rows = [[entry.kind, entry.archive, entry.member, size(entry.bytes), _when(entry.last_use)] for entry in entries]
    rows += [["prepared dataset", "", found.config_id, size(found.bytes), _when(found.last_use)]
             for found in datasets_]
    total = sum(entry.bytes for entry in entries) + sum(found.bytes for found in datasets_)
    return (markdown_table(["kind", "archive", "member or config", "size", "last use"], rows)
            + f"\n\n{len(rows)} entries, {size(total)} in {cache_root(cache_dir)}")


def _when(timestamp):
    return datetime.datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")


def clear(cache_dir=None):
    """Removes every entry no reader holds, and every prepared dataset; returns (removed, held, prepared removed)."""
    removed, held = [], []
    for entry in cache_entries(cache_root(cache_dir)):
        (removed if remove_entry(entry) else held).append(entry)
    datasets_ = prepared(cache_dir)
    for found in datasets_:
        shutil.rmtree(found.folder)
    return removed, held, datasets_


def limit(bound, cache_dir=None):
    """Evicts least-recently-used entries no reader holds until the cache is under `bound` (e.g. "5GB")."""
    return enforce_cache_limit(cache_root(cache_dir), bound)
