"""The functions scifig's lmms-eval tasks call (`python -m scifig_tools harness lmms-eval` writes tasks that import
this module): the prompt models are asked, and scoring by `scifig_tools.answers` and `scifig_tools.evaluate`, so
lmms-eval reports exactly what `scifig_tools evaluate` reports on the same replies.

Rows come from a scifig export (a folder or its Hub id) read by lmms-eval with `datasets.load_dataset`.
"""

import collections

import datasets

import scifig
from scifig_tools.answers import ANSWER_INSTRUCTION, LETTERS, extract_letter
from scifig_tools.evaluate import caption_metrics, question_of
from scifig_tools.source import subject_label

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
    return LETTERS[doc["answer"]] if doc["answer"] >= 0 else ""


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


# ---- scoring: one item per reply, aggregated over a task ----

def _names(doc):
    category = scifig.category_name(doc["category"])
    return {"category": category, "subject": subject_label({"category": category, "subject": doc["subject"]}),
            "setting": scifig.SETTINGS[doc["setting"]]}


def _scored(doc, results, metrics):
    """One item per reply, handed to each of the task's metrics (lmms-eval matches group metrics by substring,
    so a task reports exactly the metrics it lists)."""
    letter = extract_letter(results[0], doc["options"])
    item = {"id": doc["id"], "parsed": letter, "correct": doc["answer"] >= 0 and letter == LETTERS[doc["answer"]],
            "scorable": doc["answer"] >= 0, **_names(doc)}
    return {name: item for name in metrics}


def process_results(doc, results):
    return _scored(doc, results, ("accuracy", "unparsed", "by_category", "by_subject"))


def circular_process_results(doc, results):
    return _scored(doc, results, ("circular_accuracy", "vanilla_accuracy", "accuracy", "unparsed"))


def _scorable(items):
    return [item for item in items if item["scorable"]]


def accuracy(items):
    scored = _scorable(items)
    return sum(item["correct"] for item in scored) / len(scored) if scored else float("nan")


def unparsed(items):
    """Replies no rule could read a letter from (counted wrong)."""
    return float(sum(item["parsed"] is None for item in _scorable(items)))


def _by(key, items):
    groups = collections.defaultdict(list)
    for item in _scorable(items):
        groups[item[key]].append(item["correct"])
    return {name: sum(outcomes) / len(outcomes) for name, outcomes in sorted(groups.items())}


def by_category(items):
    return _by("category", items)


def by_subject(items):
    return _by("subject", items)


def circular_accuracy(items):
    """A question counts as right only when every rotation of its options is."""
    questions = collections.defaultdict(list)
    for item in _scorable(items):
        questions[question_of(item["id"])].append(item["correct"])
    whole = [outcomes for outcomes in questions.values() if len(outcomes) == len(LETTERS)]
    return sum(all(outcomes) for outcomes in whole) / len(whole) if whole else float("nan")


def vanilla_accuracy(items):
    """Accuracy on the rotations that keep MMSci's order (`-c0`)."""
    return accuracy([item for item in items if item["id"].endswith("-c0")])


def caption_process_results(doc, results):
    item = {"prediction": results[0], "reference": doc["caption"]}
    return {name: item for name in ("bleu4", "rougeL", "ciderD")}


def _captions(items):
    scored = [item for item in items if item["reference"] is not None]
    return caption_metrics([item["prediction"] for item in scored], [item["reference"] for item in scored])


def bleu4(items):
    return _captions(items)["bleu4"]


def rougeL(items):  # noqa: N802 - the metric's name
    return _captions(items)["rougeL"]


def ciderD(items):  # noqa: N802 - the metric's name
    return _captions(items)["ciderD"]
