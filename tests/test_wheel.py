"""The package as `pip install .` installs it: whole, from outside the repository, in a fresh virtual environment."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import venv

import datasets
import pytest

from scifig_tools import card

from helpers import DUMMY, ROOT

pytestmark = pytest.mark.skipif(int(datasets.__version__.split(".")[0]) < 5,
                                reason="the wheel requires the current datasets line (requirements.txt)")

# The README's load example, on the sample, and what an installed copy must find beside the builder.
LOAD = f"""
import json, scifig
stream = scifig.load("mcq", split="validation", streaming=True, data_dir={str(DUMMY)!r})
rows = list(stream)
print(json.dumps({{"file": scifig.__file__, "rows": len(rows), "ids": [row["id"] for row in rows],
                  "infos": sorted(scifig.recorded_infos()), "error": scifig.ScifigDataError.__module__}}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the wheel built from this checkout installed (dependencies from the registry)."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder / "dist"), str(ROOT)],
                   check=True, timeout=600)
    wheel = next((folder / "dist").glob("scifig-*.whl"))
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    return python


def _run(python, cwd, *args):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_the_readme_load_example_runs_from_an_installed_copy(installed, tmp_path):
    result = _run(installed, tmp_path, "-c", LOAD)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert "site-packages" in found["file"] and found["rows"] == 12
    import scifig

    assert found["ids"] == [row["id"] for row in scifig.load("mcq", split="validation", streaming=True,
                                                              data_dir=str(DUMMY))]
    assert "mcq" in found["infos"]  # dataset_infos.json travelled with the builder
    assert found["error"] == "scifig.scifig_errors"


def test_an_installed_copy_wins_over_a_clone_folder_in_the_working_directory(installed, tmp_path):
    """From the folder holding a clone named scifig (where datasets 3.6 users stand), `import scifig` is the
    installed package, not the clone folder as an empty namespace package."""
    (tmp_path / "scifig").mkdir()
    shutil.copy(ROOT / "scifig.py", tmp_path / "scifig" / "scifig.py")
    result = _run(installed, tmp_path, "-c", "import scifig; print(scifig.load.__module__, scifig.__file__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "scifig" and "site-packages" in result.stdout


def test_the_tools_work_from_an_installed_copy_in_an_empty_folder(installed, tmp_path):
    commands = {
        "export": ["export", "out", "--data-dir", str(DUMMY), "--configs", "mcq_fig2cap"],
        "card": ["card", "--out", "card"],
        "infos": ["infos", "--out", "dataset_infos.json"],
        "harness": ["harness", "vlmevalkit", "lmudata", "--data-dir", str(DUMMY)],
        "evaluate": ["evaluate", "--config", "mcq", "--baseline", "longest-option", "--data-dir", str(DUMMY),
                     "--out", "eval"],
    }
    for name, arguments in commands.items():
        result = _run(installed, tmp_path, "-m", "scifig_tools", *arguments)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    assert sorted(path.name for path in (tmp_path / "out" / "mcq_fig2cap").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "config_name: mcq_fig2cap" in card and (tmp_path / "out" / "assets" / "figures_per_subject.png").is_file()
    # the export of the bundled sample says so on its first screen, and counts its own rows
    assert "This is the fictional sample bundled with scifig, 9 rows" in card and "- n<1K" in card
    # the card of an installed copy is the repository's, rendered from what the wheel carries
    assert (tmp_path / "card" / "README.md").read_text(encoding="utf-8") == (ROOT / "README.md").read_text(
        encoding="utf-8")
    assert json.loads((tmp_path / "dataset_infos.json").read_text(encoding="utf-8")) == json.loads(
        (ROOT / "dataset_infos.json").read_text(encoding="utf-8"))
    assert len(list((tmp_path / "lmudata").glob("*scifig_*_validation.tsv"))) == 4
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))["rows"] == 12


@pytest.mark.parametrize("command,writes", [("card", "README.md"), ("infos", "dataset_infos.json"),
                                            ("stats", "assets/figures_per_subject.png"),
                                            ("dummy-data", "dummy_data/benchmark.zip")])
def test_an_installed_copy_outside_a_checkout_never_overwrites_a_users_files(installed, tmp_path, command, writes):
    mine = tmp_path / writes
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("the user's own file\n")
    result = _run(installed, tmp_path, "-m", "scifig_tools", command)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "is not in one" in result.stderr and "--out" in result.stderr
    assert mine.read_text() == "the user's own file\n" and not (tmp_path / "docs").exists()


def test_the_readmes_first_command_installs_the_package_and_previews_the_sample(installed):
    """`pip install .` is what the `installed` venv holds (a wheel of this checkout); the command then previews the
    sample from the clone."""
    command = card.PREVIEW_COMMAND
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")
    create, install, preview = command.split(" && ")
    assert (create, install) == ("python3 -m venv .venv", ".venv/bin/pip install .")
    arguments = shlex.split(preview)
    assert arguments[0] == ".venv/bin/python"
    result = _run(installed, ROOT, *arguments[1:])
    assert result.returncode == 0, result.stderr
    assert "scifig/mcq [validation] features:" in result.stdout and result.stdout.count("\nrow ") == 3
