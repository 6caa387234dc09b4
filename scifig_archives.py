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
"""Archives: one interface (Archive, below) over a zip read by byte range, local or over HTTP, and an unzipped folder.

Holds: the Archive contract, ZipArchive (scifig's own zip reader: why, in the note above it) with its compact member
table and central directory parser, FolderArchive, and `open_archive`, which opens an archive once per process for
the members a pattern selects; `find_member` and `under_any_folder` for finding members whatever top folder a zip
adds.
May import: the standard library, numpy, xxhash, scifig_errors, scifig_bytes, scifig_formats, scifig_store (the
member index is kept in the cache). Nothing here knows MMSci.
"""

import collections
import concurrent.futures
import functools
import hashlib
import io
import json
import os
import re
import stat
import struct
import tempfile
import threading
import zlib
from typing import BinaryIO, Iterator, Optional, Protocol

import datasets
import numpy
import xxhash

from .scifig_bytes import HttpBytes, LocalBytes, is_url
from .scifig_errors import ScifigDataError
from .scifig_formats import FIGURE_SUFFIXES, is_figure, stable_hash
from .scifig_store import enforce_cache_limit, one_builder, write_json_atomically

logger = datasets.logging.get_logger(__name__)


class Archive(Protocol):
    """What every reader of a source relies on, whether the archive is a zip (local or HTTP) or a folder.

    Figures are indexed by name, never listed (MMSci's rawdata holds 742k); every other member (JSON, pickles,
    text) can be listed, which is how layouts are discovered. Every method raises ScifigDataError naming the archive
    and member when the bytes are not what the archive says they are.
    """

    label: str                  # how errors name the archive
    remote: bool                # whether reads go over the network (then figures are fetched ahead on threads)
    store_dir: Optional[str]    # where record stores of its members are kept across processes (None: not kept)

    def names(self) -> Iterator[str]:
        """The members other than figures."""

    def __contains__(self, name: str) -> bool:
        """Whether such a member is there: the same members names() lists."""

    def has_figure(self, name: str) -> bool:
        """Whether a figure is there."""

    def read(self, name: str) -> bytes:
        """A member's bytes, verified against the zip's stored checksum (a PNG by its own chunk checksums)."""

    def open(self, name: str) -> BinaryIO:
        """A member as a stream, verified as it is read; memory stays flat however large it is."""

    def version(self, name: str) -> str:
        """What identifies a member's content, for what is kept in the cache about it."""


# ---- the zip reader ----

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 20  # bytes a request reads
_INFLATED = 1 << 18  # bytes a member stream inflates at a time: a reader holds a chunk and this, not a chunk inflated

# (local header offset, compression method, compressed size, uncompressed size, crc32, extra field length in the
# central directory: the local header's is usually the same, so one request reads header and data)
_Member = collections.namedtuple("_Member", "offset method csize size crc extra")


class _Stored:
    eof = True
    unconsumed_tail = b""

    def decompress(self, data, max_length=0):
        return data


def _decompressor(label, name, method):
    if method == _STORED:
        return _Stored()
    if method == _DEFLATED:
        return zlib.decompressobj(-15)
    raise ScifigDataError(f"{label}: member {name} uses unsupported compression method {method}")


def _check_member(label, name, member, size, crc):
    """A member's bytes against its central directory entry (crc None: the content carries its own checks)."""
    if size != member.size or (crc is not None and crc != member.crc):
        raise ScifigDataError(f"{label}: member {name} is corrupt (size or CRC-32 mismatch)")


# Why a zip reader of its own. The standard library's zipfile keeps a ZipInfo per member, 544 bytes each (385 MB
# for the 742k figures of MMSci's archives, against a 200 MB budget for a whole reader); it cannot drop the members a
# split does not need while it parses the central directory; and every read goes through its one shared file
# object, so prefetch threads and HTTP ranges cannot overlap. fsspec's zip filesystem wraps that ZipFile and adds a
# dict per member (1,415 bytes in all). This reader keeps the members `keep` selects, figures in a sorted file of
# 40 bytes each with 0.125 bytes each in memory (_MemberTable), and reads each member by its own range (pread, or
# one HTTP Range request). Measured by `python benchmarks/zip_index_memory.py --members 1000000`.

