"""Scores a model's predictions against a scifig split, offline and deterministically.

    python -m scifig_tools evaluate --config mcq --split validation --predictions P.jsonl [--out DIR]
    python -m scifig_tools evaluate --config mcq --split validation --baseline longest-option --out DIR

P.jsonl holds one {"id": ..., "prediction": "<the model's raw text>"} per line, ids from the dataset's `id`.
Unknown or duplicate ids are an error naming them; missing ids are reported as coverage; rows whose reference is
withheld (answer -1, caption None) are reported as unscorable, never scored.

Multiple choice: letters are read by scifig_tools.answers' documented rules; unparsed answers count as wrong and
are reported with examples. Accuracy overall, per setting, category and subject, each with its count and a 95%
Wilson interval (scipy). Captioning: BLEU-1..4 n-gram precisions and cumulative BLEU-4 (sacrebleu), ROUGE-L
(rouge-score), CIDEr-D (pycocoevalcap's scorer, no Java); METEOR and BERTScore only where their resources are
installed, otherwise listed as unavailable with the reason, never as 0.
"""

import collections
import json
import random
import re
from pathlib import Path

import numpy as np
from scipy import stats

import scifig
from scifig import ANSWER_LETTERS
from scifig_tools.answers import extract_letter
from scifig_tools.browse import browse
from scifig_tools.predictions import PredictionsError, read_predictions, write_predictions
from scifig_tools.report import markdown_table
from scifig_tools.source import rows_of, subject_label

BASELINES = ("random", "longest-option", "first-option")
_EXAMPLES = 5


def references(config, split, data_dir=None, base_url=None, dataset=None, circular=False, **config_kwargs):
    """The split's rows without images (they are not needed to score), as dicts in dataset order, with category
    and setting as names; with `circular`, each question once per rotation of its options (scifig.circular_rows:
    the builder's own rotation, applied here to an export, which holds each question once)."""
    if circular and dataset is None:
        config_kwargs["circular"] = True
    stream = rows_of(config, split, data_dir, base_url, dataset, **config_kwargs)
    mcq = scifig.is_mcq(config)
    columns = ["id", "uid", "figure_id", "category", "subject"] + (
        ["setting", "question", "options", "answer", "prompt"] if mcq else ["caption"])
    stream = stream.select_columns(columns)
    if circular and dataset is not None:
        stream = (rotation for row in stream for rotation in scifig.circular_rows(row))
    rows = []
    for row in stream:
        row["category"] = scifig.category_name(row["category"])
        if mcq:
            row["setting"] = scifig.SETTINGS[row["setting"]]
        rows.append(row)
    return rows


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


def _check_ids(rows, predictions):
    known = {row["id"] for row in rows}
    unknown = sorted(set(predictions) - known)
    if unknown:
        raise PredictionsError(f"{len(unknown)} prediction ids are not in the split: {', '.join(unknown[:10])}")
    return sum(1 for row in rows if row["id"] not in predictions)


def wilson(correct, n):
    """The 95% Wilson score interval of a proportion (scipy), (None, None) for n = 0."""
    if n == 0:
        return None, None
    interval = stats.binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _accuracy(outcomes):
    n, correct = len(outcomes), sum(outcomes)
    low, high = wilson(correct, n)
    return {"n": n, "correct": correct, "accuracy": correct / n if n else None, "ci95": [low, high]}


def _coverage(rows, missing):
    return {"predicted": len(rows) - missing, "missing": missing,
            "fraction": (len(rows) - missing) / len(rows) if rows else None}


def question_of(row_id):
    """The question a circular row rotates: its id without the `-c<k>`."""
    return row_id.rsplit("-c", 1)[0]


def score_circular(rows, predictions):
    """Circular evaluation over the rows of a `circular=True` load: a question counts as right only when every
    rotation of its options is; vanilla accuracy (the `-c0` rows) beside it, and position bias: accuracy by where
    the correct option sits, and which letters the model picks."""
    metrics = score_mcq(rows, predictions)
    questions = collections.defaultdict(list)
    letters, by_letter = collections.Counter(), collections.defaultdict(list)
    for row in rows:
        if row["answer"] == -1 or row["id"] not in predictions:
            continue
        letter = extract_letter(predictions[row["id"]], row["options"])
        right = letter == ANSWER_LETTERS[row["answer"]]
        questions[question_of(row["id"])].append((row, right))
        letters[letter or "unparsed"] += 1
        by_letter[ANSWER_LETTERS[row["answer"]]].append(right)
    rotations = len(ANSWER_LETTERS)
    whole = {key: judged for key, judged in questions.items() if len(judged) == rotations}
    by_setting = collections.defaultdict(list)
    for judged in whole.values():
        by_setting[judged[0][0]["setting"]].append(all(right for _, right in judged))
    metrics["circular"] = {
        "questions": len(whole),
        "partly_predicted": len(questions) - len(whole),
        "vanilla": _accuracy([right for judged in whole.values() for row, right in judged
                              if row["id"].endswith("-c0")]),
        "circular": _accuracy([all(right for _, right in judged) for judged in whole.values()]),
        "circular_by_setting": {setting: _accuracy(outcomes) for setting, outcomes in sorted(by_setting.items())},
        "accuracy_by_correct_letter": {letter: _accuracy(by_letter[letter]) for letter in ANSWER_LETTERS},
        "predicted_letters": {key: letters.get(key, 0) for key in (*ANSWER_LETTERS, "unparsed")},
    }
    return metrics


