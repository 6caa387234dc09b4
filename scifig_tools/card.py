"""The dataset card (README.md) and docs/: YAML metadata and sections written from the builder, dataset_infos.json
and recorded results (benchmarks/RESULTS.md, docs/fuzz-results.json).

    python -m scifig_tools card      # rewrites README.md and docs/; a test fails when they and this disagree

The text lives in scifig_tools/card.md and scifig_tools/docs/; configs, features, citation and counts come from the
builder, so the card cannot drift from what the builder yields. The Hub export writes the card for its own readers:
with a `configs:` section, its Hub id, and nothing that needs a clone of this repository.
"""

import hashlib
import itertools
import json
import string
import tempfile
from pathlib import Path

import datasets
from huggingface_hub import DatasetCard, DatasetCardData

import scifig
from scifig_tools import dummy_data, facts, paths
from scifig_tools.answers import ANSWER_INSTRUCTION
from scifig_tools.layout import benchmark_image, benchmark_json, empty_evaluation_files, write_zip
from scifig_tools.report import count as _count
from scifig_tools.report import markdown_table
from scifig_tools.schema import features_of, to_sequence_yaml

TEMPLATE = Path(__file__).resolve().parent / "card.md"
DOC_TEMPLATES = Path(__file__).resolve().parent / "docs"  # docs/<name>.md is written from each
EXAMPLES = Path(__file__).resolve().parent / "upstream" / "examples"
FUZZ_RESULTS = paths.REPOSITORY / "docs" / "fuzz-results.json"

METADATA = {
    "pretty_name": "scifig (MMSci scientific figures)",
    "license": "cc-by-4.0",
    "language": ["en"],
    "annotations_creators": ["found"],
    "language_creators": ["found"],
    "multilinguality": ["monolingual"],
    "size_categories": ["100K<n<1M"],
    "source_datasets": ["MMSci"],
    "task_categories": ["image-to-text", "visual-question-answering", "multiple-choice", "image-text-to-text"],
    "task_ids": ["image-captioning", "multiple-choice-qa", "visual-question-answering"],
    "tags": ["science", "scientific-figures", "figure-captioning", "multimodal", "interleaved", "pretraining",
             "nature-communications"],
}

