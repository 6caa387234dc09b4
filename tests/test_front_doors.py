"""The three ways in: load_dataset on the script (datasets < 4), the builder (any line), the preview command."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import datasets
import pytest

import scifig
from scifig_tools import dummy_data
from scifig_tools.layout import benchmark_image, benchmark_json, write_zip

from helpers import BUILDER_FILES, DUMMY, ROOT, SCRIPTS_RUN, copy_builder, rows_of


def _folder_named_scifig(tmp_path):
    """A clone as a user has it: a folder named scifig holding the script, its card and infos."""
    clone = tmp_path / "scifig"
    clone.mkdir()
    copy_builder(clone)
    for name in ("README.md", "dataset_infos.json"):
        shutil.copy(ROOT / name, clone / name)
    return tmp_path


@pytest.mark.skipif(not SCRIPTS_RUN, reason=f"datasets {datasets.__version__} no longer runs loading scripts")
def test_load_dataset_runs_the_script_from_a_folder_named_scifig(tmp_path, monkeypatch):
    monkeypatch.chdir(_folder_named_scifig(tmp_path))
    loaded = datasets.load_dataset("scifig", "mcq", data_dir=str(DUMMY), trust_remote_code=True,
                                   cache_dir=str(tmp_path / "cache"))
    builder = scifig.load("mcq", data_dir=str(DUMMY), cache_dir=str(tmp_path / "cache2"))
    assert sorted(loaded) == ["test", "train", "validation"]
    for split in loaded:
        assert loaded[split].features == scifig.FEATURES["mcq"]
        assert rows_of(loaded[split]) == rows_of(builder[split])
    streamed = datasets.load_dataset("scifig", "pretraining", split="train", streaming=True, data_dir=str(DUMMY),
                                     trust_remote_code=True)
    assert rows_of(streamed) == rows_of(builder_pretraining(tmp_path))


def builder_pretraining(tmp_path):
    return scifig.load("pretraining", split="train", data_dir=str(DUMMY), cache_dir=str(tmp_path / "cache3"))


@pytest.mark.skipif(SCRIPTS_RUN, reason="scripts still run on this datasets line")
def test_current_datasets_refuses_the_script_so_load_drives_the_builder(tmp_path, monkeypatch):
    monkeypatch.chdir(_folder_named_scifig(tmp_path))
    with pytest.raises(RuntimeError, match="Dataset scripts are no longer supported"):
        datasets.load_dataset("scifig", "mcq", data_dir=str(DUMMY))
    assert isinstance(scifig.load("mcq", split="validation", data_dir=str(DUMMY)), datasets.Dataset)
    assert isinstance(scifig.load("mcq", split="validation", data_dir=str(DUMMY), streaming=True),
                      datasets.IterableDataset)


def _module_from(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # datasets re-imports a builder's module by name
    spec.loader.exec_module(module)
    return module


def test_an_edited_script_is_not_served_from_a_stale_cache(tmp_path):
    """builder() keys the cache by the bytes of every builder file: a copy with the script or a sibling edited
    prepares afresh, an identical one reuses."""
    copies = {"same": {}, "edited": {"scifig.py": "# an edit\n"}, "edited_io": {"scifig_archives.py": "# an edit\n"}}
    for copy, appended in copies.items():
        copy_builder(tmp_path / copy, appended)
    cache = str(tmp_path / "cache")
    original = scifig.builder("mcq_fig2cap", data_dir=str(DUMMY), cache_dir=cache)
    original.download_and_prepare()
    built = {copy: _module_from(tmp_path / copy / "scifig.py", f"scifig_{copy}").builder("mcq_fig2cap", str(DUMMY),
                                                                                         cache)
             for copy in copies}
    assert built["same"].cache_dir == original.cache_dir and os.path.isdir(built["same"].cache_dir)
    for edited in ("edited", "edited_io"):
        assert built[edited].cache_dir != original.cache_dir and not os.path.exists(built[edited].cache_dir)


def test_preview_prints_features_and_rows():
    result = subprocess.run(
        [sys.executable, "-m", "scifig_tools", "preview", "mcq", "--split", "validation", "--data-dir",
         str(DUMMY), "--limit", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "scifig/mcq [validation] features:" in out
    assert "options: " in out and "answer: ClassLabel" in out
    assert out.count("\nrow ") == 3
    assert "<image " in out and " RGB>" in out
    assert "reading mcq/validation" in result.stderr  # the progress bar


# ---- the same errors through every door, and mistakes caught before anything is read ----

def _one_bad_question(folder):
    good = {"uid": "ncomms1", "category": "Physical sciences", "subject": "Physics", "image": "ncomms1_figure_0.png",
            "question": "Q?\nA: a\nB: b\nC: c\nD: d", "answer": "A"}
    write_zip(folder / "benchmark.zip", {
        benchmark_json("validation", "mcq"): json.dumps([[good], [good], [dict(good, answer="Q")]]).encode(),
        benchmark_image("validation", good["image"]): dummy_data.encode(dummy_data.figure_image("x", 0), "PNG"),
        benchmark_json("train", "mcq"): b"[[],[],[]]", benchmark_json("test", "mcq"): b"[[],[],[]]",
    })
    return str(folder)


@pytest.mark.parametrize("how", ["streaming", "prepared", "prepared, num_proc=2"])
def test_bad_data_raises_scifig_data_error_through_load(tmp_path, how):
    data_dir = _one_bad_question(tmp_path)
    expected = "record 0 of setting subcap2fig (uid 'ncomms1'): answer 'Q' is not one of A-D"
    with pytest.raises(scifig.ScifigDataError) as error:
        if how == "streaming":
            list(scifig.load("mcq", split="validation", streaming=True, data_dir=data_dir))
        else:
            scifig.load("mcq", split="validation", data_dir=data_dir, cache_dir=str(tmp_path / "cache"),
                        num_proc=2 if "num_proc" in how else None)
    assert str(error.value).endswith(expected) and "image_caption_matching_data.json" in str(error.value)
    frames = [frame.name for frame in traceback.extract_tb(error.value.__traceback__)]
    if how != "streaming":  # datasets' own error stays in the traceback
        assert type(error.value.__cause__).__name__ == "DatasetGenerationError"
    if "num_proc" in how:
        # a worker's error crosses back only as traceback text: raised again from it, with the same message
        assert "built" not in frames
    else:
        # the very error raised where the record was read, whether datasets wrapped it (prepared) or not
        assert "built" in frames and "mcq_rows" not in frames


@pytest.mark.skipif(not SCRIPTS_RUN, reason="load_dataset runs scripts on datasets < 4 only")
def test_load_dataset_wraps_it_and_the_cause_is_the_scifig_error(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    data_dir = _one_bad_question(tmp_path / "data")
    monkeypatch.chdir(_folder_named_scifig(tmp_path))
    with pytest.raises(datasets.exceptions.DatasetGenerationError) as error:
        datasets.load_dataset("scifig", "mcq", data_dir=data_dir, trust_remote_code=True,
                              cache_dir=str(tmp_path / "cache"))
    # what the card shows: the copy of the builder datasets runs raises its copy's class, a ValueError
    cause = error.value.__cause__
    assert isinstance(cause, ValueError) and type(cause).__name__ == "ScifigDataError"
    assert type(cause).__module__.startswith("datasets_modules.") and type(cause).__module__.endswith(".scifig_errors")
    assert "answer 'Q' is not one of A-D" in str(cause)


@pytest.mark.parametrize("config,split,hint", [
    ("mcq", "dev", "MMSci's 'dev' is scifig's 'validation'"),
    ("captioning", "vaildation", "did you mean 'validation'?"),
    ("chat", "validation", "chat has no split 'validation': its splits are train"),
    ("mcq", "train[:10%]+dev", "mcq has no split 'dev'"),
])
@pytest.mark.parametrize("streaming", [False, True])
def test_an_unknown_split_is_named_before_anything_is_read(tmp_path, config, split, hint, streaming):
    nowhere = tmp_path / "no-such-folder"  # were anything read, this would be a FileNotFoundError instead
    with pytest.raises(ValueError, match=re.escape(hint)):
        scifig.load(config, split=split, streaming=streaming, data_dir=str(nowhere))


def test_a_data_dir_that_is_a_zip_says_to_pass_its_folder():
    with pytest.raises(ValueError, match=f"data_dir .*benchmark.zip is a file; pass the folder .*{DUMMY}"):
        scifig.load("mcq", split="validation", data_dir=str(DUMMY / "benchmark.zip"))


@pytest.mark.skipif(not SCRIPTS_RUN, reason="load_dataset runs scripts on datasets < 4 only")
def test_datasets_copies_every_sibling_with_the_script_and_hashes_them_all(tmp_path):
    """datasets 3.6 finds each sibling module by the script's relative imports, copies it into the module folder
    beside the script, and names that folder by a hash that covers every file."""
    siblings = [name for name in BUILDER_FILES if name.endswith(".py") and name != "scifig.py"]
    folders = {}
    for copy, appended in {"same": {}, "edited_sibling": {siblings[-1]: "# an edit\n"}}.items():
        clone = copy_builder(tmp_path / copy / "scifig", appended)
        found = datasets.load_dataset_builder(str(clone), "mcq", data_dir=str(DUMMY), trust_remote_code=True,
                                              cache_dir=str(tmp_path / "cache"))
        module_file = sys.modules[type(found).__module__].__file__
        folders[copy] = os.path.dirname(module_file)
        for name in siblings:
            assert (Path(folders[copy]) / name).read_text(encoding="utf-8") == (
                clone / name).read_text(encoding="utf-8")
    assert folders["same"] != folders["edited_sibling"]
