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
from pathlib import Path
from typing import NamedTuple, Optional

import scifig
from scifig_tools import captioning, judge
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


def score_captioning(rows, predictions, only_predicted=False, protocol="scifig", k=1, bertscore=None):
    """Captioning scores by one protocol (scifig_tools.captioning): over every figure with a reference caption, a
    figure without a prediction scoring 0 under each metric, unless `only_predicted`."""
    check_ids(rows, predictions)
    found = captioning.score(protocol, rows, predictions, k, only_predicted, bertscore)
    scored = [row for row in rows if row["caption"] is not None and (row["id"] in predictions or not only_predicted)]
    return {
        "task": "captioning",
        "rows": len(rows),
        "distinct_figures": len({row["figure_id"] for row in rows}),
        "coverage": coverage(rows, predictions, len(scored), only_predicted),
        "unscorable": sum(1 for row in rows if row["caption"] is None),  # reference withheld (test)
        "protocol": protocol,
        protocol: found,
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
    protocol = metrics["protocol"]
    found = metrics[protocol]
    lines = [CAPTION_PROTOCOL_LINES[protocol](found, _on(metrics))]
    if found.get("unavailable"):
        lines += ["", "Not computed: " + "; ".join(f"{name}: {why}" for name, why in found["unavailable"].items())]
    if "judge" in metrics:
        judge = metrics["judge"]
        lines += ["", f"Judge (G-Eval relevance, 1-5): {_score(judge['relevance'])} over {judge['sample']} figures "
                      f"(seed {judge['seed']}), model {judge['model']}, prompt sha256 {judge['prompt_sha256']}; "
                      f"{judge['unparsed']} ratings unreadable (scored 0, as upstream)."]
    return lines


def _score(value, scale=1):
    return "—" if value is None or value != value else f"{scale * value:.2f}"


def _mmsci_lines(found, on):
    runs = f"; the mean of {found['k']} runs" if found["k"] > 1 else ""
    skipped = ", ".join(map(str, found["skipped_empty"]))
    return "\n".join([
        f"MMSci's textgen_scores (per figure, then averaged{runs}) over {found['figures']} figures{on}; empty "
        f"predictions skipped, as upstream does: {skipped}. Scores x100.", "",
        markdown_table(list(found["scores"]), [[_score(value, 100) for value in found["scores"].values()]])])


def _vlmevalkit_lines(found, on):
    rows = [[name] + [_score(values.get(column)) for column in captioning.VLMEVALKIT_COLUMNS]
            for name, values in found["table"].items()]
    return "\n".join([
        f"VLMEvalKit's MMSci captioning columns over {found['rows']} rows ({found['figures']} figures){on}; "
        f"{found['empty_predictions']} empty predictions scored 0 (VLMEvalKit stops at them with a KeyError).", "",
        markdown_table(["subject", *captioning.VLMEVALKIT_COLUMNS], rows), "", found["note"]])


def _scifig_lines(found, on):
    if not found["figures"]:
        return "No figure to score."
    corpus = found["corpus"]
    rows = [[name, _score(value["mean"], 100), "–".join(_score(v, 100) for v in value["ci95"])]
            for name, value in found["scores"].items()]
    return "\n".join([
        f"Over {found['figures']} figures{on} ({found['empty_predictions']} empty predictions, scored 0). Corpus "
        f"BLEU-4 {_score(corpus['BLEU-4'], 100)} (sacrebleu, 13a tokens), corpus CIDEr-D "
        f"{_score(corpus['CIDEr-D'], 100)} (pycocoevalcap, over {found['cider_tokens']}); per figure, with 95% "
        "bootstrap intervals over figures (x100):", "",
        markdown_table(["metric (per figure)", "mean", "95% CI"], rows)])


CAPTION_PROTOCOL_LINES = {"mmsci": _mmsci_lines, "vlmevalkit": _vlmevalkit_lines, "scifig": _scifig_lines}


def chart(metrics, path, title):
    """Multiple choice: accuracy per category with 95% intervals. Captioning: the protocol's headline scores (with
    95% intervals where it has them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metrics["task"] == "multiple-choice":
        groups = {name: (result["accuracy"], result["ci95"]) for name, result in metrics["by_category"].items()}
        label = "accuracy"
    else:
        found = metrics[metrics["protocol"]]
        groups = {name: (value["mean"], value["ci95"]) if isinstance(value, dict) else
                  (value / found.get("scale", 1), [None, None])
                  for name, value in found["scores"].items() if value is not None}
        label = f"{metrics['protocol']} protocol"
    values = [value or 0.0 for value, _ in groups.values()]
    lower = [v - (i[0] if i[0] is not None else v) for v, (_, i) in zip(values, groups.values())]
    upper = [(i[1] if i[1] is not None else v) - v for v, (_, i) in zip(values, groups.values())]
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


class CaptionScoring(NamedTuple):
    """How captions are scored: the protocol (scifig_tools.captioning), k samples per figure (mmsci), BERTScore's
    model ("none": left out; a local folder: every layer unless `bertscore_layer`), and the judge (an OpenAI-
    compatible endpoint and model; `judge_sample` figures drawn with `seed`)."""

    protocol: str = "scifig"
    k: int = 1
    bertscore_model: Optional[str] = captioning.BertScore.DEFAULT_MODEL
    bertscore_layer: Optional[int] = None
    judge_url: Optional[str] = None
    judge_model: Optional[str] = None
    judge_sample: int = 100
    seed: int = 0

    def bertscore(self):
        """The BertScore to compute, or None: "none" asked, or bert-score not installed (then said so)."""
        if str(self.bertscore_model).lower() == "none":
            return None
        try:
            import bert_score  # noqa: F401 - only whether it is there
        except ImportError:
            return None
        return captioning.BertScore(self.bertscore_model, self.bertscore_layer)


def evaluate(config, split, predictions=None, baseline=None, data_dir=None, base_url=None, out=None,
             browse_errors=True, dataset=None, circular=False, blind_predictions=None, only_predicted=False,
             captions=CaptionScoring(), **config_kwargs):
    """Scores one split; with `out`, writes metrics.json, metrics.md, a chart and (for errors) an errors/ site.
    Every scorable row counts (a row without a prediction is wrong) unless `only_predicted`. `circular` scores a
    run over every rotation of the options (ids `<id>-c<k>`); `blind_predictions`, a run without the figures, adds
    the image gain; `captions` says how captions are scored. metrics.json records what was scored: scifig's
    version and code, the config, the split and the identity of the data (the archives' or the export's)."""
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
        predicted = read_predictions(predictions, samples=captions.k if not mcq else 1)
    if mcq:
        metrics = (score_circular if circular else score_mcq)(rows, predicted, only_predicted)
    else:
        metrics = score_captioning(rows, predicted, only_predicted, captions.protocol, captions.k,
                                   captions.bertscore())
        if captions.judge_url:
            metrics["judge"] = judge.relevance(rows, predicted, captions)
    if blind_predictions:
        metrics["image_gain"] = image_gain(rows, predicted, read_predictions(blind_predictions))
    metrics.update({"config": config, "split": split,
                    "predictions": str(predictions) if predictions else f"baseline:{baseline}",
                    "software": {"scifig": str(scifig.VERSION), "code": scifig.code_hash()},
                    "data": data_identity(config, data_dir, base_url, dataset)})
    if out:
        _write(out, metrics, config, split, f"{Path(str(predictions)).name if predictions else baseline}")
        if browse_errors and predictions and dataset is None and not circular and mcq:
            browse(config, split, out / "errors", data_dir=data_dir, base_url=base_url,
                   predictions=predictions, only_errors=True, **config_kwargs)
    return metrics


def _write(out, metrics, config, split, scored):
    title = f"scifig {config} [{split}] — {scored}"
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "metrics.md").write_text(markdown(metrics, title), encoding="utf-8")
    chart(metrics, out / "by_category.png", title)
