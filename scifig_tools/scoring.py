"""Scoring multiple-choice predictions: accuracy with its interval, per setting, category and subject, circular
evaluation, the image gain over a blind run, and the text-only baselines.

Every scorable row counts: a row without a prediction is wrong (and listed), so a run that skips questions does not
score higher for it; `only_predicted=True` scores the predicted rows alone, and says so. Letters are read from the
model's text by scifig_tools.answers' rules; an answer no rule reads is wrong and reported.
"""

import collections
import random

import numpy as np
from scipy import stats

from scifig import ANSWER_LETTERS
from scifig_tools.answers import extract_letter
from scifig_tools.predictions import PredictionsError
from scifig_tools.source import subject_label

BASELINES = ("random", "longest-option", "first-option")
EXAMPLES = 5  # examples shown of what went wrong (unparsed answers, missing predictions)


def baseline_predictions(rows, baseline, seed=0):
    """Text-only baselines: what chance and option-length bias alone score."""
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
    predictions = {}
    for row in rows:
        if baseline == "random":  # seeded by id: the same letters on every run and in any row order
            letter = random.Random(f"{seed}:{row['id']}").choice(ANSWER_LETTERS)
        elif baseline == "longest-option":
            letter = ANSWER_LETTERS[max(range(4), key=lambda i: (len(row["options"][i]), -i))]
        else:
            letter = "A"
        predictions[row["id"]] = letter
    return predictions


def wilson(correct, n):
    """The 95% Wilson score interval of a proportion (scipy), (None, None) for n = 0."""
    if n == 0:
        return None, None
    interval = stats.binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def accuracy(outcomes):
    """n, correct, accuracy and its 95% Wilson interval, of a list of right (True) and wrong (False)."""
    n, correct = len(outcomes), sum(outcomes)
    low, high = wilson(correct, n)
    return {"n": n, "correct": correct, "accuracy": correct / n if n else None, "ci95": [low, high]}


def check_ids(rows, predictions):
    """Raises PredictionsError for prediction ids that are not rows of the split."""
    known = {row["id"] for row in rows}
    unknown = sorted(set(predictions) - known)
    if unknown:
        raise PredictionsError(f"{len(unknown)} prediction ids are not in the split: {', '.join(unknown[:10])}")


def coverage(rows, predictions, scored, only_predicted):
    """What was predicted and what the scores are computed over: every scorable row (those without a prediction
    counted wrong, their ids listed), or with `only_predicted` the predicted ones alone."""
    missing = [row["id"] for row in rows if row["id"] not in predictions]
    return {"rows": len(rows), "predicted": len(rows) - len(missing), "missing": len(missing),
            "fraction": (len(rows) - len(missing)) / len(rows) if rows else None, "missing_ids": missing,
            "scored": scored, "only_predicted": only_predicted}


def score_mcq(rows, predictions, only_predicted=False):
    """Accuracy over every scorable row (answer not withheld): a row without a prediction counts as wrong, unless
    `only_predicted`. Returns the metrics evaluate writes to metrics.json."""
    check_ids(rows, predictions)
    judged, unparsed = [], []
    for row in rows:
        if row["answer"] == -1 or (only_predicted and row["id"] not in predictions):
            continue
        letter = extract_letter(predictions[row["id"]], row["options"]) if row["id"] in predictions else None
        if letter is None and row["id"] in predictions:
            unparsed.append({"id": row["id"], "prediction": predictions[row["id"]]})
        judged.append((row, letter is not None and letter == ANSWER_LETTERS[row["answer"]]))
    groups = {}
    for key in ("setting", "category", "subject"):
        label = subject_label if key == "subject" else (lambda row, key=key: row[key])
        values = sorted({label(row) for row, _ in judged})
        groups[key] = {value: accuracy([ok for row, ok in judged if label(row) == value]) for value in values}
    settings = [result["accuracy"] for result in groups["setting"].values()]
    return {
        "task": "multiple-choice",
        "rows": len(rows),
        "distinct_figures": len({row["figure_id"] for row in rows}),
        "coverage": coverage(rows, predictions, len(judged), only_predicted),
        "unscorable": sum(1 for row in rows if row["answer"] == -1),  # reference withheld (test)
        "unparsed": {"count": len(unparsed), "examples": unparsed[:EXAMPLES]},
        # MMSci counts every entry: a question filed under two subjects counts twice (upstream's headline)
        "overall": accuracy([ok for _, ok in judged]),
        # the same over the predicted rows alone, beside it (the two differ when rows lack a prediction)
        "overall_on_predicted": accuracy([ok for row, ok in judged if row["id"] in predictions]),
        # each distinct question (figure, setting, prompt) once, as first asked
        "distinct_questions": accuracy(list(_first_asked(judged).values())),
        # VLMEvalKit's "Overall" for MMSci: the mean of the per-setting accuracies
        "mean_over_settings": sum(settings) / len(settings) if settings else None,
        **{f"by_{key}": value for key, value in groups.items()},
    }


