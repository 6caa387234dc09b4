"""Where the tools read what the repository holds, and where they write by default.

From a clone: the clone. From an installed wheel, which carries what the tools read of the repository in
scifig_tools/repository/ (pyproject.toml says what): that copy, read only; what the tools write by default then goes
to the current folder.
"""

from pathlib import Path

import scifig

_CLONE = Path(__file__).resolve().parent.parent
_CARRIED = Path(__file__).resolve().parent / "repository"

INSTALLED = _CARRIED.is_dir()
REPOSITORY = _CARRIED if INSTALLED else _CLONE  # the sample, the chart, docs/, benchmarks/RESULTS.md
SAMPLE = REPOSITORY / "dummy_data"
# The recorded infos the builder applies: beside the builder, in a clone and in the wheel alike.
INFOS = Path(scifig.__file__).resolve().parent / "dataset_infos.json"
EVAL_ARTICLES = Path(scifig.__file__).resolve().parent / scifig.EVAL_ARTICLES_FILE


def output(relative=""):
    """Where a tool writes `relative` unless told: into the clone, or into the current folder when installed."""
    return (Path.cwd() if INSTALLED else _CLONE) / relative
