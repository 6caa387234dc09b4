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
"""scifig: the MMSci scientific-figure dataset (Nature Communications figures, 72 subjects in 5 categories).

One builder serves figure captioning, multiple-choice figure/caption matching and interleaved article+figure
pre-training documents, read in place out of the hosted MMSci archives (or a local copy, or a mirror).

This file must stand alone: `datasets` 3.6 runs it as a loading script, so it imports nothing from the rest of
the project. Archives are never extracted: members are read by byte range, from a local zip, from an unzipped
folder, or over HTTP with Range requests bounded by each member's extent.
"""

import array
import base64
import collections
import concurrent.futures
import datetime
import hashlib
import io
import json
import os
import pickle
import re
import stat
import struct
import sys
import threading
import time
import warnings
import weakref
import zlib

import datasets
import ijson
import numpy
import PIL.Image
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


_CITATION = """\
@inproceedings{li2025mmsci,
  title     = {{MMSci}: A Dataset for Graduate-Level Multi-Discipline Multimodal Scientific Understanding},
  author    = {Li, Zekun and Yang, Xianjun and Choi, Kyuri and Zhu, Wanrong and Hsieh, Ryan and Kim, HyeonJung
               and Lim, Jin Hyuk and Ji, Sungyoung and Lee, Byungju and Yan, Xifeng and Petzold, Linda Ruth
               and Wilson, Stephen D. and Lim, Woosang and Wang, William Yang},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2025},
  note      = {arXiv:2407.04903}
}
"""

_DESCRIPTION = """\
MMSci: figures from peer-reviewed Nature Communications articles (72 subjects in 5 categories) that take
graduate-level expertise to read -- schematics, microscopy, experimental plots. Configs: figure captioning
(`captioning`), multiple-choice figure/caption matching (`mcq` and one config per setting), and interleaved
article text + figures for continued pre-training (`pretraining`).
"""

_HOMEPAGE = "https://github.com/Leezekun/MMSci"

_LICENSE = "cc-by-4.0"

_URLS = {
    "benchmark": "https://mmsci.s3.amazonaws.com/benchmark.zip",
    "pretraindata": "https://mmsci.s3.amazonaws.com/pretraindata.zip",
    "rawdata": "https://mmsci.s3.amazonaws.com/rawdata.zip",
}

_VERSION = datasets.Version("1.0.0")

# The upstream taxonomy (subjects.json), in upstream order. "Ecology" sits under two categories.
TAXONOMY = {
    "Physical sciences": [
        "Materials science", "Chemistry", "Physics", "Nanoscience and technology", "Optics and photonics",
        "Engineering", "Energy science and technology", "Mathematics and computing",
        "Astronomy and planetary science",
    ],
    "Earth and environmental sciences": [
        "Ecology", "Climate sciences", "Solid Earth sciences", "Environmental sciences", "Biogeochemistry",
        "Ocean sciences", "Environmental social sciences", "Natural hazards", "Planetary science", "Hydrology",
        "Limnology", "Space physics",
    ],
    "Biological sciences": [
        "Cell biology", "Biochemistry", "Microbiology", "Neuroscience", "Molecular biology", "Genetics", "Cancer",
        "Immunology", "Biological techniques", "Computational biology and bioinformatics", "Biotechnology",
        "Biophysics", "Structural biology", "Ecology", "Developmental biology", "Evolution", "Plant sciences",
        "Physiology", "Chemical biology", "Systems biology", "Drug discovery", "Stem cells", "Zoology",
        "Psychology",
    ],
    "Health sciences": [
        "Diseases", "Medical research", "Oncology", "Health care", "Pathogenesis", "Biomarkers", "Cardiology",
        "Gastroenterology", "Endocrinology", "Anatomy", "Neurology", "Molecular medicine", "Risk factors",
        "Rheumatology", "Nephrology", "Signs and symptoms", "Urology", "Health occupations",
    ],
    "Scientific community and society": [
        "Social sciences", "Scientific community", "Energy and society", "Agriculture", "Developing world",
        "Water resources", "Geography", "Business and industry", "Forestry",
    ],
}
CATEGORIES = list(TAXONOMY)
SUBJECTS = sorted({subject for subjects in TAXONOMY.values() for subject in subjects})

SETTINGS = ["fig2cap", "subfig2cap", "subcap2fig"]
ANSWER_LETTERS = ["A", "B", "C", "D"]

# Hub split name -> upstream folder name.
SPLIT_FOLDERS = {"train": "train", "validation": "dev", "test": "test"}

_BENCHMARK_JSON = {
    "captioning": "image_caption_generation_data.json",
    "mcq": "image_caption_matching_data.json",
    "chat": "image_caption_chat_data.json",  # train only
}
_CHAT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}

logger = datasets.logging.get_logger(__name__)


class ScifigDataError(ValueError):
    """Upstream data scifig cannot turn into rows: the message names archive, member, record and problem."""


# datasets 3.6 runs a copy of this file under another module name; sharing the class with an imported `scifig`
# keeps `except scifig.ScifigDataError` working on that line too.
ScifigDataError = getattr(sys.modules.get("scifig"), "ScifigDataError", ScifigDataError)


# --------------------------------------------------------------------------------------------------------------
# Features: declared once here; the card, the export and the tests read them from the builder.
# --------------------------------------------------------------------------------------------------------------

def _category_feature():
    return datasets.ClassLabel(names=CATEGORIES)


FEATURES = {
    "captioning": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "figure_id": datasets.Value("string"),
            "image": datasets.Image(),
            "caption": datasets.Value("string"),
            "abstract": datasets.Value("string"),
            "content": datasets.Value("string"),
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
    "mcq": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "figure_id": datasets.Value("string"),
            "image": datasets.Image(),
            "setting": datasets.ClassLabel(names=SETTINGS),
            "question": datasets.Value("string"),
            "options": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.ClassLabel(names=ANSWER_LETTERS),
            "prompt": datasets.Value("string"),
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
    "articles": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "title": datasets.Value("string"),
            "abstract": datasets.Value("string"),
            "published": datasets.Value("date32"),
            "url": datasets.Value("string"),
            "pdf_url": datasets.Value("string"),
            "review_pdf_url": datasets.Value("string"),
            "categories": datasets.Sequence(_category_feature()),
            "subjects": datasets.Sequence(datasets.Value("string")),
            "sections": datasets.Sequence({"title": datasets.Value("string"), "content": datasets.Value("string")}),
            "figures": datasets.Sequence(
                {
                    "number": datasets.Value("int32"),
                    "image": datasets.Image(),
                    "title": datasets.Value("string"),
                    "description": datasets.Value("string"),
                }
            ),
            "references": datasets.Sequence(
                {"number": datasets.Value("int32"), "title": datasets.Value("string"), "url": datasets.Value("string")}
            ),
        }
    ),
    # The layout TRL's SFTTrainer and transformers' chat templates take for vision models (as llava-instruct-mix-vsft).
    # `messages` is a plain list of structs: datasets.Sequence of a dict would mean a dict of lists on every line.
    "chat": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "figure_id": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "messages": [
                {
                    "role": datasets.Value("string"),
                    "content": [
                        {
                            "type": datasets.Value("string"),
                            "text": datasets.Value("string"),
                            "index": datasets.Value("int64"),
                        }
                    ],
                }
            ],
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
    "pretraining": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "url": datasets.Value("string"),
            "texts": datasets.Sequence(datasets.Value("string")),
            "images": datasets.Sequence(datasets.Image()),
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
}


