"""The dataset card (README.md): YAML metadata and sections written from the builder and dataset_infos.json.

    python -m scifig_tools card      # rewrites README.md; a test fails when README.md and this disagree

The text lives in scifig_tools/card.md; configs, features, citation and counts come from the builder, so the card
cannot drift from what the builder yields. The Hub export writes the same card with a `configs:` section.
"""

import json
import string
import tempfile
from pathlib import Path

import datasets
from huggingface_hub import DatasetCard, DatasetCardData

import scifig
from scifig_tools.layout import benchmark_image, benchmark_json, write_zip
from scifig_tools.schema import features_of, to_sequence_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "card.md"
DOC_TEMPLATES = Path(__file__).resolve().parent / "docs"  # docs/<name>.md is written from each
EXAMPLES = Path(__file__).resolve().parent / "upstream" / "examples"
README = ROOT / "README.md"
FUZZ_RESULTS = ROOT / "docs" / "fuzz-results.json"

METADATA = {
    "pretty_name": "scifig (MMSci scientific figures)",
    "license": "cc-by-4.0",
    "language": ["en"],
    "annotations_creators": ["found"],
    "language_creators": ["found"],
    "multilinguality": ["monolingual"],
    "size_categories": ["100K<n<1M"],
    "source_datasets": ["original"],
    "task_categories": ["image-to-text", "visual-question-answering", "multiple-choice", "image-text-to-text"],
    "task_ids": ["image-captioning", "multiple-choice-qa", "visual-question-answering"],
    "tags": ["science", "scientific-figures", "figure-captioning", "multimodal", "interleaved", "pretraining",
             "nature-communications"],
}

FIELDS = {
    "id": "Unique, stable row key (see *The `id` scheme*); predictions are scored against it.",
    "uid": "Article id, e.g. `ncomms13142`; the article is `https://www.nature.com/articles/<uid>`.",
    "figure_id": "Image file stem, e.g. `ncomms13142_figure_1` (0-based: `figure_0` is the article's Figure 1).",
    "image": "The figure, as published (PNG).",
    "caption": "The figure's caption; `None` where upstream withholds it.",
    "abstract": "The article's abstract.",
    "content": "The article's full text (about 7.5k tokens).",
    "category": "One of the 5 categories: " + ", ".join(scifig.CATEGORIES) + ".",
    "subject": "One of the 71 subject names (72 entries: \"Ecology\" is under two categories).",
    "setting": "`fig2cap` (caption of the whole figure), `subfig2cap` (caption of a sub-figure, distractors from "
               "the article), `subcap2fig` (the same, distractors from the same figure).",
    "question": "The question stem alone, without the options.",
    "options": "Exactly four options, in A–D order.",
    "answer": "Index of the correct option (A–D); -1 where upstream withholds it (test).",
    "prompt": "The upstream question text verbatim: stem, then `\\nA: …` to `\\nD: …`.",
    "url": "The article's page.",
    "images@chat": "The figure the conversation is about (one image).",
    "messages": "The conversation as chat messages: `role` is `user` or `assistant`; `content` is a list of parts "
                "`{type: image|text, text, index}`. The first user turn starts with the image part.",
    "title": "The article's title.",
    "published": "Publication date.",
    "pdf_url": "The article's PDF.",
    "review_pdf_url": "The peer-review file's PDF; `None` where upstream has none (\"URL not found\").",
    "categories": "The category of every folder the article is filed in (aligned with `subjects`).",
    "subjects": "Every subject folder the article is filed in.",
    "sections": "`title` and `content` of each section, in order.",
    "figures": "Per figure: `number` (1-based, as printed), `image` (PNG), `title` (the caption after "
               "\"Figure N:\") and `description` (the legend).",
    "references": "Per reference: `number`, `title` (the citation text) and `url` (`None` where upstream has none).",
    "texts": "The document in reading order: a sentence, or `None` where an image stands.",
    "images": "Aligned with `texts`: an image (JPEG, short side ≤ 336 px), or `None` where a sentence stands. Each "
              "figure sits just before the sentence it was matched to.",
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
        shown = [_shown(item, 80) for item in value[:6]]
        return shown + ([f"… {len(value) - 6} more"] if len(value) > 6 else [])
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
        })
        for config, split in (("mcq", "validation"), ("captioning", "validation"), ("chat", "train")):
            row = next(iter(scifig.load(config, split=split, streaming=True, data_dir=folder)))
            placeholder = f"<PNG: {row['figure_id']}.png>"
            if "images" in row:
                row["images"] = [placeholder]
            else:
                row["image"] = placeholder
            rows[config] = row
    for config in ("pretraining", "articles"):
        rows[config] = next(iter(scifig.load(config, split="train", streaming=True,
                                             data_dir=str(ROOT / "dummy_data"))))
    return rows


