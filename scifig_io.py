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
"""The reading machinery beside scifig.py: it knows archives, bytes and formats, nothing of MMSci.

scifig.py imports it as a sibling (`from .scifig_io import ...`), which is how datasets 3.6 finds a loading script's
helper module and copies it beside the script. It reads top to bottom:
1. byte sources: a local file (pread) or an HTTP URL (Range requests, retried and resumed);
2. archives: one interface over a zip, local or HTTP, and an unzipped folder, opened once per process;
3. formats: JSON lists parsed incrementally, pickles of plain data only, figures checked where they are read;
4. what is kept across processes: a big JSON member's records, parsed once per machine (the record store);
5. read-ahead: results computed a few items ahead on threads, so that request latency overlaps.

Everything that goes wrong with the data raises ScifigDataError naming the archive and the member.
"""

import collections
import concurrent.futures
import contextlib
import functools
import glob
import hashlib
import io
import itertools
import json
import os
import pickle
import re
import stat
import struct
import tempfile
import threading
import time
import warnings
import zlib
from typing import NamedTuple

import datasets
import filelock
import ijson
import numpy
import PIL.Image
import urllib3
import xxhash

logger = datasets.logging.get_logger(__name__)


class ScifigDataError(ValueError):
    """Upstream data scifig cannot turn into rows: the message names archive, member, record and problem."""


def is_url(location):
    return location.startswith(("http://", "https://"))


# ================================================================================================ 1. byte sources

def _checked_range(label, size, start, length):
    if start < 0 or length < 0 or start + length > size:
        raise ScifigDataError(
            f"{label}: wanted bytes {start}-{start + length - 1} but the archive is {size} bytes; "
            "the archive is truncated or its directory is corrupt"
        )


class _LocalBytes:
    """A local file read with pread, so prefetch threads never share a file position."""

    def __init__(self, path):
        self.label = path
        self._file = io.open(path, "rb")
        status = os.fstat(self._file.fileno())
        self.size = status.st_size
        self.version = f"{os.path.abspath(path)}|{status.st_size}|{status.st_mtime_ns}"  # what identifies this copy

    def read(self, start, length):
        _checked_range(self.label, self.size, start, length)
        return os.pread(self._file.fileno(), length, start)

    def read_pieces(self, start, lengths):
        _checked_range(self.label, self.size, start, sum(lengths))
        starts = itertools.accumulate(lengths, initial=start)
        return [os.pread(self._file.fileno(), length, at) for at, length in zip(starts, lengths)]


_HTTP_CONNECT_TIMEOUT = 10  # seconds; the read timeout is the config's http_timeout (60 by default)
_HTTP_ATTEMPTS = 5