FIELDS = {
    "id": "Unique, stable row key, the same from every copy of the data ([how it is made](docs/ids.md)).",
    "id@captioning": "Unique, stable row key ([how it is made](docs/ids.md)); predictions are scored against it.",
    "id@mcq": "Unique, stable row key ([how it is made](docs/ids.md)); predictions are scored against it.",
    "uid": "Article id, e.g. `ncomms13142`; the article is `https://www.nature.com/articles/<uid>`.",
    "figure_id": "Image file stem, e.g. `ncomms13142_figure_1`; the number is 0-based (`figure_0` is the article's "
                 "Figure 1), unlike `articles`' 1-based `figures.number`.",
    "image": "The figure, as published (PNG).",
    "caption": "The figure's caption; `None` where MMSci withholds it.",
    "abstract": "The article's abstract.",
    "content": "The article's full text (about 7.5k tokens).",
    "category": "One of the 5 categories: " + ", ".join(scifig.CATEGORIES) + ".",
    "subject": "One of the 71 subject names (72 entries: \"Ecology\" is under two categories).",
    "setting": "`fig2cap` (caption of the whole figure), `subfig2cap` (caption of a sub-figure, distractors from "
               "the article), `subcap2fig` (the same, distractors from the same figure).",
    "question": "The question stem alone, without the options.",
    "options": "Exactly four options, in A–D order.",
    "answer": "Index of the correct option, 0–3; -1 where MMSci withholds it (test). "
              "`features[\"answer\"].int2str(answer)` gives the letter.",
    "prompt": "MMSci's question text verbatim: stem, then `\\nA: …` to `\\nD: …`; ask models this plus "
              "`scifig_tools.answers.ANSWER_INSTRUCTION`.",
    "url": "The article's page.",
    "images@chat": "The figure the conversation is about (one image).",
    "images@sft": "The figure the conversation is about (one image).",
    "task": "Which part of the mixture the row comes from: `chat`, `captioning`, or a multiple-choice setting "
            "(`fig2cap`, `subfig2cap`, `subcap2fig`).",
    "messages": "The conversation as chat messages: `role` is `user` or `assistant`; `content` is a list of parts "
                "`{type: image|text, text, index}`. The first user turn starts with the image part.",
    "title": "The article's title.",
    "published": "Publication date.",
    "pdf_url": "The article's PDF.",
    "review_pdf_url": "The peer-review file's PDF; `None` where MMSci has none (\"URL not found\").",
    "categories": "The category of every folder the article is filed in (aligned with `subjects`).",
    "subjects": "Every subject folder the article is filed in.",
    "eval_splits": "The benchmark's evaluation splits the article is in: `validation`, `test`, both, or none (`[]`); "
                   "filter on it to keep evaluation articles out of training, or to study them.",
    "sections": "`title` and `content` of each section, in order.",
    "figures": "Per figure: `number` (1-based, as printed: `figure_id` elsewhere counts from 0), `image` (PNG), "
               "`title` (the caption after \"Figure N:\") and `description` (the legend).",
    "references": "Per reference: `number`, `title` (the citation text) and `url` (`None` where MMSci has none).",
    "texts": "The document in reading order: a sentence, or `None` where an image stands.",
    "images": "Aligned with `texts`: an image (JPEG, short side ≤ 336 px), or `None` where a sentence stands. Each "
              "figure sits just before the sentence it was matched to.",
    "image_info": "What MMSci wrote of each image, in MMSci's order (its mmc4 `image_info`): `index` (the figure's "
                  "number), `image_name`, `local_path`, `raw_url`, `caption`, `matched_text_index` (the sentence of "
                  "`text_list` it was matched to) and `matched_sim` (their similarity). `face_detections`, `None` "
                  "throughout MMSci, is not kept.",
    "similarity_matrix": "MMSci's image-to-sentence similarities: one row per image (in `image_info`'s order), one "
                         "column per sentence (the non-`None` `texts`, in order); open_flamingo keeps an image whose "
                         "best similarity reaches its threshold.",
}


def type_name(feature):
    """A short type for field tables: string, image, class label (A, B, C, D), list of string, ..."""
    kind = type(feature).__name__
    if kind == "Value":
        return feature.dtype
    if kind == "Image":
        return "image"
    if kind == "ClassLabel":
        names = feature.names
        return "class label (" + (", ".join(names) if len(names) <= 4 else f"{len(names)} names") + ")"
    if isinstance(feature, list):
        return f"list of {type_name(feature[0])}"
    if isinstance(feature, dict):
        return "{" + ", ".join(f"{name}: {type_name(value)}" for name, value in feature.items()) + "}"
    if hasattr(feature, "feature"):
        if kind == "Sequence" and isinstance(feature.feature, dict):  # 3.6's Sequence({...}): a struct of lists
            return type_name({name: datasets.Sequence(value) for name, value in feature.feature.items()})
        return f"list of {type_name(feature.feature)}"
    return kind


