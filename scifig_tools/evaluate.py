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

import hashlib
import json
import re
from pathlib import Path

import numpy as np
from scipy import stats

import scifig
from scifig_tools.browse import browse
from scifig_tools.predictions import read_predictions, write_predictions
from scifig_tools.report import markdown_table
from scifig_tools.scoring import (
    EXAMPLES,
    baseline_predictions,
    check_ids,
    coverage,
    image_gain,
    score_circular,
    score_mcq,
)
from scifig_tools.source import rows_of


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


def score_captioning(rows, predictions, only_predicted=False):
    """Caption metrics over every row with a reference caption: a row without a prediction is scored as an empty
    caption (0 under each per-sample metric), unless `only_predicted`."""
    check_ids(rows, predictions)
    pairs = [(row, predictions.get(row["id"], "")) for row in rows if row["caption"] is not None
             and (row["id"] in predictions or not only_predicted)]
    by_category = {}
    for category in sorted({row["category"] for row, _ in pairs}):
        chosen = [(row, text) for row, text in pairs if row["category"] == category]
        by_category[category] = caption_metrics([t for _, t in chosen], [r["caption"] for r, _ in chosen])
    return {
        "task": "captioning",
        "rows": len(rows),
        "distinct_figures": len({row["figure_id"] for row in rows}),
        "coverage": coverage(rows, predictions, len(pairs), only_predicted),
        "unscorable": sum(1 for row in rows if row["caption"] is None),  # reference withheld (test)
        "overall": caption_metrics([t for _, t in pairs], [r["caption"] for r, _ in pairs]),
        "by_category": by_category,
    }


def data_identity(config, data_dir=None, base_url=None, dataset=None):
    """What the rows were read from, to tell two results apart: the archives' identities (path, size and time; a
    URL's size and ETag), or an export folder's files (name, size and time), or a Hub id."""
    if dataset is None:
        return {"archives": scifig.data_identity(config, data_dir, base_url)}
    folder = Path(str(dataset))
    if not folder.is_dir():
        return {"hub": str(dataset)}
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.parquet")):
        status = path.stat()
        digest.update(f"{path.relative_to(folder)}|{status.st_size}|{status.st_mtime_ns}\n".encode())
    return {"export": str(folder.resolve()), "fingerprint": digest.hexdigest()[:16]}


def _pct(value):
    return "—" if value is None else f"{100 * value:.1f}"


def markdown(metrics, title):
    """metrics.md: what was scored, on how many rows, then the tables."""
    lines = [coverage_line(metrics), "", f"## {title}", ""]
    if metrics["task"] == "multiple-choice":
        lines += _mcq_lines(metrics)
    else:
        lines += _caption_lines(metrics)
    return "\n".join(lines) + "\n"


def coverage_line(metrics):
    """The first thing said of a score: how many rows it covers, and what a missing prediction counted as."""
    found, scorable = metrics["coverage"], metrics["rows"] - metrics["unscorable"]
    line = (f"Coverage: {found['predicted']} of {metrics['rows']} rows predicted ({metrics['distinct_figures']} "
            f"distinct figures; {metrics['unscorable']} with the reference withheld, not scorable). ")
    if found["only_predicted"]:
        return line + (f"Scored on {found['scored']} of {scorable} scorable rows (--only-predicted: the rows without "
                       "a prediction are left out).")
    missing = [row_id for row_id in found["missing_ids"]]
    if not missing:
        return line + f"Scored on all {scorable} scorable rows."
    wrong = "count as wrong" if metrics["task"] == "multiple-choice" else "score 0 (an empty caption)"
    return line + (f"Scored on all {scorable} scorable rows: the {len(missing)} without a prediction {wrong} "
                   f"({', '.join(missing[:EXAMPLES])}{' …' if len(missing) > EXAMPLES else ''}; all in metrics.json).")


def _on(metrics):
    """How a table says what it was computed on, where that is not every scorable row."""
    found = metrics["coverage"]
    return f" (on {found['scored']} of {metrics['rows'] - metrics['unscorable']} rows)" if found[
        "only_predicted"] else ""


def _interval(result):
    return "–".join(_pct(value) for value in result["ci95"])