def question_of(row_id):
    """The question a circular row rotates: its id without the `-c<k>`."""
    return row_id.rsplit("-c", 1)[0]


def score_circular(rows, predictions, only_predicted=False):
    """Circular evaluation over the rows of a `circular=True` load: a question counts as right only when every
    rotation of its options is (a rotation without a prediction is wrong, unless `only_predicted`, which leaves out
    the questions not predicted whole); vanilla accuracy (the `-c0` rows) beside it, and position bias: accuracy by
    where the correct option sits, and which letters the model picks."""
    metrics = score_mcq(rows, predictions, only_predicted)
    questions = collections.defaultdict(list)
    letters, by_letter = collections.Counter(), collections.defaultdict(list)
    for row in rows:
        if row["answer"] == -1:
            continue
        predicted = row["id"] in predictions
        letter = extract_letter(predictions[row["id"]], row["options"]) if predicted else None
        right = letter == ANSWER_LETTERS[row["answer"]]
        questions[question_of(row["id"])].append((row, right, predicted))
        if predicted:
            letters[letter or "unparsed"] += 1
            by_letter[ANSWER_LETTERS[row["answer"]]].append(right)
    whole = {key: judged for key, judged in questions.items()
             if not only_predicted or all(predicted for _, _, predicted in judged)}
    by_setting = collections.defaultdict(list)
    for judged in whole.values():
        by_setting[judged[0][0]["setting"]].append(all(right for _, right, _ in judged))
    metrics["circular"] = {
        "questions": len(whole),
        "partly_predicted": sum(1 for judged in questions.values()
                                if not all(predicted for _, _, predicted in judged)),
        "vanilla": accuracy([right for judged in whole.values() for row, right, _ in judged
                             if row["id"].endswith("-c0")]),
        "circular": accuracy([all(right for _, right, _ in judged) for judged in whole.values()]),
        "circular_by_setting": {setting: accuracy(outcomes) for setting, outcomes in sorted(by_setting.items())},
        "accuracy_by_correct_letter": {letter: accuracy(by_letter[letter]) for letter in ANSWER_LETTERS},
        "predicted_letters": {key: letters.get(key, 0) for key in (*ANSWER_LETTERS, "unparsed")},
    }
    return metrics


def image_gain(rows, predictions, blind_predictions, resamples=2000, seed=0):
    """Accuracy with the figure minus accuracy without it (a blind run: same prompt, no image), over the scorable
    rows both runs answered (it compares two runs, so a row either leaves out is left out), overall and per setting,
    each with a 95% interval from a paired bootstrap."""
    paired = [(row, extract_letter(predictions[row["id"]], row["options"]) == ANSWER_LETTERS[row["answer"]],
               extract_letter(blind_predictions[row["id"]], row["options"]) == ANSWER_LETTERS[row["answer"]])
              for row in rows if row["answer"] != -1 and row["id"] in predictions and row["id"] in blind_predictions]

    def gain(pairs):
        if not pairs:
            return {"n": 0, "gain": None, "ci95": [None, None]}
        with_image = np.array([seen for _, seen, _ in pairs], dtype=float)
        without = np.array([blind for _, _, blind in pairs], dtype=float)
        difference = float(with_image.mean() - without.mean())
        if len(pairs) < 2 or np.ptp(with_image - without) == 0:  # nothing to resample: every pair differs alike
            interval = [difference, difference]
        else:
            found = stats.bootstrap((with_image, without), lambda a, b, axis: a.mean(axis) - b.mean(axis),
                                    paired=True, vectorized=True, n_resamples=resamples, method="percentile",
                                    rng=np.random.default_rng(seed))
            interval = [float(found.confidence_interval.low), float(found.confidence_interval.high)]
        return {"n": len(pairs), "with_image": float(with_image.mean()), "without_image": float(without.mean()),
                "gain": difference, "ci95": interval}

    settings = sorted({row["setting"] for row, _, _ in paired})
    return {"overall": gain(paired),
            "by_setting": {setting: gain([p for p in paired if p[0]["setting"] == setting]) for setting in settings}}


def question_key(row):
    """What makes two rows the same question: the figure, the setting and the prompt (MMSci asks a question once per
    subject its article is filed under)."""
    return row["figure_id"], row["setting"], row["prompt"]


def _first_asked(judged):
    first = {}
    for row, ok in judged:
        first.setdefault(question_key(row), ok)
    return first


def _first_asked(judged):
    first = {}
    for row, ok in judged:
        first.setdefault(question_key(row), ok)
    return first