def _shown(value, limit=160):
    if hasattr(value, "size") and hasattr(value, "mode"):
        return f"<{value.format or 'image'} {value.size[0]}x{value.size[1]}>"
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + " …"
    if isinstance(value, list):
        keep = 2 if any(isinstance(item, dict) for item in value) else 6
        shown = [_shown(item, 80) for item in value[:keep]]
        return shown + ([f"… {len(value) - keep} more"] if len(value) > keep else [])
    if isinstance(value, dict):
        return {key: _shown(item, limit) for key, item in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _placeholder_png():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def example_rows():
    """One row per config family: the upstream data card's own records run through the builder (their figures
    are not redistributed here, so a placeholder image stands in), and a bundled-sample document for
    pre-training, which has no published example."""
    mcq = json.loads((EXAMPLES / "mcq_record.json").read_text(encoding="utf-8"))
    captioning = json.loads((EXAMPLES / "captioning_record.json").read_text(encoding="utf-8"))
    chat = json.loads((EXAMPLES / "chat_record.json").read_text(encoding="utf-8"))
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        image = _placeholder_png()
        write_zip(Path(folder) / "benchmark.zip", {
            benchmark_json("validation", "mcq"): json.dumps([[], [mcq], []]).encode(),
            benchmark_json("validation", "captioning"): json.dumps([captioning]).encode(),
            benchmark_image("validation", mcq["image"]): image,
            benchmark_image("validation", captioning["image"]): image,
            benchmark_json("train", "chat"): json.dumps([chat]).encode(),
            benchmark_image("train", chat["image"]): image,
            **{name: data for name, data in empty_evaluation_files().items() if "/test/" in name},
        })
        for config, split in (("mcq", "validation"), ("captioning", "validation"), ("chat", "train")):
            row = next(iter(scifig.load(config, split=split, streaming=True, data_dir=folder)))
            placeholder = f"<PNG: {row['figure_id']}.png>"
            if "images" in row:
                row["images"] = [placeholder]
            else:
                row["image"] = placeholder
            rows[config] = row
    for config in ("sft", "pretraining", "articles"):
        rows[config] = next(iter(scifig.load(config, split="train", streaming=True,
                                             data_dir=str(paths.SAMPLE))))
    return rows


def configs_table():
    """One table of every config: what a row is, and its splits."""
    lines = ["| config | a row is | splits |", "|---|---|---|"]
    for config in scifig.CONFIGS:
        splits = ", ".join(scifig.RECIPES[config.task].splits)
        lines.append(f"| `{config.name}` | {config.description} | {splits} |")
    return "\n".join(lines)


def field_sections(rows):
    """Fields and a short example per task; the per-setting mcq configs share `mcq`'s."""
    parts = []
    for task, features in scifig.FEATURES.items():
        names = [config.name for config in scifig.CONFIGS if config.task == task]
        parts.append(f"### {', '.join(f'`{name}`' for name in names)}\n")
        if len(names) > 1:
            parts.append(f"`{names[0]}` holds every setting; {', '.join(f'`{n}`' for n in names[1:])} hold one each "
                         "(`setting` fixed).\n")
        parts.append("| field | type | description |\n|---|---|---|")
        parts += [f"| `{name}` | {type_name(feature)} | {FIELDS.get(f'{name}@{task}', FIELDS[name])} |"
                  for name, feature in features.items()]
        source = ("from the bundled (fictional) sample, as MMSci publishes no example" if task in (
            "sft", "pretraining", "articles")
                  else "MMSci's data card example record, run through the builder")
        fields = ",\n".join(f" {json.dumps(name)}: {json.dumps(_shown(value), ensure_ascii=False)}"
                             for name, value in rows[task].items())
        parts.append(f"\nExample, {source} (long text and lists shortened):\n\n```json\n{{\n{fields}\n}}\n```\n")
    return "\n".join(parts).rstrip()


def sample_counts():
    """Rows per config and split in dummy_data/, counted through the builder."""
    counts = {}
    for config in scifig.CONFIG_NAMES:
        streams = scifig.load(config, streaming=True, data_dir=str(paths.SAMPLE))
        counts[config] = {split: sum(1 for _ in stream.select_columns(["id"])) for split, stream in streams.items()}
    return counts


def _split_rows(counts):
    return "\n".join(
        f"| `{config}` | " + " | ".join(str(counts[config].get(split, "—")) for split in scifig.SPLITS) + " |"
        for config in counts
    )


def split_sizes(infos, export_counts=None):
    """The splits table: the export's rows, or sizes measured on the real archives, or a note that none are."""
    if export_counts:
        rows = {config: {split: value["num_examples"] for split, value in splits.items()}
                for config, splits in export_counts.items()}
        return "Rows in this export:\n\n" + _SPLIT_HEADER + _split_rows(rows)
    measured = {config: {split: value["num_examples"] for split, value in info["splits"].items()}
                for config, info in infos.items() if info.get("splits")}
    if not measured:
        return ("The real split sizes are not recorded yet: MMSci publishes none, and scifig records them only by "
                "measuring the archives themselves ([how](docs/development.md#refreshing-sizes-and-checksums)).")
    return "Rows per split, measured on the hosted archives:\n\n" + _SPLIT_HEADER + _split_rows(measured)


def sample_section(counts):
    return ("This repository also carries a tiny sample in the hosted layout (`dummy_data/`), for tests and for "
            "trying scifig\nwithout downloading anything. **Its articles are fictional** (ids `ncomms90001`–"
            "`ncomms90008`, DOIs\n`10.0000/…`): written to reproduce the real data's shape and quirks, not drawn "
            "from it. Rows per split:\n\n" + _SPLIT_HEADER + _split_rows(counts) + "\n")


def checksums(infos):
    """What the card may say about archive sizes and checksums: only what dataset_infos.json records."""
    recorded = sorted({url for info in infos.values() for url in (info.get("download_checksums") or {})})
    if not recorded:
        return ("No archive sizes or checksums are recorded yet, so nothing is verified against them: a changed "
                "archive would not be noticed.")
    return (f"Sizes and sha256 checksums are recorded for {', '.join(f'`{url}`' for url in recorded)}; "
            "`verification_mode=\"all_checks\"` names an archive that changed since. They apply to unfiltered loads "
            "of the hosted archives or of a mirror, not to a `data_dir` copy or a filtered load.")


_SPLIT_HEADER = "| config | train | validation | test |\n|---|---|---|---|\n"


def dataset_info_yaml(infos, export_counts=None):
    """One `dataset_info` entry per config, features from the builder in Sequence form; sizes only where known."""
    entries = []
    for config, info in infos.items():
        entry = {"config_name": config, "features": to_sequence_yaml(features_of(config))}
        if export_counts:
            entry["splits"] = [{"name": s, "num_bytes": v["num_bytes"], "num_examples": v["num_examples"]}
                               for s, v in export_counts[config].items()]
            entry["dataset_size"] = sum(v["num_bytes"] for v in export_counts[config].values())
        elif info.get("splits"):
            entry["splits"] = [{"name": s, "num_bytes": v["num_bytes"], "num_examples": v["num_examples"]}
                               for s, v in info["splits"].items()]
            entry["download_size"] = info.get("download_size")
            entry["dataset_size"] = info.get("dataset_size")
        entries.append(entry)
    return entries


SIZE_CATEGORIES = ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B"]


def size_category(rows):
    """The Hub's size category of a number of rows."""
    return SIZE_CATEGORIES[min(len(SIZE_CATEGORIES) - 1, max(0, len(str(max(rows, 1))) - 3))]


def card_data(infos, configs=None, export_counts=None):
    """The card's YAML: METADATA, the features of every config, and for an export its data files and the size
    category of its own rows (the repository's card speaks of MMSci's)."""
    metadata = dict(METADATA)
    if export_counts:
        rows = sum(split["num_examples"] for splits in export_counts.values() for split in splits.values())
        metadata["size_categories"] = [size_category(rows)]
    data = DatasetCardData(**metadata, dataset_info=dataset_info_yaml(infos, export_counts))
    if configs is not None:
        data.configs = configs
    return data


def audit_distance():
    from scifig_tools.audit import PHASH_DISTANCE

    return PHASH_DISTANCE


def split_leak():
    """The card's first-screen statement of MMSci's split leak, from the shipped list's counts."""
    return (f"> **Train is clean of evaluation articles by default.** {facts.split_overlap()} "
            "([Contamination](#contamination)) scifig's train splits leave every validation and test article out "
            "(`exclude_eval_articles=True`, the default); `articles` keeps them, marked in `eval_splits`. The MMSci "
            "paper fine-tuned on upstream's train as released: `exclude_eval_articles=False` gives it.")


def overlap_table():
    listed = facts.eval_list()
    rows = [[split if split != "validation" else "validation (`dev`)", f"{listed['entries'][split]:,}",
             f"{listed['articles'][split]:,}", facts.share(listed["also_in_train"][split], listed["articles"][split])]
            for split in scifig.EVAL_SPLITS]
    return (markdown_table(["split", "entries (subject, article)", "articles", "also train articles"], rows)
            + f"\n\n*Counted on upstream's {listed['source'].split(', ')[1]} at commit {listed['commit'][:7]} (by "
            f"`python -m scifig_tools eval-articles`, into `scifig_eval_articles.json`); "
            f"{listed['in_validation_and_test']} articles are in both validation and test; train holds "
            f"{listed['articles']['train']:,} articles in {listed['entries']['train']:,} entries.*")


def released_leak():
    also = facts.eval_list()["also_in_train"]
    return (f"{also['test']:,} test and {also['validation']:,} validation articles in train, the counts of "
            "upstream's split files above")


def contamination_on_the_sample():
    """What the audit finds on the bundled sample, as released and as loaded, and how the perceptual hash fares
    on the sample's figures: the planted re-encoded figure, and the closest two distinct figures."""
    from scifig_tools import audit as audit_tool

    configs, sample = ["captioning", "pretraining", "chat", "articles"], str(paths.SAMPLE)
    released = audit_tool.audit(configs=configs, data_dir=sample, as_released=True)[0]
    loaded = audit_tool.audit(configs=configs, data_dir=sample)[0]
    [plant] = dummy_data.planted_figures()
    [pair] = loaded["configs"]["pretraining"]["contamination"]["figures"]["pairs"]
    figures = {hashlib.sha256(image["bytes"]).hexdigest(): audit_tool.perceptual_hash(image["bytes"])
               for row in scifig.load("articles", split="train", streaming=True, data_dir=sample).decode(False)
               for image in row["figures"]["image"]}
    distances = [bin(a ^ b).count("1") for a, b in itertools.combinations(figures.values(), 2)]
    false = sum(distance <= audit_tool.PHASH_DISTANCE for distance in distances)
    planted = ", ".join(f"`{uid}`" for uid in dummy_data.planted_in_pretraining())
    shipped_only = loaded["configs"]["pretraining"]["contamination"]["shipped_list_only"]
    return ("On the bundled (fictional) sample — which files one article under a train subject and a test subject, "
            f"plants one test article, {planted}, in a pre-training document, puts `{plant['figure_of']}`'s "
            f"validation figure, resized and re-encoded as JPEG, into `{plant['into']}`'s pre-training document, and "
            f"gives one pre-training document the id of a real MMSci test article, "
            f"{', '.join(f'`{uid}`' for uid in shipped_only)} — the audit of train as released finds the evaluation "
            f"articles {', '.join(f'`{uid}`' for uid in released['leaks'])} and "
            f"{_count(released['figure_leaks'], 'evaluation figure match', 'evaluation figure matches')}; as loaded "
            "by default, "
            + (f"evaluation articles {', '.join(released['leaks'])}" if loaded["leaks"] else "no evaluation article")
            + f" and {_count(loaded['figure_leaks'], 'figure match', 'figure matches')}: the re-encoded figure, "
            f"{pair['distance']} bits from its original, under another article id; and it names "
            f"{', '.join(f'`{uid}`' for uid in shipped_only)} as an article only the shipped list calls an evaluation "
            f"article (with `benchmark.zip` absent, the list leaves it out). Among the sample's "
            f"{len(figures)} distinct figures, the closest two differ by {min(distances)} bits: "
            f"{_count(false, 'false match', 'false matches')} of {len(distances)} pairs at the "
            f"{audit_tool.PHASH_DISTANCE}-bit threshold.")


def links(repo_id=None, export=False):
    rows = [("Paper", "[MMSci: A Dataset for Graduate-Level Multi-Discipline Multimodal Scientific Understanding]"
                      "(https://arxiv.org/abs/2407.04903) (ICLR 2025, arXiv:2407.04903)"),
            ("MMSci's release", f"[{scifig.HOMEPAGE.split('github.com/')[1]}]({scifig.HOMEPAGE}) (archives, data "
                                "card, evaluation code)"),
            ("Hub", f"[`{repo_id}`](https://huggingface.co/datasets/{repo_id})" if repo_id else
                    "not published from this repository yet; `python -m scifig_tools export OUT --repo-id ORG/NAME` "
                    "writes the folder the Hub serves")]
    if not export:
        rows.insert(0, ("Repository", "this one: the builder (`scifig.py`), the tools (`scifig_tools`), a fictional "
                                      "sample (`dummy_data/`) and the tests"))
    rows.append(("Croissant", "[`croissant.json`](croissant.json): this export's structure and responsible-AI "
                              "metadata (Croissant 1.1)" if export else "`export` writes `croissant.json` (Croissant "
                              "1.1, with responsible-AI fields) beside the Parquet files"))
    rows.append(("Licence", "CC BY 4.0 for MMSci's release; article licences vary ([Licence](#licence))"))
    return "| | |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def load_section(repo_id=None, export=False):
    if export:
        name = repo_id or "ORG/NAME"
        return f"""```python
from datasets import load_dataset
stream = load_dataset("{name}", "mcq", split="validation", streaming=True)  # reads only the rows you take
ds = load_dataset("{name}", "mcq")                                        # every split, cached on disk
```

Each config is a folder of Parquet files; the Hub's dataset viewer shows them."""
    return f"""From a clone, install the package and look at a few rows of the bundled fictional sample (no network
beyond the package registry); or install and run the tests on every tested `datasets` line:

```bash
{PREVIEW_COMMAND}
```

```bash
bash tests/run.sh
```

Then, with that environment (`import scifig` works from any folder once installed):

```python
import scifig
sample = scifig.load("mcq", split="validation", data_dir="dummy_data")    # the bundled fictional sample
stream = scifig.load("mcq", split="validation", streaming=True)           # MMSci's hosted archives, as you read
ds = scifig.load("mcq", data_dir="~/mmsci")                               # every split, from archives on disk
```

`scifig.load` returns what `datasets.load_dataset` would, and takes its main arguments (`split`, `streaming`,
`data_dir`, `cache_dir`, `num_proc`, `verification_mode`) besides scifig's own (below). Streaming reads each
archive's index and then only the files the rows you take need; without `streaming=True`, the archive is downloaded
once into the `datasets` cache and the dataset prepared on disk. The data comes from `data_dir=` (a folder holding
`benchmark.zip`, `pretraindata.zip`, `rawdata.zip`, or them unzipped) if given, else `base_url=` (a mirror:
`python -m scifig_tools serve ~/mmsci` serves one), else MMSci's hosted archives.

{DATASETS_LINES}

A config, split, setting, subject or category that does not exist is a `ValueError` before anything is read
(`split="dev"` says that MMSci's `dev` is scifig's `validation`)."""


# The two commands a fresh machine runs from a clone: the main job on the bundled sample, and the tests.
PREVIEW_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/python -m scifig_tools preview mcq "
                   "--split validation --data-dir dummy_data --limit 3")