class ZipArchive:
    """The members of one zip that `keep(name)` selects, read by range from a local file or a URL.

    With `cache` (a folder), the member index is kept there for the next process, DataLoader worker or epoch that
    opens the same version of the archive (`index_key` says which members it holds): they read it instead of the
    central directory, which for MMSci's archives is tens of MB. A version is the file's path, size and
    modification time, or the URL's size, ETag and Last-Modified; the archive's last KiB is compared as well.
    """

    def __init__(self, location, keep, label=None, timeout=60, cache=None, index_key="", identity=""):
        self._bytes = HttpBytes(location, timeout) if is_url(location) else LocalBytes(location)
        self.identity = identity  # what the load took the archive to be: part of every key of what is kept
        self.label = label or location
        self.remote = is_url(location)
        self.store_dir = os.path.join(cache, "record-stores") if cache else None
        self.from_index = False
        index_dir = os.path.join(cache, "member-index") if cache else None
        size = self._bytes.size
        if size < _EOCD.size:
            raise ScifigDataError(f"{self.label}: {size} bytes is too small to be a zip archive")
        tail = self._bytes.read(size - min(size, 1024), min(size, 1024))
        index = None
        if index_dir:
            digest = hashlib.sha256(f"{_INDEX_FORMAT}|{self.version('')}|{index_key}".encode()).hexdigest()
            index = os.path.join(index_dir, digest)
            self._members = _MemberTable.load(index, tail)
            if self._members is None:
                # processes opening the archive at once (a cluster's first workers) read its directory once:
                # the others wait for that index rather than each parse hundreds of thousands of entries
                with one_builder(f"{index}.build.lock", f"{self.label}: the member index"):
                    self._members = _MemberTable.load(index, tail)
                    if self._members is None:
                        self._members = self._read_central_directory(keep, tail, kept_at=index)
                    else:
                        self.from_index = True
            else:
                self.from_index = True
        else:
            self._members = self._read_central_directory(keep, tail, kept_at=None)

    def _read_central_directory(self, keep, tail, kept_at):
        size = self._bytes.size
        # The end record is the last 22 bytes unless the archive has a comment (up to 64 KiB): look there last.
        for tail_len in (len(tail), min(size, _EOCD.size + 0xFFFF + _EOCD64_LOCATOR.size)):
            if tail_len > len(tail):
                tail = self._bytes.read(size - tail_len, tail_len)
            at = tail.rfind(b"PK\x05\x06")
            if at >= 0 and at + _EOCD.size <= len(tail):
                break
        else:
            raise ScifigDataError(
                f"{self.label}: no end-of-central-directory record; the archive is truncated or not a zip"
            )
        _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
        locator_at = at - _EOCD64_LOCATOR.size
        if locator_at >= 0 and tail[locator_at:locator_at + 4] == b"PK\x06\x07":
            _, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack_from(tail, locator_at)
            if eocd64_offset + _EOCD64.size > size:
                raise ScifigDataError(f"{self.label}: broken zip64 end-of-central-directory record")
            record = self._bytes.read(eocd64_offset, _EOCD64.size)
            if record[:4] != b"PK\x06\x06":
                raise ScifigDataError(f"{self.label}: broken zip64 end-of-central-directory record")
            _, _, _, _, _, _, _, count, cd_size, cd_offset = _EOCD64.unpack(record)
        if cd_offset + cd_size > size:
            raise ScifigDataError(
                f"{self.label}: the central directory ends at byte {cd_offset + cd_size} past the archive's "
                f"{size} bytes; the archive is truncated"
            )
        members = _MemberTable(expected=count)
        with _CentralDirectory(self._bytes, self.label, cd_offset, cd_size) as entries:
            parsed = 0
            while parsed < count:
                batch = entries.entries(count - parsed)
                if batch is None:  # the buffer's end, or something the batch parse leaves to the one-entry parse
                    header, raw_name, extra = entries.entry()
                    if header is None:
                        raise ScifigDataError(f"{self.label}: central directory entry {parsed} is corrupt")
                    batch = _Entries.one(header, raw_name, extra)
                self._add(members, batch, keep, size)
                parsed += len(batch.names)
            if not entries.exhausted():
                raise ScifigDataError(
                    f"{self.label}: the central directory holds more than the {count} entries its end record "
                    "counts; the archive is damaged"
                )
        members.freeze(kept_at, tail, self.label)
        return members

    def _add(self, members, batch, keep, size):
        """The entries of `batch` that `keep` selects, into `members`: figures as one array, the rest by name."""
        names = batch.decoded()
        kept = numpy.array([not name.endswith("/") and bool(keep(name)) for name in names], bool)
        for at in numpy.flatnonzero(kept & ((batch.csize == 0xFFFFFFFF) | (batch.usize == 0xFFFFFFFF)
                                            | (batch.offset == 0xFFFFFFFF))):
            batch.usize[at], batch.csize[at], batch.offset[at] = _zip64_sizes(
                batch.extra(at), int(batch.usize[at]), int(batch.csize[at]), int(batch.offset[at]))
        for at in numpy.flatnonzero(kept & (batch.flags & 0x1 != 0))[:1]:
            raise ScifigDataError(f"{self.label}: member {names[at]} is encrypted")
        for at in numpy.flatnonzero(kept & (batch.offset + _LOCAL.size + batch.csize > size))[:1]:
            raise ScifigDataError(
                f"{self.label}: member {names[at]} ends past the archive's {size} bytes; the archive is truncated "
                "or its central directory is corrupt"
            )
        figures = kept & batch.figures()
        for at in numpy.flatnonzero(kept & ~figures):
            members.add(names[at], _Member(int(batch.offset[at]), int(batch.method[at]), int(batch.csize[at]),
                                           int(batch.usize[at]), int(batch.crc[at]), int(batch.extra_len[at])))
        if figures.any():
            members.add_figures(batch.hashes(figures, names), batch.offset[figures], batch.csize[figures],
                                batch.usize[figures], batch.crc[figures], batch.method[figures],
                                batch.extra_len[figures])

    def names(self):
        return iter(self._members.listed)

    def __contains__(self, name):
        return name in self._members.listed

    def has_figure(self, name):
        return is_figure(name) and self._members.has_figure(name)

    def _data_start(self, name, member, head):
        """Where a member's data begins, after its local header (whose own name is checked)."""
        if head[:4] != b"PK\x03\x04":
            raise ScifigDataError(f"{self.label}: member {name} has no local header at byte {member.offset}")
        fields = _LOCAL.unpack_from(head)
        stored = head[_LOCAL.size:_LOCAL.size + fields[10]]
        if len(stored) == fields[10] and stored.decode("utf-8" if fields[3] & 0x800 else "cp437", "replace") != name:
            raise ScifigDataError(
                f"{self.label}: the local header at byte {member.offset} names {stored!r}, not {name}")
        return member.offset + _LOCAL.size + fields[10] + fields[11]

    def read(self, name):
        """A member's bytes, in one range request where possible.

        PNG figures skip the zip's CRC-32: every figure scifig reads goes through figure_problem, whose PNG
        verify() checks each chunk's own CRC-32 over the same bytes (the zip's check is ~1% of streaming time).
        """
        member = self._members[name]
        # the local header is guessed to hold the central directory's name and extra field: read with the data,
        # in the same request, as a piece of its own
        room = self._bytes.size - member.offset
        guess = min(_LOCAL.size + len(name.encode("utf-8")) + member.extra, room)
        head, raw = self._bytes.read_pieces(member.offset, (guess, min(member.csize, room - guess)))
        data_start = self._data_start(name, member, head) - member.offset
        if data_start != guess or len(raw) != member.csize:  # a local extra field of another length
            blob = head + raw
            if data_start + member.csize > len(blob):
                blob += self._bytes.read(member.offset + len(blob), data_start + member.csize - len(blob))
            raw = blob[data_start: data_start + member.csize]
        try:
            data = _decompressor(self.label, name, member.method).decompress(raw)
        except zlib.error as error:
            raise ScifigDataError(f"{self.label}: member {name} is corrupt: {error}") from error
        _check_member(self.label, name, member, len(data),
                      None if name.lower().endswith(".png") else zlib.crc32(data))
        return data

    def version(self, name):
        """What identifies a member's content (the archive's own version with `name` "")."""
        if not name:
            return f"{self._bytes.version}|{self.identity}"
        member = self._members[name]
        return f"{self._bytes.version}|{self.identity}|{name}|{member.size}|{member.crc}"

    def open(self, name):
        member = self._members[name]
        head = self._bytes.read(member.offset, min(_LOCAL.size + len(name.encode("utf-8")),
                                                   self._bytes.size - member.offset))
        start = self._data_start(name, member, head)
        return io.BufferedReader(_MemberStream(self, name, member, start), buffer_size=_INFLATED)


