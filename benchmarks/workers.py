"""Rows/s with more readers: a DataLoader of 2 workers against one process on `mcq` validation cut into shards
(`shards=N`), with a per-row resize-to-tensor in the workers; iterating `scifig.ray_dataset` on a local Ray of
2 CPUs against `scifig.load(streaming=True)`, with the largest RSS of a Ray worker process once read, and again on a
split ten times the size (small figures); and the Hub
export of `mcq` by `--engine ray` on that Ray against the local engine's `--num-proc 2`, each from the archives (a
new cache, a new folder). One run, one corpus (benchmarks/make_corpus.py, built once into --work), each figure
printed as a row.

    python benchmarks/workers.py --work /tmp/scifig-bench [--articles 800] [--shards 8]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scifig  # noqa: E402
from benchmarks.run import corpus  # noqa: E402


def to_tensor(row):
    """What a vision model's preprocessing does to a figure: decode, RGB, 224 px, float CHW."""
    import torch

    image = row["image"].convert("RGB").resize((224, 224), Image.BILINEAR)
    return torch.from_numpy(numpy.asarray(image, dtype=numpy.float32).transpose(2, 0, 1) / 255.0), row["id"]


def loader_rate(data_dir, cache_dir, workers, shards, pixels_only=False):
    """Rows/s through a DataLoader; `pixels_only`: the workers hand over the tensor alone, not the row's other
    columns (each a tensor or text the main process unpickles), to show what that handing over costs."""
    import torch.utils.data

    stream = scifig.load("mcq", split="validation", streaming=True, data_dir=data_dir, cache_dir=cache_dir,
                         shards=shards)
    stream = stream.map(lambda row: {"pixels": to_tensor(row)[0]},
                        remove_columns=stream.column_names if pixels_only else ["image"])
    loader = torch.utils.data.DataLoader(stream.with_format("torch"), batch_size=None, num_workers=workers)
    started, rows = time.perf_counter(), 0
    for _ in loader:
        rows += 1
    return rows, rows / (time.perf_counter() - started)


def stream_rate(data_dir, cache_dir, shards):
    started, rows = time.perf_counter(), 0
    for _ in scifig.load("mcq", split="validation", streaming=True, data_dir=data_dir, cache_dir=cache_dir,
                         shards=shards).decode(False):
        rows += 1
    return rows, rows / (time.perf_counter() - started)


def ray_rates(data_dir, cache_dir, shards):
    """Two reads of the split by ray_dataset on a local Ray of 2 CPUs: the first starts Ray's worker processes (each
    imports scifig), the second finds them running."""
    import psutil
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rates = []
    for _ in range(2):
        started, rows = time.perf_counter(), 0
        for _ in scifig.ray_dataset("mcq", "validation", data_dir=data_dir, cache_dir=cache_dir,
                                    shards=shards).iter_rows():
            rows += 1
        rates.append(rows / (time.perf_counter() - started))
    rss = max((process.memory_info().rss for process in psutil.process_iter(["cmdline"])
               if "ray::" in " ".join(process.info["cmdline"] or [])), default=0)
    ray.shutdown()
    return rows, rates, rss / 2**20


def large_split_rates(work, articles, shards):
    """`load` streaming against `ray_dataset` read again (Ray's workers running) on a split ten times the size, of
    small figures: where Ray Data's fixed cost per read (planning, starting tasks, ~0.5 s) is amortized."""
    data_dir = str(corpus(work, f"workers-large-{articles}", n_articles=articles, figure_kb=[8, 16], content_kb=1,
                          archives=["benchmark"], dev_fraction=0.5, test_fraction=0.0))
    cache_dir = str(Path(work) / "workers-cache")
    stream_rate(data_dir, cache_dir, shards)
    rows, streamed = stream_rate(data_dir, cache_dir, shards)
    _, (_, rayed), _ = ray_rates(data_dir, cache_dir, shards)
    return rows, streamed, rayed


