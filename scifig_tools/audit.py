"""What the data itself gives away, per config: leaks across splits, contamination, repeats, answer bias.

    python -m scifig_tools audit [--configs captioning mcq pretraining chat articles] [--data-dir D | --base-url U]
        [--out DIR] [--strict] [--as-released]

The configs are audited as they load by default (train without the evaluation articles); `--as-released` audits
upstream's train as released (exclude_eval_articles=False). For each train split: the evaluation articles (`uid`)
it holds, and the evaluation figures that reappear in it under any article id, found by perceptual hash
(imagehash's pHash: re-encoded and resized figures, such as the pre-training JPEGs, match; PHASH_DISTANCE says how
close) and marked byte-identical where they are. For the evaluation splits: articles shared across splits,
figures and questions asked more than once, duplicate ids, the answer letters and the text-only baselines. Where
benchmark.zip's evaluation articles and the list shipped with scifig disagree, the difference, and the train rows
of articles only the list names. `articles`, the whole corpus, keeps every article: its evaluation articles are
counted as marked (`eval_splits`), not as a leak. `--strict` exits 1 on any evaluation article or figure in a train
split.
"""

import collections
import hashlib
import io
import itertools
import json
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

import scifig
from scifig import ANSWER_LETTERS
from scifig_tools.report import count as _count
from scifig_tools.report import markdown_table
from scifig_tools.scoring import BASELINES, baseline_predictions, score_mcq

DEFAULT_CONFIGS = ("captioning", "mcq", "pretraining", "chat", "articles")
EVALUATED = ("captioning", "mcq")  # the configs whose validation and test splits are the benchmark
MARKS = ("articles",)  # the whole corpus: evaluation articles are kept and marked, not leaked
_SHOWN = 10
# Two figures are the same figure when their 64-bit pHashes differ in at most this many bits: between how far a
# re-encoded figure drifts and how close two distinct figures come, both measured on the bundled sample by
# card.contamination_on_the_sample (the card states them).
PHASH_DISTANCE = 4
# Where each config keeps its figures, so they are read as stored.
_FIGURES = {"captioning": "image", "mcq": "image", "chat": "images", "pretraining": "images", "articles": "figures"}


def perceptual_hash(data):
    """The 64-bit pHash of an image's bytes, as an unsigned integer."""
    with Image.open(io.BytesIO(data)) as image:
        return int(str(imagehash.phash(image)), 16)


def _figures_of(task, raw):
    images = [raw] if task in EVALUATED else raw["image"] if task == "articles" else raw
    return [image["bytes"] for image in images if image is not None]


def _rows(config, stream, perceptual=False):
    """The columns the audit needs, with each figure's sha256 (and, asked, pHash) instead of its pixels."""
    task = scifig.task_of(config)
    keep = ["id", "uid", _FIGURES[task]] + (["figure_id", "options", "answer", "setting", "category", "subject",
                                             "prompt"] if task == "mcq" else [])
    rows = []
    for row in stream.decode(False).select_columns(keep):
        figures = _figures_of(task, row.pop(_FIGURES[task]))
        row["sha256"] = [hashlib.sha256(data).hexdigest() for data in figures]
        row["phash"] = [perceptual_hash(data) for data in figures] if perceptual else []
        rows.append(row)
    return rows


