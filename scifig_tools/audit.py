"""What the data itself gives away, per config: leaks across splits, contamination, duplicates, answer bias.

    python -m scifig_tools audit [--configs captioning mcq pretraining chat articles] [--data-dir D | --base-url U]
        [--out DIR] [--strict]

For configs with evaluation splits: articles (`uid`) present in train and in an evaluation split (MMSci files some
articles under several subjects, which can put one article on both sides), byte-identical images across splits
(sha256), duplicate `id`s, the answer letter distribution, and the accuracy of the text-only baselines. For the
training sources with a train split only (`pretraining`, `chat`, `articles`): the articles and byte-identical
figures they share with the benchmark's validation and test splits (contamination). `--strict` exits 1 when any
evaluation article is in a train split.
"""

import collections
import hashlib
import itertools
import json
from pathlib import Path

import scifig
from scifig_tools.answers import LETTERS
from scifig_tools.evaluate import BASELINES, baseline_predictions, score_mcq
from scifig_tools.report import markdown_table

DEFAULT_CONFIGS = ("captioning", "mcq", "pretraining", "chat", "articles")
EVALUATED = ("captioning", "mcq")  # the configs whose validation and test splits are the benchmark
_SHOWN = 10
# Where each config keeps its figures, so they are hashed as stored, never decoded.
_FIGURES = {"captioning": "image", "mcq": "image", "chat": "images", "pretraining": "images", "articles": "figures"}


def _figure_hashes(task, row):
    raw = row.pop(_FIGURES[task])
    images = [raw] if task in ("captioning", "mcq") else raw["image"] if task == "articles" else raw
    return [hashlib.sha256(image["bytes"]).hexdigest() for image in images if image is not None]


def _rows(config, stream):
    """The columns the audit needs, with each figure's sha256 instead of its pixels (images are never decoded)."""
    task = scifig.task_of(config)
    keep = ["id", "uid", _FIGURES[task]] + (["options", "answer", "setting", "category", "subject"]
                                            if task == "mcq" else [])
    rows = []
    for row in stream.decode(False).select_columns(keep):
        row["sha256"] = _figure_hashes(task, row)
        rows.append(row)
    return rows


def _evaluation(data_dir, base_url, **config_kwargs):
    """uids and figure hashes of the benchmark's validation and test splits."""
    uids, hashes = set(), set()
    for config in EVALUATED:
        for split in ("validation", "test"):
            stream = scifig.load(config, split=split, streaming=True, data_dir=data_dir, base_url=base_url,
                                 **config_kwargs)
            for row in _rows(config, stream):
                uids.add(row["uid"])
                hashes.update(row["sha256"])
    return uids, hashes


def contamination(config, evaluation, data_dir=None, base_url=None, **config_kwargs):
    """The evaluation articles and byte-identical evaluation figures in a train-only config."""
    uids, hashes = evaluation
    rows = _rows(config, scifig.load(config, split="train", streaming=True, data_dir=data_dir, base_url=base_url,
                                     **config_kwargs))
    shared = sorted({row["uid"] for row in rows} & uids)
    return {"rows": {"train": len(rows)}, "contamination": {
        "articles": len(shared), "article_uids": shared,
        "identical_images": len({h for row in rows for h in row["sha256"]} & hashes)}}


