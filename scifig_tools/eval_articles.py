"""Writes the list of evaluation articles shipped beside the builder (scifig.EVAL_ARTICLES_FILE), from upstream's
split files: what exclude_eval_articles leaves out of train when benchmark.zip cannot be had.

    git clone https://github.com/Leezekun/MMSci && git -C MMSci checkout f9be52c68fd096ca20c5333e76e8c5f34ffb166f
    python -m scifig_tools eval-articles MMSci/mmsci-data/rawdata --commit f9be52c68fd096ca20c5333e76e8c5f34ffb166f

The folder holds {train,dev,test}_split_ids.json, each {category: {subject: [uid, ...]}}; scifig's validation is
upstream's dev. Beside the ids, the list records how many of them upstream's train split holds too (the leak
exclude_eval_articles closes), counted on the same files.
"""

import json
from pathlib import Path

import scifig
from scifig_tools import paths

SOURCE = "Leezekun/MMSci, mmsci-data/rawdata/{train,dev,test}_split_ids.json"
UPSTREAM_FILES = {"train": "train_split_ids.json", "validation": "dev_split_ids.json", "test": "test_split_ids.json"}


def split_uids(path):
    """The distinct uids of one upstream split file, sorted, and its number of (subject, uid) entries."""
    filed = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = [uid for subjects in filed.values() for uids in subjects.values() for uid in uids]
    return sorted(set(entries)), len(entries)


def build(folder, commit):
    listed = {"about": "The articles of MMSci's dev (scifig's validation) and test splits, from upstream's split "
                       "files: what exclude_eval_articles leaves out of train when benchmark.zip cannot be had; "
                       "and how many of them upstream's train split holds too. Written by "
                       "`python -m scifig_tools eval-articles`.",
              "source": SOURCE, "commit": commit, "entries": {}, "articles": {}}
    found = {}
    for split, name in UPSTREAM_FILES.items():
        found[split], listed["entries"][split] = split_uids(Path(folder) / name)
        listed["articles"][split] = len(found[split])
    train = set(found["train"])
    listed["also_in_train"] = {split: len(set(found[split]) & train) for split in scifig.EVAL_SPLITS}
    listed["in_validation_and_test"] = len(set(found["validation"]) & set(found["test"]))
    for split in scifig.EVAL_SPLITS:
        listed[split] = found[split]
    return listed


def write(listed, path=None):
    path = Path(path or paths.output(scifig.EVAL_ARTICLES_FILE, f"eval-articles writes {scifig.EVAL_ARTICLES_FILE}"))
    path.write_text(json.dumps(listed, indent=0) + "\n", encoding="utf-8")
    return path
