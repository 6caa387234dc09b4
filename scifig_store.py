# Copyright 2026 The scifig Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""What is kept: across processes in scifig's cache folder, and within a split while its rows are made.

Holds: the cache's root (`cache_root`), its locks (`one_builder`: one process builds what others wait for;
`in_use`: a reader's shared hold that eviction respects), `RecordStore` (a big JSON member's records parsed once per
machine and read while they are written), the cache's entries, their bound and removal, `write_json_atomically`,
and `SeenIds` (a split's row ids in 8 bytes each).
May import: the standard library, filelock, numpy, scifig_errors, scifig_formats. Archives are used through their
interface (`store_dir`, `version`, `open`), never imported.
"""

import contextlib
import glob
import hashlib
import io
import itertools
import json
import os
import re
import threading
import time
import zlib
from typing import NamedTuple

import datasets
import filelock
import numpy

from .scifig_errors import ScifigDataError
from .scifig_formats import json_records, stable_hash

logger = datasets.logging.get_logger(__name__)


def cache_root(cache_dir=None):
    """scifig's own folder in a datasets cache (`cache_dir`, else HF_DATASETS_CACHE): member indexes, record stores
    and evaluation articles, kept across processes."""
    return os.path.join(os.path.expanduser(str(cache_dir or datasets.config.HF_DATASETS_CACHE)), "scifig")


# ---- locks ----

_INDEX_WAIT = 600  # seconds a process waits for another's member index before reading the directory itself


@contextlib.contextmanager
def one_builder(lock_path, what):
    """Held while one process builds what others would build too (they wait, then read what it kept); where the
    lock cannot be had (a read-only cache, or a builder slower than _INDEX_WAIT), the work is done unlocked:
    duplicated, never wrong."""
    lock = filelock.FileLock(lock_path, timeout=_INDEX_WAIT)
    try:
        lock.acquire()
    except (OSError, filelock.Timeout) as error:
        logger.warning("%s: building it without waiting for another process: %s", what, error)
        yield
        return
    try:
        yield
    finally:
        lock.release()


def in_use(meta):
    """A shared lock on a cache entry while it is read: clearing and eviction skip entries that are in use."""
    return _EntryLock(meta, shared=True)


class _EntryLock:
    """fcntl's flock on an entry's meta file: shared for readers, exclusive (without waiting) for removal. Where
    fcntl is missing (Windows), nothing is locked and nothing is evicted."""

    def __init__(self, meta, shared):
        self._meta, self._shared, self._file, self.held = meta, shared, None, False

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            return self
        self._file = io.open(self._meta, "rb")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_SH if self._shared else fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
        except OSError:
            self.held = False
        return self

    def __exit__(self, *exc):
        if self._file:
            self._file.close()  # releases the lock
        return False


# ---- record stores ----

_STORE_FORMAT = "scifig record store 2"
# One index entry per record, appended as the record is: where its compressed JSON is in the data file, which list
# of the member it is in (-1: a plain list), and its place in that list.
_ENTRY = numpy.dtype([("offset", "<i8"), ("length", "<i4"), ("outer", "i1"), ("position", "<i8")])
_ENTRIES_AT_ONCE = 1 << 16  # index entries a reader takes at a time (1.4 MB): memory stays flat with the member
_POLL = 0.02  # seconds a reader waits for the builder to append more


class RecordStore:
    """A big JSON member's records, parsed once per machine into `archive.store_dir` and readable while they are.

    The first reader to open it builds it on a thread of its own, under the build lock: each record's JSON,
    compressed, appended to `<key>.records`, then its entry appended to `<key>.index`; `<key>.done` is written last
    and is what says the store is whole. Every reader, in that process or any other, follows the index as it grows
    and reads only its own records (a list and a round-robin part), in the member's order, as soon as they are
    written. A build that dies half-way (its process killed) releases the lock and leaves no `.done`: the next reader
    waiting on it takes the lock and resumes, after the last record written whole.
    """

    _building = set()  # stores this process builds, so one process starts one thread per store
    _building_lock = threading.Lock()
    _failures = {}  # store -> the error its build in this process ended in, raised to its readers

    def __init__(self, archive, member, label, lists=None):
        self._archive, self._member, self._label, self._lists = archive, member, label, lists
        folder = archive.store_dir
        os.makedirs(folder, exist_ok=True)
        key = hashlib.sha256(f"{_STORE_FORMAT}|{archive.version(member)}|{lists}".encode()).hexdigest()
        base = os.path.join(folder, key)
        self._data, self._index, self._done = f"{base}.records", f"{base}.index", f"{base}.done"
        self._lock = f"{base}.build.lock"
        self.meta = f"{base}.meta.json"
        if not os.path.exists(self.meta):
            write_json_atomically(self.meta, {"kind": "record store", "archive": archive.label, "member": member,
                                              "files": [os.path.basename(p) for p in (self._data, self._index,
                                                                                     self._done, self._lock)]})
        os.utime(self.meta)  # last use, for the cache's least-recently-used eviction

    def whole(self):
        return os.path.exists(self._done)

    def read(self, outers, part, parts):
        """(outer, index, record) of the records in the lists `outers` ((-1,): a plain list) whose index % parts ==
        part, in the member's order, each as soon as it is in the store."""
        self._start_building()
        with in_use(self.meta), io.open(self._data, "a+b") as data, io.open(self._index, "a+b") as index:
            seen = 0
            while True:
                whole = self.whole()  # before the index's size: once whole, that size holds every entry
                available = os.fstat(index.fileno()).st_size // _ENTRY.itemsize
                if available > seen:
                    count = min(available - seen, _ENTRIES_AT_ONCE)
                    entries = numpy.frombuffer(os.pread(index.fileno(), count * _ENTRY.itemsize,
                                                        seen * _ENTRY.itemsize), dtype=_ENTRY)
                    for entry in entries[numpy.isin(entries["outer"], outers) & (entries["position"] % parts == part)]:
                        blob = os.pread(data.fileno(), int(entry["length"]), int(entry["offset"]))
                        yield int(entry["outer"]), int(entry["position"]), json.loads(zlib.decompress(blob))
                    seen += count
                elif whole:
                    self._check_whole(seen)
                    return
                else:
                    failure = RecordStore._failures.get(self._index)
                    if failure is not None:
                        raise failure
                    self._start_building()  # resumes a build whose process died; returns at once otherwise
                    time.sleep(_POLL)

    def _check_whole(self, seen):
        with io.open(self._done, encoding="utf-8") as file:
            records = json.load(file)["records"]
        if records != seen:
            raise ScifigDataError(f"{self._label}: the record store in {self._archive.store_dir} holds {seen} "
                                  f"records where its build wrote {records}; remove it (python -m scifig_tools "
                                  "cache --clear) to parse the member again")

    def _start_building(self):
        if self.whole():
            return
        with RecordStore._building_lock:
            if self._index in RecordStore._building:
                return
            lock = filelock.FileLock(self._lock, thread_local=False)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:  # another process builds it
                return
            RecordStore._building.add(self._index)
        threading.Thread(target=self._build, args=(lock,), daemon=True, name=f"scifig store {self._member}").start()

    def _build(self, lock):
        try:
            if not self.whole():
                self._append_the_rest()
        except Exception as error:  # noqa: BLE001 - handed to this process's readers, which raise it
            RecordStore._failures[self._index] = error if isinstance(error, ScifigDataError) else ScifigDataError(
                f"{self._label}: building the record store failed: {error!r}")
        finally:
            with RecordStore._building_lock:
                RecordStore._building.discard(self._index)
            lock.release()

    def _append_the_rest(self):
        """Appends the records the store does not hold yet, after the last one written whole."""
        with io.open(self._index, "a+b") as index, io.open(self._data, "a+b") as data:
            held = os.fstat(index.fileno()).st_size // _ENTRY.itemsize
            index.truncate(held * _ENTRY.itemsize)  # an entry cut off by a killed build
            if held:
                last = numpy.frombuffer(os.pread(index.fileno(), _ENTRY.itemsize, (held - 1) * _ENTRY.itemsize),
                                        dtype=_ENTRY)[0]
                end = int(last["offset"]) + int(last["length"])
            else:
                end = 0
            data.truncate(end)  # a record written after the last entry
            index.seek(0, io.SEEK_END)
            data.seek(0, io.SEEK_END)
            passed = itertools.count()

            def unheld(outer, position):  # called once per record, in order: the first `held` are in the store
                return next(passed) >= held

            count = held
            with self._archive.open(self._member) as stream:
                for outer, position, record in json_records(stream, self._label, self._lists, unheld):
                    blob = zlib.compress(json.dumps(record).encode("ascii"), 1)
                    data.write(blob)
                    data.flush()  # the record before its entry: an entry never points past the data
                    entry = numpy.array([(end, len(blob), outer, position)], dtype=_ENTRY)
                    index.write(entry.tobytes())
                    index.flush()
                    end, count = end + len(blob), count + 1
        write_json_atomically(self._done, {"records": count})
        enforce_cache_limit(os.path.dirname(os.path.dirname(self._index)), keep=(self.meta,))


# A child forked while a build thread ran holds no such thread: it looks for a builder through the lock instead.
os.register_at_fork(after_in_child=RecordStore._building.clear)


# ---- the cache's entries: what is kept, what it costs, and a bound on it ----

CACHE_LIMIT = os.environ.get("SCIFIG_CACHE_LIMIT", "20GB")  # the default cap; "0" or "none": unbounded


class CacheEntry(NamedTuple):
    """One thing scifig keeps: its kind, what it is of, its files, their size and when it was last used."""

    kind: str
    archive: str
    member: str
    meta: str
    files: tuple
    bytes: int
    last_use: float


CACHE_FOLDERS = ("member-index", "record-stores", "eval-articles")


def cache_entries(root):
    """Every entry under `root` (scifig's cache folder), least recently used first."""
    entries = []
    for folder in CACHE_FOLDERS:
        for meta in sorted(glob.glob(os.path.join(root, folder, "*.meta.json"))):
            try:
                with io.open(meta, encoding="utf-8") as file:
                    described = json.load(file)
                status = os.stat(meta)
            except (OSError, ValueError):
                continue
            files = tuple(os.path.join(os.path.dirname(meta), name) for name in described.get("files", []))
            size = sum(os.path.getsize(path) for path in files if os.path.exists(path)) + status.st_size
            entries.append(CacheEntry(described.get("kind", folder), described.get("archive", ""),
                                      described.get("member", ""), meta, files, size, status.st_mtime))
    return sorted(entries, key=lambda entry: entry.last_use)


def remove_entry(entry):
    """Removes an entry unless a reader holds it (or a build is under way); returns whether it did."""
    with _EntryLock(entry.meta, shared=False) as lock:
        if not lock.held:
            return False
        for path in entry.files:
            if path.endswith(".lock"):
                continue
            if os.path.exists(path):
                os.remove(path)
        os.remove(entry.meta)
    return True


def enforce_cache_limit(root, limit=None, keep=()):
    """Evicts least-recently-used entries not in use until the cache is under `limit` (CACHE_LIMIT unless given;
    a size such as "20GB"); entries whose meta file is in `keep` stay. Returns the entries removed."""
    limit = CACHE_LIMIT if limit is None else limit
    if str(limit).lower() in ("0", "none", ""):
        return []
    budget = parse_size(limit)
    if _cache_bytes(root) <= budget:  # the common case, in one stat per file: no entry's description is read
        return []
    entries = cache_entries(root)
    total = sum(entry.bytes for entry in entries)
    removed = []
    for entry in entries:
        if total <= budget:
            break
        if entry.meta not in keep and remove_entry(entry):
            total -= entry.bytes
            removed.append(entry)
    return removed


def _cache_bytes(root):
    """The size of every file in the cache's folders (what cache_entries counts, and any partial files)."""
    total = 0
    for folder in CACHE_FOLDERS:
        try:
            with os.scandir(os.path.join(root, folder)) as found:
                for item in found:
                    try:
                        total += item.stat().st_size if item.is_file() else 0
                    except OSError:  # removed meanwhile by another process
                        continue
        except OSError:
            continue
    return total


def parse_size(text):
    """Bytes in a size such as 20GB, 500MB or 1024."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?\s*", str(text), re.IGNORECASE)
    if not found:
        raise ValueError(f"not a size: {text!r} (write it as 20GB, 500MB, ...)")
    return int(float(found[1]) * 1024 ** " KMGT".index(found[2].upper() or " "))


def write_json_atomically(path, value):
    """Writes JSON for other processes: to a temporary name, then renamed, so no reader sees it half written. A
    read-only or full cache costs the next process the work again, nothing more."""
    partial = f"{path}.{os.getpid()}.{threading.get_ident()}.partial"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with io.open(partial, "w", encoding="utf-8") as file:
            json.dump(value, file)
        os.replace(partial, path)
    except OSError as error:
        logger.warning("could not keep %s: %s", path, error)
        if os.path.exists(partial):
            os.remove(partial)


# ---- ids seen so far ----

class SeenIds:
    """Strings seen so far (a split's row ids), in 8 bytes each however many: their 64-bit hashes, the latest in a
    small set, the others in sorted runs merged as they pair up (never more than 2^20 to a run, so a merge never
    copies more than 8 MB). Two distinct strings of one hash would look alike; among a million, that has a chance of
    about 1 in 30 million."""

    LATEST = 1 << 13
    LONGEST = 1 << 20

    def __init__(self):
        self._latest, self._runs = set(), []

    def __contains__(self, text):
        key = stable_hash(text)
        if key in self._latest:
            return True
        for run in self._runs:
            at = int(numpy.searchsorted(run, key))
            if at < len(run) and run[at] == key:
                return True
        return False

    def add(self, text):
        self._latest.add(stable_hash(text))
        if len(self._latest) < self.LATEST:
            return
        self._runs.append(numpy.sort(numpy.fromiter(self._latest, numpy.int64, len(self._latest))))
        self._latest = set()
        while len(self._runs) > 1 and len(self._runs[-1]) >= len(self._runs[-2]) and (
                len(self._runs[-1]) + len(self._runs[-2]) <= self.LONGEST):
            last = self._runs.pop()
            self._runs[-1] = numpy.sort(numpy.concatenate([self._runs[-1], last]))
