"""`python -m scifig_tools export OUT --engine ray [--ray-address ADDR]`: the export the local engine writes (the same
files, the same rows in the same order within each file, the same card), produced by a Ray job.

Each split is read by scifig.ray_dataset, whose read tasks are scifig's shards: every node reads its own part of the
archives. The Hub format is then written by one Ray task per Parquet file, on whichever node Ray places it, straight
into OUT: a local folder every node sees, or any URI pyarrow's filesystems take (s3://, gs://). Its files follow the
local engine's plan (scifig_tools.export.plan_split), so the two engines' files are the same; each is written to a
temporary name and renamed when whole, and a file already complete is skipped, so a rerun after a lost node or a
killed driver writes only what is missing. The trainers' formats (one sequence of counters per split) are written
by the driver from the rows Ray read, into a local OUT.

Between reading and writing, a split's blocks are in Ray's object store (spilled to each node's disk past its
memory), as the local engine holds them in the datasets cache. Placement, retries after a lost node (a task rerun,
its blocks rebuilt from their read tasks) and progress are Ray's own: nothing here schedules or retries.
"""

import contextlib
import logging
import sys
import tempfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.fs as pafs
from tqdm.auto import tqdm

import scifig
from scifig.scifig_compat import bytes_in_size
from scifig_tools.export import (
    claim,
    complete,
    destination,
    is_the_sample,
    plan_split,
    remove_stale,
    value_bytes,
    write_shard,
)
from scifig_tools.schema import parquet_metadata

OBJECT_COPY_LIMIT = 5 * 10**9  # the largest object S3 copies in one request: a file's rename there is such a copy


def regrouped(tables, size):
    """The rows of `tables`, in order, as tables of exactly `size` rows (the last may hold fewer): the local
    engine's write batches, so a file's row groups are the same whatever blocks Ray cut the rows into."""
    held, count = [], 0
    for table in tables:
        while table.num_rows:
            take = min(size - count, table.num_rows)
            held.append(table.slice(0, take))
            table, count = table.slice(take), count + take
            if count == size:
                yield pa.concat_tables(held)
                held, count = [], 0
    if held:
        yield pa.concat_tables(held)


def measure(block):
    """(rows, value bytes) of one block: what the split's plan adds up."""
    return block.num_rows, value_bytes(block)


def write_file(filesystem, path, metadata, group, rows, pieces):
    """One Parquet file of the plan from its pieces [(block, first row, end row)], unless already complete; returns
    (rows written, rows already complete). Runs as a Ray task: the blocks are fetched from wherever they are."""
    import ray

    if complete(filesystem, path, rows, metadata):
        return 0, rows
    tables = (ray.get(block).slice(first, end - first) for block, first, end in pieces)
    write_shard(filesystem, path, regrouped(tables, group), metadata, group)
    return rows, 0


def pieces_of(bounds, sizes):
    """For each file's (first row, end row) of the split, the blocks' pieces it holds: [(block index, first, end)]
    in order, rows counted within each block."""
    starts, total = [], 0
    for rows in sizes:
        starts.append(total)
        total += rows
    files = []
    for first, end in bounds:
        files.append([(index, max(first, start) - start, min(end, start + rows) - start)
                      for index, (start, rows) in enumerate(zip(starts, sizes))
                      if rows and start < end and first < start + rows])
    return files


def hub_split(blocks, features, filesystem, root, config, split, options):
    """One split of the Hub folder, a Ray task per Parquet file."""
    import ray

    measure_task, write_task = ray.remote(measure), ray.remote(write_file)
    measured = ray.get([measure_task.remote(block) for block in blocks])
    rows = sum(count for count, _ in measured)
    if not rows:
        return None
    plan = plan_split(split, rows, sum(size for _, size in measured), options.max_shard_size)
    folder = f"{root}/{config}"
    filesystem.create_dir(folder, recursive=True)
    remove_stale(filesystem, folder, split, plan.names)
    metadata = parquet_metadata(features)
    pending = {}
    files = pieces_of(plan.bounds, [count for count, _ in measured])
    for name, (first, end), pieces in zip(plan.names, plan.bounds, files):
        task = write_task.remote(filesystem, f"{folder}/{name}", metadata, plan.group, end - first,
                                 [(blocks[index], start, stop) for index, start, stop in pieces])
        pending[task] = end - first
    written = skipped = 0
    with tqdm(total=rows, desc=f"{config}/{split}", unit="row", disable=not options.progress) as bar:
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            del pending[done]
            now, before = ray.get(done)
            written, skipped = written + now, skipped + before
            bar.update(now + before)
    remove_stale(filesystem, folder, split, plan.names)  # what a task lost with its node left half-written
    return {"rows": written + skipped, "written": written, "skipped": skipped}