class Evaluation:
    """The benchmark's evaluation articles by split, as the builder reads them (scifig.eval_articles_of:
    benchmark.zip's dev and test files, or the list shipped with scifig where benchmark.zip cannot be had), and,
    where benchmark.zip is there, its validation and test rows with each distinct figure's hashes."""

    def __init__(self, data_dir, base_url, **config_kwargs):
        articles = scifig.eval_articles_of(data_dir, base_url)
        self.benchmark = articles.from_benchmark
        self.by_split = {split: set(getattr(articles, split)) for split in scifig.EVAL_SPLITS}
        self.uids = set(articles.every)
        self.figures = {}  # sha256 -> (phash, config, split, row id, uid)
        self.splits = {}  # (config, split) -> rows
        for config in EVALUATED if self.benchmark else ():
            for split in scifig.EVAL_SPLITS:
                stream = scifig.load(config, split=split, streaming=True, data_dir=data_dir, base_url=base_url,
                                     **config_kwargs)
                rows = self.splits[(config, split)] = _rows(config, stream, perceptual=True)
                for row in rows:
                    for sha, phash in zip(row["sha256"], row["phash"]):
                        self.figures.setdefault(sha, (phash, config, split, row["id"], row["uid"]))
        self._shas = list(self.figures)
        self._phashes = np.array([self.figures[sha][0] for sha in self._shas], dtype=np.uint64)

    def matches(self, phash):
        """The evaluation figures within PHASH_DISTANCE bits of a pHash: [(sha256, distance)]."""
        if not len(self._phashes):
            return []
        distances = np.bitwise_count(self._phashes ^ np.uint64(phash))
        return [(self._shas[at], int(distances[at])) for at in np.nonzero(distances <= PHASH_DISTANCE)[0]]


def figure_leaks(rows, evaluation, config):
    """Evaluation figures in train rows, under any article id: one entry per (train figure, evaluation figure)."""
    found = []
    for row in rows:
        for sha, phash in zip(row["sha256"], row["phash"]):
            for match, distance in evaluation.matches(phash):
                _, eval_config, eval_split, eval_id, eval_uid = evaluation.figures[match]
                found.append({"config": config, "train_id": row["id"], "train_uid": row["uid"],
                              "eval_id": eval_id, "eval_uid": eval_uid, "eval_split": eval_split,
                              "distance": distance, "identical": sha == match, "same_article": row["uid"] == eval_uid})
    return found


def contamination(config, evaluation, shipped_only, data_dir=None, base_url=None, **config_kwargs):
    """A train split against the evaluation splits: the evaluation articles it holds, the evaluation figures that
    reappear in it, and the articles only the shipped list calls evaluation articles."""
    stream = scifig.load(config, split="train", streaming=True, data_dir=data_dir, base_url=base_url,
                         **config_kwargs)
    marks = config in MARKS
    rows = _rows(config, stream, perceptual=not marks)
    shared = sorted({row["uid"] for row in rows} & evaluation.uids)
    result = {"train_rows": len(rows), "articles": len(shared), "article_uids": shared,
              "identical_images": len({sha for row in rows for sha in row["sha256"]} & set(evaluation.figures)),
              "shipped_list_only": sorted({row["uid"] for row in rows} & shipped_only)}
    if marks:  # the whole corpus holds every evaluation article by design, each marked with its splits
        result["marked"] = result.pop("articles")
        return result
    leaks = figure_leaks(rows, evaluation, config)
    result["figures"] = _figure_summary(leaks)
    return result


def _figure_summary(leaks):
    return {"matches": len(leaks), "other_article": sum(not leak["same_article"] for leak in leaks),
            "pairs": leaks[:_SHOWN * 10]}


def repeats(rows, config):
    """Figures (captioning) or questions (multiple choice) asked in more than one row of an evaluation split."""
    key = (lambda row: (row["sha256"][0], row["setting"], row["prompt"])) if config == "mcq" else (
        lambda row: row["sha256"][0])
    groups = collections.defaultdict(list)
    for row in rows:
        groups[key(row)].append(row["id"])
    asked = [ids for ids in groups.values() if len(ids) > 1]
    return {"rows": len(rows), "distinct": len(groups), "asked_more_than_once": len(asked), "ids": asked[:_SHOWN]}