DATASETS_LINES = "\n".join("| " + " | ".join(row) + " |" for row in [
    ("`datasets`", "how to load", "tested"), ("---", "---", "---"),
    ("5.2 (current)", "`scifig.load`; every tool; the Hub export", "the whole suite, the fuzzer"),
    ("4.8.5 (last 4.x)", "`scifig.load`; the Hub export", "loading, errors, interrupted runs, the export"),
    ("4.0.0 (first without loading scripts)", "`scifig.load`", "loading and errors"),
    ("3.6.0 (last with loading scripts)", '`load_dataset("scifig", "mcq", trust_remote_code=True)` from the folder '
     "holding a clone named `scifig`, or `scifig.load`", "the whole suite"),
])


def evaluate_rows(repo_id=None, export=False):
    if export:
        return (f"ANSWER_INSTRUCTION = {json.dumps(ANSWER_INSTRUCTION)}  # what MMSci's evaluation appends\n"
                "from datasets import load_dataset\n"
                f"rows = load_dataset(\"{repo_id or 'ORG/NAME'}\", \"mcq\", split=\"validation\", streaming=True)")
    return ("from scifig_tools.answers import ANSWER_INSTRUCTION  # what MMSci's evaluation appends\n"
            "import scifig\nrows = scifig.load(\"mcq\", split=\"validation\", streaming=True)  "
            "# data_dir=\"dummy_data\": the sample")


