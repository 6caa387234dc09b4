"""Every export scifig writes, one path and one table of formats (FORMATS): the Hub's Parquet folder, and the
formats trainers read as they are.

    python -m scifig_tools export OUT --repo-id ORG/NAME [--configs mcq captioning] [--data-dir D | --base-url U]
    hf upload ORG/NAME OUT --repo-type dataset                                # the Hub (Parquet + card)
    python -m scifig_tools export OUT --format llamafactory --configs sft     # LLaMA-Factory (sharegpt + images)
    python -m scifig_tools export OUT --format vila --configs pretraining     # VILA's mmc4 pickle shards
    python -m scifig_tools export OUT --format webdataset --configs pretraining   # open_flamingo's mmc4 tars
    python -m scifig_tools export OUT --format mds --configs sft pretraining     # MosaicML streaming shards

Rows come from the builder as `load` prepares them (train clean of evaluation articles unless told otherwise).

The Hub folder: OUT/<config>/<split>-NNNNN-of-NNNNN.parquet (scifig_tools.parquet_layout), images embedded as
{bytes, path} structs, shards of at most `max_shard_size` (500 MB, as push_to_hub), row groups of about 100 rows
(fewer where datasets' 100 MB row-group limit says so), small enough for the viewer, features in the Parquet schema
metadata; OUT/README.md is the card with `configs:` mapping every split to its files, and OUT/croissant.json. A
re-run skips shards already written and complete: each shard is written to a temporary name and renamed only when
whole. `num_proc` prepares with that many processes and writes that many shards at a time.

The trainer formats write the train split. Every file they write is named from its own counters
(images/00000000.png, shard_0.pkl, shard-000000.tar): a name found in an archive (a figure's path, an image name
inside a document) never decides where a file lands.
"""

import base64
import collections
import contextlib
import io
import json
import math
import multiprocessing
import os
import pickle
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Tuple

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

import scifig
from scifig.scifig_compat import bytes_in_size, rows_per_row_group
from scifig_tools import card, croissant, paths
from scifig_tools.infos import declared_info
from scifig_tools.parquet_layout import data_files, exported_files, shard_name, split_of
from scifig_tools.schema import parquet_metadata

# ============================================================================ the Hub's Parquet folder