# --------------------------------------------------------------------------------------------------------------
# Byte sources: a local file or an HTTP URL read by Range requests.
# --------------------------------------------------------------------------------------------------------------

class _LocalBytes:
    """A local file read with pread, so prefetch threads never share a file position."""

    def __init__(self, path):
        self.label = path
        self._file = io.open(path, "rb")
        self.size = os.fstat(self._file.fileno()).st_size

    def read(self, start, length):
        data = os.pread(self._file.fileno(), length, start)
        if len(data) != length:
            raise ScifigDataError(
                f"{self.label}: wanted bytes {start}-{start + length - 1} but the file ends at {self.size}; "
                "the archive is truncated"
            )
        return data


_HTTP_CONNECT_TIMEOUT = 10  # seconds; the read timeout is the config's http_timeout (60 by default)
_HTTP_ATTEMPTS = 5


class _HttpBytes:
    """An archive on an HTTP server, read only by byte range."""

    def __init__(self, url, timeout=60):
        self.label = url
        self._url = url
        # A stalled server fails a read after `timeout` seconds instead of hanging it; reads are retried.
        self._timeout = (_HTTP_CONNECT_TIMEOUT, timeout)
        self._local = threading.local()
        try:
            response = self._session().head(url, allow_redirects=True, timeout=self._timeout)
            response.raise_for_status()
        except requests.RequestException as error:
            raise ScifigDataError(f"{url}: cannot open the archive: {error}") from error
        try:
            self.size = int(response.headers["Content-Length"])
        except (KeyError, ValueError):
            raise ScifigDataError(f"{url}: the server sent no Content-Length, so the zip cannot be read by range")

    def _session(self):
        # requests sessions are not thread-safe: one per prefetch thread.
        session = getattr(self._local, "session", None)
        if session is None:
            # urllib3 retries refused connections and 429/5xx answers with backoff; a body that stalls or drops
            # (read=0 here) is resumed by read() itself from the byte where it stopped.
            retry = Retry(
                total=_HTTP_ATTEMPTS, read=0, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=("GET", "HEAD"), raise_on_status=True,
            )
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            self._local.session = session
        return session

    def read(self, start, length):
        if length <= 0:
            return b""
        if start + length > self.size:
            raise ScifigDataError(
                f"{self.label}: wanted bytes {start}-{start + length - 1} but the archive is {self.size} bytes; "
                "the archive is truncated"
            )
        parts, got = [], 0
        for attempt in range(_HTTP_ATTEMPTS):
            begin = start + got
            headers = {"Range": f"bytes={begin}-{start + length - 1}", "Accept-Encoding": "identity"}
            try:
                with self._session().get(self._url, headers=headers, stream=True, timeout=self._timeout) as r:
                    r.raise_for_status()
                    if r.status_code != 206:
                        raise ScifigDataError(
                            f"{self.label}: the server does not honour Range requests (asked for bytes "
                            f"{begin}-{start + length - 1}, got HTTP {r.status_code}); scifig reads archives by "
                            "range and will not download a whole archive to read one member"
                        )
                    for chunk in r.iter_content(chunk_size=1 << 20):
                        parts.append(chunk)
                        got += len(chunk)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                # A dropped or stalled body: keep what arrived and ask for the rest, after a pause.
                if attempt == _HTTP_ATTEMPTS - 1:
                    raise ScifigDataError(
                        f"{self.label}: bytes {start}-{start + length - 1} could not be read after "
                        f"{_HTTP_ATTEMPTS} attempts: {error}"
                    ) from error
                logger.warning("%s: retrying a range read after %s", self.label, error)
                time.sleep(min(8.0, 0.25 * 2 ** attempt))
                continue
            except requests.RequestException as error:  # an HTTP error status, after urllib3's own retries
                raise ScifigDataError(f"{self.label}: bytes {start}-{start + length - 1}: {error}") from error
            if got >= length:
                break
        data = b"".join(parts)
        if len(data) != length:
            raise ScifigDataError(
                f"{self.label}: asked for {length} bytes at {start}, the server sent {len(data)}"
            )
        return data


def _open_bytes(location, timeout=60):
    if location.startswith(("http://", "https://")):
        return _HttpBytes(location, timeout)
    return _LocalBytes(location)


# --------------------------------------------------------------------------------------------------------------
# Zip archives read in place: only the central directory and the members a split needs.
# --------------------------------------------------------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 20

# name -> (local header offset, compression method, compressed size, uncompressed size, crc32, extra field length
# in the central directory: the local header's is usually the same, so one request reads header and data)
_Member = collections.namedtuple("_Member", "offset method csize size crc extra")