def dataset_flag(repo_id=None, export=False):
    """How the exported card's commands name the dataset (`--dataset ID`); empty in the repository's README,
    whose commands read the archives."""
    return f" --dataset {repo_id or 'ORG/NAME'}" if export else ""


def evaluate_command(repo_id=None, export=False):
    scored = (f"python -m scifig_tools evaluate --config mcq --split validation{dataset_flag(repo_id, export)} "
              "--predictions preds.jsonl --out eval")
    if export:
        return scored
    return (scored + "\n# on the bundled sample, a text-only baseline in place of a model:\n"
            "python -m scifig_tools evaluate --config mcq --split validation --data-dir dummy_data "
            "--baseline longest-option")


EXPORTED_DOCS = ["ids.md", "answers.md"]  # about the data itself, not the code: the Hub export carries it
DOCS = {"performance.md": "Performance: speed and memory at MMSci's scale, measured",
        "reliability.md": "Reliability: damaged data, bad networks, interrupted runs, and the fuzzer",
        "ids.md": "The `id` scheme",
        "answers.md": "Reading a letter out of a reply: the rules, what stays unparsed, and VLMEvalKit's differences",
        "development.md": "Development: commands, the code's layout, refreshing sizes and checksums"}


def more(export=False):
    if export:
        return ("More about how scifig reads the data — speed, reliability, the `id` scheme — is in the `docs/` "
                "folder of the scifig code repository.")
    return "## More\n\n" + "\n".join(f"- [{title}](docs/{name})" for name, title in DOCS.items())