def value_bytes(array):
    """The bytes an Arrow array's values take, however the array is cut into chunks or slices: what each engine
    plans shards by. (pyarrow's nbytes also counts offsets and validity bitmaps, which change with the chunking: a
    Ray export's blocks and a prepared dataset's batches would give the same rows other shard counts.) A boolean
    counts as a byte."""
    if isinstance(array, (pa.ChunkedArray, pa.Table, pa.RecordBatch)):
        return sum(value_bytes(part) for part in (array.chunks if isinstance(array, pa.ChunkedArray)
                                                   else array.columns))
    kind = array.type
    if pa.types.is_struct(kind):
        return sum(value_bytes(field) for field in array.flatten())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return value_bytes(array.flatten())
    if pa.types.is_binary(kind) or pa.types.is_string(kind) or pa.types.is_large_binary(kind) or \
            pa.types.is_large_string(kind):
        return pc.sum(pc.binary_length(array)).as_py() or 0
    if pa.types.is_null(kind):
        return 0
    return len(array) * max(1, kind.bit_width // 8)


def shard_plan(num_bytes, max_shard_size):
    """How many contiguous shards keep each under max_shard_size (the rule push_to_hub uses, on value_bytes)."""
    return max(1, math.ceil(num_bytes / bytes_in_size(max_shard_size)))


def shard_bounds(num_rows, shards):
    """[(first row, end row)] of each contiguous shard: datasets' own `shard(contiguous=True)` cut."""
    size, extra = divmod(num_rows, shards)
    return [(size * index + min(index, extra), size * (index + 1) + min(index + 1, extra)) for index in range(shards)]


IMAGE_ROW_GROUP_ROWS = 100  # every scifig config carries images: keep viewer pages to ~100 rows


def row_group_size(num_rows, num_bytes):
    """~100 rows, fewer where that would pass datasets' own row-group byte limit (100 MB)."""
    by_bytes = rows_per_row_group(max(num_rows, 1), max(num_bytes, 1))
    return max(1, min(IMAGE_ROW_GROUP_ROWS, by_bytes))


class SplitPlan(NamedTuple):
    """A split's Hub files: each file's name and rows, and the rows of its row groups. Both engines write by it."""

    names: list
    bounds: list
    group: int


def plan_split(split, num_rows, num_bytes, max_shard_size):
    shards = min(shard_plan(num_bytes, max_shard_size), max(1, num_rows))  # no file of no rows
    return SplitPlan([shard_name(split, index, shards) for index in range(shards)], shard_bounds(num_rows, shards),
                     row_group_size(num_rows, num_bytes))


def complete(filesystem, path, rows, metadata):
    """Whether `path` is a whole shard of `rows` rows with these features (a rerun skips it)."""
    if filesystem.get_file_info(path).type != pafs.FileType.File:
        return False
    try:
        parquet = pq.ParquetFile(path, filesystem=filesystem)
    except Exception:  # an unreadable leftover is rewritten, whatever pyarrow calls the damage
        return False
    stored = parquet.schema_arrow.metadata or {}
    return parquet.metadata.num_rows == rows and stored.get(b"huggingface") == metadata["huggingface"].encode()


def write_shard(filesystem, path, batches, metadata, group):
    """Writes the Arrow batches (in order) as one shard at `path` of `filesystem`: to a temporary name, renamed
    when whole, so an interrupted export leaves no shard that looks complete."""
    partial = f"{path}.{socket.gethostname()}.{os.getpid()}.partial"
    writer = None
    try:
        for batch in batches:
            table = batch.replace_schema_metadata(metadata)
            if writer is None:
                # a page is cut once past its 1 MB only between write batches: at pyarrow's 1024 rows a batch, a
                # row group of 100 rows with a figure each was one page, held whole in memory while written (~30 MB)
                writer = pq.ParquetWriter(partial, table.schema, filesystem=filesystem, write_batch_size=1)
            writer.write_table(table, row_group_size=group)
        writer.close()
        filesystem.move(partial, path)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        with contextlib.suppress(Exception):
            filesystem.delete_file(partial)
        raise


def remove_stale(filesystem, folder, split, names):
    """Removes the split's files no plan of this run names: left by a run with another shard count, or cut off
    mid-write (a temporary name)."""
    found = filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    for info in found:
        if info.base_name.startswith(f"{split}-") and info.base_name not in names and \
                (info.base_name.endswith(".partial") or split_of(info.base_name) == split):
            filesystem.delete_file(info.path)


def _write_shard(job):
    """Writes one shard unless it is already complete; returns (rows written, rows skipped)."""
    dataset, (start, end), path, metadata, group = job
    local = pafs.LocalFileSystem()
    if complete(local, str(path), end - start, metadata):
        return 0, end - start
    shard = dataset.select(range(start, end)) if (start, end) != (0, len(dataset)) else dataset  # contiguous: a slice
    write_shard(local, str(path), shard.with_format("arrow").iter(batch_size=group), metadata, group)
    return end - start, 0


def write_split(dataset, folder, split, max_shard_size="500MB", progress=True, num_proc=None):
    """Writes one split's shards, `num_proc` at a time; returns (files, rows written now, rows skipped as already
    complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    plan = plan_split(split, len(dataset), value_bytes(dataset.data.table), max_shard_size)
    remove_stale(pafs.LocalFileSystem(), str(folder), split, plan.names)
    metadata = parquet_metadata(dataset.features)
    jobs = [(dataset, bounds, folder / name, metadata, plan.group) for bounds, name in zip(plan.bounds, plan.names)]
    bar = tqdm(total=len(dataset), desc=f"{folder.name}/{split}", unit="row", disable=not progress)
    written = skipped = 0
    workers = min(num_proc or 1, len(jobs))
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = list(tqdm_unordered(pool.imap_unordered(_write_shard, jobs), bar))
    else:
        done = list(tqdm_unordered(map(_write_shard, jobs), bar))
    for rows_written, rows_skipped in done:
        written, skipped = written + rows_written, skipped + rows_skipped
    bar.close()
    return plan.names, written, skipped


def tqdm_unordered(results, bar):
    for rows_written, rows_skipped in results:
        bar.update(rows_written + rows_skipped)
        yield rows_written, rows_skipped


def destination(out):
    """(pyarrow filesystem, root path) of an export folder: a local path, or any URI pyarrow's filesystems take
    (s3://, gs://, hdfs://), so a cluster writes straight to object storage."""
    if "://" in str(out):
        return pafs.FileSystem.from_uri(str(out))
    return pafs.LocalFileSystem(), str(Path(out).expanduser().resolve())


def exported_splits(out_dir, filesystem=None):
    """{config: {split: {num_examples, num_bytes}}} for every config folder in an export, from the Parquet footers
    (num_bytes: uncompressed, as datasets counts it)."""
    splits = {}
    for config, files_of in exported_files(out_dir, filesystem).items():
        for split, files in files_of.items():
            footers = [pq.ParquetFile(path, filesystem=filesystem).metadata for path in files]
            splits.setdefault(config, {})[split] = {
                "num_examples": sum(footer.num_rows for footer in footers),
                "num_bytes": sum(footer.row_group(i).total_byte_size for footer in footers
                                 for i in range(footer.num_row_groups)),
            }
    return splits


def write_card(out_dir, repo_id=None, filesystem=None):
    """The card for what the export folder holds, whichever runs wrote it, with croissant.json and what it links.
    An export in object storage (`filesystem` given) gets them written locally first, then copied beside its
    files."""
    if filesystem is not None and not isinstance(filesystem, pafs.LocalFileSystem):
        with tempfile.TemporaryDirectory(prefix="scifig-card-") as staging:
            _write_card(out_dir, repo_id, filesystem, Path(staging))
            pafs.copy_files(staging, out_dir, destination_filesystem=filesystem)
        return
    _write_card(str(out_dir), repo_id, filesystem, Path(out_dir))


def _write_card(out_dir, repo_id, filesystem, into):
    counts = exported_splits(out_dir, filesystem)
    configs_yaml = [
        {"config_name": config,
         "data_files": [{"split": split, "path": data_files(config, split)} for split in counts[config]]}
        for config in counts
    ]
    default = scifig.DEFAULT_CONFIG if scifig.DEFAULT_CONFIG in counts else next(iter(counts))
    for entry in configs_yaml:
        if entry["config_name"] == default:
            entry["default"] = True
    infos = {config: declared_info(config) for config in counts}
    fictional = read_marker(filesystem or pafs.LocalFileSystem(), str(out_dir)).get("fictional_sample", False)
    # the contamination paragraph measures the bundled sample: the export's card is about the export's own rows
    card.write(into / "README.md", infos=infos, configs=configs_yaml, export_counts=counts, repo_id=repo_id,
               contamination="", fictional=fictional)
    croissant.write(out_dir, repo_id, filesystem, into)
    chart = paths.REPOSITORY / "assets" / "figures_per_subject.png"
    (into / "assets").mkdir(exist_ok=True)
    shutil.copy(chart, into / "assets" / chart.name)
    (into / "docs").mkdir(exist_ok=True)
    for name in card.EXPORTED_DOCS:  # what the exported card links to
        shutil.copy(paths.REPOSITORY / "docs" / name, into / "docs" / name)


# ============================================================================ the trainers' formats

DOCUMENTS_PER_SHARD = 200  # as MMSci's and VILA's mmc4 pickles hold

# LLaMA-Factory's sharegpt format, with the tags MMSci's own recipe registers (mmsci-exps/README.md)
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
_ROLES = {"user": "human", "assistant": "gpt"}
IMAGE_TAG = "<image>"

# The MMSci authors' LLaMA-Factory recipe (mmsci-exps/README.md in Leezekun/MMSci): Qwen2-VL-2B-Instruct, LoRA on
# all layers, one epoch. dataset_dir and media_dir are filled with the export's folder.
RECIPE = """\
# The MMSci authors' recipe (mmsci-exps/README.md in Leezekun/MMSci), on scifig's {dataset} export.
# Run from anywhere: llamafactory-cli train {yaml}
### model
model_name_or_path: Qwen/Qwen2-VL-2B-Instruct

### method
stage: sft
do_train: true
finetuning_type: lora
lora_target: all

### dataset
dataset: {dataset}
dataset_dir: {folder}
media_dir: {folder}
template: qwen2_vl
cutoff_len: 4096
overwrite_cache: true
preprocessing_num_workers: 32

### output
output_dir: saves/qwen2_vl-2b/lora/sft-{dataset}
logging_steps: 100
save_steps: 1000
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 1.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
"""


def _undecoded(dataset):
    """A trainer's rows: figures as stored ({bytes, path}), not decoded."""
    return dataset.cast_column("images", datasets.Sequence(datasets.Image(decode=False)))


def _suffix(data):
    """A file suffix for image bytes, from what PIL reads them as."""
    with Image.open(io.BytesIO(data)) as image:
        return {"JPEG": ".jpg", "PNG": ".png"}.get(image.format, f".{image.format.lower()}")


def _sharegpt(messages):
    """The chat layout's messages as sharegpt turns: an <image> tag where each image part stands."""
    return [{"from": _ROLES[message["role"]],
             "value": "".join(f"{IMAGE_TAG}\n" if part["type"] == "image" else part["text"] or ""
                              for part in message["content"])} for message in messages]


def llamafactory(out_dir, config, split, dataset, options):
    """OUT/<config>.json (sharegpt), OUT/images/<n>.<png|jpg>, OUT/dataset_info.json and the authors' recipe."""
    out_dir, rows = Path(out_dir), _undecoded(dataset)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    name = f"scifig_{config}"
    examples, written = [], 0
    for row in rows:
        images = []
        for image in row["images"]:
            path = f"images/{written:08d}{_suffix(image['bytes'])}"
            (out_dir / path).write_bytes(image["bytes"])
            images.append(path)
            written += 1
        examples.append({"messages": _sharegpt(row["messages"]), "images": images})
    (out_dir / f"{config}.json").write_text(json.dumps(examples, ensure_ascii=False, indent=1) + "\n",
                                            encoding="utf-8")
    registry = out_dir / "dataset_info.json"
    info = json.loads(registry.read_text(encoding="utf-8")) if registry.is_file() else {}
    info[name] = {"file_name": f"{config}.json", "formatting": "sharegpt",
                  "columns": {"messages": "messages", "images": "images"}, "tags": SHAREGPT_TAGS}
    registry.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    recipe = out_dir / f"qwen2vl_lora_{config}.yaml"
    recipe.write_text(RECIPE.format(dataset=name, folder=out_dir.resolve(), yaml=recipe.resolve()),
                      encoding="utf-8")
    return {"rows": len(examples), "written": len(examples), "skipped": 0, "images": written,
            "files": [f"{config}.json", "dataset_info.json", recipe.name]}


def mmc4_document(row):
    """A `pretraining` row as the mmc4 document MMSci wrote: its sentences, its image_info in MMSci's order, each
    with its image (base64 of the same bytes) and every field MMSci wrote (face_detections, None throughout MMSci,
    is the one scifig does not keep: written None), its similarity_matrix, url and category."""
    texts, placed = [], collections.defaultdict(list)  # sentence index -> the images placed just before it
    for text, image in zip(row["texts"], row["images"]):
        if image is not None:
            placed[len(texts)].append(image)
        else:
            texts.append(text)
    infos = []
    for info in row["image_info"]:
        image = placed[info["matched_text_index"]].pop(0)  # the rows place a sentence's images in MMSci's order
        infos.append({"face_detections": None, "index": info["index"], "image_name": info["image_name"],
                      "local_path": info["local_path"], "raw_url": info["raw_url"], "caption": info["caption"],
                      "image_base64": base64.b64encode(image["bytes"]).decode("ascii"),
                      "matched_text_index": info["matched_text_index"], "matched_sim": info["matched_sim"]})
    category = scifig.category_name(row["category"])
    return {"text_list": texts, "image_info": infos, "similarity_matrix": row["similarity_matrix"],
            "url": row["url"], "category": f"{category}-{row['subject']}"}


def _document_shards(rows, shards):
    """The documents cut into `shards` runs of near-equal length, in order (a run may be empty)."""
    documents = [mmc4_document(row) for row in rows]
    size, extra = divmod(len(documents), shards)
    start = 0
    for number in range(shards):
        end = start + size + (number < extra)
        yield documents[start:end]
        start = end


VILA_SHARDS = 8  # VILA gives each GPU n_shards // world_size shards: 8 divides by 1, 2, 4 and 8 GPUs


def vila_shards(documents, wanted):
    """How many shards VILA reads every document of: a multiple of `wanted`, none over 200 documents; with fewer
    documents than `wanted`, the largest power of two they fill (VILA's epoch is the fewest documents a GPU holds
    times the GPUs, so an empty shard could leave a GPU, and so every GPU, with none)."""
    if documents < wanted:
        return 1 << max(0, documents.bit_length() - 1)
    return wanted * math.ceil(documents / (DOCUMENTS_PER_SHARD * wanted))


def vila(out_dir, config, split, dataset, options):
    """OUT/<config>/shard_<i>.pkl and shard_<i>.count: VILA's mmc4 layout (`Dataset(dataset_type="mmc4",
    data_path=OUT/<config>)`), a folder of pickles of plain-data documents and their counts only (VILA counts the
    files, halved, as its shards). Shards of near-equal documents, as many as vila_shards says: VILA gives each GPU
    n_shards // world_size shards, never reads the rest, and takes as many documents from each GPU as the fewest
    any holds, so a shard count the GPU count divides, with no empty shard, leaves no document unread."""
    folder = Path(out_dir) / config
    folder.mkdir(parents=True, exist_ok=True)
    rows = _undecoded(dataset)
    shards = vila_shards(len(rows), options.shards or VILA_SHARDS)
    documents = 0
    for number, shard in enumerate(_document_shards(rows, shards)):
        (folder / f"shard_{number}.pkl").write_bytes(pickle.dumps(shard, protocol=4))
        (folder / f"shard_{number}.count").write_text(f"{len(shard)}\n", encoding="ascii")
        documents += len(shard)
    return {"rows": documents, "written": documents, "skipped": 0, "shards": shards}


def webdataset_tars(out_dir, config, split, dataset, options):
    """OUT/<config>/shard-<i>.tar: one `<key>.json` per document, the mmc4 document with each image inline
    (`image_base64` in its image_info), as open_flamingo's mmc4 loader (preprocess_interleaved) reads them."""
    import webdataset  # this format's own dependency: the other commands run without it

    folder = Path(out_dir) / config
    folder.mkdir(parents=True, exist_ok=True)
    documents = 0
    with webdataset.ShardWriter(str(folder / "shard-%06d.tar"), maxcount=DOCUMENTS_PER_SHARD, verbose=0) as sink:
        for row in _undecoded(dataset):
            sink.write({"__key__": f"{documents:09d}", "json": mmc4_document(row)})
            documents += 1
    return {"rows": documents, "written": documents, "skipped": 0, "shards": len(list(folder.glob("shard-*.tar")))}


def mds_value(feature, value):
    """A stored value (an Arrow row as Python) as plain JSON data: every image, however deep, the base64 of its
    bytes (None stays None), dates as ISO text, class labels as their numbers, as the Parquet export stores them."""
    if value is None:
        return None
    if isinstance(feature, datasets.Image):
        return base64.b64encode(value["bytes"]).decode("ascii")
    if isinstance(feature, dict):
        return {name: mds_value(inner, value.get(name)) for name, inner in feature.items()}
    if isinstance(feature, (list, tuple)):
        return [mds_value(feature[0], item) for item in value]
    inner = getattr(feature, "feature", None)  # Sequence on datasets 3.6, List on 4 and later
    if inner is not None:
        if isinstance(value, dict):  # a Sequence of a dict is stored as a dict of lists
            value = [dict(zip(value, items)) for items in zip(*value.values())]
        return [mds_value(inner, item) for item in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


# MDS's own type for each Arrow type a feature stores (a ClassLabel stores int64); anything else is JSON
MDS_ENCODINGS = {"int8": "int64", "int16": "int64", "int32": "int64", "int64": "int64", "float32": "float64",
                 "float64": "float64", "string": "str", "large_string": "str", "date32": "str"}


def mds_columns(features):
    """{column: MDS encoding}: text and numbers as MDS's own types, a top-level image as its bytes, the rest JSON."""
    return {name: "bytes" if isinstance(feature, datasets.Image)
            else MDS_ENCODINGS.get(getattr(feature, "dtype", None), "json") for name, feature in features.items()}


def mds_row(features, columns, row):
    return {name: (row[name]["bytes"] if columns[name] == "bytes" else mds_value(features[name], row[name]))
            for name in columns}


def mds(out_dir, config, split, dataset, options):
    """OUT/<config>/<split>/: MosaicML streaming shards (index.json and shard.NNNNN.mds) by its MDSWriter, read by
    `streaming.StreamingDataset(local=...)` (Composer, LLM Foundry). Columns by mds_columns; shards of at most
    MDS's default 64 MB. Written into a temporary folder renamed when whole: a rerun skips a split already done."""
    from streaming import MDSWriter  # this format's own dependency (mosaicml-streaming)

    folder = Path(out_dir) / config / split
    if (folder / "index.json").is_file():
        rows = sum(shard["samples"] for shard in json.loads((folder / "index.json").read_text())["shards"])
        return {"rows": rows, "written": 0, "skipped": rows}
    partial = folder.with_name(f"{split}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    features = dataset.features
    columns = mds_columns(features)
    written = 0
    with MDSWriter(out=str(partial), columns=columns, progress_bar=False) as writer:
        for batch in dataset.with_format("arrow").iter(batch_size=IMAGE_ROW_GROUP_ROWS):
            for row in batch.to_pylist():
                writer.write(mds_row(features, columns, row))
                written += 1
    partial.replace(folder)
    return {"rows": written, "written": written, "skipped": 0}


# ============================================================================ one table, one path

class ExportOptions(NamedTuple):
    """What a run of `export` asks of every format (each takes what applies to it)."""

    max_shard_size: str = "500MB"
    num_proc: Optional[int] = None
    progress: bool = True
    repo_id: Optional[str] = None
    shards: Optional[int] = None  # vila: how many shards at least


def hub_split(out_dir, config, split, dataset, options):
    """One split of the Hub folder: its Parquet shards, those already complete skipped."""
    _, written, skipped = write_split(dataset, Path(out_dir) / config, split, options.max_shard_size,
                                      options.progress, options.num_proc)
    return {"rows": written + skipped, "written": written, "skipped": skipped}


def hub_card(out_dir, options, filesystem=None):
    write_card(out_dir, options.repo_id, filesystem)


class ExportFormat(NamedTuple):
    """One export format: the configs it takes (`defaults` when none are named), which splits it writes (None:
    every split with rows), how it writes one split, what it writes once every config is done, and what to do
    next."""

    description: str
    configs: Tuple[str, ...]
    defaults: Tuple[str, ...]
    splits: Optional[Tuple[str, ...]]
    write: Callable         # (out_dir, config, split, dataset, ExportOptions) -> {"rows", "written", "skipped", ...}
    finish: Optional[Callable] = None  # (out_dir, ExportOptions, pyarrow filesystem or None)
    next_step: str = ""     # printed after the export, formatted with out_dir and repo_id


FORMATS = {
    "hub": ExportFormat("Parquet and card for the Hub (the default)", tuple(scifig.CONFIG_NAMES),
                        tuple(scifig.CONFIG_NAMES), None, hub_split, hub_card,
                        "wrote {out_dir}: upload with `hf upload {repo_id} {out_dir} --repo-type dataset`"),
    "llamafactory": ExportFormat("LLaMA-Factory's sharegpt JSON, images and recipe", ("sft", "chat"), ("sft",),
                                 ("train",), llamafactory),
    "vila": ExportFormat("VILA's mmc4 pickle shards", ("pretraining",), ("pretraining",), ("train",), vila),
    "webdataset": ExportFormat("open_flamingo's mmc4 tar shards", ("pretraining",), ("pretraining",), ("train",),
                               webdataset_tars),
    "mds": ExportFormat("MosaicML streaming (MDS) shards, every split", tuple(scifig.CONFIG_NAMES),
                        ("sft", "pretraining"), None, mds),
}


MARKER = ".scifig-export.json"  # what says a folder holds an export of scifig's, and in which format


def read_marker(filesystem, root):
    """What the marker of the export folder `root` says ({} where there is none)."""
    marker = f"{root}/{MARKER}"
    if filesystem.get_file_info(marker).type != pafs.FileType.File:
        return {}
    with filesystem.open_input_stream(marker) as stream:
        return json.loads(stream.read().decode("utf-8"))


def claim(out_dir, format, fictional=False, filesystem=None):
    """Makes `out_dir` an export folder of `format`: a new or empty folder, or one an earlier export of the same
    format wrote (then it is resumed). Anything else is refused, so no file of a user's is overwritten. The marker
    also says whether any run wrote rows of the bundled (fictional) sample into it, for the card to say so."""
    filesystem = filesystem or pafs.LocalFileSystem()
    root = str(out_dir)
    filesystem.create_dir(root, recursive=True)
    kept = read_marker(filesystem, root)
    if kept:
        if kept.get("format") != format:
            raise ValueError(f"{out_dir} holds a scifig export in the {kept.get('format')} format: write the {format} "
                             "export into another folder")
        fictional = fictional or kept.get("fictional_sample", False)
    elif filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        raise ValueError(f"{out_dir} is not empty and no scifig export wrote it (it has no {MARKER}), so nothing "
                         "was written: export into a new or empty folder")
    with filesystem.open_output_stream(f"{root}/{MARKER}") as stream:
        stream.write((json.dumps({"format": format, "fictional_sample": fictional,
                                  "written_by": f"scifig {scifig.VERSION}"}) + "\n").encode("utf-8"))


def is_the_sample(data_dir):
    """Whether `data_dir` holds the bundled sample's archives (compared by content: a copy is the sample too)."""
    if not data_dir:
        return False
    found = [(Path(data_dir).expanduser() / path.name, path) for path in sorted(paths.SAMPLE.glob("*.zip"))]
    held = [(copy, original) for copy, original in found if copy.is_file()]
    return bool(held) and all(copy.stat().st_size == original.stat().st_size
                              and copy.read_bytes() == original.read_bytes() for copy, original in held)


ENGINES = ("local", "ray")


def export(out_dir, configs=None, data_dir=None, base_url=None, format="hub", max_shard_size="500MB",
           cache_dir=None, num_proc=None, progress=True, repo_id=None, shards=None, engine="local", ray_address=None,
           **config_kwargs):
    """Prepares each config with the builder and writes it in one format.

    Args:
        out_dir: the folder to write into; with engine="ray", also a URI pyarrow's filesystems take (s3://, gs://).
        configs: the configs to write (the format's defaults when None).
        data_dir, base_url: where the archives are (MMSci's hosted archives when neither is given).
        format: a key of FORMATS.
        max_shard_size: hub: the most one Parquet file holds ("500MB").
        cache_dir, num_proc: as `scifig.load` takes them.
        progress: show progress bars.
        repo_id: hub: ORG/NAME, the Hub id the card tells readers to load.
        shards: vila: how many shards at least (VILA_SHARDS unless given).
        engine: "local" (this machine, `num_proc` processes) or "ray" (a Ray job: scifig_tools.export_ray).
        ray_address: engine="ray": the cluster to run on (a local Ray when None and RAY_ADDRESS is unset).
        **config_kwargs: builder options (exclude_eval_articles=False: train as released).

    Returns:
        {"<config>/<split>": {"rows": n, "written": n, "skipped": n, ...}}: rows in the split, written now, and
        already complete from an earlier run.

    Raises:
        ValueError: an unknown format or config, a config the format does not take, or an `out_dir` holding
            files no scifig export of this format wrote.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    if engine == "ray" and num_proc:
        raise ValueError("--num-proc is the local engine's: with --engine ray, the cluster's CPUs set how many "
                         "tasks run at once")
    if engine == "local" and "://" in str(out_dir):
        raise ValueError(f"{out_dir} is a URI: --engine ray writes to object storage, the local engine a folder")
    chosen = FORMATS[format]
    configs = configs or list(chosen.defaults)
    for config in configs:
        scifig.task_of(config)  # an unknown name is a ValueError listing the valid ones, before any work
    wrong = [config for config in configs if config not in chosen.configs]
    if wrong:
        raise ValueError(f"--format {format} writes {', '.join(chosen.configs)}, not {', '.join(wrong)}")
    if shards is not None and shards < 1:
        raise ValueError(f"--shards must be a positive number, not {shards}")
    options = ExportOptions(max_shard_size, num_proc, progress, repo_id, shards)
    if engine == "ray":
        from scifig_tools import export_ray

        return export_ray.export(out_dir, configs, chosen, format, options, data_dir, base_url, cache_dir,
                                 ray_address, **config_kwargs)
    filesystem, root = destination(out_dir)
    out_dir = Path(root)
    claim(root, format, is_the_sample(data_dir), filesystem)
    report = {}
    for config in configs:
        builder = scifig.prepare(scifig.builder(config, data_dir, cache_dir, base_url=base_url, **config_kwargs),
                                 num_proc=num_proc)
        for split, info in builder.info.splits.items():
            if info.num_examples and (chosen.splits is None or split in chosen.splits):
                report[f"{config}/{split}"] = chosen.write(out_dir, config, split, builder.as_dataset(split=split),
                                                           options)
    if chosen.finish:
        chosen.finish(out_dir, options)
    return report