def _mcq_lines(metrics):
    distinct, on = metrics["distinct_questions"], _on(metrics)
    lines = [f"Unparsed answers (counted wrong): {metrics['unparsed']['count']}.", ""]
    table = [[f"overall (every entry, as MMSci counts){on}", "", metrics["overall"]["n"],
              _pct(metrics["overall"]["accuracy"]), _interval(metrics["overall"])],
             [f"overall, distinct questions{on}", "", distinct["n"], _pct(distinct["accuracy"]), _interval(distinct)],
             [f"overall, mean over settings (VLMEvalKit's Overall){on}", "", "", _pct(metrics["mean_over_settings"]),
              ""]]
    for key in ("setting", "category", "subject"):
        for value, result in metrics[f"by_{key}"].items():
            table.append([key, value, result["n"], _pct(result["accuracy"]), _interval(result)])
    lines.append(markdown_table(["group", "value", "n", "accuracy %", "95% CI"], table))
    lines += ["", "A question MMSci files under two subjects (an article under both \"Ecology\" entries, say) is "
                  "asked twice: it counts once in each subject's row, twice overall, and once among distinct "
                  "questions (its first entry)."]
    if "circular" in metrics:
        found = metrics["circular"]
        lines += ["", f"Circular evaluation over {found['questions']} questions{on} ({found['partly_predicted']} "
                      "with rotations missing): a question is right only when all its rotations are.",
                  "", markdown_table(["measure", "n", "accuracy %", "95% CI"], [
                      [name, result["n"], _pct(result["accuracy"]), _interval(result)]
                      for name, result in [("vanilla (-c0)", found["vanilla"]), ("circular", found["circular"])]
                      + [(f"circular, {s}", r) for s, r in found["circular_by_setting"].items()]
                      + [(f"correct letter {k}", r) for k, r in found["accuracy_by_correct_letter"].items()]]),
                  "", "Predicted letters: " + ", ".join(f"{k} {n}" for k, n in found["predicted_letters"].items())
                  + "."]
    if "image_gain" in metrics:
        rows = [["overall", metrics["image_gain"]["overall"]]] + [
            [setting, result] for setting, result in metrics["image_gain"]["by_setting"].items()]
        lines += ["", "Image gain: accuracy with the figure minus without it (a blind run), paired bootstrap, on the "
                      "rows both runs answered.", "",
                  markdown_table(["group", "n", "with image %", "without %", "gain (points)", "95% CI"], [
                      [name, r["n"], _pct(r.get("with_image")), _pct(r.get("without_image")), _pct(r["gain"]),
                       _interval(r)] for name, r in rows])]
    return lines


def _caption_lines(metrics):
    table = []
    for name, result in [(f"overall{_on(metrics)}", metrics["overall"])] + list(metrics["by_category"].items()):
        if not result.get("n"):
            continue
        p = result["bleu_precisions"]
        table.append([name, result["n"], *(f"{p[f'bleu{n}']:.1f}" for n in range(1, 5)), f"{result['bleu4']:.1f}",
                      f"{100 * result['rougeL']:.1f}", f"{100 * result['ciderD']:.1f}",
                      _optional(result["meteor"], "score"), _optional(result["bertscore"], "f1")])
    return [markdown_table(["group", "n", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4 prec.", "BLEU-4", "ROUGE-L",
                            "CIDEr-D", "METEOR", "BERTScore F1"], table)]


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
             browse_errors=True, dataset=None, circular=False, blind_predictions=None, only_predicted=False,
             **config_kwargs):
    """Scores one split; with `out`, writes metrics.json, metrics.md, a chart and (for errors) an errors/ site.
    Every scorable row counts (a row without a prediction is wrong) unless `only_predicted`. `circular` scores a
    run over every rotation of the options (ids `<id>-c<k>`); `blind_predictions`, a run without the figures, adds
    the image gain. metrics.json records what was scored: scifig's version and code, the config, the split and the
    identity of the data (the archives' or the export's)."""
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
    metrics = (score_circular if circular else score_mcq if mcq else score_captioning)(rows, predicted,
                                                                                        only_predicted)
    if blind_predictions:
        metrics["image_gain"] = image_gain(rows, predicted, read_predictions(blind_predictions))
    metrics.update({"config": config, "split": split,
                    "predictions": str(predictions) if predictions else f"baseline:{baseline}",
                    "scifig": {"version": str(scifig.VERSION), "code": scifig.code_hash()},
                    "data": data_identity(config, data_dir, base_url, dataset)})
    if out:
        title = f"scifig {config} [{split}] — {Path(str(predictions)).name if predictions else baseline}"
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / "metrics.md").write_text(markdown(metrics, title), encoding="utf-8")
        chart(metrics, out / "by_category.png", title)
        if browse_errors and predictions and dataset is None and not circular:
            browse(config, split, out / "errors", data_dir=data_dir, base_url=base_url,
                   predictions=predictions, only_errors=True, **config_kwargs)
    return metrics