def image_gain(rows, predictions, blind_predictions, resamples=2000, seed=0):
    """Accuracy with the figure minus accuracy without it (a blind run: same prompt, no image), over the scorable
    rows both runs answered, overall and per setting, each with a 95% interval from a paired bootstrap."""
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


def score_mcq(rows, predictions):
    missing = _check_ids(rows, predictions)
    judged, unscorable, unparsed = [], 0, []
    for row in rows:
        if row["id"] not in predictions:
            continue
        if row["answer"] == -1:
            unscorable += 1
            continue
        letter = extract_letter(predictions[row["id"]], row["options"])
        if letter is None:
            unparsed.append({"id": row["id"], "prediction": predictions[row["id"]]})
        judged.append((row, letter is not None and letter == ANSWER_LETTERS[row["answer"]]))
    groups = {}
    for key in ("setting", "category", "subject"):
        label = subject_label if key == "subject" else (lambda row, key=key: row[key])
        values = sorted({label(row) for row, _ in judged})
        groups[key] = {value: _accuracy([ok for row, ok in judged if label(row) == value]) for value in values}
    scorable = sum(1 for row in rows if row["answer"] != -1)
    settings = [result["accuracy"] for result in groups["setting"].values()]
    return {
        "task": "multiple-choice",
        "rows": len(rows),
        "distinct_figures": len({row["figure_id"] for row in rows}),
        "coverage": _coverage(rows, missing),
        "unscorable": unscorable,
        "unparsed": {"count": len(unparsed), "examples": unparsed[:_EXAMPLES]},
        # MMSci counts every entry: a question filed under two subjects counts twice (upstream's headline)
        "overall": _accuracy([ok for _, ok in judged]),
        # each distinct question (figure, setting, prompt) once, as first asked
        "distinct_questions": _accuracy(list(_first_asked(judged).values())),
        # VLMEvalKit's "Overall" for MMSci: the mean of the per-setting accuracies
        "mean_over_settings": sum(settings) / len(settings) if settings else None,
        # missing predictions counted wrong: what a model that skips questions really scores
        "accuracy_over_all_scorable": (sum(ok for _, ok in judged) / scorable) if scorable else None,
        **{f"by_{key}": value for key, value in groups.items()},
    }


def question_key(row):
    """What makes two rows the same question: the figure, the setting and the prompt (MMSci asks a question once per
    subject its article is filed under)."""
    return row["figure_id"], row["setting"], row["prompt"]


def _first_asked(judged):
    first = {}
    for row, ok in judged:
        first.setdefault(question_key(row), ok)
    return first


_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text):
    """Lower-cased words and punctuation: the tokenisation CIDEr-D sees (no Java PTB tokenizer here)."""
    return " ".join(_TOKEN.findall(text.lower()))


def _meteor(hypotheses, references_):
    try:
        import nltk
        from nltk.translate.meteor_score import meteor_score

        nltk.data.find("corpora/wordnet")
    except (ImportError, LookupError) as error:
        return {"available": False, "reason": f"nltk's wordnet data is not installed ({type(error).__name__})"}
    scores = [meteor_score([r.split()], h.split()) for h, r in zip(hypotheses, references_)]
    return {"available": True, "score": float(np.mean(scores))}


def _bertscore(hypotheses, references_):
    try:
        from bert_score import score
    except ImportError:
        return {"available": False, "reason": "bert-score is not installed"}
    try:
        _, _, f1 = score(hypotheses, references_, lang="en", verbose=False)
    except OSError as error:  # the model is not in the local cache and the hub is out of reach
        return {"available": False, "reason": f"its model is not available locally: {error}"}
    return {"available": True, "f1": float(f1.mean())}


