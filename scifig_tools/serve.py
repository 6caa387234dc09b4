"""A static file server that honours HTTP Range requests, for mirroring the archives on a local network.

`python -m scifig_tools serve DIR --port 8000` serves DIR so that `base_url="http://127.0.0.1:8000/"` works;
the tests use the same server on 127.0.0.1, counting the bytes it sends.
"""

import http.server
import os
import re
import threading
import time

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus single byte ranges (206 / 416), as S3 answers them."""

    pause = 0.0  # seconds after each 64 KiB of a body: a subclass setting it stands for a far or slow server

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path) or "Range" not in self.headers:
            response = super().send_head()
            return response
        match = _RANGE.match(self.headers["Range"].strip())
        try:
            file = open(path, "rb")
        except OSError:
            self.send_error(404, "File not found")
            return None
        size = os.fstat(file.fileno()).st_size
        first, last = (match.group(1), match.group(2)) if match else ("", "")
        if not match or (not first and not last):
            file.close()
            self.send_error(400, "Malformed Range header")
            return None
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:
            start, end = max(size - int(last), 0), size - 1
        if start >= size or start > end:
            file.close()
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        self.server.ranges.append((self.path, start, end))
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        file.seek(start)
        self._remaining = end - start + 1
        return file

    def end_headers(self):
        if not self._headers_buffer or b"Accept-Ranges" not in b"".join(self._headers_buffer):
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source, outputfile):
        remaining = getattr(self, "_remaining", None)
        while remaining is None or remaining > 0:
            chunk = source.read(64 * 1024 if remaining is None else min(64 * 1024, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            self.server.bytes_sent += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            if self.pause:
                time.sleep(self.pause)
        self._remaining = None

    def log_message(self, format, *args):
        pass


class BackgroundServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that serves from a thread of its own until stopped (the tests' servers)."""

    daemon_threads = True

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


class RangeServer(BackgroundServer):
    """Serves `directory`; `bytes_sent` counts body bytes, `ranges` lists (path, first, last) served, `url` is the
    base URL."""

    # A reader opens a connection per read-ahead thread at once, DataLoader workers as many each: socketserver's
    # backlog of 5 would drop the others' SYN, which the client sends again only after a second.
    request_queue_size = 128

    def __init__(self, directory, host="127.0.0.1", port=0, handler=RangeRequestHandler):
        self.bytes_sent = 0
        self.ranges = []
        super().__init__((host, port), lambda *a, **kw: handler(*a, directory=str(directory), **kw))
        self.url = f"http://{host}:{self.server_address[1]}/"