class ZipArchive:
    """The members of one zip that `keep(name)` selects, read by range from a local file or a URL."""

    def __init__(self, location, keep, label=None, timeout=60):
        self.source = _open_bytes(location, timeout)
        self.label = label or location
        self.members = self._read_central_directory(keep)

    def _read_central_directory(self, keep):
        size = self.source.size
        if size < _EOCD.size:
            raise ScifigDataError(f"{self.label}: {size} bytes is too small to be a zip archive")
        # The end record is the last 22 bytes unless the archive has a comment (up to 64 KiB): look there last.
        for tail_len in (min(size, 1024), min(size, _EOCD.size + 0xFFFF + _EOCD64_LOCATOR.size)):
            tail = self.source.read(size - tail_len, tail_len)
            at = tail.rfind(b"PK\x05\x06")
            if at >= 0:
                break
        if at < 0:
            raise ScifigDataError(
                f"{self.label}: no end-of-central-directory record; the archive is truncated or not a zip"
            )
        _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
        locator_at = at - _EOCD64_LOCATOR.size
        if locator_at >= 0 and tail[locator_at:locator_at + 4] == b"PK\x06\x07":
            _, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack_from(tail, locator_at)
            record = self.source.read(eocd64_offset, _EOCD64.size)
            if record[:4] != b"PK\x06\x06":
                raise ScifigDataError(f"{self.label}: broken zip64 end-of-central-directory record")
            _, _, _, _, _, _, _, count, cd_size, cd_offset = _EOCD64.unpack(record)
        if cd_offset + cd_size > size:
            raise ScifigDataError(
                f"{self.label}: the central directory ends at byte {cd_offset + cd_size} past the archive's "
                f"{size} bytes; the archive is truncated"
            )
        members = _MemberTable()
        entries = _CentralDirectory(self.source, self.label, cd_offset, cd_size)
        for index in range(count):
            header = _CENTRAL.unpack(entries.take(_CENTRAL.size))
            if header[0] != b"PK\x01\x02":
                raise ScifigDataError(f"{self.label}: central directory entry {index} is corrupt")
            flags, method, crc, csize, usize = header[5], header[6], header[9], header[10], header[11]
            name_len, extra_len, comment_len, offset = header[12], header[13], header[14], header[18]
            raw_name, extra = entries.take(name_len), entries.take(extra_len)
            entries.take(comment_len)
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
            if name.endswith("/") or not keep(name):
                continue
            if 0xFFFFFFFF in (csize, usize, offset):
                usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
            if flags & 0x1:
                raise ScifigDataError(f"{self.label}: member {name} is encrypted")
            members.add(name, _Member(offset, method, csize, usize, crc, extra_len))
        members.freeze()
        return members

    def __contains__(self, name):
        return name in self.members

    def _data_extent(self, name, head):
        member = self.members[name]
        if head[:4] != b"PK\x03\x04":
            raise ScifigDataError(f"{self.label}: member {name} has no local header at byte {member.offset}")
        fields = _LOCAL.unpack_from(head)
        stored = head[_LOCAL.size:_LOCAL.size + fields[10]]
        if len(stored) == fields[10] and stored.decode("utf-8" if fields[3] & 0x800 else "cp437") != name:
            raise ScifigDataError(f"{self.label}: the local header at byte {member.offset} names {stored!r}, not {name}")
        return member.offset + _LOCAL.size + fields[10] + fields[11]

    def read(self, name, crc=True):
        """The uncompressed bytes of one member, CRC-checked unless the caller checks the content itself, in one
        range request where possible."""
        member = self.members[name]
        guess = _LOCAL.size + len(name.encode("utf-8")) + member.extra
        span = min(guess + member.csize, self.source.size - member.offset)
        blob = self.source.read(member.offset, span)
        data_start = self._data_extent(name, blob) - member.offset
        if data_start + member.csize > len(blob):
            blob += self.source.read(member.offset + len(blob), data_start + member.csize - len(blob))
        data = self._inflate(name, blob[data_start: data_start + member.csize])
        return self._check(name, data) if crc else data

    def _inflate(self, name, raw):
        method = self.members[name].method
        if method == _STORED:
            return raw
        if method == _DEFLATED:
            try:
                return zlib.decompress(raw, -15)
            except zlib.error as error:
                raise ScifigDataError(f"{self.label}: member {name} is corrupt: {error}") from error
        raise ScifigDataError(f"{self.label}: member {name} uses unsupported compression method {method}")

    def _check(self, name, data):
        member = self.members[name]
        if len(data) != member.size or zlib.crc32(data) != member.crc:
            raise ScifigDataError(f"{self.label}: member {name} is corrupt (size or CRC-32 mismatch)")
        return data

    def open(self, name):
        """A streaming reader over one member: memory stays flat however large the member is."""
        member = self.members[name]
        head = self.source.read(member.offset, min(_LOCAL.size + len(name.encode("utf-8")),
                                                   self.source.size - member.offset))
        start = self._data_extent(name, head)
        return io.BufferedReader(_MemberStream(self, name, start), buffer_size=_CHUNK)


class _MemberTable:
    """Zip members by name, in ~40 bytes each for figures: a split can need hundreds of thousands of them.

    Figures are kept only as (hash of name, extent) in sorted numpy columns; other members (JSON, pickles) also
    by name, so they can be listed. The local header's own name is checked on every read (ZipArchive.read), so a
    hash collision is caught, not served.
    """

    _BULK = (".png", ".jpg", ".jpeg")
    _COLUMNS = (("offset", "q"), ("method", "H"), ("csize", "q"), ("size", "q"), ("crc", "L"), ("extra", "H"))

    def __init__(self):
        self._listed = {}
        self._hashes = array.array("q")
        self._columns = {field: array.array(code) for field, code in self._COLUMNS}

    def add(self, name, member):
        if not name.lower().endswith(self._BULK):
            self._listed[name] = member
            return
        self._hashes.append(hash(name))
        for field, _ in self._COLUMNS:
            self._columns[field].append(getattr(member, field))

    def freeze(self):
        hashes = numpy.frombuffer(self._hashes, dtype=numpy.int64) if len(self._hashes) else numpy.empty(0, numpy.int64)
        order = numpy.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._columns = {field: numpy.frombuffer(column, dtype=column.typecode)[order] if len(column) else
                         numpy.empty(0) for field, column in self._columns.items()}

    def _position(self, name):
        key = hash(name)
        at = int(numpy.searchsorted(self._hashes, key))
        return at if at < len(self._hashes) and self._hashes[at] == key else None

    def __contains__(self, name):
        return name in self._listed or self._position(name) is not None

    def __getitem__(self, name):
        if name in self._listed:
            return self._listed[name]
        at = self._position(name)
        if at is None:
            raise KeyError(name)
        return _Member(*(int(self._columns[field][at]) for field, _ in self._COLUMNS))

    def __iter__(self):
        """The listed (non-figure) member names."""
        return iter(self._listed)

    def __len__(self):
        return len(self._listed) + len(self._hashes)


class _CentralDirectory:
    """The central directory, fetched a chunk at a time: memory stays flat for millions of members."""

    def __init__(self, source, label, offset, size):
        self._source, self._label = source, label
        self._next, self._end = offset, offset + size
        self._buffer, self._position = b"", 0

    def take(self, length):
        while len(self._buffer) - self._position < length:
            if self._next >= self._end:
                raise ScifigDataError(f"{self._label}: the central directory is shorter than its entry count says")
            chunk = min(_CHUNK, self._end - self._next)
            self._buffer = self._buffer[self._position:] + self._source.read(self._next, chunk)
            self._position, self._next = 0, self._next + chunk
        piece = self._buffer[self._position:self._position + length]
        self._position += length
        return piece


def _zip64_sizes(extra, usize, csize, offset):
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, at)
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if usize == 0xFFFFFFFF:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF:
                offset = values.pop(0)
            break
        at += 4 + length
    return usize, csize, offset


class _MemberStream(io.RawIOBase):
    """Reads one zip member's compressed extent in chunks, inflating and CRC-checking as it goes."""

    def __init__(self, archive, name, data_start):
        self._archive, self._name = archive, name
        self._member = archive.members[name]
        self._position, self._end = data_start, data_start + self._member.csize
        self._inflater = zlib.decompressobj(-15) if self._member.method == _DEFLATED else None
        if self._member.method not in (_STORED, _DEFLATED):
            raise ScifigDataError(
                f"{archive.label}: member {name} uses unsupported compression method {self._member.method}"
            )
        self._pending, self._crc, self._produced = b"", 0, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending and self._position < self._end:
            length = min(_CHUNK, self._end - self._position)
            raw = self._archive.source.read(self._position, length)
            self._position += length
            try:
                self._pending = self._inflater.decompress(raw) if self._inflater else raw
            except zlib.error as error:
                raise ScifigDataError(f"{self._archive.label}: member {self._name} is corrupt: {error}") from error
            self._crc = zlib.crc32(self._pending, self._crc)
            self._produced += len(self._pending)
        if not self._pending:
            if self._inflater is not None and not self._inflater.eof and self._member.csize:
                raise ScifigDataError(f"{self._archive.label}: member {self._name} ends mid-stream")
            if self._produced != self._member.size or self._crc != self._member.crc:
                raise ScifigDataError(
                    f"{self._archive.label}: member {self._name} is corrupt (size or CRC-32 mismatch)"
                )
            return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class FolderArchive:
    """An archive already unzipped: the same interface as ZipArchive over plain files."""

    def __init__(self, root, keep, label=None):
        self.root = root
        self.label = label or root
        self.members = {}
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            relative = folder[len(root):].strip(os.sep).replace(os.sep, "/")
            for file in files:
                name = f"{relative}/{file}" if relative else file
                if keep(name):
                    self.members[name] = f"{folder}{os.sep}{file}"

    def __contains__(self, name):
        return name in self.members

    def read(self, name, crc=True):  # a plain file has no stored checksum
        with io.open(self.members[name], "rb") as file:
            return file.read()

    def open(self, name):
        return io.open(self.members[name], "rb")


