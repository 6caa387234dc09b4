"""What the data itself gives away, per config: leaks across splits, duplicates, answer bias.

    python -m scifig_tools audit [--configs captioning mcq] [--data-dir D | --base-url U] [--out DIR] [--strict]

Reports articles (`uid`) present in train and an evaluation split (upstream files some articles under several
subjects, which can put one article on both sides), byte-identical images across splits (sha256), duplicate
`id`s, the answer letter distribution, and the accuracy of the text-only baselines. `--strict` exits 1 when an
article is in train and in validation or test.
"""

import collections
import hashlib
import itertools
import json
from pathlib import Path

import datasets

import scifig
from scifig_tools.answers import LETTERS
from scifig_tools.evaluate import BASELINES, baseline_predictions, score_mcq
from scifig_tools.report import markdown_table

DEFAULT_CONFIGS = ("captioning", "mcq")
_SHOWN = 10


def _split_rows(config, split, stream):
    """The columns the audit needs, with each figure's sha256 instead of its pixels."""
    stream = stream.cast_column("image", datasets.Image(decode=False))
    keep = ["id", "uid", "image"] + (["options", "answer", "setting", "category", "subject"]
                                     if scifig.is_mcq(config) else [])
    rows = []
    for row in stream.select_columns(keep):
        row["sha256"] = hashlib.sha256(row.pop("image")["bytes"]).hexdigest()
        rows.append(row)
    return rows


def audit_config(config, data_dir=None, base_url=None, **config_kwargs):
    streams = scifig.load(config, streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    splits = {split: _split_rows(config, split, stream) for split, stream in streams.items()}
    report = {"rows": {split: len(rows) for split, rows in splits.items()}, "overlap": {}, "duplicate_ids": {}}
    for left, right in itertools.combinations(splits, 2):
        uids = sorted({r["uid"] for r in splits[left]} & {r["uid"] for r in splits[right]})
        images = sorted({r["sha256"] for r in splits[left]} & {r["sha256"] for r in splits[right]})
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
    """Distinct articles in train and in an evaluation split, over every audited config."""
    return sorted({uid for config in report["configs"].values() for pair, result in config["overlap"].items()
                   if pair.startswith("train/") for uid in result["article_uids"]})


def markdown(report, level=2):
    heading = "#" * level
    leaked = report["leaks"]
    parts = [f"{heading} Data audit", "",
             f"Articles in train and in an evaluation split: {len(leaked)}"
             + (f" ({', '.join(leaked[:_SHOWN])}{' …' if len(leaked) > _SHOWN else ''})." if leaked else "."), ""]
    for config, result in report["configs"].items():
        parts += [f"{heading}# `{config}`", "",
                  "Rows: " + ", ".join(f"{s} {n}" for s, n in result["rows"].items()) + ".", ""]
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


def audit(configs=None, data_dir=None, base_url=None, out=None, level=2, **config_kwargs):
    report = {"configs": {config: audit_config(config, data_dir, base_url, **config_kwargs)
                          for config in (configs or DEFAULT_CONFIGS)}}
    report["leaks"] = leaks(report)
    text = markdown(report, level)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        (out / "audit.md").write_text(text, encoding="utf-8")
    return report, text
