"""Where a tool's rows come from, and how it names what it groups them by.

Tools read a split from MMSci's archives through the builder (`scifig.load`, with `data_dir=` or `base_url=` as
the builder takes them), or from a scifig export: its folder or its Hub id, read by `datasets.load_dataset`.
"""

import datasets

import scifig

_AMBIGUOUS = {s for s in scifig.SUBJECTS if sum(s in subjects for subjects in scifig.TAXONOMY.values()) > 1}


# What browse can show: one page layout per task.
BROWSABLE = [name for name in scifig.CONFIG_NAMES if scifig.task_of(name) in ("captioning", "mcq", "pretraining")]


def default_split(config):
    """The split a tool shows unless told: validation, where the config has one, else its first."""
    splits = scifig.RECIPES[scifig.task_of(config)].splits
    return "validation" if "validation" in splits else splits[0]


def rows_of(config, split, data_dir=None, base_url=None, dataset=None, **config_kwargs):
    """A split as a stream: from the archives, or from `dataset` (an export's folder or Hub id)."""
    if dataset is None:
        return scifig.load(config, split=split, streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    return datasets.load_dataset(str(dataset), config, split=split, streaming=True)


def subject_label(row):
    """The subject, with its category where the name alone is ambiguous ("Ecology" sits under two)."""
    return f"{row['subject']} ({row['category']})" if row["subject"] in _AMBIGUOUS else row["subject"]
