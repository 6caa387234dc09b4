"""Figures and articles per category and subject, as a chart for the card.

    python -m scifig_tools stats                          # the upstream published counts (the committed chart)
    python -m scifig_tools stats --data-dir dummy_data    # counted from any data source, all splits of captioning

Upstream counts come from scifig_tools/upstream/corpus_summary.json (source stated in that file). Counted from a
source, a figure is a `captioning` row and an article a distinct `uid` per subject.
"""

import collections
import json
from pathlib import Path

import datasets

import scifig
from scifig_tools import paths

SUMMARY = Path(__file__).resolve().parent / "upstream" / "corpus_summary.json"
CHART = "assets/figures_per_subject.png"  # in the scifig checkout (paths.output)
_COLOURS = ["#4C72B0", "#55A868", "#C44E52", "#8172B2", "#CCB974"]


def upstream_counts(path=SUMMARY):
    """{(category, subject): {"articles": n, "figures": n}} from the upstream summary, in taxonomy order."""
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        (category, subject): {"articles": numbers["articles"], "figures": numbers["figures"]}
        for category, subjects in summary["subjects"].items()
        for subject, numbers in subjects.items()
    }, summary["source"]


def counted(data_dir=None, base_url=None, **config_kwargs):
    """The same counts from a data source: every split of `captioning`, images not decoded."""
    figures, articles = collections.Counter(), collections.defaultdict(set)
    splits = scifig.load("captioning", streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    for split in splits.values():
        for row in split.cast_column("image", datasets.Image(decode=False)).select_columns(
                ["uid", "category", "subject"]):
            key = (scifig.category_name(row["category"]), row["subject"])
            figures[key] += 1
            articles[key].add(row["uid"])
    order = [(c, s) for c, subjects in scifig.TAXONOMY.items() for s in subjects]
    return {key: {"articles": len(articles[key]), "figures": figures[key]} for key in order if key in figures}


def draw(counts, title, out=None):
    """Two bar panels (figures, articles) per subject, grouped and coloured by category, log scale."""
    out = out or paths.output(CHART, f"stats draws {CHART}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(counts)
    height = max(3.0, 0.2 * len(keys) + 1.5)
    fig, axes = plt.subplots(1, 2, figsize=(12, height), sharey=True)
    colours = [_COLOURS[scifig.CATEGORIES.index(category)] for category, _ in keys]
    positions = range(len(keys))
    for axis, measure in zip(axes, ("figures", "articles")):
        values = [counts[key][measure] for key in keys]
        axis.barh(positions, values, color=colours)
        if max(values) >= 1000:  # upstream counts span 10 to 50k: only a log scale shows the small subjects
            axis.set_xscale("log")
        axis.set_title(measure, fontsize=10)
        axis.grid(axis="x", alpha=0.3)
        axis.margins(y=0.005)
    axes[0].set_yticks(list(positions), [subject for _, subject in keys], fontsize=7)
    axes[0].invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _COLOURS]
    fig.legend(handles, scifig.CATEGORIES, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.05 if len(keys) > 20 else 0.12, 1, 0.97))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so the committed chart only changes when the numbers do.
    fig.savefig(out, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return out


def main(data_dir=None, base_url=None, out=None):
    if data_dir or base_url:
        counts = counted(data_dir, base_url)
        title = f"scifig captioning, all splits, counted from {data_dir or base_url}"
    else:
        counts, _ = upstream_counts()
        title = "MMSci corpus: figures and articles per subject (upstream published counts)"
    path = draw(counts, title, out)
    totals = {m: sum(c[m] for c in counts.values()) for m in ("figures", "articles")}
    return path, counts, totals
