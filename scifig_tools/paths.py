"""Where the tools read what the repository holds, and where they may write by default.

From a clone: the clone. From an installed wheel, which carries what the tools read of the repository in
scifig_tools/repository/ (pyproject.toml says what): that copy, read only. A tool that rewrites a file of the
repository (the card, dataset_infos.json, the chart, the sample's archives) writes into a scifig checkout only: the
clone it runs from, or, installed, the checkout the current folder is in; anywhere else it refuses unless told where
(--out), so a user's own README.md is never overwritten.
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


class NotACheckout(ValueError):
    """A tool asked to rewrite a repository file outside a scifig checkout: the message says why and what to do."""


def is_checkout(folder):
    """Whether a folder is the root of a scifig checkout: the builder, the tools and the card's text are there."""
    folder = Path(folder)
    return all((folder / name).exists() for name in ("scifig.py", "scifig_tools/card.md", "pyproject.toml"))


def checkout():
    """The scifig checkout a tool writes repository files into: the clone it runs from, or, installed, the one
    the current folder is in (or under); None when there is none."""
    if not INSTALLED:
        return _CLONE
    return next((folder for folder in (Path.cwd(), *Path.cwd().parents) if is_checkout(folder)), None)


def output(relative, what):
    """Where a tool writes the repository file `relative` unless told: into the scifig checkout.

    Raises:
        NotACheckout: there is no checkout here; `what` (e.g. "card writes README.md and docs/") says what would
            have been written.
    """
    root = checkout()
    if root is None:
        raise NotACheckout(f"{what} of a scifig checkout, and {Path.cwd()} is not in one (no scifig.py and "
                           "scifig_tools/ here), so nothing was written: run it in a clone of scifig, or pass --out")
    return root / relative
