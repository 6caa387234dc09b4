"""The three ways in: load_dataset on the script (datasets < 4), the builder (any line), the preview command."""

import importlib.util
import os
import shutil
import subprocess
import sys

import datasets
import pytest

import scifig

from conftest import DUMMY, ROOT, SCRIPTS_RUN
from rows import rows_of


def _folder_named_scifig(tmp_path):
    """A clone as a user has it: a folder named scifig holding the script, its card and infos."""
    clone = tmp_path / "scifig"
    clone.mkdir()
    for name in ("scifig.py", "README.md", "dataset_infos.json"):
        if (ROOT / name).exists():
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
    """builder() keys the cache by the script's own bytes: an edited copy prepares afresh, an identical one reuses."""
    for copy, extra in (("same", ""), ("edited", "# an edit\n")):
        (tmp_path / copy).mkdir()
        (tmp_path / copy / "scifig.py").write_text((ROOT / "scifig.py").read_text(encoding="utf-8") + extra,
                                                    encoding="utf-8")
    cache = str(tmp_path / "cache")
    original = scifig.builder("mcq_fig2cap", data_dir=str(DUMMY), cache_dir=cache)
    original.download_and_prepare()
    same = _module_from(tmp_path / "same" / "scifig.py", "scifig_same").builder("mcq_fig2cap", str(DUMMY), cache)
    edited = _module_from(tmp_path / "edited" / "scifig.py", "scifig_edited").builder("mcq_fig2cap", str(DUMMY), cache)
    assert same.cache_dir == original.cache_dir and os.path.isdir(same.cache_dir)
    assert edited.cache_dir != original.cache_dir and not os.path.exists(edited.cache_dir)


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