def caption_metrics(hypotheses, references_):
    """Corpus metrics over aligned hypothesis/reference lists."""
    import sacrebleu
    from pycocoevalcap.cider.cider import Cider
    from rouge_score import rouge_scorer

    if not hypotheses:
        return {"n": 0}
    bleu = sacrebleu.corpus_bleu(hypotheses, [references_])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references_)]
    keys = range(len(hypotheses))
    cider, _ = Cider().compute_score({k: [_tokens(references_[k])] for k in keys},
                                     {k: [_tokens(hypotheses[k])] for k in keys})
    sem = stats.sem(rouge) if len(rouge) > 1 else float("nan")
    half = float(stats.t.ppf(0.975, len(rouge) - 1) * sem) if len(rouge) > 1 else None
    return {
        "n": len(hypotheses),
        "bleu_precisions": {f"bleu{n + 1}": p for n, p in enumerate(bleu.precisions)},
        "bleu4": bleu.score,
        "rougeL": float(np.mean(rouge)),
        "rougeL_ci95": ([max(0.0, float(np.mean(rouge)) - half), min(1.0, float(np.mean(rouge)) + half)]
                        if half is not None else [None, None]),
        "ciderD": float(cider),
        "meteor": _meteor(hypotheses, references_),
        "bertscore": _bertscore(hypotheses, references_),
    }


def score_captioning(rows, predictions):
    missing = _check_ids(rows, predictions)
    pairs = [(row, predictions[row["id"]]) for row in rows if row["id"] in predictions and row["caption"] is not None]
    unscorable = sum(1 for row in rows if row["id"] in predictions and row["caption"] is None)
    by_category = {}
    for category in sorted({row["category"] for row, _ in pairs}):
        chosen = [(row, text) for row, text in pairs if row["category"] == category]
        by_category[category] = caption_metrics([t for _, t in chosen], [r["caption"] for r, _ in chosen])
    return {
        "task": "captioning",
        "rows": len(rows),
        "distinct_figures": len({row["figure_id"] for row in rows}),
        "coverage": _coverage(rows, missing),
        "unscorable": unscorable,
        "overall": caption_metrics([t for _, t in pairs], [r["caption"] for r, _ in pairs]),
        "by_category": by_category,
    }


def _pct(value):
    return "—" if value is None else f"{100 * value:.1f}"


def markdown(metrics, title):
    lines = [f"## {title}", ""]
    coverage = metrics["coverage"]
    lines.append(f"Coverage: {coverage['predicted']}/{metrics['rows']} rows predicted "
                 f"({metrics['distinct_figures']} distinct figures); "
                 f"{metrics['unscorable']} unscorable (reference withheld).")
    if metrics["task"] == "multiple-choice":
        lines.append(f"Unparsed answers (counted wrong): {metrics['unparsed']['count']}.")
        lines.append("")
        distinct = metrics["distinct_questions"]
        table = [["overall (every entry, as MMSci counts)", "", metrics["overall"]["n"],
                  _pct(metrics["overall"]["accuracy"]), "–".join(_pct(v) for v in metrics["overall"]["ci95"])],
                 ["overall, distinct questions", "", distinct["n"], _pct(distinct["accuracy"]),
                  "–".join(_pct(v) for v in distinct["ci95"])],
                 ["overall, mean over settings (VLMEvalKit's Overall)", "", "", _pct(metrics["mean_over_settings"]),
                  ""]]
        for key in ("setting", "category", "subject"):
            for value, result in metrics[f"by_{key}"].items():
                table.append([key, value, result["n"], _pct(result["accuracy"]),
                              "–".join(_pct(v) for v in result["ci95"])])
        lines.append(markdown_table(["group", "value", "n", "accuracy %", "95% CI"], table))
        lines += ["", "A question MMSci files under two subjects (an article under both \"Ecology\" entries, say) is "
                      "asked twice: it counts once in each subject's row, twice overall, and once among distinct "
                      "questions (its first entry)."]
        if "circular" in metrics:
            found = metrics["circular"]
            lines += ["", f"Circular evaluation over {found['questions']} questions ({found['partly_predicted']} "
                          "with rotations missing, left out): a question is right only when all its rotations are.",
                      "", markdown_table(["measure", "n", "accuracy %", "95% CI"], [
                          [name, result["n"], _pct(result["accuracy"]), "–".join(_pct(v) for v in result["ci95"])]
                          for name, result in [("vanilla (-c0)", found["vanilla"]), ("circular", found["circular"])]
                          + [(f"circular, {s}", r) for s, r in found["circular_by_setting"].items()]
                          + [(f"correct letter {k}", r) for k, r in found["accuracy_by_correct_letter"].items()]]),
                      "", "Predicted letters: " + ", ".join(f"{k} {n}" for k, n in found["predicted_letters"].items())
                      + "."]
        if "image_gain" in metrics:
            rows = [["overall", metrics["image_gain"]["overall"]]] + [
                [setting, result] for setting, result in metrics["image_gain"]["by_setting"].items()]
            lines += ["", "Image gain: accuracy with the figure minus without it (a blind run), paired bootstrap.", "",
                      markdown_table(["group", "n", "with image %", "without %", "gain (points)", "95% CI"], [
                          [name, r["n"], _pct(r.get("with_image")), _pct(r.get("without_image")), _pct(r["gain"]),
                           "–".join(_pct(v) for v in r["ci95"])] for name, r in rows])]
    else:
        lines.append("")
        table = []
        for name, result in [("overall", metrics["overall"])] + list(metrics["by_category"].items()):
            if not result.get("n"):
                continue
            p = result["bleu_precisions"]
            table.append([name, result["n"], *(f"{p[f'bleu{n}']:.1f}" for n in range(1, 5)), f"{result['bleu4']:.1f}",
                          f"{100 * result['rougeL']:.1f}", f"{100 * result['ciderD']:.1f}",
                          _optional(result["meteor"], "score"), _optional(result["bertscore"], "f1")])
        lines.append(markdown_table(["group", "n", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4 prec.", "BLEU-4",
                                     "ROUGE-L", "CIDEr-D", "METEOR", "BERTScore F1"], table))
    return "\n".join(lines) + "\n"