_INDEX_FORMAT = "scifig member index 2"


_name_hash = stable_hash  # member names


# Figures' entries (hundreds of thousands in a split) are kept in a file sorted by the hash of their name: a reader
# holds one hash in _STRIDE of them in memory (0.125 bytes a figure) and reads two strides by pread per lookup.
_FIGURE = numpy.dtype([("hash", "<i8"), ("offset", "<i8"), ("csize", "<i8"), ("size", "<i8"), ("crc", "<u4"),
                       ("method", "<u2"), ("extra", "<u2")])
_STRIDE = 64
_BATCH = 1 << 16  # entries gathered in memory before they go to their partitions (2.5 MB)


def _partition(hashes, bits):
    """Which of 2**bits partitions each hash falls in, in the hashes' sorted order (so partitions sort apart)."""
    if not bits:
        return numpy.zeros(len(hashes), numpy.int64)
    return ((hashes.view(numpy.uint64) ^ numpy.uint64(1 << 63)) >> numpy.uint64(64 - bits)).astype(numpy.int64)


class _MemberTable:
    """Zip members by name: figures in a file sorted by name hash, the other members (JSON, pickles) in memory by
    name, so they can be listed. The local header's own name is checked on every read, so a hash collision is
    caught, not served.

    Built as the central directory is read: entries are spread over partitions (a temporary file each) by the top
    bits of their hash, then each partition is sorted alone and appended to the table's file, so the build never
    holds more than a partition whatever the archive's size. Kept in the cache as that file and a JSON of the
    other members (no pickle); without a cache, the file is an unnamed temporary one.
    """

    def __init__(self, expected=0):
        self._listed = {}
        self._bits = min(8, (int(expected) // _BATCH).bit_length())  # about _BATCH entries a partition, at most
        self._partitions = [tempfile.TemporaryFile() for _ in range(1 << self._bits)]
        self._batch = []
        self._file, self._count, self._sparse = None, 0, None

    def add(self, name, member):
        """A member other than a figure."""
        self._listed[name] = member

    def add_figures(self, hashes, offset, csize, size, crc, method, extra):
        """Figures' entries, as arrays of their name hashes and _Member fields."""
        entries = numpy.empty(len(hashes), _FIGURE)
        for field, values in zip(_FIGURE.names, (hashes, offset, csize, size, crc, method, extra)):
            entries[field] = values
        self._batch.append(entries)
        if sum(map(len, self._batch)) >= _BATCH:
            self._spread()

    def _spread(self):
        entries = numpy.concatenate(self._batch) if self._batch else numpy.empty(0, _FIGURE)
        self._batch = []
        which = _partition(entries["hash"], self._bits)
        for number in numpy.unique(which):
            self._partitions[number].write(entries[which == number].tobytes())

    def freeze(self, path=None, tail=b"", label=""):
        """Sorts the figures into their file: kept at `path` (`.figures`, `.members.json`) for other processes, or
        where that cannot be written (a read-only or full cache), in a temporary file."""
        self._spread()
        try:
            if path:
                try:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    self._open(self._sorted(f"{path}.figures"))
                    self._describe(path, tail, label)
                    return
                except OSError as error:  # the next process reads the directory again, nothing more
                    logger.warning("could not keep the member index at %s: %s", path, error)
            self._open(self._sorted(None))
        finally:
            for partition in self._partitions:
                partition.close()
            self._partitions = ()

    def _sorted(self, path):
        partial = f"{path}.{os.getpid()}.{threading.get_ident()}.partial" if path else None
        table = io.open(partial, "w+b") if partial else tempfile.TemporaryFile()
        try:
            for partition in self._partitions:
                partition.seek(0)
                entries = numpy.frombuffer(partition.read(), dtype=_FIGURE)
                table.write(entries[numpy.argsort(entries["hash"], kind="stable")].tobytes())
            table.flush()
        except BaseException:
            table.close()
            if partial and os.path.exists(partial):
                os.remove(partial)
            raise
        if not partial:
            return table
        table.close()
        os.replace(partial, path)
        return io.open(path, "rb")

    def _describe(self, path, tail, label):
        listed = [[name, list(member)] for name, member in self._listed.items()]
        write_json_atomically(f"{path}.members.json", {"tail": tail.hex(), "figures": self._count, "listed": listed})
        meta = f"{path}.meta.json"
        write_json_atomically(meta, {"kind": "member index", "archive": label, "member": f"{len(self)} members",
                                     "files": [os.path.basename(path) + suffix
                                               for suffix in (".figures", ".members.json", ".build.lock")]})
        enforce_cache_limit(os.path.dirname(os.path.dirname(path)), keep=(meta,))

    def _open(self, table):
        size = os.fstat(table.fileno()).st_size
        if size % _FIGURE.itemsize:
            raise ValueError(f"{size} bytes is not a whole number of {_FIGURE.itemsize}-byte entries")
        self._file, self._count = table, size // _FIGURE.itemsize
        sparse = [self._entries(start, min(_BATCH, self._count - start))["hash"][::_STRIDE].copy()
                  for start in range(0, self._count, _BATCH)]  # _BATCH is a multiple of _STRIDE
        self._sparse = numpy.concatenate(sparse) if sparse else numpy.empty(0, numpy.int64)

    def _entries(self, start, count):
        return numpy.frombuffer(os.pread(self._file.fileno(), count * _FIGURE.itemsize, start * _FIGURE.itemsize),
                                dtype=_FIGURE)

    def _find(self, name):
        if not self._count:
            return None
        key = _name_hash(name)
        # the first entry of that hash comes after the stride start below it: in that stride or the next
        start = max(int(numpy.searchsorted(self._sparse, key)) - 1, 0) * _STRIDE
        entries = self._entries(start, min(2 * _STRIDE, self._count - start))
        at = int(numpy.searchsorted(entries["hash"], key))
        return entries[at] if at < len(entries) and entries[at]["hash"] == key else None

    @property
    def listed(self):
        """{name: member} of the members other than figures."""
        return self._listed

    def has_figure(self, name):
        return self._find(name) is not None

    def __getitem__(self, name):
        if name in self._listed:
            return self._listed[name]
        found = self._find(name)
        if found is None:
            raise KeyError(name)
        return _Member(*(int(found[field]) for field in _Member._fields))

    def __len__(self):
        return len(self._listed) + self._count

    @classmethod
    def load(cls, path, tail):
        """The table kept at `path` for an archive ending in `tail`, or None (absent, another version, damaged)."""
        try:
            with io.open(f"{path}.members.json", encoding="utf-8") as file:
                kept = json.load(file)
            if bytes.fromhex(kept["tail"]) != tail:
                return None
            table = cls.__new__(cls)
            table._listed = {name: _Member(*fields) for name, fields in kept["listed"]}
            table._open(io.open(f"{path}.figures", "rb"))
            if table._count != kept["figures"]:
                raise ValueError(f"{table._count} figures where {kept['figures']} were written")
            return table
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - a damaged index is read again from the archive
            logger.warning("ignoring the member index at %s: %s", path, error)
            return None


class _Entries:
    """A run of central directory entries parsed together: their fields as arrays, their names as bytes (numpy
    does per run what a loop over 742k entries would do per entry in Python)."""

    def __init__(self, buffer, starts):
        data = numpy.frombuffer(buffer, numpy.uint8)
        self.flags, self.method = _field(data, starts + 8, 2), _field(data, starts + 10, 2)
        self.crc, self.csize, self.usize = (_field(data, starts + at, 4) for at in (16, 20, 24))
        self._name_len, self.extra_len = _field(data, starts + 28, 2), _field(data, starts + 30, 2)
        self.offset = _field(data, starts + 42, 4)
        self._data, self._name_end = data, starts + _CENTRAL.size + self._name_len
        self.names = [buffer[end - length:end] for end, length in zip(self._name_end.tolist(),
                                                                       self._name_len.tolist())]
        joined = b"\0".join(self.names)
        # ASCII names (almost every archive's) decode as one string, and their bytes are their UTF-8
        self._ascii = joined.isascii() and joined.count(b"\0") == len(self.names) - 1
        self._text = joined.decode("ascii") if self._ascii else None

    @classmethod
    def one(cls, header, name, extra):
        return cls(_CENTRAL.pack(*header) + name + extra, numpy.zeros(1, numpy.int64))

    def decoded(self):
        if self._ascii:
            return self._text.split("\0")
        return [raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
                for raw, flags in zip(self.names, self.flags.tolist())]

    def extra(self, at):
        start = int(self._name_end[at])
        return self._data[start:start + int(self.extra_len[at])].tobytes()

    def figures(self):
        """Which entries name a figure (is_figure, on the bytes: the suffixes are ASCII)."""
        found = numpy.zeros(len(self.names), bool)
        for suffix in FIGURE_SUFFIXES:
            tail = self._data[(self._name_end - len(suffix))[:, None] + numpy.arange(len(suffix))]
            lowered = numpy.where((tail >= 0x41) & (tail <= 0x5A), tail | 0x20, tail)
            found |= (self._name_len >= len(suffix)) & (lowered == numpy.frombuffer(suffix.encode(), numpy.uint8)
                                                        ).all(axis=1)
        return found

    def hashes(self, which, names):
        """_name_hash of the names `which` selects, as an array."""
        picked = numpy.flatnonzero(which).tolist()
        if self._ascii:  # the bytes are the names' UTF-8: hashed as they are, not encoded again
            return numpy.array([xxhash.xxh64_intdigest(self.names[at]) for at in picked], numpy.uint64).view(
                numpy.int64)
        return numpy.array([_name_hash(names[at]) for at in picked], numpy.int64)


def _field(data, at, width):
    """Little-endian unsigned fields of `width` bytes at the positions `at` of a byte array."""
    value = data[at].astype(numpy.int64)
    for byte in range(1, width):
        value |= data[at + byte].astype(numpy.int64) << (8 * byte)
    return value


class _CentralDirectory:
    """The central directory, fetched a chunk at a time, the next while this one is parsed (over HTTP, a request
    each: their latency overlaps the parse): memory stays flat for millions of members."""

    def __init__(self, source, label, offset, size):
        self._source, self._label = source, label
        self._next, self._end = offset, offset + size
        self._buffer, self._position = b"", 0
        self._fetcher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scifig directory")
        self._ahead = None  # the next chunk's read, under way

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fetcher.shutdown(wait=True, cancel_futures=True)

    def _fetch(self, start):
        if start >= self._end:
            return None
        return self._fetcher.submit(self._source.read, start, min(_CHUNK, self._end - start))

    def _fill(self, length):
        while len(self._buffer) - self._position < length:
            if self._next >= self._end:
                raise ScifigDataError(f"{self._label}: the central directory is shorter than its entry count says")
            fetched = self._ahead or self._fetch(self._next)
            self._next = min(self._next + _CHUNK, self._end)
            self._ahead = self._fetch(self._next)
            self._buffer = self._buffer[self._position:] + fetched.result()
            self._position = 0

    def entries(self, limit):
        """The whole entries (at most `limit`) from the buffer's position, as _Entries; None where the buffer holds
        none whole or no entry begins there (entry() then fills the buffer or says so)."""
        data = numpy.frombuffer(self._buffer, numpy.uint8)[self._position:]
        if len(data) < _CENTRAL.size:
            return None
        starts = numpy.flatnonzero((data[:-3] == 0x50) & (data[1:-2] == 0x4B) & (data[2:-1] == 1) & (data[3:] == 2))
        starts = starts[starts + _CENTRAL.size <= len(data)]
        if not len(starts) or starts[0]:
            return None
        ends = starts + _CENTRAL.size + _field(data, starts + 28, 2) + _field(data, starts + 30, 2) + _field(
            data, starts + 32, 2)
        # each entry ends where the next begins; the run stops before a signature found inside a name or field
        breaks = numpy.flatnonzero(starts[1:] != ends[:-1])
        run = int(breaks[0]) + 1 if len(breaks) else len(starts)
        run = min(run, int(numpy.searchsorted(ends[:run], len(data), side="right")), limit)
        if not run:
            return None
        batch = _Entries(self._buffer, starts[:run] + self._position)
        self._position += int(ends[run - 1])
        return batch

    def entry(self):
        """(header fields, name, extra field) of the next entry; (None, None, None) where no entry begins."""
        if len(self._buffer) - self._position < _CENTRAL.size:
            self._fill(_CENTRAL.size)
        header = _CENTRAL.unpack_from(self._buffer, self._position)
        if header[0] != b"PK\x01\x02":
            return None, None, None
        name_at = self._position + _CENTRAL.size
        extra_at = name_at + header[12]
        end = extra_at + header[13] + header[14]
        if end > len(self._buffer):
            self._fill(end - self._position)
            return self.entry()
        self._position = end
        return header, self._buffer[name_at:extra_at], self._buffer[extra_at:extra_at + header[13]]

    def exhausted(self):
        return self._next >= self._end and self._position == len(self._buffer)


def _zip64_sizes(extra, usize, csize, offset):
    """The real sizes and offset from a zip64 extra field, for those the central directory marks 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, at)
        if tag == 0x0001:
            body = extra[at + 4: at + 4 + length]
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return usize, csize, offset


class _MemberStream(io.RawIOBase):
    """Reads one zip member's compressed extent in chunks, inflating and CRC-checking as it goes."""

    def __init__(self, archive, name, member, data_start):
        self._archive, self._name, self._member = archive, name, member
        self._position, self._end = data_start, data_start + member.csize
        self._inflater = _decompressor(archive.label, name, member.method)
        self._raw, self._pending, self._crc, self._produced = b"", memoryview(b""), 0, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        label = self._archive.label
        while not self._pending:
            if not self._raw and self._position < self._end:
                length = min(_CHUNK, self._end - self._position)
                self._raw = self._archive._bytes.read(self._position, length)
                self._position += length
            try:
                inflated = self._inflater.decompress(self._raw, _INFLATED)
            except zlib.error as error:
                raise ScifigDataError(f"{label}: member {self._name} is corrupt: {error}") from error
            self._raw = self._inflater.unconsumed_tail
            if not inflated and not self._raw and self._position >= self._end:
                break
            self._pending = memoryview(inflated)
            self._crc = zlib.crc32(inflated, self._crc)
            self._produced += len(inflated)
        if not self._pending:
            if not self._inflater.eof and self._member.csize:
                raise ScifigDataError(f"{label}: member {self._name} ends mid-stream")
            _check_member(label, self._name, self._member, self._produced, self._crc)
            return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


# ---- an unzipped folder, and opening either ----

class FolderArchive:
    """An archive already unzipped: the same interface as ZipArchive over plain files (which store no checksum)."""

    remote = False

    def __init__(self, root, keep, label=None, cache=None, identity=""):
        self.label = label or root
        self.identity = identity
        self.store_dir = os.path.join(cache, "record-stores") if cache else None
        self._paths = {}
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            relative = folder[len(root):].strip(os.sep).replace(os.sep, "/")
            for file in sorted(files):
                name = f"{relative}/{file}" if relative else file
                if keep(name):
                    self._paths[name] = f"{folder}{os.sep}{file}"

    def names(self):
        return (name for name in self._paths if not is_figure(name))

    def __contains__(self, name):
        return name in self._paths and not is_figure(name)

    def has_figure(self, name):
        return is_figure(name) and name in self._paths

    def read(self, name):
        with io.open(self._paths[name], "rb") as file:
            return file.read()

    def open(self, name):
        return io.open(self._paths[name], "rb")

    def version(self, name):
        status = os.stat(self._paths[name])
        return f"{os.path.abspath(self._paths[name])}|{status.st_size}|{status.st_mtime_ns}|{self.identity}"


def under_any_folder(path):
    """A member pattern for `path` (a regex) at the start of a name or after any '/'. Anchored at the start, a
    search tries each name once instead of at every position: 3x faster over a central directory's 742k names."""
    return rf"(?s:^(?:.*/)?{path})"


def open_archive(location, members, label=None, timeout=60, cache=None, identity=None):
    """A zip (local or URL) or unzipped folder, indexed for the member names matching the regex `members`, opened
    once per process for every shard of a split. With `cache` (a folder), a zip's index and the record stores of its
    big JSON members are kept there for the processes that read the same archive next. `identity` (what a load
    found the archive to be) opens it afresh in this process once it changes."""
    # A local file rewritten since is indexed again; a URL's version is checked when an index is kept on disk.
    status = None if is_url(location) else os.stat(location)
    changed = (status.st_size, status.st_mtime_ns) if status else None
    return _opened_archive(location, members, label, timeout, cache, changed, identity or "")


@functools.lru_cache(maxsize=8)
def _opened_archive(location, members, label, timeout, cache, changed, identity):
    wanted = re.compile(members).search
    # os.stat, not os.path.isdir: datasets swaps os.path.* for URL-aware versions in its builders' modules when
    # streaming.
    if not is_url(location) and stat.S_ISDIR(os.stat(location).st_mode):
        return FolderArchive(location, lambda name: wanted(name) is not None, label, cache, identity)
    return ZipArchive(location, lambda name: wanted(name) is not None, label, timeout, cache, members, identity)


def find_member(archive, suffix):
    """The member whose name is `suffix` under whatever top-level folder the archive adds."""
    matches = sorted((name for name in archive.names() if name == suffix or name.endswith("/" + suffix)), key=len)
    if not matches:
        raise ScifigDataError(f"{archive.label}: no member ends in {suffix}")
    return matches[0]
