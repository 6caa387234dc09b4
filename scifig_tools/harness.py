"""scifig in the evaluation harnesses people use, reading the same rows and scoring the same replies the same way.

    python -m scifig_tools harness lmms-eval OUT_DIR --dataset D      # D: a folder written by `export`, or its Hub id
    lmms-eval --model <any> --include_path OUT_DIR --tasks scifig_mcq

    python -m scifig_tools harness vlmevalkit OUT_DIR [--dataset D | --data-dir D | --base-url U] [--split S]
    # then, in VLMEvalKit: copy the TSVs into $LMUData and run with --data MMSci_scifig_mcq_validation ...

lmms-eval: tasks `scifig_mcq_fig2cap`, `scifig_mcq_subfig2cap`, `scifig_mcq_subcap2fig` (group `scifig_mcq`), each
with a `_blind` variant (the same prompt, no figure; group `scifig_mcq_blind`) and a `_circular` variant (every
rotation of the options; group `scifig_mcq_circular`), and `scifig_captioning`. Their functions live in
`scifig_tools.lmms_tasks`, which the task folder imports.

VLMEvalKit: one custom multiple-choice TSV per multiple-choice config, named by vlmevalkit_name (VLMEvalKit picks
how to score a file by its name), with VLMEvalKit's columns
(`index`, `image` as base64 of the figure's bytes as stored, `question`, `A`-`D`, `answer`, `category`,
`l2-category`) and `subject`, `split`, `setting` (spelled as VLMEvalKit's MMSci report expects) and scifig's `id`.
"""

import base64
import hashlib
import json
import re
from pathlib import Path

import pandas as pd

import scifig
from scifig_tools.lmms_tasks import CAPTION_METRICS
from scifig_tools.parquet_layout import exported_files
from scifig_tools.source import rows_of

TASK_MODULE = "scifig_lmms"  # the module the task files name in `!function`
VLMEVALKIT_SETTINGS = {"fig2cap": "Fig2Cap", "subfig2cap": "SubFig2Cap", "subcap2fig": "SubCap2Fig"}
_GENERATION = {"mcq": "  max_new_tokens: 256\n  temperature: 0\n  do_sample: false\n",
               "captioning": "  max_new_tokens: 1024\n  temperature: 0\n  do_sample: false\n"}


def _metric(name, higher_is_better=True):
    return (f"  - metric: {name}\n    aggregation: !function {TASK_MODULE}.{name}\n"
            f"    higher_is_better: {str(higher_is_better).lower()}\n")


def _task(name, dataset, config, split, visual, text, target, results, metrics, generation, process_docs=None):
    return "".join([
        f"task: {name}\n",
        f"dataset_path: {json.dumps(str(dataset))}\n",
        f"dataset_name: {config}\n",
        f"test_split: {split}\n",
        "output_type: generate_until\n",
        f"doc_to_visual: !function {TASK_MODULE}.{visual}\n",
        f"doc_to_text: !function {TASK_MODULE}.{text}\n",
        f"doc_to_target: !function {TASK_MODULE}.{target}\n",
        f"process_docs: !function {TASK_MODULE}.{process_docs}\n" if process_docs else "",
        f"process_results: !function {TASK_MODULE}.{results}\n",
        "generation_kwargs:\n", generation,
        "metric_list:\n", *metrics,
        "metadata:\n  version: 1.0\n",
    ])


def _group(name, tasks, metric):
    return (f"group: {name}\ntask:\n" + "".join(f"  - {task}\n" for task in tasks)
            + f"aggregate_metric_list:\n  - metric: {metric}\n    aggregation: mean\n    weight_by_size: true\n"
            + "metadata:\n  version: 1.0\n")


def export_reference(dataset):
    """How task files name the rows they read: an export's folder as an absolute path (lmms-eval may run from
    anywhere), or a Hub id as given. A folder that no export wrote (the archives, say) is refused."""
    folder = Path(str(dataset)).expanduser()
    if folder.exists():
        if not exported_files(folder):
            raise ValueError(f"{dataset} is not a scifig export (no <config>/<split>-NNNNN-of-NNNNN.parquet files in "
                             "it): lmms-eval reads an export, written by `python -m scifig_tools export OUT`, or its "
                             "Hub id")
        return str(folder.resolve())
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", str(dataset)):
        raise ValueError(f"{dataset} is neither a folder nor a Hub id (ORG/NAME)")
    return str(dataset)