class _HttpBytes:
    """An archive on an HTTP server, read only by byte range."""

    def __init__(self, url, timeout=60):
        self.label = url
        self._url = url
        # urllib3 itself, not requests over it: requests adds nothing a range reader needs and its import pulls in
        # chardet where that is installed (12 MB more in every DataLoader worker). One pool (thread-safe) for every
        # thread that reads the archive at once: the read-ahead threads and the record store's builder.
        # A stalled server fails a read after `timeout` seconds instead of hanging it. urllib3 retries refused
        # connections and 429/5xx answers with backoff; a body that stalls or drops (read=0 here) is resumed by
        # read_pieces() itself from the first piece that did not arrive whole.
        self._http = urllib3.PoolManager(
            maxsize=THREADS + 1,
            timeout=urllib3.Timeout(connect=_HTTP_CONNECT_TIMEOUT, read=timeout),
            retries=urllib3.Retry(
                total=_HTTP_ATTEMPTS, read=0, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=("GET", "HEAD"), raise_on_status=True,
            ),
        )
        try:
            response = self._http.request("HEAD", url)
        except urllib3.exceptions.HTTPError as error:
            raise ScifigDataError(f"{url}: cannot open the archive: {error}") from error
        if response.status >= 400:
            raise ScifigDataError(f"{url}: cannot open the archive: HTTP {response.status} {response.reason}")
        try:
            self.size = int(response.headers["Content-Length"])
        except (KeyError, ValueError):
            raise ScifigDataError(f"{url}: the server sent no Content-Length, so the zip cannot be read by range")
        headers = response.headers
        self.version = f"{url}|{self.size}|{headers.get('ETag', '')}|{headers.get('Last-Modified', '')}"

    def read(self, start, length):
        return self.read_pieces(start, (length,))[0]

    def read_pieces(self, start, lengths):
        """Consecutive ranges of these lengths from `start`, in one request, each piece read whole: a figure's bytes
        arrive as the one object its row keeps, not copied out of a larger read (figures are read on threads, and
        glibc keeps what each thread frees in that thread's arena)."""
        total = sum(lengths)
        _checked_range(self.label, self.size, start, total)
        last = start + total - 1
        pieces = []
        for attempt in range(_HTTP_ATTEMPTS):
            try:
                self._read_into(pieces, start, lengths)
                break
            except urllib3.exceptions.HTTPError as error:
                if isinstance(getattr(error, "reason", None), urllib3.exceptions.ResponseError):
                    # an HTTP error status, still there after urllib3's own retries
                    raise ScifigDataError(f"{self.label}: bytes {start}-{last}: {error.reason}") from error
                # A dropped or stalled body, or no connection: keep the pieces that arrived and ask for the rest,
                # after a pause.
                if attempt == _HTTP_ATTEMPTS - 1:
                    raise ScifigDataError(
                        f"{self.label}: bytes {start}-{last} could not be read after {_HTTP_ATTEMPTS} attempts: "
                        f"{error}"
                    ) from error
                logger.warning("%s: retrying a range read after %s", self.label, error)
                time.sleep(min(8.0, 0.25 * 2 ** attempt))
        got = sum(len(piece) for piece in pieces)
        if got != total:
            raise ScifigDataError(f"{self.label}: asked for {total} bytes at {start}, the server sent {got}")
        return pieces

    def _read_into(self, pieces, start, lengths):
        """The pieces not yet in `pieces`, appended as each arrives whole (one range request for all of them)."""
        begin = start + sum(lengths[:len(pieces)])
        last = start + sum(lengths) - 1
        if begin > last:
            pieces.extend(b"" for _ in lengths[len(pieces):])
            return
        response = self._http.request(
            "GET", self._url, headers={"Range": f"bytes={begin}-{last}", "Accept-Encoding": "identity"},
            preload_content=False, decode_content=False,
        )
        try:
            if response.status >= 400:
                raise ScifigDataError(f"{self.label}: bytes {begin}-{last}: HTTP {response.status} {response.reason}")
            if response.status != 206:
                raise ScifigDataError(
                    f"{self.label}: the server does not honour Range requests (asked for bytes {begin}-{last}, got "
                    f"HTTP {response.status}); scifig reads archives by range and will not download a whole "
                    "archive to read one member"
                )
            for length in lengths[len(pieces):]:
                piece = response.read(length, decode_content=False)
                while len(piece) < length:  # a short read: the next ends the body or raises IncompleteRead
                    more = response.read(length - len(piece), decode_content=False)
                    if not more:
                        return  # the body ended within its Content-Length: read_pieces counts what is missing
                    piece += more
                pieces.append(piece)
        finally:
            # a body read to its end goes back to the pool; one left unread (an error) closes its connection
            if response.length_remaining:
                response.close()
            response.release_conn()


# ==================================================================================================== 2. archives
#
# One interface over a zip (local or HTTP) and an unzipped folder:
#
#   label              how errors name the archive
#   remote             whether reads go over the network (then figures are fetched ahead on threads)
#   names()            the members other than figures (JSON, pickles, text), where layouts are discovered
#   name in archive    whether such a member is there: the same members names() lists
#   has_figure(name)   whether a figure is there (figures are indexed by name, never listed: there are 742k)
#   read(name)         a member's bytes, verified against the zip's stored checksum
#   open(name)         a member as a stream, verified as it is read; memory stays flat however large it is
#   version(name)      what identifies a member's content, for what is kept in the cache about it
#   store_dir          where record stores of its members are kept across processes (None: not kept)

_FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_figure(name):
    return name.lower().endswith(_FIGURE_SUFFIXES)


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


class ZipArchive:
    """The members of one zip that `keep(name)` selects, read by range from a local file or a URL.

    With `cache` (a folder), the member index is kept there for the next process, DataLoader worker or epoch that
    opens the same version of the archive (`index_key` says which members it holds): they read it instead of the
    central directory, which for MMSci's archives is tens of MB. A version is the file's path, size and
    modification time, or the URL's size, ETag and Last-Modified; the archive's last KiB is compared as well.
    """

    def __init__(self, location, keep, label=None, timeout=60, cache=None, index_key=""):
        self._bytes = _HttpBytes(location, timeout) if is_url(location) else _LocalBytes(location)
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
            digest = hashlib.sha256(f"{_INDEX_FORMAT}|{self._bytes.version}|{index_key}".encode()).hexdigest()
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
        member = self._members[name]
        return f"{self._bytes.version}|{name}|{member.size}|{member.crc}"

    def open(self, name):
        member = self._members[name]
        head = self._bytes.read(member.offset, min(_LOCAL.size + len(name.encode("utf-8")),
                                                   self._bytes.size - member.offset))
        start = self._data_start(name, member, head)
        return io.BufferedReader(_MemberStream(self, name, member, start), buffer_size=_INFLATED)