def fuzz_result(path=FUZZ_RESULTS):
    """One sentence stating the fuzzer's last recorded long run (`python -m tests.fuzz ... --record`)."""
    if not Path(path).is_file():
        return "No long fuzzer run is recorded yet."
    run = json.loads(Path(path).read_text(encoding="utf-8"))
    return (f"Its last long run ({run['date']}, datasets {run['datasets']}): {run['cases']:,} cases "
            f"({run['random_cases']:,} random with seed {run['seed']}, {run['sweep_cases']:,} of the sweep), "
            f"{run['failing']} failing, in {run['seconds']:,} s on {run['jobs']} processes.")


def render_docs():
    """{path under docs/: text} for every doc template, facts filled in."""
    facts = {"fuzz_result": fuzz_result(),
             "performance": (paths.REPOSITORY / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8").strip()}
    return {f"docs/{template.name}": string.Template(template.read_text(encoding="utf-8")).substitute(facts)
            for template in sorted(DOC_TEMPLATES.glob("*.md"))}


def sample_notice(export_counts=None, fictional=False):
    """For an export of the bundled sample, the first thing its card says: that the rows are fictional."""
    if not fictional:
        return ""
    rows = sum(split["num_examples"] for splits in export_counts.values() for split in splits.values())
    return (f"> **This is the fictional sample bundled with scifig, {rows} rows, not MMSci's data.** Its articles "
            "are made up (ids `ncomms90001`–`ncomms90008`) to reproduce the real data's shape and quirks, for "
            "trying scifig and testing; export from MMSci's archives for real use.\n\n")


def render(infos=None, configs=None, export_counts=None, rows=None, samples=None, contamination=None, repo_id=None,
           fictional=False):
    """The whole card as text: YAML front matter, then the sections of card.md. With `configs` (the export's data
    files) it is the Hub export's card: loaded by `repo_id`, nothing that needs a clone; `fictional`: the export
    holds the bundled sample, and its first screen says so."""
    infos = infos if infos is not None else json.loads(paths.INFOS.read_text(encoding="utf-8"))
    export = configs is not None
    body = string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        homepage=scifig.HOMEPAGE,
        sample_notice=sample_notice(export_counts, fictional),
        links=links(repo_id, export),
        load=load_section(repo_id, export),
        evaluate_rows=evaluate_rows(repo_id, export),
        evaluate_command=evaluate_command(repo_id, export),
        dataset=repo_id or "ORG/NAME" if export else "EXPORT_DIR_OR_HUB_ID",
        evaluate_dataset=dataset_flag(repo_id, export),
        answers_doc="docs/answers.md",
        train_shards_hint=("pick a multiple of ranks × workers" if export
                           else "[how to pick N](docs/performance.md#on-a-cluster)"),
        archive_urls=", ".join(f"`{url}`" for url in scifig.ARCHIVE_URLS.values()),
        configs_table=configs_table(),
        field_sections=field_sections(rows or example_rows()),
        split_sizes=split_sizes(infos, export_counts),
        sample="" if export else sample_section(samples or sample_counts()),
        checksums=checksums(infos),
        contamination=contamination if contamination is not None else contamination_on_the_sample(),
        split_leak=split_leak(),
        mds_environment="as scifig's code repository says" if export
        else "as the tests do: `pip install -r <(grep -v '^datasets' requirements.txt) \"datasets==4.8.5\" "
             "\"mosaicml-streaming==0.13.0\"` in a clone (scifig.load's other line)",
        trl_example="[`examples/trl_sft.py`](examples/trl_sft.py)" if not export
        else "`examples/trl_sft.py` in scifig's code repository",
        collection=facts.COLLECTION,
        annotation=facts.ANNOTATION,
        processing=facts.PROCESSING,
        biases="\n".join(f"- {bias}" for bias in facts.BIASES),
        sensitive=facts.SENSITIVE,
        overlap_table=overlap_table(),
        eval_list_source=f"{facts.eval_list()['source']} at commit {facts.eval_list()['commit'][:7]}",
        phash_distance=audit_distance(),
        test_entries=f"{facts.eval_list()['entries']['test']:,}",
        test_articles=f"{facts.eval_list()['articles']['test']:,}",
        released_leak=released_leak(),
        citation=scifig.CITATION.strip(),
        fuzz_summary=fuzz_result(),
        more=more(export),
    )
    data = card_data(infos, configs, export_counts)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def write(path=None, **kwargs):
    """Writes the card to `path` (the checkout's README.md unless given); returns the path."""
    path = path or paths.output("README.md", "card writes README.md and docs/")
    text = render(**kwargs)
    Path(path).write_text(text, encoding="utf-8")
    DatasetCard.load(path)  # what the Hub parses: fails loudly on broken YAML
    return path


def write_docs(root=None):
    root = root or paths.output("", "card writes README.md and docs/")
    for name, text in render_docs().items():
        (Path(root) / name).parent.mkdir(parents=True, exist_ok=True)
        (Path(root) / name).write_text(text, encoding="utf-8")
    return sorted(render_docs())
