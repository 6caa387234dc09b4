"""A seeded fuzzer over damaged copies of the bundled archives.

    python -m tests.fuzz --cases 20000 --jobs 2       # the long run; its result is stated in docs/reliability.md
    python -m tests.fuzz --replay 0:1234              # one case (seed:index), with its traceback

Each case damages one archive in one way (see MUTATORS: bytes flipped anywhere, the central directory and end
records damaged, truncation, JSON text damaged inside members whose zip CRC is valid, records with wrong types or
missing fields at every nesting level, figures damaged, pickles damaged, count files changed), then streams every
config that reads that archive, every split, every image decoded, with on_error="raise".

The outcome of each (config, split) must be rows or ScifigDataError. An independent reader (zipfile, json, PIL,
the layout in the builder's docs) says what the damaged archive holds:
- if it finds a member the config needs missing or damaged, scifig must raise;
- if it counts N rows, scifig must yield exactly N rows (no record silently lost) or raise.
Another exception type, a hang past TIMEOUT seconds, or a broken rule above is a failure, printed with the case
to replay.
"""

import argparse
import base64
import collections
import io
import json
import multiprocessing
import os
import pickle
import random
import re
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="scifig-fuzz-hf-"))  # never the user's cache

import datasets  # noqa: E402
import PIL.Image  # noqa: E402

import scifig  # noqa: E402
from scifig_tools import dummy_data  # noqa: E402

DUMMY = ROOT / "dummy_data"
TIMEOUT = 60  # seconds a case may take before it counts as a hang
ORIGINALS = {archive: (DUMMY / f"{archive}.zip").read_bytes() for archive in scifig.ARCHIVE_URLS}
CONFIGS_READING = {archive: [name for name in scifig.CONFIG_NAMES
                             if scifig.RECIPES[scifig.task_of(name)].archive == archive]
                   for archive in scifig.ARCHIVE_URLS}


class Damage(NamedTuple):
    archive: str   # which of the three archives is damaged
    data: bytes    # its damaged bytes
    what: str      # what was done, for the report


# ---------------------------------------------------------------------------------------------- the damage

def _members(archive, suffixes):
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        return [info.filename for info in original.infolist() if info.filename.endswith(suffixes)]


