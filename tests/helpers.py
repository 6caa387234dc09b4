"""What tests share besides fixtures: where the repository and its sample are, copies of the builder, and rows in a
form that compares (images as size, mode and pixel digest, so prepared and streamed rows compare)."""

import hashlib
from pathlib import Path

import datasets

ROOT = Path(__file__).resolve().parent.parent
DUMMY = ROOT / "dummy_data"
# What the builder is: scifig.py, its sibling modules, and the list it reads beside itself.
BUILDER_FILES = ("scifig.py", *sorted(path.name for path in ROOT.glob("scifig_*.py")), "scifig_eval_articles.json")
SCRIPTS_RUN = int(datasets.__version__.split(".")[0]) < 4


def copy_builder(folder, appended=None):
    """The builder's files copied into `folder`, with `appended` ({file name: text}) added at the end of some."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in BUILDER_FILES:
        text = (ROOT / name).read_text(encoding="utf-8") + (appended or {}).get(name, "")
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def comparable(value):
    if hasattr(value, "tobytes") and hasattr(value, "size"):
        return ("image", value.size, value.mode, hashlib.sha1(value.tobytes()).hexdigest())
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def rows_of(dataset):
    return [comparable(row) for row in dataset]


def meteor_data():
    """Whether nltk has, or can be given, what METEOR reads (Debian's WordNet, the Punkt package): tests/run.sh
    installs them where apt can; CI must have them, so there a missing one fails the test instead of skipping it."""
    import os

    import pytest

    from scifig_tools import captioning, metric_resources

    try:
        metric_resources.nltk_ready()
    except captioning.MetricUnavailable as error:
        if "CI" in os.environ:
            raise
        pytest.skip(f"METEOR's data is not installed here: {error}")