def export_rates(data_dir, work):
    """Rows/s of the Hub export of `mcq`: the local engine with 2 processes (its prepare included), then the Ray
    engine on a local Ray of 2 CPUs, twice (the first run starts Ray's worker processes)."""
    import shutil

    import ray

    from scifig_tools import export

    folder = Path(work) / "export-bench"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    report = export.export(folder / "local", configs=["mcq"], data_dir=data_dir, cache_dir=str(folder / "cache"),
                           num_proc=2, progress=False)
    rows = sum(done["rows"] for done in report.values())
    rates = [rows / (time.perf_counter() - started)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    for run in ("ray-first", "ray-again"):
        started = time.perf_counter()
        export.export(folder / run, configs=["mcq"], data_dir=data_dir, engine="ray", progress=False)
        rates.append(rows / (time.perf_counter() - started))
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)
    return rows, rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", required=True, help="a folder for the corpus and caches")
    parser.add_argument("--articles", type=int, default=800, help="articles in the corpus (default: 800)")
    parser.add_argument("--shards", type=int, default=8, help="shards=N for the split (default: 8)")
    parser.add_argument("--large-articles", type=int, default=8000,
                        help="articles in the corpus of the large split's row (default: 8000)")
    args = parser.parse_args(argv)
    data_dir = str(corpus(args.work, f"workers-{args.articles}", n_articles=args.articles, figure_kb=[60, 200],
                          archives=["benchmark"], dev_fraction=0.5, test_fraction=0.0))
    cache_dir = str(Path(args.work) / "workers-cache")
    stream_rate(data_dir, cache_dir, args.shards)  # every reader below finds the archive's index and records kept
    rows, streamed = stream_rate(data_dir, cache_dir, args.shards)
    _, one = loader_rate(data_dir, cache_dir, 0, args.shards)
    _, two = loader_rate(data_dir, cache_dir, 2, args.shards)
    _, one_pixels = loader_rate(data_dir, cache_dir, 0, args.shards, pixels_only=True)
    _, two_pixels = loader_rate(data_dir, cache_dir, 2, args.shards, pixels_only=True)
    ray_rows, (ray_first, ray_second), rss_mb = ray_rates(data_dir, cache_dir, args.shards)
    export_rows, (local_export, ray_export_first, ray_export_again) = export_rates(data_dir, args.work)
    large_rows, large_streamed, large_rayed = large_split_rates(args.work, args.large_articles, args.shards)
    figures = {"rows": rows, "shards": args.shards, "loader_one_process_rows_s": round(one, 1),
               "loader_2_workers_rows_s": round(two, 1), "loader_ratio": round(two / one, 2),
               "loader_pixels_only_one_process_rows_s": round(one_pixels, 1),
               "loader_pixels_only_2_workers_rows_s": round(two_pixels, 1),
               "loader_pixels_only_ratio": round(two_pixels / one_pixels, 2),
               "load_streaming_rows_s": round(streamed, 1), "ray_rows": ray_rows,
               "ray_dataset_first_rows_s": round(ray_first, 1), "ray_dataset_again_rows_s": round(ray_second, 1),
               "ray_ratio_again": round(ray_second / streamed, 2), "ray_worker_rss_mb": round(rss_mb),
               "export_rows": export_rows, "export_num_proc_2_rows_s": round(local_export, 1),
               "export_ray_first_rows_s": round(ray_export_first, 1),
               "export_ray_again_rows_s": round(ray_export_again, 1),
               "export_ray_ratio_again": round(ray_export_again / local_export, 2),
               "large_rows": large_rows, "large_load_streaming_rows_s": round(large_streamed, 1),
               "large_ray_dataset_again_rows_s": round(large_rayed, 1),
               "large_ray_ratio_again": round(large_rayed / large_streamed, 2)}
    for name, value in figures.items():
        print(f"{name:28s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
