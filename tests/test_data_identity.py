"""Rows follow the archives that are there: what a load prepares is kept under the archives' identity (resolved
path, size and modification time; a URL's size and ETag), not under data_dir as typed."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import scifig
from scifig_tools.cache import prepared
from scifig_tools.layout import benchmark_json, zip_entry

from helpers import DUMMY, ROOT

MCQ_DEV = benchmark_json("validation", "mcq")


def _sample_with(folder, edit):
    """The sample's benchmark.zip in `folder`, its validation multiple-choice file changed by `edit` (lists of
    records per setting -> the same)."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    members[MCQ_DEV] = json.dumps(edit(json.loads(members[MCQ_DEV]))).encode()
    with zipfile.ZipFile(folder / "benchmark.zip", "w") as archive:  # stored: an edit of one letter keeps the size
        for name, data in sorted(members.items()):
            archive.writestr(zip_entry(name, compress=False), data)
    return folder


def _fewer(settings):
    return [questions[:-1] for questions in settings]


def _swapped(settings):
    """The same bytes but for one answer letter: A<->B in the first question (so the zip keeps its size)."""
    first = settings[0][0]
    first["answer"] = {"A": "B", "B": "A", "C": "D", "D": "C"}[first["answer"]]
    return settings


def _ids(data_dir, cache):
    return scifig.load("mcq", split="validation", data_dir=data_dir, cache_dir=cache)["answer"]


def test_another_folder_of_the_same_name_is_read_afresh(tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    _sample_with(tmp_path / "clone" / "dummy_data", lambda settings: settings)
    _sample_with(tmp_path / "elsewhere" / "dummy_data", _fewer)
    monkeypatch.chdir(tmp_path / "clone")
    assert len(_ids("dummy_data", cache)) == 12
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert len(_ids("dummy_data", cache)) == 9
    monkeypatch.chdir(tmp_path / "clone")  # and the first is still reused, not prepared again
    again = scifig.builder("mcq", "dummy_data", cache)
    assert os.path.isdir(again.cache_dir) and len(_ids("dummy_data", cache)) == 12


def test_a_replaced_zip_of_the_same_size_is_read_afresh(tmp_path):
    cache, folder = str(tmp_path / "cache"), tmp_path / "data"
    before = _ids(str(_sample_with(folder, lambda settings: settings)), cache)
    size = (folder / "benchmark.zip").stat().st_size
    _sample_with(folder, _swapped)
    assert (folder / "benchmark.zip").stat().st_size == size
    after = _ids(str(folder), cache)
    assert len(after) == len(before) and after != before and after[1:] == before[1:]


def test_a_moved_archive_is_prepared_where_it_now_is_and_its_old_place_read_afresh(tmp_path):
    cache = str(tmp_path / "cache")
    first = _ids(str(_sample_with(tmp_path / "a", lambda settings: settings)), cache)
    shutil.move(tmp_path / "a", tmp_path / "b")
    assert _ids(str(tmp_path / "b"), cache) == first
    _sample_with(tmp_path / "a", _fewer)  # another archive where the first was
    assert len(_ids(str(tmp_path / "a"), cache)) == len(first) - 3


def test_force_redownload_prepares_again_what_identity_cannot_tell_apart(tmp_path):
    """A copy that keeps size and modification time (cp -p of another archive) looks the same: download_mode=
    "force_redownload" prepares it again, as datasets.load_dataset does."""
    cache, folder = str(tmp_path / "cache"), tmp_path / "data"
    before = _ids(str(_sample_with(folder, lambda settings: settings)), cache)
    status = (folder / "benchmark.zip").stat()
    _sample_with(folder, _swapped)
    os.utime(folder / "benchmark.zip", ns=(status.st_atime_ns, status.st_mtime_ns))
    assert _ids(str(folder), cache) == before  # the documented limit: same path, size and time
    forced = scifig.load("mcq", split="validation", data_dir=str(folder), cache_dir=cache,
                         download_mode="force_redownload")["answer"]
    assert forced != before and forced[1:] == before[1:]


def _cache_command(cache, *args):
    return subprocess.run([sys.executable, "-m", "scifig_tools", "cache", "--cache-dir", cache, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cache_clear_removes_prepared_datasets_and_says_so(tmp_path):
    cache = str(tmp_path / "cache")
    built = scifig.builder("mcq", str(DUMMY), cache)
    scifig.prepare(built)
    listed = _cache_command(cache)
    assert listed.returncode == 0 and "prepared dataset" in listed.stdout
    cleared = _cache_command(cache, "--clear")
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 1 prepared datasets" in cleared.stdout and os.path.basename(
        os.path.dirname(os.path.dirname(built.cache_dir))) in cleared.stdout
    assert not os.path.exists(built.cache_dir) and "prepared dataset" not in _cache_command(cache).stdout


def test_a_failed_prepare_leaves_nothing_of_its_dataset_behind(tmp_path):
    cache, folder = str(tmp_path / "cache"), tmp_path / "bad"
    _sample_with(folder, lambda settings: [[dict(settings[0][0], answer="Q")], [], []])
    with pytest.raises(scifig.ScifigDataError, match="answer 'Q' is not one of A-D"):
        _ids(str(folder), cache)
    assert [found.config_id for found in prepared(cache)] == []