def _optional(result, key):
    return f"{100 * result[key]:.1f}" if result.get("available") else "unavailable"


def chart(metrics, path, title):
    """Accuracy (or ROUGE-L) per category with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metrics["task"] == "multiple-choice":
        groups = metrics["by_category"]
        values = [groups[c]["accuracy"] for c in groups]
        intervals = [groups[c]["ci95"] for c in groups]
        label = "accuracy"
    else:
        groups = {c: r for c, r in metrics["by_category"].items() if r.get("n")}
        values = [groups[c]["rougeL"] for c in groups]
        intervals = [groups[c]["rougeL_ci95"] for c in groups]
        label = "ROUGE-L"
    lower = [v - (i[0] if i[0] is not None else v) for v, i in zip(values, intervals)]
    upper = [(i[1] if i[1] is not None else v) - v for v, i in zip(values, intervals)]
    fig, axis = plt.subplots(figsize=(8, 0.5 * len(values) + 1.5))
    axis.barh(range(len(values)), values, xerr=[lower, upper], color="#4C72B0", capsize=3)
    axis.set_yticks(range(len(values)), list(groups), fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel(f"{label} (95% interval)")
    axis.set_title(title, fontsize=10)
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def evaluate(config, split, predictions=None, baseline=None, data_dir=None, base_url=None, out=None,
             browse_errors=True, dataset=None, circular=False, blind_predictions=None, **config_kwargs):
    """Scores one split; with `out`, writes metrics.json, metrics.md, a chart and (for errors) an errors/ site.
    `circular` scores a run over every rotation of the options (ids `<id>-c<k>`); `blind_predictions`, a run
    without the figures, adds the image gain."""
    if (predictions is None) == (baseline is None):
        raise ValueError("give exactly one of predictions (a .jsonl path) or baseline")
    if (circular or blind_predictions) and not scifig.is_mcq(config):
        raise ValueError("circular and blind scoring are for the multiple-choice configs")
    rows = references(config, split, data_dir, base_url, dataset, circular, **config_kwargs)
    out = Path(out) if out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    mcq = scifig.is_mcq(config)
    if baseline:
        if not mcq:
            raise ValueError("baselines pick an option: they exist for the multiple-choice configs only")
        predicted = baseline_predictions(rows, baseline)
        if out:
            predictions = write_predictions(predicted, out / f"predictions-{baseline}.jsonl")
    else:
        predicted = read_predictions(predictions)
    metrics = (score_circular if circular else score_mcq if mcq else score_captioning)(rows, predicted)
    if blind_predictions:
        metrics["image_gain"] = image_gain(rows, predicted, read_predictions(blind_predictions))
    metrics.update({"config": config, "split": split,
                    "predictions": str(predictions) if predictions else f"baseline:{baseline}"})
    if out:
        title = f"scifig {config} [{split}] — {Path(str(predictions)).name if predictions else baseline}"
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / "metrics.md").write_text(markdown(metrics, title), encoding="utf-8")
        chart(metrics, out / "by_category.png", title)
        if browse_errors and predictions and dataset is None and not circular:
            browse(config, split, out / "errors", data_dir=data_dir, base_url=base_url,
                   predictions=predictions, only_errors=True, **config_kwargs)
    return metrics
