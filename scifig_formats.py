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
"""Formats: how the bytes of a member become values, checked where they are read.

Holds: `json_records` (a JSON list of objects, or a list of lists of them, parsed incrementally with ijson),
`load_plain_pickle` (pickles of plain data only: nothing that names a callable is ever run), `figure_problem` (why
bytes cannot be a figure), `is_figure` (a member name's suffix), and `stable_hash` (a string's 64-bit hash, the same
in every process).
May import: the standard library, ijson, Pillow, xxhash, scifig_errors. Nothing here knows archives or MMSci.
"""

import io
import pickle
import warnings
from typing import NamedTuple

import ijson
import PIL.Image
import xxhash

from .scifig_errors import ScifigDataError

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_figure(name):
    return name.lower().endswith(FIGURE_SUFFIXES)


def stable_hash(text):
    """A string's signed 64-bit hash, the same in every process (Python's own hash() is salted per process)."""
    value = xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
    return value - (1 << 64) if value >= 1 << 63 else value


# ---- JSON ----

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


# ---- pickles ----

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


# ---- figures ----

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
