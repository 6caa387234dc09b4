"""The in-place zip reader against the standard library, including the zip64 fields archives over 4 GB use."""

import json
import subprocess
import sys
import zipfile

import pytest

import scifig
from scifig_tools.serve import RangeServer

from helpers import ROOT


def _write(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, method) in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=method)


MEMBERS = {
    f"top/dir/member_{n}.{'png' if n % 2 else 'json'}": (bytes(range(256)) * (n + 1),
                                                          zipfile.ZIP_DEFLATED if n % 3 else zipfile.ZIP_STORED)
    for n in range(12)
}


@pytest.mark.parametrize("http", [False, True], ids=["local file", "over HTTP"])
@pytest.mark.parametrize("zip64", [False, True], ids=["zip", "zip64 fields"])
def test_reader_returns_what_zipfile_stored(tmp_path, monkeypatch, zip64, http):
    if zip64:
        # Lowering the stdlib's limits makes it write the zip64 extra fields and end records that real archives
        # over 4 GB or 65,535 members carry, in a file of a few kilobytes.
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 5)
    _write(tmp_path / "a.zip", MEMBERS)
    monkeypatch.undo()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert any(info.extra for info in archive.infolist()) == zip64
    # zip64 local headers carry an extra field of another length than their central entries: the reader's guess
    # of where the data starts is wrong for them, and it reads on from where the header says
    server = RangeServer(str(tmp_path)).start() if http else None
    try:
        _check_reader(scifig.scifig_archives.ZipArchive(f"{server.url}a.zip" if http else str(tmp_path / "a.zip"),
                                                  keep=lambda name: True))
    finally:
        if server:
            server.stop()


def _check_reader(reader):
    assert sorted(reader.names()) == sorted(name for name in MEMBERS if not name.endswith(".png"))
    assert not reader.has_figure("top/dir/absent.png") and "top/dir/absent.json" not in reader
    for name, (data, _) in MEMBERS.items():
        figure = name.endswith(".png")
        # `in` agrees with names(): figures are indexed apart, answered by has_figure
        assert (name in reader) == (not figure) and reader.has_figure(name) == figure
        assert reader.read(name) == data
        with reader.open(name) as stream:
            assert stream.read() == data


def test_a_flipped_byte_fails_the_crc(tmp_path):
    _write(tmp_path / "a.zip", {"x.json": (b"{}" * 500, zipfile.ZIP_STORED)})
    raw = bytearray((tmp_path / "a.zip").read_bytes())
    raw[100] ^= 0xFF
    (tmp_path / "a.zip").write_bytes(bytes(raw))
    reader = scifig.scifig_archives.ZipArchive(str(tmp_path / "a.zip"), keep=lambda name: True)
    with pytest.raises(scifig.ScifigDataError, match="x.json is corrupt"):
        reader.read("x.json")


@pytest.mark.parametrize("cache", [False, True], ids=["temporary table", "kept table"])
def test_every_figure_is_found_across_partitions_and_strides(tmp_path, monkeypatch, cache):
    # Batches of 256 spread 5,000 figures over 32 partition files, in 79 strides of the sorted table: every
    # boundary a lookup can fall on, in a zip of a few hundred kilobytes.
    monkeypatch.setattr(scifig.scifig_archives, "_BATCH", 256)
    members = {f"benchmark/train/images/ncomms{n // 6}_figure_{n % 6}.png": (n.to_bytes(3, "big"), zipfile.ZIP_STORED)
               for n in range(5000)}
    _write(tmp_path / "many.zip", members)
    kept = str(tmp_path / "cache") if cache else None
    for _ in range(2 if cache else 1):  # with a cache, the second reader reads the kept table
        reader = scifig.scifig_archives.ZipArchive(str(tmp_path / "many.zip"), keep=lambda name: True, cache=kept)
        assert len(reader._members) == len(members)
        for name, (data, _) in members.items():
            assert reader.has_figure(name) and reader.read(name) == data
        assert not any(reader.has_figure(f"benchmark/train/images/ncomms{n}_figure_9.png") for n in range(900))
    assert reader.from_index == cache


@pytest.mark.parametrize("chunk", [1 << 20, 300], ids=["one buffer", "entries across buffers"])
def test_the_central_directory_read_in_runs_agrees_with_zipfile(tmp_path, monkeypatch, chunk):
    # Entries are parsed a buffer's run at a time: a run stops before a signature inside a name, comment or extra
    # field, UTF-8 names decode apart from ASCII ones, figure suffixes match in any case, and runs cross buffers.
    monkeypatch.setattr(scifig.scifig_archives, "_CHUNK", chunk)
    names = [f"top/images/ncomms{n}_figure_0.png" for n in range(40)] + [
        "top/PK\x01\x02 inside.png", "top/PK\x01\x02.json", "top/Größe_µm.png", "top/Größe.json", "top/UPPER.PNG",
        "top/mixed.JpEg", "top/short/.png", "top/short/png", "top/skipped.png", "top/skipped.json", "top/dir/",
    ]
    with zipfile.ZipFile(tmp_path / "odd.zip", "w") as archive:
        for number, name in enumerate(names):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            if number % 7 == 3:
                info.comment = b"a comment holding PK\x01\x02 too"
            if number % 11 == 5:
                info.extra = b"\xfe\xca\x08\x00PK\x01\x02PK\x01\x02"  # an unknown extra field of 8 bytes
            archive.writestr(info, b"" if name.endswith("/") else name.encode("utf-8") * 3)
    reader = scifig.scifig_archives.ZipArchive(str(tmp_path / "odd.zip"), keep=lambda name: "skipped" not in name)
    kept = [name for name in names if "skipped" not in name and not name.endswith("/")]
    figures = [name for name in kept if scifig.is_figure(name)]
    assert sorted(reader.names()) == sorted(set(kept) - set(figures))
    assert len(reader._members) == len(kept) and "top/UPPER.PNG" in figures and "top/short/png" not in figures
    for name in kept:
        assert reader.read(name) == name.encode("utf-8") * 3
        assert reader.has_figure(name) == (name in figures)
    assert not reader.has_figure("top/skipped.png") and "top/skipped.json" not in reader


def test_reading_over_http_imports_neither_requests_nor_chardet(tmp_path):
    # requests imports chardet wherever that is installed (lmms-eval's dependencies install it): 12 MB more in every
    # DataLoader worker. What datasets itself imports is not scifig's to save, so only what scifig adds counts.
    _write(tmp_path / "a.zip", MEMBERS)
    name = next(iter(MEMBERS))
    server = RangeServer(str(tmp_path)).start()
    try:
        code = (
            "import json, sys, datasets\n"
            "before = set(sys.modules)\n"
            "import scifig\n"
            f"reader = scifig.scifig_archives.ZipArchive({server.url + 'a.zip'!r}, keep=lambda name: True)\n"
            f"assert reader.read({name!r}) == {MEMBERS[name][0]!r}\n"
            "print(json.dumps(sorted(m for m in ('requests', 'chardet') if m in sys.modules and m not in before)))\n"
        )
        run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                             check=False)
    finally:
        server.stop()
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.splitlines()[-1]) == []