_INDEX_FORMAT = "scifig member index 2"


def stable_hash(text):
    """A string's signed 64-bit hash, the same in every process (Python's own hash() is salted per process)."""
    value = xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
    return value - (1 << 64) if value >= 1 << 63 else value


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
        for suffix in _FIGURE_SUFFIXES:
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


class FolderArchive:
    """An archive already unzipped: the same interface as ZipArchive over plain files (which store no checksum)."""

    remote = False

    def __init__(self, root, keep, label=None, cache=None):
        self.label = label or root
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
        return f"{os.path.abspath(self._paths[name])}|{status.st_size}|{status.st_mtime_ns}"


def under_any_folder(path):
    """A member pattern for `path` (a regex) at the start of a name or after any '/'. Anchored at the start, a
    search tries each name once instead of at every position: 3x faster over a central directory's 742k names."""
    return rf"(?s:^(?:.*/)?{path})"


def open_archive(location, members, label=None, timeout=60, cache=None):
    """A zip (local or URL) or unzipped folder, indexed for the member names matching the regex `members`, opened
    once per process for every shard of a split. With `cache` (a folder), a zip's index and the record stores of its
    big JSON members are kept there for the processes that read the same archive next."""
    # A local file rewritten since is indexed again; a URL's version is checked when an index is kept on disk.
    status = None if is_url(location) else os.stat(location)
    changed = (status.st_size, status.st_mtime_ns) if status else None
    return _opened_archive(location, members, label, timeout, cache, changed)


@functools.lru_cache(maxsize=8)
def _opened_archive(location, members, label, timeout, cache, changed):
    wanted = re.compile(members).search
    # os.stat, not os.path.isdir: datasets swaps os.path.* for URL-aware versions in its builders' modules when
    # streaming.
    if not is_url(location) and stat.S_ISDIR(os.stat(location).st_mode):
        return FolderArchive(location, lambda name: wanted(name) is not None, label, cache)
    return ZipArchive(location, lambda name: wanted(name) is not None, label, timeout, cache, members)


def find_member(archive, suffix):
    """The member whose name is `suffix` under whatever top-level folder the archive adds."""
    matches = sorted((name for name in archive.names() if name == suffix or name.endswith("/" + suffix)), key=len)
    if not matches:
        raise ScifigDataError(f"{archive.label}: no member ends in {suffix}")
    return matches[0]


# ===================================================================================================== 3. formats

class ListOfLists(NamedTuple):
    """A JSON file that is a list of lists of records, one per name (e.g. kind "setting", names fig2cap, ...)."""

    kind: str
    names: tuple


def json_records(stream, label, lists=None, wanted=None):
    """Yields (outer index or -1, index, record) from a JSON list of objects, or (with `lists`, a ListOfLists) a
    list of lists of objects.

    Parsed incrementally with ijson: memory stays flat however large the file. Records for which
    `wanted(outer, index)` is false are stepped over without being built.
    """
    nested = lists is not None
    outer_path, item_path = ("item", "item.item") if nested else (None, "item")
    outer, index, builder, skipping, expect = -1, -1, None, False, "start"
    try:
        for prefix, event, value in ijson.parse(stream, use_float=True):
            if skipping:
                skipping = not (prefix == item_path and event == "end_map")
                continue
            if builder is not None:
                builder.event(event, value)
                if prefix == item_path and event == "end_map":
                    yield outer, index, builder.value
                    builder = None
                continue
            if expect == "start":
                if prefix != "" or event != "start_array":
                    shape = "lists" if nested else "objects"
                    raise ScifigDataError(f"{label}: expected a JSON list of {shape} at the top, found {event}")
                expect = "items"
            elif nested and prefix == outer_path:
                if event == "start_array":
                    outer, index = outer + 1, -1
                elif event != "end_array":
                    raise ScifigDataError(
                        f"{label}: expected a list of {len(lists.names)} lists (one per {lists.kind}); item "
                        f"{outer + 1} is a {_json_kind(event)}"
                    )
            elif prefix == item_path:
                index += 1
                if event != "start_map":
                    raise ScifigDataError(
                        f"{label}: record {index}{_in_list(lists, outer)} is a {_json_kind(event)}, not an object"
                    )
                if wanted is not None and not wanted(outer, index):
                    skipping = True
                    continue
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
    except GeneratorExit:  # closed early (a consumer stopped): nothing to report, even at interpreter exit
        raise
    except ijson.JSONError as error:
        raise ScifigDataError(f"{label}: malformed JSON after record {index}{_in_list(lists, outer)}: {error}") \
            from error
    except UnicodeDecodeError as error:
        raise ScifigDataError(f"{label}: not UTF-8 after record {index}: {error}") from error
    if nested and outer + 1 != len(lists.names):
        raise ScifigDataError(
            f"{label}: expected a list of {len(lists.names)} lists (one per {lists.kind}), found {outer + 1}")