_ARCHIVE_CACHE = collections.OrderedDict()
_ARCHIVE_CACHE_LOCK = threading.Lock()


def open_archive(location, keep_pattern, label=None, timeout=60):
    """A zip or unzipped folder, indexed for the member names matching `keep_pattern` (a regex).

    Indexes are cached per process: every shard of a split reuses one central-directory read.
    """
    key = (location, keep_pattern, timeout)
    with _ARCHIVE_CACHE_LOCK:
        if key in _ARCHIVE_CACHE:
            _ARCHIVE_CACHE.move_to_end(key)
            return _ARCHIVE_CACHE[key]
    keep = re.compile(keep_pattern).search
    # os.stat, not os.path.isdir: datasets swaps os.path.* for URL-aware versions in this module when streaming.
    if not location.startswith(("http://", "https://")) and stat.S_ISDIR(os.stat(location).st_mode):
        archive = FolderArchive(location, lambda name: keep(name) is not None, label)
    else:
        archive = ZipArchive(location, lambda name: keep(name) is not None, label, timeout)
    with _ARCHIVE_CACHE_LOCK:
        _ARCHIVE_CACHE[key] = archive
        while len(_ARCHIVE_CACHE) > 4:
            _ARCHIVE_CACHE.popitem(last=False)
    return archive


def _find_member(archive, suffix):
    """The member whose name is `suffix` under whatever top-level folder the archive adds."""
    matches = sorted(
        (name for name in archive.members if name == suffix or name.endswith("/" + suffix)), key=len
    )
    if not matches:
        raise ScifigDataError(f"{archive.label}: no member ends in {suffix}")
    return matches[0]


def _prefetched(archive, items, name_of, depth=32, workers=8):
    """Yields (item, bytes of figure member name_of(item), or None where it has none or the archive lacks it), in
    order. Over HTTP the members are fetched `depth` items ahead on a thread pool, so request latency overlaps.

    Every figure read here goes through _image_problem, whose PNG verify() checks each chunk's own CRC-32: the
    zip's CRC over the same bytes is skipped for PNGs (it is ~1% of streaming time).
    """
    def fetch(item):
        name = name_of(item)
        if name is None or name not in archive:
            return None
        return archive.read(name, crc=not name.lower().endswith(".png"))

    if not isinstance(archive, ZipArchive) or not isinstance(archive.source, _HttpBytes):
        for item in items:
            yield item, fetch(item)
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        window = collections.deque()
        for item in items:
            window.append((item, pool.submit(fetch, item)))
            if len(window) > depth:
                ready, future = window.popleft()
                yield ready, future.result()
        while window:
            ready, future = window.popleft()
            yield ready, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------------------------
# Record parsing: upstream JSON and pickles to rows.
# --------------------------------------------------------------------------------------------------------------

def _iter_json_records(stream, label, nested, wanted=None):
    """Yields (outer index or -1, index, record) from a JSON list of objects (or, nested, of lists of objects).

    Parsed incrementally with ijson: memory stays flat however large the file. Records for which
    `wanted(outer, index)` is false are stepped over without being built.
    """
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
                        f"{label}: expected a list of {len(SETTINGS)} lists (one per setting); item {outer + 1} "
                        f"is a {_json_kind(event)}"
                    )
            elif prefix == item_path:
                index += 1
                if event != "start_map":
                    raise ScifigDataError(
                        f"{label}: record {index}{_in_setting(nested, outer)} is a {_json_kind(event)}, not an object"
                    )
                if wanted is not None and not wanted(outer, index):
                    skipping = True
                    continue
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
    except GeneratorExit:  # closed early (a consumer stopped): nothing to report, even at interpreter exit
        raise
    except ijson.JSONError as error:
        raise ScifigDataError(
            f"{label}: malformed JSON after record {index}{_in_setting(nested, outer)}: {error}"
        ) from error
    except UnicodeDecodeError as error:
        raise ScifigDataError(f"{label}: not UTF-8 after record {index}: {error}") from error
    if nested and outer + 1 != len(SETTINGS):
        raise ScifigDataError(
            f"{label}: expected a list of {len(SETTINGS)} lists (one per setting), found {outer + 1}"
        )


def _json_kind(event):
    return {"start_map": "object", "start_array": "list"}.get(event, event)


def _in_setting(nested, outer):
    return f" of setting {outer} ({SETTINGS[outer]})" if nested and 0 <= outer < len(SETTINGS) else ""


_OPTION_MARK = re.compile(r"\n([A-Z]):[ \t]")


def parse_mcq_prompt(prompt):
    """Splits an upstream question into its stem and the four options, A-D in order.

    Raises ValueError unless the text holds exactly the options A, B, C and D, each on its own line.
    """
    parts = _OPTION_MARK.split(prompt)
    letters = parts[1::2]
    if letters != ANSWER_LETTERS:
        raise ValueError(f"expected options A, B, C, D on their own lines, found {letters or 'none'}")
    stem, options = parts[0].strip(), [option.strip() for option in parts[2::2]]
    if not stem or not all(options):
        raise ValueError("the question stem or an option is empty")
    return stem, options


class _RecordError(Exception):
    """A problem with one record; the generator adds the archive, member and record to the message."""


def _field(record, name):
    if not isinstance(record, dict):
        raise _RecordError(f"expected an object holding {name!r}, found {type(record).__name__}")
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise _RecordError(f"field {name!r} is missing or not a non-empty string")
    return value


def _checked_category(category, subject):
    if category not in TAXONOMY:
        raise _RecordError(f"unknown category {category!r}")
    if not isinstance(subject, str) or not subject:
        raise _RecordError("field 'subject' is missing or not a non-empty string")
    return category, subject


def _stem(filename):
    base = filename.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _digest(*parts):
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:8]


def _chat_messages(conversations):
    """Upstream human/assistant turns as chat messages; the first user turn carries the figure."""
    if not isinstance(conversations, list) or not conversations:
        raise _RecordError("field 'conversations' is missing or not a non-empty list")
    messages = []
    for turn, message in enumerate(conversations):
        if not isinstance(message, dict) or message.get("from") not in _CHAT_ROLES:
            raise _RecordError(f"conversations[{turn}] has no 'from' of human or assistant")
        if not isinstance(message.get("value"), str):
            raise _RecordError(f"conversations[{turn}] has no text 'value'")
        content = [{"type": "text", "text": message["value"], "index": None}]
        if turn == 0:
            if _CHAT_ROLES[message["from"]] != "user":
                raise _RecordError("the conversation does not start with a human turn")
            content.insert(0, {"type": "image", "text": None, "index": 0})
        messages.append({"role": _CHAT_ROLES[message["from"]], "content": content})
    return messages


