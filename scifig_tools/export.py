"""The script-free Hub export: Parquet shards plus the card, a folder the Hub and its viewer read as is.

    python -m scifig_tools export OUT_DIR --repo-id ORG/NAME [--configs mcq captioning] [--data-dir D | --base-url U]
    hf upload ORG/NAME OUT_DIR --repo-type dataset

Layout: OUT_DIR/<config>/<split>-NNNNN-of-NNNNN.parquet, images embedded as {bytes, path} structs, shards of at
most `max_shard_size` (500 MB, as push_to_hub), row groups of about 100 rows (fewer where datasets' 100 MB
row-group limit says so), small enough for the viewer, features in the Parquet schema metadata; OUT_DIR/README.md
is the card with `configs:` mapping every split to its files. A re-run skips shards already written and complete: each
shard is written to a temporary name and renamed only when whole. `num_proc` prepares with that many processes
and writes that many shards at a time.
"""

import math
import multiprocessing
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from datasets.arrow_writer import get_writer_batch_size_from_data_size
from datasets.utils.py_utils import convert_file_size_to_int
from tqdm.auto import tqdm

import scifig
from scifig_tools import card, croissant, paths
from scifig_tools.infos import declared_info
from scifig_tools.schema import parquet_metadata


def shard_plan(dataset, max_shard_size):
    """How many contiguous shards keep each under max_shard_size (the rule push_to_hub uses)."""
    return max(1, math.ceil(dataset.data.nbytes / convert_file_size_to_int(max_shard_size)))


IMAGE_ROW_GROUP_ROWS = 100  # every scifig config carries images: keep viewer pages to ~100 rows


def row_group_size(dataset):
    """~100 rows, fewer where that would pass datasets' own row-group byte limit (100 MB)."""
    by_bytes = get_writer_batch_size_from_data_size(max(len(dataset), 1), max(dataset.data.nbytes, 1))
    return max(1, min(IMAGE_ROW_GROUP_ROWS, by_bytes))


def _complete(path, rows, metadata):
    if not path.is_file():
        return False
    try:
        parquet = pq.ParquetFile(path)
    except Exception:  # an unreadable leftover is rewritten, whatever pyarrow calls the damage
        return False
    stored = parquet.schema_arrow.metadata or {}
    return parquet.metadata.num_rows == rows and stored.get(b"huggingface") == metadata["huggingface"].encode()


def _write_shard(job):
    """Writes one shard unless it is already complete; returns (rows written, rows skipped). Written to a
    temporary name and renamed when whole, so an interrupted export leaves no shard that looks complete."""
    dataset, shards, index, path, metadata, group = job
    shard = dataset.shard(shards, index, contiguous=True)
    if _complete(path, len(shard), metadata):
        return 0, len(shard)
    partial = path.with_suffix(f".parquet.{os.getpid()}.partial")
    writer = None
    for batch in shard.with_format("arrow").iter(batch_size=group):
        table = batch.replace_schema_metadata(metadata)
        if writer is None:
            # a page is cut once past its 1 MB only between write batches: at pyarrow's 1024 rows a batch, a row
            # group of 100 rows with a figure each was one page, held whole in memory while written (~30 MB)
            writer = pq.ParquetWriter(partial, table.schema, write_batch_size=1)
        writer.write_table(table, row_group_size=group)
    writer.close()
    partial.replace(path)
    return len(shard), 0


def write_split(dataset, folder, split, max_shard_size="500MB", progress=True, num_proc=None):
    """Writes one split's shards, `num_proc` at a time; returns (files, rows written now, rows skipped as already
    complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = shard_plan(dataset, max_shard_size)
    names = [f"{split}-{index:05d}-of-{shards:05d}.parquet" for index in range(shards)]
    for stale in folder.glob(f"{split}-*.parquet*"):
        if stale.name not in names:  # left by a run with another shard count, or cut off mid-write
            stale.unlink()
    metadata = parquet_metadata(dataset.features)
    group = row_group_size(dataset)
    jobs = [(dataset, shards, index, folder / name, metadata, group) for index, name in enumerate(names)]
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
    return names, written, skipped


def tqdm_unordered(results, bar):
    for rows_written, rows_skipped in results:
        bar.update(rows_written + rows_skipped)
        yield rows_written, rows_skipped


def export(out_dir, configs=None, data_dir=None, base_url=None, max_shard_size="500MB", cache_dir=None,
           num_proc=None, progress=True, repo_id=None, **config_kwargs):
    """Prepares each config with the builder and writes it out; returns {"config/split": rows written/skipped}.
    `repo_id` (ORG/NAME) is the Hub id the card tells readers to load; other keywords configure the builder
    (exclude_eval_articles=False: train as released)."""
    out_dir = Path(out_dir)
    configs = configs or scifig.CONFIG_NAMES
    for config in configs:
        scifig.task_of(config)  # an unknown name is a ValueError listing the valid ones, before any work
    report = {}
    for config in configs:
        builder = scifig.builder(config, data_dir, cache_dir, base_url=base_url, **config_kwargs)
        with scifig.unwrapped_errors():
            builder.download_and_prepare(num_proc=num_proc)
        for split, info in builder.info.splits.items():
            if not info.num_examples:  # nothing to publish (a filtered load can empty a split)
                continue
            dataset = builder.as_dataset(split=split)
            _, written, skipped = write_split(dataset, out_dir / config, split, max_shard_size, progress, num_proc)
            report[f"{config}/{split}"] = {"written": written, "skipped": skipped}
    write_card(out_dir, repo_id)
    return report


def exported_splits(out_dir):
    """{config: {split: {num_examples, num_bytes}}} for every config folder in an export, from the Parquet footers
    (num_bytes: uncompressed, as datasets counts it)."""
    splits = {}
    for config in scifig.CONFIG_NAMES:
        for split in scifig.SPLITS:
            files = sorted((Path(out_dir) / config).glob(f"{split}-*.parquet"))
            if files:
                footers = [pq.ParquetFile(f).metadata for f in files]
                splits.setdefault(config, {})[split] = {
                    "num_examples": sum(m.num_rows for m in footers),
                    "num_bytes": sum(m.row_group(i).total_byte_size for m in footers for i in range(m.num_row_groups)),
                }
    return splits


def write_card(out_dir, repo_id=None):
    """The card for what the export folder holds, whichever runs wrote it."""
    counts = exported_splits(out_dir)
    configs_yaml = [
        {"config_name": config,
         "data_files": [{"split": split, "path": f"{config}/{split}-*.parquet"} for split in counts[config]]}
        for config in counts
    ]
    default = scifig.DEFAULT_CONFIG if scifig.DEFAULT_CONFIG in counts else next(iter(counts))
    for entry in configs_yaml:
        if entry["config_name"] == default:
            entry["default"] = True
    infos = {config: declared_info(config) for config in counts}
    # the contamination paragraph measures the bundled sample: the export's card is about the export's own rows
    card.write(out_dir / "README.md", infos=infos, configs=configs_yaml, export_counts=counts, repo_id=repo_id,
               contamination="")
    croissant.write(out_dir, repo_id)
    chart = paths.REPOSITORY / "assets" / "figures_per_subject.png"
    (out_dir / "assets").mkdir(exist_ok=True)
    shutil.copy(chart, out_dir / "assets" / chart.name)
    (out_dir / "docs").mkdir(exist_ok=True)
    for name in card.EXPORTED_DOCS:  # what the exported card links to
        shutil.copy(paths.REPOSITORY / "docs" / name, out_dir / "docs" / name)