def audit_config(config, data_dir=None, base_url=None, evaluation=None, **config_kwargs):
    if scifig.task_of(config) not in EVALUATED:
        evaluation = evaluation or _evaluation(data_dir, base_url, **config_kwargs)
        return contamination(config, evaluation, data_dir, base_url, **config_kwargs)
    streams = scifig.load(config, streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    splits = {split: _rows(config, stream) for split, stream in streams.items()}
    report = {"rows": {split: len(rows) for split, rows in splits.items()}, "overlap": {}, "duplicate_ids": {}}
    for left, right in itertools.combinations(splits, 2):
        uids = sorted({r["uid"] for r in splits[left]} & {r["uid"] for r in splits[right]})
        images = sorted({h for r in splits[left] for h in r["sha256"]}
                        & {h for r in splits[right] for h in r["sha256"]})
        report["overlap"][f"{left}/{right}"] = {"articles": len(uids), "article_uids": uids,
                                               "identical_images": len(images)}
    for split, rows in splits.items():
        counts = collections.Counter(r["id"] for r in rows)
        report["duplicate_ids"][split] = sorted(key for key, n in counts.items() if n > 1)[:_SHOWN]
    if scifig.is_mcq(config):
        report["answers"], report["baselines"] = {}, {}
        for split, rows in splits.items():
            letters = collections.Counter(LETTERS[r["answer"]] if r["answer"] >= 0 else "withheld" for r in rows)
            report["answers"][split] = {letter: letters.get(letter, 0) for letter in (*LETTERS, "withheld")}
            references = [dict(r, setting=scifig.SETTINGS[r["setting"]]) for r in rows]
            if any(r["answer"] >= 0 for r in rows):
                report["baselines"][split] = {
                    name: score_mcq(references, baseline_predictions(references, name))["overall"]
                    for name in BASELINES
                }
    return report


def leaks(report):
    """Distinct evaluation articles in a train split, over every audited config (overlap and contamination)."""
    found = set()
    for result in report["configs"].values():
        for pair, overlap in result.get("overlap", {}).items():
            if pair.startswith("train/"):
                found.update(overlap["article_uids"])
        found.update(result.get("contamination", {}).get("article_uids", []))
    return sorted(found)


def markdown(report, level=2):
    heading = "#" * level
    leaked = report["leaks"]
    parts = [f"{heading} Data audit", "",
             f"Evaluation articles in a train split: {len(leaked)}"
             + (f" ({', '.join(leaked[:_SHOWN])}{' …' if len(leaked) > _SHOWN else ''})." if leaked else "."), ""]
    for config, result in report["configs"].items():
        parts += [f"{heading}# `{config}`", "",
                  "Rows: " + ", ".join(f"{s} {n}" for s, n in result["rows"].items()) + ".", ""]
        if "contamination" in result:
            found = result["contamination"]
            parts += [f"Shared with the benchmark's validation and test splits: {_count(found['articles'], 'article')}"
                      + (f" ({', '.join(found['article_uids'][:_SHOWN])})" if found["articles"] else "")
                      + f", {_count(found['identical_images'], 'byte-identical figure')}.", ""]
            continue
        parts.append(markdown_table(
            ["splits", "articles in both", "byte-identical images"],
            [[pair, r["articles"], r["identical_images"]] for pair, r in result["overlap"].items()]))
        duplicates = {s: ids for s, ids in result["duplicate_ids"].items() if ids}
        parts += ["", "Duplicate ids: " + (", ".join(f"{s}: {len(i)}" for s, i in duplicates.items()) or "none") + "."]
        if "answers" in result:
            parts += ["", markdown_table(["split", *LETTERS, "withheld"],
                                         [[s, *c.values()] for s, c in result["answers"].items()])]
            rows = [[s, name, b["n"], f"{100 * b['accuracy']:.1f}" if b["accuracy"] is not None else "—"]
                    for s, baselines in result["baselines"].items() for name, b in baselines.items()]
            parts += ["", markdown_table(["split", "text-only baseline", "n", "accuracy %"], rows)]
        parts.append("")
    return "\n".join(parts)


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def audit(configs=None, data_dir=None, base_url=None, out=None, level=2, **config_kwargs):
    configs = configs or DEFAULT_CONFIGS
    evaluation = (_evaluation(data_dir, base_url, **config_kwargs)
                  if any(scifig.task_of(c) not in EVALUATED for c in configs) else None)
    report = {"configs": {config: audit_config(config, data_dir, base_url, evaluation, **config_kwargs)
                          for config in configs}}
    report["leaks"] = leaks(report)
    text = markdown(report, level)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        (out / "audit.md").write_text(text, encoding="utf-8")
    return report, text