def _rezipped(archive, name, data):
    """The archive with one member's bytes replaced, written with a valid CRC: the damage is inside the content."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original, zipfile.ZipFile(out, "w") as damaged:
        for info in original.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = info.compress_type
            damaged.writestr(entry, data if info.filename == name else original.read(info))
    return out.getvalue()


def _flipped(data, rng, count, start=0, end=None):
    damaged = bytearray(data)
    end = len(damaged) if end is None else end
    for _ in range(count):
        if end > start:
            damaged[rng.randrange(start, end)] ^= rng.randrange(1, 256)
    return bytes(damaged)


def flip(rng):
    archive = rng.choice(list(ORIGINALS))
    count = rng.randint(1, 8)
    return Damage(archive, _flipped(ORIGINALS[archive], rng, count), f"{count} bytes flipped anywhere")


def directory(rng):
    archive = rng.choice(list(ORIGINALS))
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        start = original.start_dir
    count = rng.randint(1, 4)
    return Damage(archive, _flipped(ORIGINALS[archive], rng, count, start),
                  f"{count} bytes flipped in the central directory or end records")


def truncate(rng):
    archive = rng.choice(list(ORIGINALS))
    at = rng.randrange(len(ORIGINALS[archive]))
    return Damage(archive, ORIGINALS[archive][:at], f"truncated at byte {at}")


# The zip structures a reader trusts to find the bytes: (struct format, field names).
_END = ("<4s4H2LH", ["signature", "disk", "directory_disk", "entries_here", "entries", "directory_size",
                     "directory_offset", "comment_length"])
_ENTRY = ("<4s4B4HL2L5H2L", ["signature", "made_by", "made_os", "needs", "needs_os", "flags", "method", "time", "date",
                             "crc", "compressed_size", "size", "name_length", "extra_length", "comment_length",
                             "disk", "internal", "external", "offset"])
_LOCAL = ("<4s2B4HL2L2H", ["signature", "needs", "needs_os", "flags", "method", "time", "date", "crc",
                           "compressed_size", "size", "name_length", "extra_length"])


def _codes(layout):
    """The struct code of each field of a format like "<4s4B4HL2L5H2L"."""
    codes = []
    for repeat, code in re.findall(r"(\d*)([a-zA-Z])", layout[1:]):
        codes += [repeat + code] if code == "s" else [code] * int(repeat or 1)
    return codes


def _structures(data):
    """(kind, position) of the end record, every central directory entry and every local header."""
    end = data.rfind(b"PK\x05\x06")
    found = [("end", end)]
    _, _, _, _, entries, _, offset, _ = struct.unpack_from(_END[0], data, end)
    for _ in range(entries):
        fields = struct.unpack_from(_ENTRY[0], data, offset)
        found += [("entry", offset), ("local", fields[-1])]
        offset += struct.calcsize(_ENTRY[0]) + fields[12] + fields[13] + fields[14]
    return found


def field(rng):
    """One named field of the end record, a central directory entry or a local header set to a value a reader
    must not trust: off by a little, zero, all ones (the zip64 marker), or anything."""
    archive = rng.choice(list(ORIGINALS))
    data = bytearray(ORIGINALS[archive])
    kind, at = rng.choice(_structures(bytes(data)))
    layout, names = {"end": _END, "entry": _ENTRY, "local": _LOCAL}[kind]
    values = list(struct.unpack_from(layout, data, at))
    position = rng.randrange(len(names))
    old = values[position]
    if position == 0:
        values[0] = rng.randbytes(4)
    else:
        top = 2 ** (8 * struct.calcsize("<" + _codes(layout)[position])) - 1
        values[position] = rng.choice([0, 1, top, max(0, old - 1), min(top, old + 1), max(0, old - rng.randint(2, 99)),
                                       min(top, old + rng.randint(2, 9999)), rng.randint(0, top)])
    struct.pack_into(layout, data, at, *values)
    return Damage(archive, bytes(data), f"{kind} at byte {at}: {names[position]} {old!r} -> {values[position]!r}")


_JUNK = [b"{", b"}", b"[", b"]", b",", b'"', b":", b"null", b"1e999", b"-", b"\\", b"\\ud800", b"\xff\xfe", b"\x00",
         b'{"a": [', b"]]]]", b"NaN", b"true"]


def json_text(rng):
    archive = rng.choice(["benchmark", "rawdata"])
    name = rng.choice(_members(archive, (".json",)))
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        text = original.read(name)
    at = rng.randrange(len(text))
    span = rng.randint(1, 64)
    kind = rng.choice(["delete", "insert", "duplicate", "cut"])
    if kind == "delete":
        damaged = text[:at] + text[at + span:]
    elif kind == "insert":
        damaged = text[:at] + b"".join(rng.choice(_JUNK) for _ in range(rng.randint(1, 3))) + text[at:]
    elif kind == "duplicate":
        damaged = text[:at + span] + text[at:at + span] + text[at + span:]
    else:
        damaged = text[:at]
    return Damage(archive, _rezipped(archive, name, damaged), f"{name}: JSON text {kind} at {at}")


# Wrong values by kind: the kind is chosen first, so an object where a string should be is as likely as a number.
_WRONG = {
    "none": [None],
    "number": [0, -1, 2 ** 40, 2 ** 70, 1.5, float("nan"), float("inf")],
    "bool": [True, False],
    "string": ["", " ", "x", "A", "Z", "Physical sciences", "Physical sciences-", "URL not found", "9999-99-99",
               "x" * 5000, "../../etc/passwd", "ncomms1_figure_0.png"],
    "surrogate": ["\ud800", "a\udfffb"],  # JSON can spell them; no file or table can hold them
    "list": [[], [None], [1, "a"], [{}], [[]]],
    "object": [{}, {"k": "v"}, {"from": "human"}],
}


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _paths(value, prefix + (index,))


def mutated(tree, rng):
    """The tree with one node changed: deleted, given a value of a wrong kind, or duplicated. The node is found by
    a field name chosen first (so `category` is as likely as a deep `matched_sim`) or by a nesting level chosen
    first (so records, list items, deep and shallow nodes are as likely)."""
    by_name, by_depth = collections.defaultdict(list), collections.defaultdict(list)
    for path in _paths(tree):
        if path:
            by_depth[len(path)].append(path)
            if isinstance(path[-1], str):
                by_name[path[-1]].append(path)
    if by_name and rng.random() < 0.6:
        path = rng.choice(by_name[rng.choice(sorted(by_name))])
    else:
        path = rng.choice(by_depth[rng.choice(sorted(by_depth))])
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    kind = rng.choice(["delete", "wrong", "wrong", "duplicate"])
    if kind == "delete":
        del parent[key]
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(key, parent[key])
    else:
        kind = "wrong"
        parent[key] = rng.choice(_WRONG[rng.choice(sorted(_WRONG))])
    return f"{kind} at {'/'.join(map(str, path))}"


def record(rng):
    archive = rng.choice(["benchmark", "benchmark", "rawdata"])
    name = rng.choice(_members(archive, (".json",)))
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        tree = json.loads(original.read(name))
    what = mutated(tree, rng)
    return Damage(archive, _rezipped(archive, name, json.dumps(tree).encode()), f"{name}: {what}")


def _jpeg(rng):
    return dummy_data.encode(dummy_data.figure_image(f"n{rng.randrange(99)}", rng.randrange(4)), "JPEG")


def figure(rng):
    archive = rng.choice(["benchmark", "rawdata"])
    name = rng.choice(_members(archive, (".png",)))
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        data = original.read(name)
    kind = rng.choice(["flip", "truncate", "empty", "garbage", "jpeg"])
    damaged = {"flip": lambda: _flipped(data, rng, rng.randint(1, 4)),
               "truncate": lambda: data[:rng.randrange(len(data))],
               "empty": lambda: b"",
               "garbage": lambda: rng.randbytes(rng.randint(1, 400)),
               "jpeg": lambda: _jpeg(rng)}[kind]()
    return Damage(archive, _rezipped(archive, name, damaged), f"{name}: figure {kind}")


def pickled(rng):
    name = rng.choice(_members("pretraindata", (".pkl",)))
    with zipfile.ZipFile(io.BytesIO(ORIGINALS["pretraindata"])) as original:
        data = original.read(name)
    kind = rng.choice(["structure", "structure", "base64", "truncate", "flip", "garbage"])
    if kind in ("structure", "base64"):
        documents = pickle.loads(data)  # our own bundled file, before damage
        if kind == "structure":
            what = mutated(documents, rng)
        else:
            infos = [info for document in documents for info in document["image_info"]]
            info = rng.choice(infos)
            text = info["image_base64"]
            at = rng.randrange(len(text))
            info["image_base64"] = rng.choice([text[:at], text[:at] + "!" + text[at + 1:],
                                               text[:at] + rng.choice("ABCDEFGH+/") + text[at + 1:]])
            what = f"image_base64 of {info['image_name']} damaged at {at}"
        damaged = pickle.dumps(documents, protocol=4)
    else:
        damaged = {"truncate": lambda: data[:rng.randrange(len(data))],
                   "flip": lambda: _flipped(data, rng, rng.randint(1, 4)),
                   "garbage": lambda: rng.randbytes(rng.randint(1, 400))}[kind]()
        what = kind
    return Damage("pretraindata", _rezipped("pretraindata", name, damaged), f"{name}: pickle {what}")


def count(rng):
    name = rng.choice(_members("pretraindata", (".count",)))
    text = rng.choice([b"", b"0", b"2", b"4", b"-3", b"three", b"\xff", b"3\n3"])
    return Damage("pretraindata", _rezipped("pretraindata", name, text), f"{name}: count {text!r}")


MUTATORS = {"flip": flip, "directory": directory, "field": field, "truncate": truncate, "json-text": json_text,
            "record": record, "figure": figure, "pickle": pickled, "count": count}


# The deterministic sweep: every field shape of every kind of record given a value of every wrong kind (or
# deleted), and every field of the zip structures set to values a reader must not trust. The random cases search
# the space around it.

_SWEPT_MEMBERS = [  # one member per kind of record
    ("benchmark", "benchmark/train/image_caption_generation_data.json"),
    ("benchmark", "benchmark/dev/image_caption_generation_data.json"),
    ("benchmark", "benchmark/dev/image_caption_matching_data.json"),
    ("benchmark", "benchmark/train/image_caption_chat_data.json"),
    ("rawdata", "rawdata/Physical sciences/Materials science/ncomms90001/ncomms90001_data.json"),
    ("pretraindata", "pretraindata/shards/all/shard_0.pkl"),
]


def _load_member(archive, name):
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        data = original.read(name)
    return pickle.loads(data) if name.endswith(".pkl") else json.loads(data)  # our own bundled files


def _shapes(tree):
    """The first path of each shape (list indices as *): one node per kind of field, record or list item."""
    first = {}
    for path in _paths(tree):
        shape = tuple("*" if isinstance(key, int) else key for key in path)
        if path and shape not in first and "similarity_matrix" not in shape[:-1]:
            first[shape] = path
    return list(first.values())


def _sweep():
    items = []
    for archive, name in _SWEPT_MEMBERS:
        for path in _shapes(_load_member(archive, name)):
            items += [("record", archive, name, path, kind) for kind in ["delete", *sorted(_WRONG)]]
    for archive in ORIGINALS:
        structures = _structures(ORIGINALS[archive])
        chosen = [structures[0], structures[1], structures[2]]  # the end record, the first entry and its header
        figure_entry = next((i for i, (kind, _) in enumerate(structures) if kind == "entry"
                             and _entry_name(ORIGINALS[archive], structures[i][1]).endswith(".png")), None)
        if figure_entry is not None:
            chosen += [structures[figure_entry], structures[figure_entry + 1]]
        for kind, at in chosen:
            layout, names = {"end": _END, "entry": _ENTRY, "local": _LOCAL}[kind]
            for position in range(len(names)):
                for value in ("zero", "all-ones", "plus-one", "minus-one"):
                    items.append(("field", archive, kind, at, position, value))
    for archive in ("benchmark", "rawdata"):  # every part of a stored figure, flipped under the zip's CRC
        name = _members(archive, (".png",))[0]
        with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
            info = original.getinfo(name)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for at in (0, 1, 8, 12, 16, 20, 29, 33, 41, info.file_size // 2, info.file_size - 12, info.file_size - 8,
                   info.file_size - 5, info.file_size - 1):
            items.append(("byte", archive, name, start + at))
    for fraction in (0.05, 0.25, 0.5, 0.75, 0.95, 0.999):  # a pre-training JPEG (no checksums) cut or garbled
        items += [("jpeg", "truncate", fraction), ("jpeg", "flip", fraction)]
    return items


def _entry_name(data, at):
    fields = struct.unpack_from(_ENTRY[0], data, at)
    start = at + struct.calcsize(_ENTRY[0])
    return data[start:start + fields[12]].decode("utf-8", "replace")


def make_sweep_damage(item):
    if item[0] == "jpeg":
        _, kind, fraction = item
        name = _SWEPT_MEMBERS[-1][1]
        documents = _load_member("pretraindata", name)
        info = documents[0]["image_info"][0]
        data = bytearray(base64.b64decode(info["image_base64"]))
        at = int(len(data) * fraction)
        if kind == "truncate":
            data = data[:at]
        else:
            data[at] ^= 0x55
        info["image_base64"] = base64.b64encode(bytes(data)).decode("ascii")
        return Damage("pretraindata", _rezipped("pretraindata", name, pickle.dumps(documents, protocol=4)),
                      f"{name}: JPEG {info['image_name']} {kind} at {fraction:.0%}")
    if item[0] == "byte":
        _, archive, name, at = item
        data = bytearray(ORIGINALS[archive])
        data[at] ^= 0x01
        return Damage(archive, bytes(data), f"{name}: one bit flipped at archive byte {at}")
    if item[0] == "record":
        _, archive, name, path, kind = item
        tree = _load_member(archive, name)
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        if kind == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = _WRONG[kind][0] if kind != "string" else "x"
        data = pickle.dumps(tree, protocol=4) if name.endswith(".pkl") else json.dumps(tree).encode()
        where = "/".join(map(str, path))
        return Damage(archive, _rezipped(archive, name, data), f"{name}: {kind} at {where}")
    _, archive, kind, at, position, value = item
    layout, names = {"end": _END, "entry": _ENTRY, "local": _LOCAL}[kind]
    data = bytearray(ORIGINALS[archive])
    values = list(struct.unpack_from(layout, data, at))
    old = values[position]
    if position == 0:
        values[0] = {"zero": b"\0" * 4, "all-ones": b"\xff" * 4, "plus-one": bytes([old[0] ^ 1]) + old[1:],
                     "minus-one": old[:3] + bytes([old[3] ^ 1])}[value]
    else:
        top = 2 ** (8 * struct.calcsize("<" + _codes(layout)[position])) - 1
        values[position] = {"zero": 0, "all-ones": top, "plus-one": min(top, old + 1),
                            "minus-one": max(0, old - 1)}[value]
    struct.pack_into(layout, data, at, *values)
    return Damage(archive, bytes(data), f"{kind} at byte {at}: {names[position]} {old!r} -> {values[position]!r}")


SWEEP = _sweep()


# ---------------------------------------------------------------------------------------------- what it holds

class Expect(NamedTuple):
    """What the independent reader says a (config, split) must give: `rows` rows, or (damaged) an error."""

    rows: int = -1         # -1: not known (the reader could not tell); then rows or an error are both fine
    damaged: str = ""      # why scifig must raise, when it must


UNKNOWN = Expect()

_NEEDED_MEMBER_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError)  # the bytes a member's entry points at are bad


def _decodes(data):
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001 - any failure to decode
        return False


def _find(names, suffix):
    found = sorted((name for name in names if name == suffix or name.endswith("/" + suffix)), key=len)
    return found[0] if found else None


class _Damaged(Exception):
    pass


def _crcs(archive):
    with zipfile.ZipFile(io.BytesIO(ORIGINALS[archive])) as original:
        return {info.filename: info.CRC for info in original.infolist()}


ORIGINAL_CRCS = {archive: _crcs(archive) for archive in ORIGINALS}


def _read(zf, name):
    """A member's bytes; damaged means they differ from what was archived. A CRC field damaged in the directory
    over intact bytes is not damage to the bytes: PNGs carry their own checksums, which scifig verifies."""
    try:
        return zf.read(name)
    except zipfile.BadZipFile as error:
        if "CRC" not in str(error):
            raise _Damaged(f"{name}: {error}") from None
        with zf.open(name) as stream:
            stream._expected_crc = None  # read past zipfile's check, to compare with the original below
            data = stream.read()
        if zlib.crc32(data) != ORIGINAL_CRCS[Path(zf.filename).stem].get(name):
            raise _Damaged(f"{name}: {error}") from None
        return data
    except _NEEDED_MEMBER_DAMAGE as error:
        raise _Damaged(f"{name}: {error}") from None


def _figure(zf, names, name):
    if name not in names:
        raise _Damaged(f"figure {name} is missing")
    if not _decodes(_read(zf, name)):
        raise _Damaged(f"figure {name} does not decode")


def _evaluation_uids(zf):
    """The articles of the benchmark's validation and test files, which a train split (clean by default) leaves
    out; damaged where the builder cannot read them. Where one of them is missing (a partial copy), the list shipped
    with scifig stands in."""
    names, uids = set(zf.namelist()), set()
    files = [(task, _find(names, f"{scifig.SPLIT_FOLDERS[split]}/{scifig.RECIPES[task].member}"))
             for split in scifig.EVAL_SPLITS for task in ("captioning", "mcq")]
    if any(member is None for _, member in files):
        return set(scifig.shipped_eval_articles().every)
    for task, member in files:
        try:
            data = json.loads(_read(zf, member).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise _Damaged(f"{member} is not JSON: {error}") from None
        if not isinstance(data, list) or (task == "mcq" and (
                len(data) != len(scifig.SETTINGS) or not all(isinstance(part, list) for part in data))):
            raise _Damaged(f"{member} is not shaped as the builder reads it")
        records = [record for part in data for record in part] if task == "mcq" else data
        if not all(isinstance(record, dict) for record in records):
            raise _Damaged(f"{member}: an item is not an object")
        uids.update(record["uid"] for record in records if isinstance(record.get("uid"), str))
    return uids


def _benchmark(zf, config, split):
    task = scifig.task_of(config)
    if task == "sft":  # the mixture: each part's train file, as the builder reads them (scifig.SFT_PARTS)
        return sum(_benchmark_file(zf, part.file, [part.setting] if part.setting >= 0 else None, split,
                                   part.per_article, captioned=part.task == "captioning")
                   for part in scifig.SFT_PARTS)
    settings = next(c.settings for c in scifig.CONFIGS if c.name == config) if task == "mcq" else None
    return _benchmark_file(zf, scifig.RECIPES[task].reader, settings and [scifig.SETTINGS.index(s) for s in settings],
                           split)


def _benchmark_file(zf, file, settings, split, per_article=None, captioned=False):
    """Rows of one task's file (`file`, the builder's reader of it: its member name, and whether it holds one list
    per setting): `settings` (indexes) of the multiple-choice file; at most `per_article` records per article;
    `captioned`: figures without a caption give no row (but are read all the same)."""
    names = set(zf.namelist())
    member = _find(names, f"{scifig.SPLIT_FOLDERS[split]}/{file.member}")
    if member is None:
        raise _Damaged("the JSON member is missing")
    try:
        data = json.loads(_read(zf, member).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _Damaged(f"{member} is not JSON: {error}") from None
    folder = member[: -len(file.member)] + "images/"
    if file.lists is not None:
        if not (isinstance(data, list) and len(data) == len(scifig.SETTINGS)
                and all(isinstance(setting, list) for setting in data)):
            raise _Damaged("not a list of three lists")
        every = [record for setting in data for record in setting]
        records = [record for s in settings for record in data[s]]
    else:
        if not isinstance(data, list):
            raise _Damaged("not a list")
        every = records = data
    if not all(isinstance(item, dict) for item in every):
        raise _Damaged("an item is not an object")
    if per_article:
        asked, capped = collections.Counter(), []
        for item in records:
            uid = item.get("uid")
            if isinstance(uid, str) and asked[uid] >= per_article:
                continue
            asked[uid] += 1
            capped.append(item)
        records = capped
    if split == "train":  # the evaluation articles are left out, unread
        evaluation = _evaluation_uids(zf)
        records = [item for item in records if item.get("uid") not in evaluation]
    rows = 0
    for item in records:
        figures = item["images"] if isinstance(item.get("images"), list) else [item]
        for entry in figures:
            captionless = captioned and not (isinstance(entry, dict) and isinstance(entry.get("caption"), str)
                                             and entry["caption"].strip())
            rows += 0 if captionless else 1
            if isinstance(entry, dict) and isinstance(entry.get("image"), str) and entry["image"]:
                _figure(zf, names, folder + entry["image"])
    return rows


class _Plain(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError("only plain data")


def _pretraining(zf):
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as benchmark:  # intact: only pretraindata.zip is damaged here
        evaluation = _evaluation_uids(benchmark)
    names = set(zf.namelist())
    shards = re.compile(r"(^|/)shards/(.+/)?shard_[^/]+\.(pkl|count)$")
    pickles = sorted(name for name in names if shards.search(name) and name.endswith(".pkl"))
    counts = sorted(name for name in names if shards.search(name) and name.endswith(".count"))
    if not pickles or any(name[:-len(".count")] + ".pkl" not in names for name in counts):
        raise _Damaged("shards missing, or a count without its shard")
    rows = 0
    for name in pickles:
        try:
            documents = _Plain(io.BytesIO(_read(zf, name))).load()
        except _Damaged:
            raise
        except Exception as error:  # noqa: BLE001
            raise _Damaged(f"{name} does not unpickle: {error!r}") from None
        if not isinstance(documents, list):
            raise _Damaged(f"{name} is not a list")
        count_name = name[:-len(".pkl")] + ".count"
        if count_name in names and _read(zf, count_name).decode("ascii", "replace").strip() != str(len(documents)):
            raise _Damaged(f"{count_name} disagrees")
        documents = [document for document in documents if not (
            isinstance(document, dict) and isinstance(document.get("url"), str)
            and document["url"].rstrip("/").rsplit("/", 1)[-1] in evaluation)]
        rows += len(documents)
        for document in documents:
            infos = document.get("image_info") if isinstance(document, dict) else None
            for info in infos if isinstance(infos, list) else ():
                encoded = info.get("image_base64") if isinstance(info, dict) else None
                if isinstance(encoded, str) and encoded:
                    try:
                        data = base64.b64decode(encoded, validate=True)
                    except ValueError:
                        raise _Damaged("image_base64 is not base64") from None
                    if not _decodes(data):
                        raise _Damaged("an image does not decode")
    return rows


_ARTICLE = re.compile(r"^(?P<prefix>(?:.*/)?)(?P<category>" + "|".join(map(re.escape, scifig.TAXONOMY))
                      + r")/(?P<subject>[^/]+)/(?P<uid>[^/]+)/(?P=uid)_data\.json$")


def _taxonomy_order(folder):
    category, subject, _ = folder
    subjects = scifig.TAXONOMY[category]
    return list(scifig.TAXONOMY).index(category), subjects.index(subject) if subject in subjects else 99, subject


def _articles(zf):
    names = set(zf.namelist())
    homes = {}
    for name in names:
        match = _ARTICLE.match(name)
        if match:
            folder = (match["category"], match["subject"], match["prefix"])
            if match["uid"] not in homes or _taxonomy_order(folder) < _taxonomy_order(homes[match["uid"]]):
                homes[match["uid"]] = folder
    if not homes:
        raise _Damaged("no articles")
    for uid, (category, subject, prefix) in homes.items():
        folder = f"{prefix}{category}/{subject}/{uid}/"
        try:
            article = json.loads(_read(zf, f"{folder}{uid}_data.json").decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise _Damaged(f"{uid} is not JSON: {error}") from None
        images = article.get("images") if isinstance(article, dict) else None
        for image in images if isinstance(images, list) else ():
            if isinstance(image, dict) and isinstance(image.get("image_filename"), str) and image["image_filename"]:
                _figure(zf, names, folder + image["image_filename"])
    return len(homes)


def expected(archive_path, config, split):
    try:
        zf = zipfile.ZipFile(archive_path)
    except Exception:  # noqa: BLE001 - zipfile cannot even list it: it says nothing either way
        return UNKNOWN
    with zf:
        try:
            task = scifig.task_of(config)
            if task == "pretraining":
                return Expect(_pretraining(zf))
            if task == "articles":
                return Expect(_articles(zf))
            return Expect(_benchmark(zf, config, split))
        except _Damaged as damage:
            return Expect(damaged=str(damage))
        except Exception:  # noqa: BLE001 - the reader's own limits (e.g. flags zipfile refuses): no verdict
            return UNKNOWN


# ---------------------------------------------------------------------------------------------- one case

class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no handler for data errors can swallow it."""