def audit_evaluated(config, evaluation, data_dir=None, base_url=None, **config_kwargs):
    streams = scifig.load(config, streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    splits = {split: evaluation.splits.get((config, split)) or _rows(config, stream, perceptual=split == "train")
              for split, stream in streams.items()}
    report = {"rows": {split: len(rows) for split, rows in splits.items()}, "overlap": {}, "duplicate_ids": {},
              "repeats": {split: repeats(splits[split], scifig.task_of(config)) for split in scifig.EVAL_SPLITS
                          if split in splits}}
    for left, right in itertools.combinations(splits, 2):
        uids = sorted({r["uid"] for r in splits[left]} & {r["uid"] for r in splits[right]})
        images = sorted({h for r in splits[left] for h in r["sha256"]}
                        & {h for r in splits[right] for h in r["sha256"]})
        report["overlap"][f"{left}/{right}"] = {"articles": len(uids), "article_uids": uids,
                                               "identical_images": len(images)}
    if "train" in splits:
        report["train_figures"] = _figure_summary(figure_leaks(splits["train"], evaluation, config))
    for split, rows in splits.items():
        counts = collections.Counter(r["id"] for r in rows)
        report["duplicate_ids"][split] = sorted(key for key, n in counts.items() if n > 1)[:_SHOWN]
    if scifig.is_mcq(config):
        report["answers"], report["baselines"] = {}, {}
        for split, rows in splits.items():
            letters = collections.Counter(ANSWER_LETTERS[r["answer"]] if r["answer"] >= 0 else "withheld"
                                          for r in rows)
            report["answers"][split] = {letter: letters.get(letter, 0) for letter in (*ANSWER_LETTERS, "withheld")}
            references = [dict(r, setting=scifig.SETTINGS[r["setting"]]) for r in rows]
            if any(r["answer"] >= 0 for r in rows):
                report["baselines"][split] = {
                    name: score_mcq(references, baseline_predictions(references, name))["overall"]
                    for name in BASELINES
                }
    return report


def eval_article_sources(evaluation):
    """benchmark.zip's evaluation articles against the list shipped with scifig: where they disagree, and the
    articles only the list names (reported in train splits; benchmark.zip's files win)."""
    shipped = scifig.shipped_eval_articles()
    found = {"shipped_source": shipped.source, "benchmark": evaluation.benchmark, "splits": {}}
    if not evaluation.benchmark:
        return found, set()
    for split in scifig.EVAL_SPLITS:
        ours, theirs = evaluation.by_split[split], getattr(shipped, split)
        found["splits"][split] = {"benchmark": len(ours), "shipped": len(theirs), "both": len(ours & theirs),
                                  "only_benchmark": len(ours - theirs), "only_shipped": len(theirs - ours)}
    return found, set(shipped.every) - evaluation.uids


def leaks(report):
    """Distinct evaluation articles in a train split, over every audited config (marked ones not counted)."""
    found = set()
    for config, result in report["configs"].items():
        if config in MARKS:
            continue
        for pair, overlap in result.get("overlap", {}).items():
            if pair.startswith("train/"):
                found.update(overlap["article_uids"])
        found.update(result.get("contamination", {}).get("article_uids", []))
    return sorted(found)


def figure_leak_count(report):
    """Evaluation figures found in train splits by perceptual hash, over every audited config."""
    return sum(result.get("train_figures", result.get("contamination", {}).get("figures", {})).get("matches", 0)
               for result in report["configs"].values())


def markdown(report, level=2):
    heading = "#" * level
    leaked = report["leaks"]
    how = "released (exclude_eval_articles=False)" if report["as_released"] else "loaded by default"
    parts = [f"{heading} Data audit", "",
             f"Audited as {how}."
             f" Evaluation articles in a train split: {len(leaked)}"
             + (f" ({', '.join(leaked[:_SHOWN])}{' …' if len(leaked) > _SHOWN else ''})" if leaked else "")
             + f"; evaluation figures in a train split (pHash within {PHASH_DISTANCE} bits): "
             + f"{report['figure_leaks']}.", ""]
    sources = report["eval_articles"]
    if not sources["benchmark"]:
        parts += [f"Evaluation articles: benchmark.zip is not there; {sources['shipped_source']} stands in.", ""]
    else:
        parts += [f"Evaluation articles: benchmark.zip's files against {sources['shipped_source']} (where they "
                  "disagree, benchmark.zip's files are the ones the builder uses):", "",
                  markdown_table(["split", "benchmark.zip", "shipped list", "in both", "only in benchmark.zip",
                                  "only in the list"],
                                 [[split, r["benchmark"], r["shipped"], r["both"], r["only_benchmark"],
                                   r["only_shipped"]] for split, r in sources["splits"].items()]), ""]
    for config, result in report["configs"].items():
        parts += [f"{heading}# `{config}`", "",
                  "Rows: " + ", ".join(f"{s} {n}" for s, n in result["rows"].items()) + ".", ""]
        if "contamination" in result:
            found = result["contamination"]
            if "marked" in found:
                parts.append(f"The whole corpus: {_count(found['marked'], 'evaluation article')} kept and marked "
                             "in `eval_splits`.")
            else:
                parts.append(f"Shared with the benchmark's validation and test splits: "
                             f"{_count(found['articles'], 'article')}"
                             + (f" ({', '.join(found['article_uids'][:_SHOWN])})" if found["articles"] else "")
                             + f", {_count(found['identical_images'], 'byte-identical figure')}, "
                             + _figure_sentence(found["figures"]) + ".")
            if found["shipped_list_only"]:
                parts.append(f"Articles only the shipped list calls evaluation articles: "
                             f"{', '.join(found['shipped_list_only'][:_SHOWN])}.")
            parts.append("")
            continue
        parts.append(markdown_table(
            ["splits", "articles in both", "byte-identical images"],
            [[pair, r["articles"], r["identical_images"]] for pair, r in result["overlap"].items()]))
        if "train_figures" in result:
            parts += ["", "Evaluation figures in train: " + _figure_sentence(result["train_figures"]) + "."]
        parts += ["", "Asked more than once: " + "; ".join(
            f"{split} {r['asked_more_than_once']} of {r['distinct']} distinct "
            f"{'questions' if scifig.is_mcq(config) else 'figures'} ({r['rows']} rows)"
            for split, r in result["repeats"].items()) + "."]
        duplicates = {s: ids for s, ids in result["duplicate_ids"].items() if ids}
        parts += ["", "Duplicate ids: " + (", ".join(f"{s}: {len(i)}" for s, i in duplicates.items()) or "none") + "."]
        if "answers" in result:
            parts += ["", markdown_table(["split", *ANSWER_LETTERS, "withheld"],
                                         [[s, *c.values()] for s, c in result["answers"].items()])]
            rows = [[s, name, b["n"], f"{100 * b['accuracy']:.1f}" if b["accuracy"] is not None else "—"]
                    for s, baselines in result["baselines"].items() for name, b in baselines.items()]
            parts += ["", markdown_table(["split", "text-only baseline", "n", "accuracy %"], rows)]
        parts.append("")
    return "\n".join(parts)


def _figure_sentence(figures):
    pairs = figures["pairs"]
    shown = ", ".join(f"{p['eval_id']} in {p['train_id']} ({p['distance']} bits)" for p in pairs[:3])
    return (f"{_count(figures['matches'], 'evaluation figure match', 'evaluation figure matches')} by perceptual "
            f"hash, {figures['other_article']} under another article id" + (f": {shown}" if pairs else ""))


def audit(configs=None, data_dir=None, base_url=None, out=None, level=2, as_released=False, **config_kwargs):
    configs = configs or DEFAULT_CONFIGS
    for config in configs:
        scifig.task_of(config)  # an unknown name is a ValueError listing the valid ones, before any work
    loaded = dict(config_kwargs, exclude_eval_articles=False) if as_released else config_kwargs
    evaluation = Evaluation(data_dir, base_url, **config_kwargs)
    sources, shipped_only = eval_article_sources(evaluation)
    report = {"as_released": as_released, "phash_distance": PHASH_DISTANCE, "eval_articles": sources,
              "configs": {}}
    for config in configs:
        if scifig.task_of(config) in EVALUATED:
            report["configs"][config] = audit_evaluated(config, evaluation, data_dir, base_url, **loaded)
        else:
            train = contamination(config, evaluation, shipped_only, data_dir, base_url, **loaded)
            report["configs"][config] = {"rows": {"train": train.pop("train_rows")}, "contamination": train}
    report["leaks"] = leaks(report)
    report["figure_leaks"] = figure_leak_count(report)
    text = markdown(report, level)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        (out / "audit.md").write_text(text, encoding="utf-8")
    return report, text
