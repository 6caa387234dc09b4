"""The hosted archives' layout and upstream's wording, for the tools that write archives in it.

The bundled sample (`scifig_tools.dummy_data`) and the benchmark corpus (`benchmarks/make_corpus.py`) both write
benchmark.zip, pretraindata.zip and rawdata.zip as upstream hosts them; the builder finds members by these
relative paths (its recipes' members under `scifig.SPLIT_FOLDERS`).
"""

import zipfile

import scifig
from scifig import is_figure

ZIP_TIMESTAMP = (2024, 6, 1, 0, 0, 0)  # fixed, so rebuilt archives are byte-identical

# Upstream's question stems: the whole figure (fig2cap), and sub-figure (x) (subfig2cap and subcap2fig).
FIG2CAP_QUESTION = "Which of the following captions best describes the whole figure?"
SUBFIG_QUESTION = "which of the following options best describes the content in sub-figure ({})?"


def benchmark_json(split, task):
    return f"benchmark/{scifig.SPLIT_FOLDERS[split]}/{scifig.RECIPES[task].member}"


def empty_evaluation_files():
    """{member: bytes} of empty validation and test files: what a train-only benchmark.zip needs to be read with
    exclude_eval_articles (the default), which reads the evaluation articles from them."""
    return {benchmark_json(split, task): b"[[], [], []]" if task == "mcq" else b"[]"
            for split in ("validation", "test") for task in ("captioning", "mcq")}


def benchmark_image(split, name):
    return f"benchmark/{scifig.SPLIT_FOLDERS[split]}/images/{name}"


def figure_name(uid, index):
    """`<uid>_figure_<i>.png`, i 0-based: figure_0 is the article's Figure 1."""
    return f"{uid}_figure_{index}.png"


def pretraining_shard(number, folder="all"):
    return f"pretraindata/shards/{folder}/shard_{number}.pkl"


def shard_count(shard):
    """The `.count` file beside a pickle shard, holding its number of documents."""
    return shard[: -len(".pkl")] + ".count"


def rawdata_folder(category, subject, uid):
    return f"rawdata/{category}/{subject}/{uid}/"


def zip_entry(name, compress):
    """A member entry as the hosted archives write them: fixed time; text deflated, figures stored."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    return info


def write_zip(path, members):
    """A zip of {name: bytes}, in name order; figures stored, everything else deflated."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in sorted(members.items()):
            archive.writestr(zip_entry(name, compress=not is_figure(name)), data)