def lmms_eval_tasks(out_dir, dataset, split="validation"):
    """Writes the task folder for `lmms-eval --include_path OUT_DIR`; returns {task or group name: path}."""
    dataset = export_reference(dataset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{TASK_MODULE}.py").write_text(
        "# Written by `python -m scifig_tools harness lmms-eval`: the task functions live in scifig_tools.\n"
        "from scifig_tools.lmms_tasks import *  # noqa: F401,F403\n", encoding="utf-8")
    scored = [_metric("accuracy"), _metric("distinct_accuracy"), _metric("unparsed", False), _metric("by_category"),
              _metric("by_subject")]
    circular = [_metric("circular_accuracy"), _metric("vanilla_accuracy"), _metric("accuracy"),
                _metric("unparsed", False)]
    files = {}
    variants = {"": ("doc_to_visual", scored, "process_results", None),
                "_blind": ("doc_to_visual_blind", scored, "process_results", None),
                "_circular": ("doc_to_visual", circular, "circular_process_results", "circular_docs")}
    for suffix, (visual, metrics, results, process_docs) in variants.items():
        members = []
        for config in scifig.CONFIG_NAMES:
            if not scifig.is_mcq(config) or config == "mcq":
                continue
            name = f"scifig_{config}{suffix}"
            files[name] = _task(name, dataset, config, split, visual, "doc_to_text", "doc_to_target", results,
                                metrics, _GENERATION["mcq"], process_docs)
            members.append(name)
        headline = "circular_accuracy" if suffix == "_circular" else "accuracy"
        files[f"scifig_mcq{suffix}"] = _group(f"scifig_mcq{suffix}", members, headline)
    files["scifig_captioning"] = _task(
        "scifig_captioning", dataset, "captioning", split, "doc_to_visual", "caption_doc_to_text",
        "caption_doc_to_target", "caption_process_results", [_metric(m) for m in CAPTION_METRICS],
        _GENERATION["captioning"])
    paths = {}
    for name, text in files.items():
        paths[name] = out_dir / f"{name}.yaml"
        paths[name].write_text(text, encoding="utf-8")
    return paths


# VLMEvalKit chooses how to score a custom multiple-choice file by its name (ImageMCQDataset.evaluate_heuristic, at
# VLMEvalKit commit e8e78f05): a name holding "MMSci" is reported by report_acc_MMSci, per setting, subject and
# category, and that report needs all three settings (a single-setting file ends in a KeyError); a name holding one
# of VLMEVALKIT_CIRCULAR_MARKERS is scored circularly. So only the file of every setting carries "MMSci".
VLMEVALKIT_MMSCI_MARKER = "MMSci"
VLMEVALKIT_CIRCULAR_MARKERS = ("mmbench", "ccbench", "circular", "mmcr")


def vlmevalkit_name(config, split):
    """The dataset name (TSV stem, and `--data` of VLMEvalKit's run.py) of one multiple-choice config's split."""
    every_setting = next(c for c in scifig.CONFIGS if c.name == config).settings == list(scifig.SETTINGS)
    return f"{VLMEVALKIT_MMSCI_MARKER}_scifig_{config}_{split}" if every_setting else f"scifig_{config}_{split}"


def vlmevalkit_rows(config, split="validation", data_dir=None, base_url=None, dataset=None, **config_kwargs):
    """The rows of one multiple-choice config as VLMEvalKit's custom MCQ table, from the archives or from an
    export (`dataset`: its folder or Hub id)."""
    stream = rows_of(config, split, data_dir, base_url, dataset, **config_kwargs)
    rows = []
    for index, row in enumerate(stream.decode(False)):
        rows.append({
            "index": index,
            "image": base64.b64encode(row["image"]["bytes"]).decode("ascii"),
            "question": row["question"],
            **dict(zip(scifig.ANSWER_LETTERS, row["options"])),
            "answer": scifig.ANSWER_LETTERS[row["answer"]] if row["answer"] >= 0 else "",
            "category": scifig.category_name(row["category"]),
            "l2-category": row["subject"],
            "subject": row["subject"],
            "split": split,
            "setting": VLMEVALKIT_SETTINGS[scifig.SETTINGS[row["setting"]]],
            "id": row["id"],
        })
    return rows


def vlmevalkit_tsvs(out_dir, split="validation", data_dir=None, base_url=None, dataset=None, **config_kwargs):
    """Writes one TSV per multiple-choice config; returns {path: md5} (VLMEvalKit's dataset tables list md5s)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for config in scifig.CONFIG_NAMES:
        if not scifig.is_mcq(config):
            continue
        path = out_dir / f"{vlmevalkit_name(config, split)}.tsv"
        pd.DataFrame(vlmevalkit_rows(config, split, data_dir, base_url, dataset, **config_kwargs)).to_csv(
            path, sep="\t", index=False)
        written[path] = hashlib.md5(path.read_bytes()).hexdigest()
    return written