def _image_problem(data):
    """Why these bytes cannot be a figure (unreadable, corrupt, or a decompression bomb), or None.

    Checked once while reading, so a bad figure is named with its member and record instead of failing later
    inside PIL, far from where it came from. verify() reads the chunks and their checksums, not the pixels.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)  # checked just below, by name
            with PIL.Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > PIL.Image.MAX_IMAGE_PIXELS:
                    return (f"is {width}x{height} pixels, over the {PIL.Image.MAX_IMAGE_PIXELS} a figure may decode "
                            "to (a decompression bomb)")
                image.verify()
    except PIL.Image.DecompressionBombError as error:
        return f"would decompress to a huge image: {error}"
    except (OSError, SyntaxError, ValueError) as error:  # what PIL raises for unreadable or corrupt data
        return f"is not a readable image: {error}"
    return None


class _PlainDataUnpickler(pickle.Unpickler):
    """Admits lists, dicts, strings, numbers and None; anything that names a callable is refused unrun."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is allowed")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: only plain data is allowed")


def load_plain_pickle(data, label):
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise ScifigDataError(f"{label}: {error}") from error


def _split_category(value):
    """'<Category>-<Subject>' (pre-training documents) -> (category, subject)."""
    if isinstance(value, str):
        for category in CATEGORIES:
            if value.startswith(category + "-") and len(value) > len(category) + 1:
                return category, value[len(category) + 1:]
    raise _RecordError(f"field 'category' is {value!r}, not '<Category>-<Subject>' with a known category")


# --------------------------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------------------------

class SciFigConfig(datasets.BuilderConfig):
    """BuilderConfig for scifig.

    Args:
        task: "captioning", "mcq", "chat", "pretraining" or "articles".
        settings: for "mcq", the settings kept (a subset of SETTINGS).
        subjects: keep only these subjects (names from TAXONOMY; "Ecology" matches both of its categories).
        categories: keep only these categories.
        base_url: a mirror serving benchmark.zip, pretraindata.zip and rawdata.zip; ignored when data_dir is set.
        on_error: "raise" (default) stops at the first bad record; "skip" logs each and counts them per split.
        http_timeout: seconds a read from a server may stall before it is retried (and, after five tries, fails).
    """

    def __init__(self, *, task=None, settings=None, subjects=None, categories=None, base_url=None,
                 on_error="raise", http_timeout=60, **kwargs):
        kwargs.setdefault("version", _VERSION)
        super().__init__(**kwargs)
        self.task = task
        self.settings = settings
        self.subjects = subjects
        self.categories = categories
        self.base_url = base_url
        self.on_error = on_error
        self.http_timeout = http_timeout


def _validated_names(kind, given, valid):
    if given is None:
        return None
    if isinstance(given, str):
        given = [given]
    unknown = [name for name in given if name not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}; valid {kind}: {', '.join(valid)}")
    return frozenset(given)