def config_sections(rows):
    parts = []
    for config in scifig.CONFIGS:
        family = config.task
        features = scifig.FEATURES[family]
        parts.append(f"### `{config.name}`\n\n{config.description}\n")
        if config.name != family:
            parts.append(f"Fields and example as in `{family}`, with `setting` fixed to "
                         f"`{config.settings[0]}`.\n")
            continue
        parts.append("| field | type | description |\n|---|---|---|")
        parts += [f"| `{name}` | {type_name(feature)} | {FIELDS.get(f'{name}@{family}', FIELDS[name])} |"
                  for name, feature in features.items()]
        source = ("from the bundled sample, as upstream publishes no example" if family in ("pretraining", "articles")
                  else "the upstream data card's example record, run through the builder")
        shown = {name: _shown(value) for name, value in rows[family].items()}
        parts.append(f"\nExample row, {source} (long text shortened):\n\n```json\n"
                     f"{json.dumps(shown, ensure_ascii=False, indent=1)}\n```\n")
    return "\n".join(parts).rstrip()


def sample_counts():
    """Rows per config and split in dummy_data/, counted through the builder."""
    counts = {}
    for config in scifig.CONFIG_NAMES:
        streams = scifig.load(config, streaming=True, data_dir=str(ROOT / "dummy_data"))
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
        return ("Split sizes of the hosted archives are not recorded yet: upstream publishes none, and they are "
                "measured from the archives themselves (see *Refreshing sizes and checksums*).")
    return "Rows per split, measured on the hosted archives:\n\n" + _SPLIT_HEADER + _split_rows(measured)


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


def card_data(infos, configs=None, export_counts=None):
    data = DatasetCardData(**METADATA, dataset_info=dataset_info_yaml(infos, export_counts))
    if configs is not None:
        data.configs = configs
    return data


def sample_audit():
    from scifig_tools.audit import audit

    return audit(data_dir=str(ROOT / "dummy_data"), level=3)[1].strip()


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
    return {f"docs/{template.name}": string.Template(template.read_text(encoding="utf-8")).substitute(
                fuzz_result=fuzz_result())
            for template in sorted(DOC_TEMPLATES.glob("*.md"))}


def render(infos=None, configs=None, export_counts=None, rows=None, samples=None, audit_text=None):
    """The whole card as text: YAML front matter, then the sections of card.md."""
    infos = infos if infos is not None else json.loads((ROOT / "dataset_infos.json").read_text(encoding="utf-8"))
    body = string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        homepage=scifig.HOMEPAGE,
        archive_urls=", ".join(f"`{url}`" for url in scifig.ARCHIVE_URLS.values()),
        config_sections=config_sections(rows or example_rows()),
        split_sizes=split_sizes(infos, export_counts),
        sample_splits=_split_rows(samples or sample_counts()),
        citation=scifig.CITATION.strip(),
        audit=audit_text if audit_text is not None else sample_audit(),
        performance=(ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8").strip(),
        fuzz_summary=fuzz_result(),
    )
    data = card_data(infos, configs, export_counts)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def write(path=README, **kwargs):
    text = render(**kwargs)
    Path(path).write_text(text, encoding="utf-8")
    DatasetCard.load(path)  # what the Hub parses: fails loudly on broken YAML
    return path


def write_docs(root=ROOT):
    for name, text in render_docs().items():
        (Path(root) / name).parent.mkdir(parents=True, exist_ok=True)
        (Path(root) / name).write_text(text, encoding="utf-8")
    return sorted(render_docs())