def _json_kind(event):
    return {"start_map": "object", "start_array": "list"}.get(event, event)


def _in_list(lists, outer):
    return f" of {lists.kind} {outer} ({lists.names[outer]})" if lists and 0 <= outer < len(lists.names) else ""


class _PlainDataUnpickler(pickle.Unpickler):
    """Admits lists, dicts, strings, numbers and None; anything that names a callable is refused unrun."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is allowed")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: only plain data is allowed")


def load_plain_pickle(data, label):
    """A pickle of plain data, from its bytes or a stream, read to the stream's end."""
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        value = _PlainDataUnpickler(stream).load()
    except ScifigDataError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever a damaged pickle makes the unpickler raise is a data error
        raise ScifigDataError(f"{label}: not a readable pickle of plain data: {error!r}") from error
    # The unpickler stops at the pickle's STOP opcode; a zip member checks its CRC only once read to its end, so a
    # flipped byte inside a string would otherwise pass unseen.
    trailing = 0
    while chunk := stream.read(1 << 20):
        trailing += len(chunk)
    if trailing:
        raise ScifigDataError(f"{label}: {trailing} bytes follow the end of the pickle")
    return value


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: no data, so always these 12 bytes


def figure_problem(data):
    """Why these bytes cannot be a figure (unreadable, corrupt, or a decompression bomb), or None.

    Checked once while reading, so a bad figure is named with its member and record instead of failing later
    inside PIL (in a training loop), far from where it came from. A PNG is checked without decoding its pixels:
    verify() checks every chunk's CRC-32 but the last, IEND, whose bytes are fixed and compared here, so every
    byte of the file is covered. Formats without checksums (the pre-training JPEGs) are decoded (at 1/8 scale).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)  # checked just below, by name
            with PIL.Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > PIL.Image.MAX_IMAGE_PIXELS:
                    return (f"is {width}x{height} pixels, over the {PIL.Image.MAX_IMAGE_PIXELS} a figure may decode "
                            "to (a decompression bomb)")
                if image.format != "PNG":
                    # JPEG has no checksums: decode it, at 1/8 scale (libjpeg still reads every block, so the same
                    # damage shows as at full size, at ~60% of the cost)
                    image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
                    image.load()
                    return None
                image.verify()
    except PIL.Image.DecompressionBombError as error:
        return f"would decompress to a huge image: {error}"
    except Exception as error:  # noqa: BLE001 - whatever PIL raises on damaged bytes means they are not a figure
        return f"is not a readable image: {error!r}"
    if not data.endswith(_PNG_END):
        return "is not a readable image: its PNG end chunk is damaged or followed by other bytes"
    return None


# =============================================================================== 4. what is kept across processes

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

    def read(self, outer, part, parts):
        """(outer, index, record) of the records in list `outer` (-1: a plain list) whose index % parts == part,
        in the member's order, each as soon as it is in the store."""
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
                    for entry in entries[(entries["outer"] == outer) & (entries["position"] % parts == part)]:
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
            skipped = [0]

            def unheld(outer, position):
                skipped[0] += 1
                return skipped[0] > held

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


# ---- the cache: what is kept, what it costs, and a bound on it ----

CACHE_LIMIT = os.environ.get("SCIFIG_CACHE_LIMIT", "20GB")  # the default cap; "0" or "none": unbounded


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


# ================================================================================================== 5. read-ahead

THREADS = 8  # threads reading ahead; each holds one HTTP connection


def read_ahead(items, function, depth):
    """(item, result getter) in order, `function(item)` running `depth` items ahead on THREADS threads."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=THREADS)
    try:
        window = collections.deque()
        for item in items:
            window.append((item, pool.submit(function, item)))
            if len(window) > depth:
                ready, future = window.popleft()
                yield ready, future.result
        while window:
            ready, future = window.popleft()
            yield ready, future.result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