class SciFig(datasets.GeneratorBasedBuilder):
    """MMSci scientific figures: captioning, multiple choice and interleaved pre-training."""

    BUILDER_CONFIG_CLASS = SciFigConfig
    BUILDER_CONFIGS = [
        SciFigConfig(name="captioning", task="captioning",
                     description="Figure captioning: one row per figure, with the article's abstract and text."),
        SciFigConfig(name="mcq", task="mcq", settings=list(SETTINGS),
                     description="Multiple-choice figure/caption matching, all three settings."),
        SciFigConfig(name="mcq_fig2cap", task="mcq", settings=["fig2cap"],
                     description="Multiple choice: which caption describes the whole figure."),
        SciFigConfig(name="mcq_subfig2cap", task="mcq", settings=["subfig2cap"],
                     description="Multiple choice: which caption describes sub-figure (x); distractors from the "
                                 "whole article."),
        SciFigConfig(name="mcq_subcap2fig", task="mcq", settings=["subcap2fig"],
                     description="Multiple choice: which caption describes sub-figure (x); distractors from the "
                                 "same figure."),
        SciFigConfig(name="chat", task="chat",
                     description="Multi-turn conversations about a figure's sub-figures (train only), as chat "
                                 "messages ready for instruction tuning."),
        SciFigConfig(name="articles", task="articles",
                     description="The whole raw corpus: one row per article, with its sections, figures and "
                                 "references, whatever subjects it is filed under."),
        SciFigConfig(name="pretraining", task="pretraining",
                     description="Interleaved article text and figures (OBELICS-style), for continued "
                                 "pre-training."),
    ]
    DEFAULT_CONFIG_NAME = "mcq"
    VERSION = _VERSION

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.config
        self._subjects = _validated_names("subjects", config.subjects, SUBJECTS)
        self._categories = _validated_names("categories", config.categories, CATEGORIES)
        _validated_names("settings", config.settings, SETTINGS)
        if config.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {config.on_error!r}")
        self._limit_recorded_info_to_where_it_holds()

    def _limit_recorded_info_to_where_it_holds(self):
        """Recorded split sizes and checksums describe the hosted archives, unfiltered.

        datasets merges them from the card and dataset_infos.json and verifies every prepare against them, so a
        filtered load, a data_dir copy (or the dummy data) must not inherit them; a mirror keeps the sizes and has
        its own URLs checked against the recorded checksums.
        """
        config, info = self.config, self.info
        if config.base_url and not config.data_dir and info.download_checksums:
            mirror = config.base_url.rstrip("/") + "/"
            info.download_checksums = {mirror + url.rsplit("/", 1)[1]: checksum
                                       for url, checksum in info.download_checksums.items() if url in _URLS.values()}
        if config.data_dir or config.subjects is not None or config.categories is not None:
            info.splits, info.download_checksums = None, None
            info.download_size = info.dataset_size = info.size_in_bytes = None

    def _info(self):
        recorded = _recorded_info(self.config.name)
        return datasets.DatasetInfo(
            description=_DESCRIPTION + "\n" + (self.config.description or ""),
            features=FEATURES[self.config.task],
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
            splits=datasets.SplitDict.from_split_dict(recorded["splits"]) if recorded.get("splits") else None,
            download_checksums=recorded.get("download_checksums"),
            download_size=recorded.get("download_size"),
            dataset_size=recorded.get("dataset_size"),
        )

    # ---- where the archives are ----

    def _archive_location(self, dl_manager, archive):
        """data_dir (zip or unzipped folder) first, then base_url, then the hosted URL."""
        data_dir = self.config.data_dir
        if data_dir:
            data_dir = os.path.abspath(os.path.expanduser(data_dir))
            for candidate in (f"{data_dir}{os.sep}{archive}", f"{data_dir}{os.sep}{archive}.zip"):
                if os.path.exists(candidate):
                    return candidate
            raise FileNotFoundError(
                f"data_dir {data_dir} holds neither {archive}.zip nor an unzipped {archive}/ folder"
            )
        base_url = self.config.base_url
        url = f"{base_url.rstrip('/')}/{archive}.zip" if base_url else _URLS[archive]
        if dl_manager.is_streaming:
            return url  # read member by member with Range requests
        return dl_manager.download(url)  # cached and checksummed, then read in place

    def _open(self, location, keep_pattern, archive):
        return open_archive(location, keep_pattern, label=_label(location, archive), timeout=self.config.http_timeout)

    def _split_generators(self, dl_manager):
        task = self.config.task
        if task == "pretraining":
            location = self._archive_location(dl_manager, "pretraindata")
            archive = self._open(location, _PRETRAINING_MEMBERS, "pretraindata")
            shards = sorted(name for name in archive.members if name.endswith(".pkl"))
            if not shards:
                raise ScifigDataError(f"{archive.label}: no shards/**/shard_<i>.pkl members")
            return [datasets.SplitGenerator(
                name=datasets.Split.TRAIN,
                gen_kwargs={"location": location, "shards": shards, "split": "train"},
            )]
        if task == "articles":
            location = self._archive_location(dl_manager, "rawdata")
            archive = self._open(location, self._rawdata_members(), "rawdata")
            # One shard per subject folder, in taxonomy order, so num_proc and n_shards spread the corpus.
            folders = sorted({folders[0][:2] for folders in _article_folders(archive, self._keep, (self._subjects, self._categories)).values()},
                             key=_folder_order)
            if not folders:
                raise ScifigDataError(f"{archive.label}: no <Category>/<Subject>/<uid>/<uid>_data.json members")
            return [datasets.SplitGenerator(
                name=datasets.Split.TRAIN,
                gen_kwargs={"location": location, "shards": [list(folder) for folder in folders], "split": "train"},
            )]
        location = self._archive_location(dl_manager, "benchmark")
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={"location": location, "split": split, "shards": self._benchmark_shards(split)},
            )
            for split in (["train"] if task == "chat" else SPLIT_FOLDERS)
        ]

    def _benchmark_shards(self, split):
        """[setting, part, parts] triples, so num_proc, n_shards and DataLoader workers have work to spread.

        Multiple choice: one shard per setting (its own list in the file). The one-file train captioning and chat
        data: _TRAIN_PARTS round-robin parts of its records, each reading the JSON but only its own images.
        """
        if self.config.task == "mcq":
            return [[SETTINGS.index(setting), 0, 1] for setting in self.config.settings]
        parts = _TRAIN_PARTS if split == "train" else 1
        return [[-1, part, parts] for part in range(parts)]

    # ---- rows ----

    def _generate_examples(self, location, split, shards):
        task = self.config.task
        if task == "pretraining":
            rows = self._pretraining_rows(location, shards)
        elif task == "articles":
            rows = self._article_rows(location, shards)
        else:
            rows = self._benchmark_rows(location, split, shards)
        seen, duplicates, skipped = set(), 0, 0
        for row in rows:
            if isinstance(row, ScifigDataError):
                skipped += 1
                logger.warning("skipped: %s", row)
                continue
            if row["id"] in seen:
                # An exact upstream repeat: keep it, under an id that stays unique and stable.
                duplicates += 1
                base, n = row["id"], 2
                while f"{base}-{n}" in seen:
                    n += 1
                row["id"] = f"{base}-{n}"
            seen.add(row["id"])
            yield row["id"], row
        if duplicates:
            logger.warning("%s %s: %d duplicate upstream records kept under suffixed ids", task, split, duplicates)
        if skipped:
            logger.warning("%s %s: skipped %d bad records (on_error='skip')", task, split, skipped)

    def _keep(self, category, subject):
        return (self._categories is None or category in self._categories) and (
            self._subjects is None or subject in self._subjects
        )

    def _bad(self, label, where, error):
        """A per-record problem: raised, or handed back to be counted as a skip."""
        failure = ScifigDataError(f"{label}: record {where}: {error}")
        if self.config.on_error == "skip":
            return failure
        raise failure

    def _benchmark_rows(self, location, split, shards):
        folder = SPLIT_FOLDERS[split]
        task = self.config.task
        json_name = _BENCHMARK_JSON[task]
        keep = rf"(^|/){folder}/({re.escape(json_name)}$|images/[^/]+$)"
        archive = self._open(location, keep, "benchmark")
        member = _find_member(archive, f"{folder}/{json_name}")
        images = member[: -len(json_name)] + "images/"
        label = f"{archive.label}:{member}"
        # One pass per shard, in shard order: rows come in the same order however many processes or workers
        # share the shards (prepared, num_proc, streaming).
        for setting, part, parts in shards:
            def selected(record_setting, index, setting=setting, part=part, parts=parts):
                return record_setting == setting and index % parts == part

            with archive.open(member) as stream:
                if task == "mcq":
                    candidates = self._mcq_candidates(stream, label, split, selected)
                elif task == "chat":
                    candidates = self._chat_candidates(stream, label, selected)
                else:
                    candidates = self._captioning_candidates(stream, label, split, selected)
                yield from self._with_images(archive, candidates, images, label)

    def _with_images(self, archive, candidates, images, label):
        """Candidate rows with their figure's bytes attached, fetched ahead (see _prefetched)."""
        def image_member(candidate):
            return None if isinstance(candidate, ScifigDataError) else images + candidate[1]

        for candidate, data in _prefetched(archive, candidates, image_member):
            if isinstance(candidate, ScifigDataError):
                yield candidate
                continue
            row, image, where = candidate
            if data is None:
                yield self._bad(label, where, f"its image {image_member(candidate)} is not in the archive")
                continue
            problem = _image_problem(data)
            if problem:
                yield self._bad(label, where, f"its image {image_member(candidate)} {problem}")
                continue
            picture = {"bytes": data, "path": image}
            if "images" in row:
                row["images"] = [picture]
            else:
                row["image"] = picture
            yield row

    def _candidates(self, stream, label, nested, selected, rows_of):
        """(row, image name, where) for every kept record: `rows_of(record, setting, index, category, subject)`
        turns one upstream record into rows or raises _RecordError; filters and the error policy apply here."""
        for setting, index, record in _iter_json_records(stream, label, nested=nested, wanted=selected):
            in_setting = f" of setting {SETTINGS[setting]}" if nested else ""
            where = f"{index}{in_setting} (uid {record.get('uid')!r})"
            try:
                category, subject = _checked_category(record.get("category"), record.get("subject"))
                if not self._keep(category, subject):
                    continue
                rows = rows_of(record, setting, category, subject)
            except _RecordError as error:
                yield self._bad(label, where, error)
                continue
            for row, image, detail in rows:
                yield row, image, where + detail

    def _mcq_candidates(self, stream, label, split, selected):
        def rows_of(record, setting, category, subject):
            uid, image, prompt = _field(record, "uid"), _field(record, "image"), _field(record, "question")
            try:
                stem, options = parse_mcq_prompt(prompt)
            except ValueError as error:
                raise _RecordError(f"question: {error}") from None
            answer = record.get("answer")
            if answer in ANSWER_LETTERS:
                answer = ANSWER_LETTERS.index(answer)
            elif split == "test":
                answer = -1  # withheld upstream
            else:
                raise _RecordError(f"answer {answer!r} is not one of A-D")
            figure_id = _stem(image)
            return [({
                "id": f"{SETTINGS[setting]}-{figure_id}-{_digest(category, subject, image, prompt)}",
                "uid": uid,
                "figure_id": figure_id,
                "image": None,
                "setting": setting,
                "question": stem,
                "options": options,
                "answer": answer,
                "prompt": prompt,
                "category": category,
                "subject": subject,
            }, image, "")]

        return self._candidates(stream, label, True, selected, rows_of)

    def _captioning_candidates(self, stream, label, split, selected):
        def rows_of(record, setting, category, subject):
            uid = _field(record, "uid")
            figures = record.get("images")
            if figures is None:  # dev/test: one figure per record
                figures = [{"image": record.get("image"), "caption": record.get("caption")}]
            if not isinstance(figures, list):
                raise _RecordError("field 'images' is not a list")
            rows = []
            for figure in figures:
                image, caption = _field(figure, "image"), figure.get("caption")
                figure_id = _stem(image)
                rows.append(({
                    "id": f"{figure_id}-{_digest(category, subject, image)}",
                    "uid": uid,
                    "figure_id": figure_id,
                    "image": None,
                    "caption": caption if isinstance(caption, str) and caption.strip() else None,
                    "abstract": record.get("abstract"),
                    "content": record.get("content"),
                    "category": category,
                    "subject": subject,
                }, image, f" figure {image}"))
            return rows

        return self._candidates(stream, label, False, selected, rows_of)

    def _chat_candidates(self, stream, label, selected):
        def rows_of(record, setting, category, subject):
            uid, image = _field(record, "uid"), _field(record, "image")
            figure_id = _stem(image)
            return [({
                "id": f"{figure_id}-{_digest(category, subject, image)}",
                "uid": uid,
                "figure_id": figure_id,
                "images": None,
                "messages": _chat_messages(record.get("conversations")),
                "category": category,
                "subject": subject,
            }, image, "")]

        return self._candidates(stream, label, False, selected, rows_of)

    def _rawdata_members(self):
        """Every article's <uid>_data.json (to know all the folders an article sits in), and the figures of the
        folders the filters keep: other folders' figures are never listed, let alone read."""
        categories = "|".join(re.escape(c) for c in CATEGORIES)
        kept = [f"{re.escape(c)}/{re.escape(s)}" for c, subjects in TAXONOMY.items() for s in subjects
                if self._keep(c, s)]
        figure_folders = f"(?:{categories})/[^/]+" if self._subjects is None and self._categories is None \
            else "|".join(kept)
        return (rf"(^|/)(?:{categories})/[^/]+/([^/]+)/\2_data\.json$"
                rf"|(^|/)(?:{figure_folders})/[^/]+/[^/]+\.png$")

    def _article_rows(self, location, shards):
        archive = self._open(location, self._rawdata_members(), "rawdata")
        placement = _article_folders(archive, self._keep, (self._subjects, self._categories))
        homes = collections.defaultdict(list)  # (category, subject) -> the articles whose row comes from there
        for uid, folders in placement.items():
            homes[folders[0][:2]].append(uid)
        for category, subject in shards:
            for uid in sorted(homes[(category, subject)]):
                folders = placement[uid]
                prefix = folders[0][2]
                member = f"{prefix}{category}/{subject}/{uid}/{uid}_data.json"
                label = f"{archive.label}:{member}"
                try:
                    record = _json_member(archive, member)
                    row, figure_members = _article_row(uid, record, folders, f"{prefix}{category}/{subject}/{uid}/")
                    figures = row["figures"]
                    for position, (name, data) in enumerate(_prefetched(archive, figure_members, lambda n: n)):
                        if data is None:
                            raise _RecordError(f"figure {name} is not in the archive")
                        problem = _image_problem(data)
                        if problem:
                            raise _RecordError(f"figure {name} {problem}")
                        figures["image"][position] = {"bytes": data, "path": name.rsplit("/", 1)[-1]}
                except _RecordError as error:
                    yield self._bad(label, f"uid {uid!r}", error)
                    continue
                yield row

    def _pretraining_rows(self, location, shards):
        archive = self._open(location, _PRETRAINING_MEMBERS, "pretraindata")
        for shard in shards:
            label = f"{archive.label}:{shard}"
            documents = load_plain_pickle(archive.read(shard), label)
            if not isinstance(documents, list):
                raise ScifigDataError(f"{label}: expected a pickled list of documents, found {type(documents).__name__}")
            count_member = shard[: -len(".pkl")] + ".count"
            if count_member in archive:
                count = archive.read(count_member).decode("ascii", "replace").strip()
                if count != str(len(documents)):
                    raise ScifigDataError(
                        f"{label}: holds {len(documents)} documents but {count_member} says {count}"
                    )
            for index, document in enumerate(documents):
                where = f"{index}"
                try:
                    if not isinstance(document, dict):
                        raise _RecordError(f"is a {type(document).__name__}, not a dict")
                    where = f"{index} (url {document.get('url')!r})"
                    row = self._pretraining_row(document)
                except _RecordError as error:
                    yield self._bad(label, where, error)
                    continue
                if row is not None:
                    yield row

    def _pretraining_row(self, document):
        category, subject = _split_category(document.get("category"))
        if not self._keep(category, subject):
            return None
        url = _field(document, "url")
        texts = document.get("text_list")
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise _RecordError("field 'text_list' is not a list of strings")
        infos = document.get("image_info") or []
        if not isinstance(infos, list):
            raise _RecordError("field 'image_info' is not a list")
        before = collections.defaultdict(list)  # text index -> images placed just before it
        for position, info in enumerate(infos):
            if not isinstance(info, dict):
                raise _RecordError(f"image_info[{position}] is not a dict")
            at = info.get("matched_text_index")
            if not isinstance(at, int) or not 0 <= at < len(texts):
                raise _RecordError(
                    f"image_info[{position}] matched_text_index {at!r} is outside text_list (length {len(texts)})"
                )
            try:
                data = base64.b64decode(info.get("image_base64") or "", validate=True)
            except (ValueError, TypeError) as error:
                raise _RecordError(f"image_info[{position}] image_base64 is not base64: {error}") from None
            if not data:
                raise _RecordError(f"image_info[{position}] has no image_base64")
            problem = _image_problem(data)
            if problem:
                raise _RecordError(f"image_info[{position}] ({info.get('image_name')}) {problem}")
            before[at].append({"bytes": data, "path": info.get("image_name") or f"image_{position}.jpg"})
        interleaved_texts, interleaved_images = [], []
        for index, text in enumerate(texts):
            for image in before.get(index, ()):
                interleaved_texts.append(None)
                interleaved_images.append(image)
            interleaved_texts.append(text)
            interleaved_images.append(None)
        uid = url.rstrip("/").rsplit("/", 1)[-1]
        return {
            "id": f"{uid}-{_digest(document['category'], url)}",
            "uid": uid,
            "url": url,
            "texts": interleaved_texts,
            "images": interleaved_images,
            "category": category,
            "subject": subject,
        }


