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
"""Byte sources: an archive's bytes by range, from a local file or an HTTP server, and read-ahead.

Holds: LocalBytes (pread) and HttpBytes (Range requests through urllib3, retried and resumed), both with `size`,
`version` (what identifies this copy), `read(start, length)` and `read_pieces(start, lengths)`; `read_ahead`, which
runs a function a few items ahead on THREADS threads so that request latency overlaps.
May import: the standard library, urllib3, scifig_errors. Nothing here knows zips or MMSci.
"""

import collections
import concurrent.futures
import io
import itertools
import os
import time

import datasets
import urllib3

from .scifig_errors import ScifigDataError, ScifigNetworkError

logger = datasets.logging.get_logger(__name__)

THREADS = 8  # threads reading one archive at once (read-ahead); each holds one HTTP connection


def is_url(location):
    return location.startswith(("http://", "https://"))


def _checked_range(label, size, start, length):
    if start < 0 or length < 0 or start + length > size:
        raise ScifigDataError(
            f"{label}: wanted bytes {start}-{start + length - 1} but the archive is {size} bytes; "
            "the archive is truncated or its directory is corrupt"
        )


class LocalBytes:
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


class HttpBytes:
    """An archive on an HTTP server, read only by byte range."""

    def __init__(self, url, timeout=60, attempts=_HTTP_ATTEMPTS):
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
                total=attempts, read=0, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=("GET", "HEAD"), raise_on_status=True,
            ),
        )
        try:
            response = self._http.request("HEAD", url)
        except urllib3.exceptions.HTTPError as error:
            raise ScifigNetworkError(url, error) from error
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


# ---- read-ahead ----

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
