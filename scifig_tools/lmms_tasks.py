"""The functions scifig's lmms-eval tasks call (`python -m scifig_tools harness lmms-eval` writes tasks that import
this module): the prompt models are asked, and scoring by `scifig_tools.answers` and `scifig_tools.evaluate`, so
lmms-eval reports exactly what `scifig_tools evaluate` reports on the same replies.

Rows come from a scifig export (a folder or its Hub id) read by lmms-eval with `datasets.load_dataset`.
"""

import functools
import os

import datasets

import scifig
from scifig import ANSWER_LETTERS
from scifig_tools import captioning
from scifig_tools.answers import ANSWER_INSTRUCTION
from scifig_tools.scoring import score_circular, score_mcq

# MMSci's own captioning prompt (its run_captioning.py, grounded on the abstract, as by default there).
CAPTION_INSTRUCTION = ("Please write a detailed description of the whole figure and all sub-figures based on the "
                       "article.\n")


def caption_prompt(abstract):
    return f"{CAPTION_INSTRUCTION} Article:\n{abstract or ''}"


# ---- what the model is given ----

def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def doc_to_visual_blind(doc):
    """The blind variant: the same prompt, no figure."""
    return []


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["prompt"] + ANSWER_INSTRUCTION


def doc_to_target(doc):
    return ANSWER_LETTERS[doc["answer"]] if doc["answer"] >= 0 else ""


def caption_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return caption_prompt(doc["abstract"])


def caption_doc_to_target(doc):
    return doc["caption"] or ""


def circular_docs(dataset):
    """Each question once per rotation of its options (scifig.circular_rows, as `circular=True` loads it)."""
    image = dataset.features["image"]
    undecoded = dataset.cast_column("image", datasets.Image(decode=False))
    columns = undecoded.column_names

    def rotate(batch):
        rows = [dict(zip(columns, values)) for values in zip(*(batch[name] for name in columns))]
        rotations = [rotation for row in rows for rotation in scifig.circular_rows(row)]
        return {name: [rotation[name] for rotation in rotations] for name in columns}

    return undecoded.map(rotate, batched=True, batch_size=64).cast_column("image", image)


# ---- scoring: one item per reply; a task's items are scored once, by scifig_tools.evaluate ----
#
# lmms-eval hands each metric's aggregation the task's items separately; every metric of a task reads the same
# score, computed once (cached on the items' content) by the scorers `scifig_tools evaluate` runs.

def _scored(doc, results, metrics, circular=False):
    """One item per reply, handed to each of the task's metrics (lmms-eval matches group metrics by substring,
    so a task reports exactly the metrics it lists): the row as evaluate scores it, the reply, and which scorer."""
    item = (("id", doc["id"]), ("figure_id", doc["figure_id"]), ("prompt", doc["prompt"]),
            ("options", tuple(doc["options"])), ("answer", doc["answer"]),
            ("setting", scifig.SETTINGS[doc["setting"]]), ("category", scifig.category_name(doc["category"])),
            ("subject", doc["subject"]), ("reply", results[0]), ("circular", circular))
    return {name: item for name in metrics}


def process_results(doc, results):
    return _scored(doc, results, ("accuracy", "distinct_accuracy", "unparsed", "by_category", "by_subject"))


def circular_process_results(doc, results):
    return _scored(doc, results, ("circular_accuracy", "vanilla_accuracy", "accuracy", "unparsed"), circular=True)


@functools.lru_cache(maxsize=16)
def _mcq_score(items):
    rows = [dict(item, options=list(dict(item)["options"])) for item in items]
    predictions = {row["id"]: row.pop("reply") for row in rows}
    circular = any(row.pop("circular") for row in rows)
    return (score_circular if circular else score_mcq)(rows, predictions)


def _score(items):
    return _mcq_score(tuple(items))


def _value(result):
    return float("nan") if result["accuracy"] is None else result["accuracy"]


def accuracy(items):
    return _value(_score(items)["overall"])


def distinct_accuracy(items):
    """Accuracy over distinct questions: a question MMSci asks under two subjects counts once (`accuracy` counts
    every entry, as MMSci does)."""
    return _value(_score(items)["distinct_questions"])


def unparsed(items):
    """Replies no rule could read a letter from (counted wrong)."""
    return float(_score(items)["unparsed"]["count"])


def by_category(items):
    return {name: result["accuracy"] for name, result in _score(items)["by_category"].items()}


def by_subject(items):
    return {name: result["accuracy"] for name, result in _score(items)["by_subject"].items()}


def circular_accuracy(items):
    """A question counts as right only when every rotation of its options is."""
    return _value(_score(items)["circular"]["circular"])


def vanilla_accuracy(items):
    """Accuracy on the rotations that keep MMSci's order (`-c0`)."""
    return _value(_score(items)["circular"]["vanilla"])


# ---- captioning: MMSci's textgen_scores metrics, as `evaluate --protocol mmsci` computes them ----
#
# lmms-eval metric names are function names: bleu1 ... rougeLsum for MMSci's keys "BLEU-1" ... "rougeLSum".
# BERTScore needs its model: SCIFIG_BERTSCORE_MODEL (a Hub name or a local folder) turns it on.

CAPTION_METRICS = {"bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4", "bleu": "BLEU",
                   "rouge1": "rouge1", "rouge2": "rouge2", "rougeL": "rougeL", "rougeLsum": "rougeLSum",
                   "meteor": "METEOR", "bertscore": "BERTSCORE"}


def caption_process_results(doc, results):
    item = (("id", doc["id"]), ("figure_id", doc["figure_id"]), ("caption", doc["caption"]), ("reply", results[0]))
    return {name: item for name in CAPTION_METRICS}


@functools.lru_cache(maxsize=4)
def _caption_score(items):
    rows = [dict(item) for item in items]
    predictions = {row["id"]: row.pop("reply") or "" for row in rows}
    model = os.environ.get("SCIFIG_BERTSCORE_MODEL")
    bertscore = captioning.BertScore(model) if model and model.lower() != "none" else None
    return captioning.score_mmsci(rows, predictions, bertscore=bertscore)["scores"]


def _caption_metric(name):
    def aggregate(items):
        return _caption_score(tuple(items)).get(CAPTION_METRICS[name], float("nan"))

    aggregate.__name__ = aggregate.__qualname__ = name
    aggregate.__doc__ = f"MMSci's {CAPTION_METRICS[name]} (textgen_scores.py), per figure then averaged."
    return aggregate


for _name in CAPTION_METRICS:
    globals()[_name] = _caption_metric(_name)