_TRAIN_PARTS = 8
_PRETRAINING_MEMBERS = r"(^|/)shards/(.+/)?shard_[^/]+\.(pkl|count)$"
_RAWDATA_MEMBER = re.compile(
    r"^(?P<prefix>(?:.*/)?)(?P<category>" + "|".join(re.escape(c) for c in CATEGORIES)
    + r")/(?P<subject>[^/]+)/(?P<uid>[^/]+)/(?P=uid)_data\.json$"
)
_NOT_FOUND = ("", "URL not found")
_FIGURE_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.?)\s*(\d+)\s*[:.]\s*(.*)$", re.DOTALL)


def _folder_order(folder):
    category, subject = folder[0], folder[1]
    subjects = TAXONOMY[category]
    return CATEGORIES.index(category), subjects.index(subject) if subject in subjects else len(subjects), subject


_PLACEMENTS = weakref.WeakKeyDictionary()


def _article_folders(archive, keep, filters):
    """{uid: [(category, subject, prefix), ...]} for every article some kept folder holds: its kept folders
    first (the first is where its row comes from), then the rest, each group in taxonomy order.

    Worked out once per indexed archive and filters (`keep` applies `filters`): every shard of a split asks for
    it, and the corpus has over a hundred thousand articles.
    """
    placements = _PLACEMENTS.setdefault(archive, {})
    if filters not in placements:
        placements[filters] = _place_articles(archive, keep)
    return placements[filters]