def trainer_split(blocks, features, out_dir, config, split, chosen, options):
    """One split of a trainer's format: the rows Ray read, in order, into a local Arrow file the format's own writer
    reads as it reads a prepared split."""
    import ray

    schema, rows = features.arrow_schema, 0
    with tempfile.TemporaryDirectory(prefix="scifig-ray-") as folder:
        path = str(Path(folder) / f"{config}-{split}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, schema) as stream:  # datasets' cache format
            for block in blocks:
                table = ray.get(block)
                if table.num_rows:
                    stream.write_table(table.cast(schema))
                    rows += table.num_rows
        if not rows:
            return None
        dataset = datasets.Dataset.from_file(path, info=datasets.DatasetInfo(features=features))
        return chosen.write(out_dir, config, split, dataset, options)


def _not_about_scifig_data_error(record):
    """False for what Ray Data logs of a ScifigDataError while raising it (its traceback, a note of where the
    trace went): the export raises that error as the one line `load` gives (unwrapped_errors), not twice."""
    error = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
    return not isinstance(error, scifig.ScifigDataError)


@contextlib.contextmanager
def connected(address):
    """Ray, connected to the cluster at `address` (a local Ray started for the job when None and RAY_ADDRESS is
    unset; its workers' logs, such as the bad records a read task skipped under on_error="skip", shown here), with
    Ray Data keeping the blocks in the shards' order; left as it was found."""
    import ray
    import ray.data  # which sets up its loggers' handlers

    shown = [handler for handler in logging.getLogger("ray.data").handlers  # Ray Data's own, on stderr
             if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)]
    started = not ray.is_initialized()
    context = ray.data.DataContext.get_current()
    kept = context.execution_options.preserve_order, context.enable_progress_bars
    try:
        for handler in shown:
            handler.addFilter(_not_about_scifig_data_error)
        if started:
            ray.init(address=address, log_to_driver=True)
        context.execution_options.preserve_order = True  # blocks in the shards' order: the local engine's rows
        yield ray
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = kept
        for handler in shown:
            handler.removeFilter(_not_about_scifig_data_error)
        if started and ray.is_initialized():
            ray.shutdown()


def export(out_dir, configs, chosen, format, options, data_dir=None, base_url=None, cache_dir=None, ray_address=None,
           **config_kwargs):
    """Writes the export with Ray; returns the local engine's report, {"<config>/<split>": {rows, written,
    skipped}}. Errors in the data raise the ScifigDataError `scifig.load` raises, not Ray's wrapper."""
    filesystem, root = destination(out_dir)
    local = isinstance(filesystem, pafs.LocalFileSystem)
    if format != "hub" and not local:
        raise ValueError(f"--format {format} writes a local folder; an object-storage OUT takes the hub format")
    if not local and bytes_in_size(options.max_shard_size) > OBJECT_COPY_LIMIT:
        raise ValueError(f"--max-shard-size {options.max_shard_size} is over 5GB, the most object storage copies in "
                         "one request (each file is written to a temporary name, then copied to its own)")
    claim(root, format, is_the_sample(data_dir), filesystem)
    report = {}
    with connected(ray_address) as ray, scifig.unwrapped_errors():
        ray.data.DataContext.get_current().enable_progress_bars = options.progress
        for config in configs:
            features = scifig.FEATURES[scifig.task_of(config)]  # the builder's, which ray_dataset makes per split
            for split in scifig.RECIPES[scifig.task_of(config)].splits:
                if chosen.splits is not None and split not in chosen.splits:
                    continue
                blocks = scifig.ray_dataset(config, split, data_dir=data_dir, base_url=base_url, cache_dir=cache_dir,
                                            **config_kwargs).to_arrow_refs()
                if format == "hub":
                    done = hub_split(blocks, features, filesystem, root, config, split, options)
                else:
                    done = trainer_split(blocks, features, Path(root), config, split, chosen, options)
                if done is not None:
                    report[f"{config}/{split}"] = done
    if chosen.finish:
        chosen.finish(root, options, filesystem)
    return report