def _alarm(signum, frame):
    raise Hang()


def _outcome(config, split, data_dir):
    """("rows", n) or ("error", message) or ("crash", traceback)."""
    try:
        # the case's own cache: the user's is left alone, and no case sees what another kept
        stream = scifig.load(config, split=split, streaming=True, data_dir=data_dir,
                             cache_dir=os.path.join(data_dir, "cache"))
        rows = 0
        for row in stream:  # images are decoded by datasets' Image feature as each row is yielded
            rows += 1
        return "rows", rows
    except scifig.ScifigDataError as error:
        return "error", str(error)
    except Hang:
        return "crash", f"hang: more than {TIMEOUT} s"
    except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
        return "crash", traceback.format_exc()


def damage_of(case):
    """The damage a case stands for: ("random", seed, index) or ("sweep", index)."""
    if case[0] == "sweep":
        return "sweep", make_sweep_damage(SWEEP[case[1]])
    _, seed, index = case
    rng = random.Random(f"{seed}:{index}")
    mutator = list(MUTATORS)[index % len(MUTATORS)]
    return mutator, MUTATORS[mutator](rng)


def check(damage, verbose=False):
    """Streams every config reading the damaged archive; returns the failures, each naming config, split and what
    went wrong."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="scifig-fuzz-") as folder:
        for archive in scifig.ARCHIVE_URLS:
            path = Path(folder) / f"{archive}.zip"
            if archive == damage.archive:
                path.write_bytes(damage.data)
            else:
                os.symlink(DUMMY / f"{archive}.zip", path)
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TIMEOUT)
        try:
            for config in CONFIGS_READING[damage.archive]:
                for split in scifig.RECIPES[scifig.task_of(config)].splits:
                    expect = expected(Path(folder) / f"{damage.archive}.zip", config, split)
                    kind, detail = _outcome(config, split, folder)
                    if verbose:
                        print(f"  {config} {split}: {kind} {str(detail)[:300]} (expected {expect})")
                    problem = None
                    if kind == "crash":
                        problem = f"raised something else than ScifigDataError:\n{detail}"
                    elif kind == "rows" and expect.damaged:
                        problem = f"gave {detail} rows, but the archive is damaged where it reads: {expect.damaged}"
                    elif kind == "rows" and expect.rows >= 0 and detail != expect.rows:
                        problem = f"gave {detail} rows where the archive holds {expect.rows}"
                    if problem:
                        failures.append(f"{config} {split}: {problem}")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            # a store's build goes on after a reader stops at an error: let it finish before its folder goes
            for thread in threading.enumerate():
                if thread.name.startswith("scifig store"):
                    thread.join(TIMEOUT)
    return failures


def _run(case):
    mutator, damage = damage_of(case)
    return case, mutator, damage.what, check(damage)


def fuzz(cases=0, seed=0, sweep=False, jobs=1, progress=None):
    """The sweep (if asked) and `cases` random cases; returns {"cases", "by_mutator", "failures": [(case, mutator,
    what, failures)]}."""
    work = ([("sweep", index) for index in range(len(SWEEP))] if sweep else []) + [
        ("random", seed, index) for index in range(cases)]
    report = {"cases": len(work), "seed": seed, "by_mutator": collections.Counter(), "failures": []}
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs, maxtasksperchild=200) as pool:
            for done, result in enumerate(pool.imap_unordered(_run, work, chunksize=4), 1):
                _tally(report, *result, progress, done)
    else:
        for done, case in enumerate(work, 1):
            _tally(report, *_run(case), progress, done)
    return report


def _tally(report, case, mutator, what, failures, progress, done):
    report["by_mutator"][mutator] += 1
    if failures:
        report["failures"].append((case, mutator, what, failures))
    if progress and done % progress == 0:
        print(f"  {done}/{report['cases']} cases, {len(report['failures'])} failing", file=sys.stderr, flush=True)


def _case_name(case):
    return f"sweep:{case[1]}" if case[0] == "sweep" else f"{case[1]}:{case[2]}"


def _case_of(name):
    first, second = name.split(":")
    return ("sweep", int(second)) if first == "sweep" else ("random", int(first), int(second))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300, help="random cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help=f"also the {len(SWEEP)} cases of the sweep")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--replay", help="one case, SEED:INDEX or sweep:INDEX, run verbosely")
    parser.add_argument("--record", help="write the run's result as JSON here (docs/fuzz-results.json: the card "
                                         "states the long run's result from it)")
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    if args.replay:
        mutator, damage = damage_of(_case_of(args.replay))
        failures = check(damage, verbose=True)
        print(f"case {args.replay} ({mutator}: {damage.what}): {'ok' if not failures else 'FAILED'}")
        for failure in failures:
            print(failure)
        return 1 if failures else 0
    started = time.monotonic()
    report = fuzz(args.cases, args.seed, args.sweep, args.jobs, progress=max(1, (args.cases + 1000) // 20))
    seconds = time.monotonic() - started
    print(f"{report['cases']} cases (seed {report['seed']}) in {seconds:.0f} s: "
          + ", ".join(f"{name} {n}" for name, n in sorted(report["by_mutator"].items()))
          + f"; {len(report['failures'])} failing")
    if args.record:
        Path(args.record).write_text(json.dumps({
            "random_cases": args.cases, "sweep_cases": len(SWEEP) if args.sweep else 0, "seed": args.seed,
            "cases": report["cases"], "failing": len(report["failures"]), "seconds": round(seconds),
            "jobs": args.jobs, "by_mutator": dict(sorted(report["by_mutator"].items())),
            "datasets": datasets.__version__, "date": time.strftime("%Y-%m-%d"),
        }, indent=1) + "\n", encoding="utf-8")
    for case, mutator, what, failures in sorted(report["failures"])[:20]:
        print(f"\ncase {_case_name(case)} ({mutator}: {what})")
        for failure in failures:
            print("  " + failure.replace("\n", "\n  "))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