def _place_articles(archive, keep):
    every = collections.defaultdict(list)
    for name in archive.members:
        match = _RAWDATA_MEMBER.match(name)
        if match:
            every[match["uid"]].append((match["category"], match["subject"], match["prefix"]))
    placement = {}
    for uid, folders in every.items():
        folders.sort(key=_folder_order)
        kept = [folder for folder in folders if keep(folder[0], folder[1])]
        if kept:
            placement[uid] = kept + [folder for folder in folders if folder not in kept]
    return placement


def _json_member(archive, member):
    try:
        return json.loads(archive.read(member).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _RecordError(f"not valid UTF-8 JSON: {error}") from None


def _optional_url(value):
    return None if not isinstance(value, str) or value.strip() in _NOT_FOUND else value


def _article_row(uid, record, folders, folder):
    """One rawdata article as a row (figures without their bytes yet), and the figure members to read."""
    if not isinstance(record, dict):
        raise _RecordError("the article JSON is not an object")
    published = record.get("published_time")
    try:
        published = datetime.date.fromisoformat(published) if published else None
    except (TypeError, ValueError):
        raise _RecordError(f"published_time {published!r} is not YYYY-MM-DD") from None
    sections = record.get("sections") or []
    images = record.get("images") or []
    references = record.get("references") or []
    for name, value in (("sections", sections), ("images", images), ("references", references)):
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise _RecordError(f"field {name!r} is not a list of objects")
    figures = {"number": [], "image": [], "title": [], "description": []}
    members = []
    for position, image in enumerate(images):
        filename = _field(image, "image_filename")
        caption = image.get("caption") or ""
        match = _FIGURE_CAPTION.match(caption)
        if match:
            number, title = int(match[1]), match[2].strip()
        else:  # figure_<i>.png is 0-based; the printed number is i + 1
            index = re.search(r"(\d+)", filename)
            number, title = (int(index[1]) + 1 if index else position + 1), caption.strip()
        figures["number"].append(number)
        figures["image"].append(None)
        figures["title"].append(title or None)
        figures["description"].append(image.get("description"))
        members.append(folder + filename)
    numbers = []
    for reference in references:
        try:
            numbers.append(int(reference.get("idx")))
        except (TypeError, ValueError):
            raise _RecordError(f"reference idx {reference.get('idx')!r} is not a number") from None
    return {
        "id": uid,
        "uid": uid,
        "title": _field(record, "title"),
        "abstract": record.get("abstract"),
        "published": published,
        "url": f"https://www.nature.com/articles/{uid}",
        "pdf_url": _optional_url(record.get("pdf_link")),
        "review_pdf_url": _optional_url(record.get("review_pdf_link")),
        "categories": [category for category, _, _ in folders],
        "subjects": [subject for _, subject, _ in folders],
        "sections": {"title": [s.get("section") for s in sections], "content": [s.get("content") for s in sections]},
        "figures": figures,
        "references": {"number": numbers, "title": [r.get("title") for r in references],
                       "url": [_optional_url(r.get("link")) for r in references]},
    }, members


def _recorded_info(config_name):
    """What dataset_infos.json beside this file measured on the hosted archives for one config, if anything.

    datasets 3.6 merges that file into a script's builder itself; current lines do not, so the builder reads it.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset_infos.json")
    try:
        with io.open(path, encoding="utf-8") as file:
            return json.load(file).get(config_name, {})
    except FileNotFoundError:
        return {}


def _label(location, archive):
    """How errors name an archive: the file or URL, and the archive's own name when it is a download cache."""
    return location if location.rstrip("/").split("/")[-1].startswith(archive) else f"{archive}.zip ({location})"


# --------------------------------------------------------------------------------------------------------------
# One call on every datasets line
# --------------------------------------------------------------------------------------------------------------

def _code_hash():
    with io.open(__file__, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def builder(name, data_dir=None, cache_dir=None, **config_kwargs):
    """The SciFig builder for one config, as `load` drives it on datasets >= 4 (and as tools prepare it).

    Its cache is keyed by this file's code hash, so an edited script never reuses a stale prepared dataset.
    """
    return SciFig(config_name=name, data_dir=data_dir, hash=_code_hash(), dataset_name="scifig", cache_dir=cache_dir,
                  **config_kwargs)


def load(name, split=None, streaming=False, data_dir=None, **config_kwargs):
    """What `load_dataset("scifig", name, ...)` returns, on every datasets line.

    On datasets < 4 it runs this file as a loading script; on >= 4, where scripts are gone, it drives the builder
    directly. `cache_dir`, `num_proc` and `verification_mode` are passed on; other keywords configure the builder
    (subjects, categories, base_url, on_error, http_timeout); a keyword given as None is left at its default.
    """
    config_kwargs = {key: value for key, value in config_kwargs.items() if value is not None}
    load_kwargs = {key: config_kwargs.pop(key) for key in ("cache_dir", "num_proc", "verification_mode")
                   if key in config_kwargs}
    if int(datasets.__version__.split(".")[0]) < 4:
        return datasets.load_dataset(
            __file__, name, split=split, streaming=streaming, data_dir=data_dir, trust_remote_code=True,
            **load_kwargs, **config_kwargs,
        )
    builder_ = builder(name, data_dir, load_kwargs.pop("cache_dir", None), **config_kwargs)
    if streaming:
        return builder_.as_streaming_dataset(split=split)
    # datasets >= 4 records download checksums only when this is set (3.6 did it for "all_checks" itself);
    # without it a changed upstream archive would pass verification unnoticed.
    builder_._record_checksums = str(load_kwargs.get("verification_mode")) in ("all_checks",
                                                                             "VerificationMode.ALL_CHECKS")
    builder_.download_and_prepare(**load_kwargs)
    return builder_.as_dataset(split=split)
