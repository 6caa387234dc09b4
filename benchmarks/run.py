"""scifig at real scale: one table, every figure measured in the same run.

    python benchmarks/run.py [--articles 1000] [--workdir /tmp/scifig-bench] [--memory-json-gb 1.25] [--members 500000]
        [--code-before DIR]

1. Overhead: streaming rows/s through scifig.load(..., streaming=True) against plain Python opening the same zip
   members, parsing the same JSON and decoding the same PNGs (what `datasets`' Image feature does).
2. Memory: peak RSS streaming (a) `captioning` train whose JSON is 1.25 GB, and at twice and four times that, and
   (b) `mcq` validation out of an archive with >= 500k members, and at twice that; (c) one reader streaming
   `pretraining`, whose pickles of 200 documents are each unpickled as they are read.
3. Latency hiding: `mcq` validation over the local Range server with 20 ms added to every request, against 0 ms.
4. Parallel prepare: download_and_prepare(num_proc=2) against num_proc=1 on `pretraining`.
5. Time to first row streaming each config from the HTTP server, and the bytes served by then.
6. Many readers: time to first row of `mcq` validation from a >= 500k-member archive over the Range server, warm
   (the member index kept by an earlier process) against cold; the bytes of the train JSON served over one
   `captioning` train epoch cut into 64 shards and read by 2 processes (as 2 DataLoader workers); full-epoch
   rows/s with 64 shards against 8; `export --num-proc 2` against 1.
7. Streaming train at MMSci's size: time to first row of `captioning` train over the Range server with a cold
   cache, at the main corpus's JSON, 1.25 GB and 2.5 GB (in MMSci's proportions of evaluation articles), and warm;
   the time until all 8 parts have a first row; full-epoch rows/s against the code before (--code-before); the
   record store's disk per GB of JSON; the cache under SCIFIG_CACHE_LIMIT.
8. The `sft` mixture into a trainer: rows/s into a DataLoader with 2 workers beside the training steps/s of the
   tiny Qwen2-VL the tests build (in .venv-train, which has torch and torchvision); its time to first row.
9. More readers, and Ray (benchmarks/workers.py, run as a child where torch and Ray are installed): a DataLoader of
   2 workers against one process, handing over the whole row and the tensor alone; `ray_dataset` against `load`
   streaming, on 1,200 rows and on 12,000; the Ray worker's RSS; `export --engine ray` against `--num-proc 2`.

Each measurement runs in a fresh child process with USE_TORCH=0: datasets imports torch (~180 MB) into any
IterableDataset when torch is installed, which would measure torch, not scifig. Corpora are built by
benchmarks/make_corpus.py into --workdir and reused by later runs.
"""

import argparse
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scifig  # noqa: E402
from scifig_tools.layout import benchmark_image, benchmark_json  # noqa: E402
from scifig_tools.serve import RangeRequestHandler, RangeServer  # noqa: E402

# ---------------------------------------------------------------------------------------------- child processes

def _peak_mb():
    """This process's peak resident memory since its exec (VmHWM). Not getrusage's ru_maxrss: after fork and
    exec that can still report the parent's size."""
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) / 1024


class _AnonymousPeak(threading.Thread):
    """The peak of this process's anonymous memory (RssAnon, sampled every 20 ms): resident memory without the
    file pages it maps (shared libraries, memory-mapped Arrow files), which the OS can drop and other processes
    share."""

    def __init__(self):
        super().__init__(daemon=True)
        self.mb = 0.0
        self.start()

    def run(self):
        while True:
            with open("/proc/self/status") as status:
                self.mb = max(self.mb, int(status.read().split("RssAnon:")[1].split()[0]) / 1024)
            time.sleep(0.02)


def child_stream(config, split, data_dir=None, base_url=None, limit=None, cache_dir=None, train_shards=None,
                 worker=None, workers=None, **config_kwargs):
    """Streams a split (with `workers`, only this worker's share of its shards, as a DataLoader worker does)."""
    import scifig

    started = time.perf_counter()
    stream = scifig.load(config, split=split, streaming=True, data_dir=data_dir, base_url=base_url,
                         cache_dir=cache_dir, train_shards=train_shards, **config_kwargs)
    if workers:
        stream = stream.shard(num_shards=workers, index=worker)
    rows, first = 0, None
    for _ in stream:
        rows += 1
        if first is None:
            first = time.perf_counter() - started
        if limit and rows >= limit:
            break
    return {"rows": rows, "seconds": time.perf_counter() - started, "first_row": first, "peak_mb": _peak_mb()}


def child_loader(config, data_dir=None, base_url=None, cache_dir=None, workers=2, limit=None):
    """Rows a torch DataLoader gets from the stream, its workers sharing the shards (sft: the chat layout)."""
    import torch.utils.data

    import scifig

    started = time.perf_counter()
    stream = scifig.load(config, split="train", streaming=True, data_dir=data_dir, base_url=base_url,
                         cache_dir=cache_dir)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers)
    rows, first = 0, None
    for _ in loader:
        rows += 1
        first = first or time.perf_counter() - started
        if limit and rows >= limit:
            break
    return {"rows": rows, "seconds": time.perf_counter() - started, "first_row": first, "peak_mb": _peak_mb()}


def child_tiny_model(data_dir, steps):
    """Training steps/s of the tiny Qwen2-VL the tests build, on `sft` rows (batch 1): what a model consumes."""
    import torch

    import scifig
    from scifig_tools import tiny_models

    processor = tiny_models.qwen2vl_processor()
    model = tiny_models.qwen2vl_model(processor.tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rows = list(scifig.load("sft", split="train", streaming=True, data_dir=data_dir).take(steps))
    started = time.perf_counter()
    for row in rows:
        text = processor.apply_chat_template(row["messages"], tokenize=False)
        batch = processor(text=[text], images=row["images"], return_tensors="pt")
        model(**batch, labels=batch["input_ids"]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return {"rows": len(rows), "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_baseline(config, split, data_dir, limit=None):
    """The floor any loader pays: zipfile, json and PIL, no datasets."""
    from PIL import Image

    started, rows = time.perf_counter(), 0
    with zipfile.ZipFile(Path(data_dir) / "benchmark.zip") as archive:
        with archive.open(benchmark_json(split, config)) as member:
            records = json.load(member)
        if config == "mcq":
            records = [record for setting in records for record in setting]
            figures = [(record["image"], record["question"].split("\nA: ")) for record in records]
        else:
            figures = [(figure["image"], figure["caption"]) for record in records
                       for figure in record.get("images", [record])]
        for image, _ in figures[:limit]:
            with Image.open(io.BytesIO(archive.read(benchmark_image(split, image)))) as picture:
                picture.load()
            rows += 1
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_prepare(config, data_dir, num_proc, cache_dir):
    import scifig

    started = time.perf_counter()
    builder = scifig.builder(config, data_dir, cache_dir)
    builder.download_and_prepare(num_proc=num_proc)
    rows = sum(split.num_examples for split in builder.info.splits.values())
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_export(config, data_dir, num_proc, out, cache_dir, max_shard_size):
    from scifig_tools.export import export

    started = time.perf_counter()
    report = export(out, configs=[config], data_dir=data_dir, cache_dir=cache_dir, max_shard_size=max_shard_size,
                    num_proc=num_proc, progress=False)
    rows = sum(done["written"] for done in report.values())
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


CHILDREN = {"stream": child_stream, "baseline": child_baseline, "prepare": child_prepare, "export": child_export,
            "loader": child_loader, "tiny_model": child_tiny_model}
# Children that need torch (and, for the model, torchvision): they run in TRAIN_PYTHON's environment.
_TORCH = {"loader", "tiny_model"}
TRAIN_PYTHON = ROOT / ".venv-train" / "bin" / "python"
CODE = {"code": str(ROOT)}  # which checkout the children run; --code-before adds another, for "vs before" rows


def _child_command(kind, kwargs, code=None):
    env = {**os.environ, "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "PYTHONPATH": code or CODE["code"]}
    if kind not in _TORCH:
        env["USE_TORCH"] = "0"
    python = str(TRAIN_PYTHON) if kind in _TORCH else sys.executable
    return [python, __file__, "--child", kind, json.dumps(kwargs)], env


def _child_result(kind, kwargs, returncode, stdout, stderr):
    if returncode:
        raise RuntimeError(f"{kind} {kwargs} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def run_child(kind, code=None, **kwargs):
    command, env = _child_command(kind, kwargs, code)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return _child_result(kind, kwargs, result.returncode, result.stdout, result.stderr)


def run_children(kind, each, environment=None):
    """Children run at once (as DataLoader workers do), one per kwargs in `each`; their results in that order."""
    started = []
    for kwargs in each:
        command, env = _child_command(kind, kwargs)
        env.update(environment or {})
        started.append((kwargs, subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 text=True)))
    results = []
    for kwargs, child in started:
        stdout, stderr = child.communicate()
        results.append(_child_result(kind, kwargs, child.returncode, stdout, stderr))
    return results


# ---------------------------------------------------------------------------------------------- the measurements

class _SlowHandler(RangeRequestHandler):
    delay = 0.0

    def send_head(self):
        time.sleep(self.delay)
        return super().send_head()


def serve(directory, delay):
    handler = type("Handler", (_SlowHandler,), {"delay": delay})
    return RangeServer(directory, handler=handler).start()


def corpus(workdir, name, **kwargs):
    """Builds a corpus once; later runs reuse it."""
    folder = Path(workdir) / name
    marker = folder / "corpus.json"
    kwargs = {"out": str(folder), **kwargs}
    if marker.is_file() and json.loads(marker.read_text()) == json.loads(json.dumps(kwargs)):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    # In a child: building holds the corpus in memory, and this process should stay small while it measures.
    subprocess.run([sys.executable, "-c", f"from benchmarks import make_corpus; make_corpus.build(**{kwargs!r})"],
                   cwd=ROOT, check=True)
    marker.write_text(json.dumps(kwargs))
    print(f"  built {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder


# MMSci's proportions: 1,344 dev and 1,343 test articles beside 58,853 train ones
MMSCI_EVAL_FRACTION = 1344 / (58853 + 1344 + 1343)
PER_ARTICLE_GB = 51.5e3 / 1e9  # one train record as make_corpus writes it: 40 KB of content, abstract, captions


def json_corpus(work, gb):
    """A benchmark.zip whose train captioning JSON is about `gb` GB, in MMSci's split proportions."""
    articles = int(gb / PER_ARTICLE_GB / (1 - 2 * MMSCI_EVAL_FRACTION)) + 1
    return corpus(work, f"json-{gb:g}gb", n_articles=articles, figure_kb=(1, 1), content_kb=40,
                  archives=("benchmark",), image_pool=8, dev_fraction=MMSCI_EVAL_FRACTION,
                  test_fraction=MMSCI_EVAL_FRACTION)


def _store_bytes(cache):
    return sum(path.stat().st_size for path in Path(cache, "scifig", "record-stores").glob("*.records"))


def _json_gb(folder):
    with zipfile.ZipFile(folder / "benchmark.zip") as archive:
        return archive.getinfo(benchmark_json("train", "captioning")).file_size / 1e9


def _members(folder):
    with zipfile.ZipFile(folder / "benchmark.zip") as archive:
        return len(archive.infolist())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=1000, help="articles in the main corpus (realistic figures)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "scifig-bench"))
    parser.add_argument("--memory-json-gb", type=float, default=1.25, help="train captioning JSON size for 2(a)")
    parser.add_argument("--members", type=int, default=500_000, help="archive members for 2(b)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the overhead measurement")
    parser.add_argument("--rows", type=int, default=1500, help="rows per overhead measurement")
    parser.add_argument("--code-before", help="a checkout of the code before a change, for the rows that compare "
                                              "with it (7c)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        anonymous = _AnonymousPeak()
        result = CHILDREN[args.child[0]](**json.loads(args.child[1]))
        print(json.dumps({**result, "anon_mb": anonymous.mb}))
        return 0

    table = []

    def row(measure, value, target, detail):
        table.append((measure, value, target, detail))
        print(f"  {measure}: {value} ({detail})", file=sys.stderr)

    work = Path(args.workdir)
    main_corpus = corpus(work, f"main-{args.articles}", n_articles=args.articles)

    # 1. overhead against plain Python: interleaved repeats, the median ratio (the machine is shared and noisy)
    for config, split in (("captioning", "train"), ("mcq", "train")):
        ratios, rates = [], []
        for _ in range(args.repeats):
            ours = run_child("stream", config=config, split=split, data_dir=str(main_corpus), limit=args.rows)
            floor = run_child("baseline", config=config, split=split, data_dir=str(main_corpus), limit=args.rows)
            assert ours["rows"] == floor["rows"], (ours, floor)
            rates.append((ours["rows"] / ours["seconds"], floor["rows"] / floor["seconds"]))
            ratios.append(rates[-1][0] / rates[-1][1])
        middle = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
        row(f"1. overhead: {config} {split} streaming rows/s vs plain Python", f"{ratios[middle]:.2f}x", ">= 0.9x",
            f"median of {len(ratios)} ({min(ratios):.2f}-{max(ratios):.2f}); {rates[middle][0]:.0f} vs "
            f"{rates[middle][1]:.0f} rows/s over {ours['rows']} rows")

    # 2. memory, flat in the input
    if not args.skip_memory:
        for scale in (1, 2, 4):
            folder = json_corpus(work, args.memory_json_gb * scale)
            with tempfile.TemporaryDirectory() as kept:
                measured = run_child("stream", config="captioning", split="train", data_dir=str(folder),
                                     cache_dir=kept)
            row(f"2a. peak RSS: captioning train, JSON {_json_gb(folder):.2f} GB", f"{measured['peak_mb']:.0f} MB",
                "<= 200 MB, flat", f"{measured['rows']} rows in {measured['seconds']:.0f} s; "
                f"{measured['anon_mb']:.0f} MB anonymous")
        for scale in (1, 2):
            articles = int(args.members * scale / 5.6) + 1
            folder = corpus(work, f"members-{args.members * scale}", n_articles=articles, figure_kb=(1, 1),
                            content_kb=1, archives=("benchmark",), image_pool=8)
            measured = run_child("stream", config="mcq", split="validation", data_dir=str(folder))
            row(f"2b. peak RSS: mcq validation, archive of {_members(folder)} members",
                f"{measured['peak_mb']:.0f} MB", "<= 200 MB, flat", f"{measured['rows']} rows")

    # 3. latency hiding
    rates = {}
    for delay in (0.0, 0.02):
        server = serve(main_corpus, delay)
        try:
            measured = run_child("stream", config="mcq", split="validation", base_url=server.url)
        finally:
            server.stop()
        rates[delay] = measured["rows"] / measured["seconds"]
    row("3. latency hiding: mcq validation rows/s, 20 ms per request vs 0 ms", f"{rates[0.02] / rates[0.0]:.2f}x",
        ">= 0.7x", f"{rates[0.02]:.0f} vs {rates[0.0]:.0f} rows/s")

    # 4. parallel prepare
    shards = corpus(work, f"pretraining-{16 * 200}", n_articles=16 * 200, archives=("pretraindata",))
    if not args.skip_memory:
        measured = run_child("stream", config="pretraining", split="train", data_dir=str(shards))
        with zipfile.ZipFile(shards / "pretraindata.zip") as archive:
            pickles = [info.file_size for info in archive.infolist() if info.filename.endswith(".pkl")]
        row("2c. peak RSS: pretraining train, one reader", f"{measured['peak_mb']:.0f} MB", "<= 200 MB",
            f"{len(pickles)} pickles of 200 documents, {sum(pickles) / len(pickles) / 1e6:.0f} MB each, unpickled as "
            f"read; "
            f"{measured['rows']} documents")
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        single = run_child("prepare", config="pretraining", data_dir=str(shards), num_proc=1, cache_dir=one)
        double = run_child("prepare", config="pretraining", data_dir=str(shards), num_proc=2, cache_dir=two)
    row("4. parallel prepare: pretraining, speed-up of num_proc=2 over num_proc=1",
        f"{single['seconds'] / double['seconds']:.2f}x", ">= 1.6x on 2 cores",
        f"num_proc=1 took {single['seconds']:.1f} s, num_proc=2 {double['seconds']:.1f} s; {single['rows']} documents")

    # 5. time to first row over HTTP, and what each config reads by then
    reads = {"pretraining": "the central directory and the first pickle, read whole",
             "articles": "the central directory and the first article's JSON and figures",
             # train JSON read in parts: the first reader on a machine parses it into the record store, and its
             # first records are there to read at once; train is clean: the evaluation files are read first
             **{config: "the central directory, the dev and test files (the evaluation articles), the train "
                        "JSON's first chunks (parsed into the record store as they arrive) and the figures of the "
                        f"first {scifig.RECIPES[config].ahead} records"
                for config in ("captioning", "chat")}}
    for config, split in (("captioning", "train"), ("mcq", "validation"), ("chat", "train"),
                          ("pretraining", "train"), ("articles", "train")):
        read = reads.get(config, f"the central directory, the JSON's first chunk and the figures of the first "
                                 f"{scifig.RECIPES[config].ahead} records, read ahead")
        server = serve(main_corpus, 0.0)
        try:
            measured = run_child("stream", config=config, split=split, base_url=server.url, limit=1)
            served = server.bytes_sent
        finally:
            server.stop()
        row(f"5. time to first row: {config} {split} over HTTP", f"{measured['first_row']:.2f} s", "—",
            f"{served / 1e6:.1f} MB served by then: {read}")

    # 6. many readers
    members = corpus(work, f"members-{args.members}", n_articles=int(args.members / 5.6) + 1, figure_kb=(1, 1),
                     content_kb=1, archives=("benchmark",), image_pool=8)
    server = serve(members, 0.0)
    try:
        with tempfile.TemporaryDirectory() as kept:
            cold = run_child("stream", config="mcq", split="validation", base_url=server.url, limit=1, cache_dir=kept)
            cold_bytes = server.bytes_sent
            warm = run_child("stream", config="mcq", split="validation", base_url=server.url, limit=1, cache_dir=kept)
            warm_bytes = server.bytes_sent - cold_bytes
    finally:
        server.stop()
    row(f"6a. warm start: mcq validation time to first row, member index kept vs not ({_members(members)} members)",
        f"{warm['first_row'] / cold['first_row']:.2f}x", "<= 0.25x",
        f"warm {warm['first_row']:.2f} s and {warm_bytes / 1e6:.1f} MB served, cold {cold['first_row']:.2f} s and "
        f"{cold_bytes / 1e6:.1f} MB; peak {max(cold['peak_mb'], warm['peak_mb']):.0f} MB")
    server = serve(main_corpus, 0.0)
    try:
        with zipfile.ZipFile(main_corpus / "benchmark.zip") as archive:
            info = archive.getinfo(benchmark_json("train", "captioning"))
        first = info.header_offset
        last = first + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size - 1
        with tempfile.TemporaryDirectory() as kept:
            workers = run_children("stream", [dict(config="captioning", split="train", base_url=server.url,
                                                   cache_dir=kept, train_shards=64, worker=w, workers=2)
                                              for w in range(2)])
        served = sum(max(0, min(end, last) - max(start, first) + 1) for path, start, end in server.ranges
                     if path.endswith("benchmark.zip"))
    finally:
        server.stop()
    row("6b. train JSON served over one captioning train epoch, 64 shards, 2 workers, vs its compressed size",
        f"{served / info.compress_size:.2f}x", "<= 1.1x",
        f"{served / 1e6:.1f} MB of a {info.compress_size / 1e6:.1f} MB member; "
        f"{sum(w['rows'] for w in workers)} rows; peak {max(w['peak_mb'] for w in workers):.0f} MB per worker, "
        f"{max(w['anon_mb'] for w in workers):.0f} MB anonymous")
    rates = {}
    for shards in (8, 64):
        with tempfile.TemporaryDirectory() as kept:
            measured = run_child("stream", config="captioning", split="train", data_dir=str(main_corpus),
                                 cache_dir=kept, train_shards=shards)
        rates[shards] = (measured["rows"] / measured["seconds"], measured["peak_mb"])
    row("6c. full-epoch streaming rows/s, captioning train, 64 shards vs 8", f"{rates[64][0] / rates[8][0]:.2f}x",
        ">= 0.95x", f"{rates[64][0]:.0f} vs {rates[8][0]:.0f} rows/s; peak {max(rates[64][1], rates[8][1]):.0f} MB")
    exports = {}
    for num_proc in (1, 2):
        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as kept:
            exports[num_proc] = run_child("export", config="captioning", data_dir=str(main_corpus),
                                          num_proc=num_proc, out=out, cache_dir=kept, max_shard_size="100MB")
    row("6d. export captioning, speed-up of --num-proc 2 over 1",
        f"{exports[1]['seconds'] / exports[2]['seconds']:.2f}x", ">= 1.6x on 2 cores",
        f"--num-proc 1 took {exports[1]['seconds']:.0f} s, 2 took {exports[2]['seconds']:.0f} s; {exports[1]['rows']} "
        f"rows in shards of <= 100 MB; peak of the parent {max(e['peak_mb'] for e in exports.values()):.0f} MB, "
        f"{max(e['anon_mb'] for e in exports.values()):.0f} MB anonymous (the rest: the memory-mapped Arrow cache)")

    # 7. streaming train at MMSci's size: first rows while the parse runs, memory flat, the cache bounded
    for folder in (main_corpus, json_corpus(work, args.memory_json_gb), json_corpus(work, 2 * args.memory_json_gb)):
        server = serve(folder, 0.0)
        try:
            with tempfile.TemporaryDirectory() as kept:
                cold = run_child("stream", config="captioning", split="train", base_url=server.url, limit=1,
                                 cache_dir=kept)
                served = server.bytes_sent
                if folder == main_corpus:
                    whole = run_child("stream", config="captioning", split="train", base_url=server.url,
                                      cache_dir=kept)
                    warm = run_child("stream", config="captioning", split="train", base_url=server.url, limit=1,
                                     cache_dir=kept)
                    store = _store_bytes(kept)
        finally:
            server.stop()
        row(f"7a. time to first row: captioning train over HTTP, cold, JSON {_json_gb(folder):.2f} GB",
            f"{cold['first_row']:.2f} s", "<= 2 s",
            f"{served / 1e6:.1f} MB served by then; peak {cold['peak_mb']:.0f} MB")
    row("7a. time to first row: captioning train over HTTP, warm (the store whole)", f"{warm['first_row']:.2f} s",
        "<= 0.19 s", f"after a whole epoch of {whole['rows']} rows; peak {warm['peak_mb']:.0f} MB")
    row("7e. disk: the record store per GB of train JSON", f"{store / (_json_gb(main_corpus) * 1e9):.2f} GB/GB",
        "—", f"{store / 1e6:.1f} MB for the main corpus's {_json_gb(main_corpus) * 1e3:.0f} MB train JSON "
             "(its records, compressed at level 1)")
    big = json_corpus(work, 2 * args.memory_json_gb)
    server = serve(big, 0.0)
    try:
        with tempfile.TemporaryDirectory() as kept:
            parts = run_children("stream", [dict(config="captioning", split="train", base_url=server.url, limit=1,
                                                 cache_dir=kept, worker=w, workers=8) for w in range(8)])
    finally:
        server.stop()
    row(f"7b. time until all 8 parts have a first row: captioning train, JSON {_json_gb(big):.2f} GB, 8 processes",
        f"{max(p['first_row'] for p in parts):.2f} s", "<= 3 s",
        f"first rows between {min(p['first_row'] for p in parts):.2f} and {max(p['first_row'] for p in parts):.2f} s;"
        f" peak {max(p['peak_mb'] for p in parts):.0f} MB per process")
    if args.code_before:
        epochs = {}
        for label, code in (("now", str(ROOT)), ("before", args.code_before)):
            with tempfile.TemporaryDirectory() as kept:  # the same rows: train without the evaluation articles
                measured = run_child("stream", code=code, config="captioning", split="train",
                                     data_dir=str(main_corpus), cache_dir=kept, exclude_eval_articles=True)
            epochs[label] = measured["rows"] / measured["seconds"]
        row("7c. full-epoch streaming rows/s, captioning train, cold cache, vs the code before the streaming store",
            f"{epochs['now'] / epochs['before']:.2f}x", ">= 0.95x",
            f"{epochs['now']:.0f} vs {epochs['before']:.0f} rows/s ({args.code_before})")
    capped = {"SCIFIG_CACHE_LIMIT": "300MB"}
    with tempfile.TemporaryDirectory() as kept:
        largest = 0
        for folder in (json_corpus(work, args.memory_json_gb), main_corpus, json_corpus(work, args.memory_json_gb)):
            run_children("stream", [dict(config="captioning", split="train", data_dir=str(folder), limit=1000,
                                         cache_dir=kept)], environment=capped)
            largest = max(largest, sum(p.stat().st_size for p in Path(kept, "scifig").rglob("*") if p.is_file()))
    row("7d. the cache under its cap: three train stores written in turn, SCIFIG_CACHE_LIMIT=300MB",
        f"{largest / 1e6:.0f} MB", "<= 300 MB", "the largest the cache folder was after each load")

    # 8. the sft mixture into a trainer
    if TRAIN_PYTHON.exists():
        with tempfile.TemporaryDirectory() as kept:
            loader = run_child("loader", config="sft", data_dir=str(main_corpus), cache_dir=kept, limit=2000)
        model = run_child("tiny_model", data_dir=str(main_corpus), steps=50)
        row("8a. sft rows/s into a DataLoader (2 workers) beside a tiny Qwen2-VL's training steps",
            f"{loader['rows'] / loader['seconds']:.0f} vs {model['rows'] / model['seconds']:.1f} rows/s", "—",
            f"{loader['rows']} rows streamed from the main corpus (first at {loader['first_row']:.2f} s); the model: "
            f"{model['rows']} steps of batch 1 on CPU")
    server = serve(main_corpus, 0.0)
    try:
        with tempfile.TemporaryDirectory() as kept:
            cold = run_child("stream", config="sft", split="train", base_url=server.url, limit=1, cache_dir=kept)
            everything = run_child("stream", config="sft", split="train", base_url=server.url, cache_dir=kept)
            warm = run_child("stream", config="sft", split="train", base_url=server.url, limit=1, cache_dir=kept)
    finally:
        server.stop()
    row("8b. time to first row: sft train over HTTP, cold and warm", f"{cold['first_row']:.2f} / "
        f"{warm['first_row']:.2f} s", "—", f"warm: after an epoch of {everything['rows']} rows")

    # 9. more readers, and Ray
    if all(importlib.util.find_spec(name) for name in ("torch", "ray")):
        child = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "workers.py"), "--work", str(work)],
                               capture_output=True, text=True, check=True)
        rates = json.loads(child.stdout.strip().splitlines()[-1])
        row("9a. DataLoader rows/s, 2 workers vs one process (mcq validation, shards=8, resize to tensor)",
            f"{rates['loader_ratio']:.2f}x / {rates['loader_pixels_only_ratio']:.2f}x", ">= 1.6x",
            f"{rates['loader_2_workers_rows_s']} vs {rates['loader_one_process_rows_s']} rows/s with the whole row; "
            f"{rates['loader_pixels_only_2_workers_rows_s']} vs {rates['loader_pixels_only_one_process_rows_s']} "
            "with the tensor alone")
        row("9b. ray_dataset rows/s read again vs load streaming, 1,200 rows and the large split",
            f"{rates['ray_ratio_again']:.2f}x / {rates['large_ray_ratio_again']:.2f}x", ">= 0.8x",
            f"{rates['ray_dataset_again_rows_s']} vs {rates['load_streaming_rows_s']}; "
            f"{rates['large_ray_dataset_again_rows_s']} vs {rates['large_load_streaming_rows_s']} rows/s over "
            f"{rates['large_rows']} rows")
        row("9c. peak RSS of a Ray worker process", f"{rates['ray_worker_rss_mb']} MB", "—", "once read")
        row("9d. export --engine ray rows/s (Ray running) vs --num-proc 2", f"{rates['export_ray_ratio_again']:.2f}x",
            ">= 0.8x", f"{rates['export_ray_again_rows_s']} vs {rates['export_num_proc_2_rows_s']} rows/s over "
            f"{rates['export_rows']} rows (Ray's first run: {rates['export_ray_first_rows_s']})")

    cores = os.cpu_count()
    print(f"\nscifig benchmark — {cores} cores, main corpus {args.articles} articles "
          f"({sum(f.stat().st_size for f in main_corpus.glob('*.zip')) / 1e9:.1f} GB)\n")
    print("| measure | result | target | detail |\n|---|---|---|---|")
    for measure, value, target, detail in sorted(table, key=lambda entry: entry[0].split(" ", 1)[0]):
        print(f"| {measure} | {value} | {target} | {detail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
