# Copyright 2026 The scifig Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""scifig: the MMSci scientific-figure dataset (Nature Communications figures, 72 subjects in 5 categories).

One builder serves figure captioning, multiple-choice figure/caption matching, chat-style instruction data,
interleaved article+figure pre-training documents and the whole raw article corpus, read in place out of the
hosted MMSci archives (or a local copy, or a mirror). Archives are never extracted: members are read by byte range.

This file holds the builder and the front doors; it reads top to bottom: the stages rows pass through, the builder,
which looks its task's recipe up and composes those stages, and `builder()` / `load()`, the same call on every
`datasets` line. Its sibling modules (flat, imported relatively, as wmt14's script imports wmt_utils.py: datasets 3.6
copies them beside it when it runs this file as a loading script), MMSci's side first:

    scifig_data.py      what the data is: taxonomy, features, configs
    scifig_rows.py      the row functions: one upstream record in, its complete rows out
    scifig_sources.py   where the archives live, how each task's source is cut into shards and read, the recipes,
                        the evaluation articles
    scifig_archives.py  the Archive contract: scifig's zip reader (local or HTTP) and an unzipped folder
    scifig_bytes.py     byte sources (a file, HTTP ranges) and read-ahead
    scifig_formats.py   JSON streaming, the plain-data unpickler, figure checks
    scifig_store.py     what is kept: the cache, its locks, record stores, the ids seen so far
    scifig_errors.py    the error types and policies
    scifig_compat.py    every use of a `datasets` name that is not public API, with why

May import: every sibling; nothing else of the project (the tools import this, never the reverse).
"""

import difflib
import functools
import glob
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import sys
import time
from typing import Optional, Union

import datasets

# datasets 3.6 runs this file as a module of a package it builds, beside copies of its siblings, and finds them only
# by relative imports written at column 0, with nothing after them on the line (get_imports in
# datasets/utils/py_utils.py). Imported as a top-level module instead (from a clone; the wheel installs a regular
# package), the module makes itself the package its siblings are found in (a module with a __path__ is a package;
# PEP 366's __package__), so the same imports read the same files, as `scifig.scifig_data` and so on.
if not __package__:
    __path__ = [os.path.dirname(os.path.abspath(__file__))]
    __package__ = __name__

from .scifig_archives import open_archive
from .scifig_bytes import read_ahead
from .scifig_compat import INFOS_FILENAME, downloads_dir, skip_streaming_patches
from .scifig_data import (
    ANSWER_LETTERS,
    CATEGORIES,
    CITATION,
    CONFIG_NAMES,
    CONFIGS,
    DEFAULT_CONFIG,
    DESCRIPTION,
    EVAL_SPLITS,
    FEATURES,
    HOMEPAGE,
    LICENSE,
    PREDEFINED,
    SETTINGS,
    SPLITS,
    SUBJECTS,
    TAXONOMY,
    VERSION,
    SciFigConfig,
    category_name,
    is_mcq,
    task_of,
)
from .scifig_errors import ERROR_POLICIES, Count, RecordError, ScifigDataError, ScifigNetworkError
from .scifig_formats import is_figure
from .scifig_ray import datasource_class, read_tasks_of
from .scifig_rows import CAPTION_TEMPLATES, circular_rows, mcq_prompt, parse_mcq_prompt
from .scifig_sources import (
    ARCHIVE_URLS,
    EVAL_ARTICLES_FILE,
    RECIPES,
    SFT_PARTS,
    SPLIT_FOLDERS,
    EvalArticles,
    EvalArticlesSource,
    Selection,
    Source,
    archive_identity,
    archive_location,
    released_train_leak,
    shipped_eval_articles,
)
from .scifig_store import CACHE_FOLDERS, SeenIds, cache_entries, cache_root, enforce_cache_limit, remove_entry

skip_streaming_patches(sys.modules[__name__])

logger = datasets.logging.get_logger(__name__)

# The public names: what the tools, the tests and users may import from `scifig`.
__all__ = [
    "ANSWER_LETTERS", "ARCHIVE_URLS", "CACHE_FOLDERS", "CAPTION_TEMPLATES", "CATEGORIES", "CITATION", "CONFIGS",
    "CONFIG_NAMES", "DEFAULT_CONFIG", "DESCRIPTION", "EVAL_ARTICLES_FILE", "EVAL_SPLITS", "FEATURES", "HOMEPAGE",
    "LICENSE", "RECIPES", "SETTINGS", "SFT_PARTS", "SPLITS", "SPLIT_FOLDERS", "SUBJECTS", "TAXONOMY", "VERSION",
    "EvalArticles", "RecordError", "SciFig", "SciFigConfig", "ScifigDataError", "ScifigNetworkError", "builder",
    "cache_entries", "cache_root", "category_name", "check_split", "circular_rows", "code_hash", "data_identity",
    "enforce_cache_limit", "eval_articles_of", "is_figure", "is_mcq", "load", "mcq_prompt", "open_archive",
    "generate_rows", "parse_mcq_prompt", "prepare", "ray_dataset", "recorded_infos", "remove_entry",
    "shipped_eval_articles", "task_of", "unwrapped_errors"
]


# ================================================================================ the stages rows pass through

def kept(records, filing, selection, split, on_error):
    """The (record, origin) pairs a load's selection keeps, decided before any figure is read."""
    if filing is None or not selection.filters(split):
        yield from records
        return
    for record, origin in records:
        try:
            filed = filing(record)
        except RecordError as error:
            on_error(origin.error(error))
            continue
        if selection.keeps(filed.category, filed.subject) and selection.keeps_article(filed.uid, split):
            yield record, origin


def built(records, row_function, on_error, ahead=0):
    """Each record's rows, in record order; a RecordError goes to `on_error` with the record's origin.

    With `ahead` (archives over HTTP) records are built up to that many ahead on a thread pool, so the latency of
    their figure requests overlaps.
    """
    def build(pair):
        return list(row_function(*pair))

    if not ahead:
        results = ((pair, functools.partial(build, pair)) for pair in records)
    else:
        results = read_ahead(records, build, ahead)
    for (record, origin), result in results:
        try:
            rows = result()
        except RecordError as error:
            on_error(origin.error(error))
            continue
        yield from rows


def unique_ids(rows, repeats):
    """Rows with unique ids: an exact upstream repeat keeps a stable id with `-2`, `-3` appended; each repeat is
    added to `repeats` (a Count)."""
    seen = SeenIds()
    for row in rows:
        if row["id"] in seen:
            repeats.add()
            base, n = row["id"], 2
            while f"{base}-{n}" in seen:
                n += 1
            row["id"] = f"{base}-{n}"
        seen.add(row["id"])
        yield row


# ============================================================================================ the builder

class SciFig(datasets.GeneratorBasedBuilder):
    """MMSci scientific figures: captioning, multiple choice, chat, raw articles and interleaved pre-training."""

    BUILDER_CONFIG_CLASS = SciFigConfig
    BUILDER_CONFIGS = CONFIGS
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    VERSION = VERSION
    # Rows per Arrow write when preparing: each row carries figures of 100-500 KB, and datasets' default for image
    # datasets (100 rows) costs ~90 MB more peak memory in a prepare for no measurable speed.
    DEFAULT_WRITER_BATCH_SIZE = 20

    def __init__(self, *args, cache_dir=None, hash=None, **kwargs):
        # What a load prepares is kept under the code's hash and the identity of the archives it reads, so another
        # folder of the same name, or a changed or moved archive, is prepared afresh (datasets keys it by data_dir
        # as typed).
        self._identities = _identities(kwargs)
        hash = hashlib.sha256("|".join([hash or "", *self._identities.values()]).encode()).hexdigest()[:16]
        super().__init__(*args, cache_dir=cache_dir, hash=hash, **kwargs)
        self.datasets_cache_dir = cache_dir  # as given: None is datasets' default
        self._scifig_cache = cache_root(cache_dir)  # member indexes and record stores, kept across processes
        self._selection = Selection.of(self.config)
        data_dir = self.config.data_dir
        if data_dir and os.path.isfile(os.path.expanduser(data_dir)):
            raise ValueError(f"data_dir {data_dir} is a file; pass the folder that holds benchmark.zip, "
                             f"pretraindata.zip and rawdata.zip (here: {os.path.dirname(os.path.abspath(data_dir))})")
        if self.config.circular and RECIPES[self.config.task].rotated is None:
            raise ValueError(f"circular=True rotates multiple-choice options; {self.config.name} has none")
        if self.config.on_error not in ERROR_POLICIES:
            raise ValueError(f"on_error must be one of {', '.join(map(repr, ERROR_POLICIES))}, not "
                             f"{self.config.on_error!r}")
        self._limit_recorded_info_to_where_it_holds()

    def _limit_recorded_info_to_where_it_holds(self):
        """Recorded split sizes and checksums describe the hosted archives, unfiltered.

        datasets merges them from the card and dataset_infos.json and verifies every prepare against them, so a
        filtered load, a data_dir copy (or the dummy data) must not inherit them; a mirror keeps the sizes and has
        its own URLs checked against the recorded checksums.
        """
        config, info = self.config, self.info
        if config.base_url and not config.data_dir and info.download_checksums:
            mirror = config.base_url.rstrip("/") + "/"
            info.download_checksums = {mirror + url.rsplit("/", 1)[1]: checksum
                                       for url, checksum in info.download_checksums.items()
                                       if url in ARCHIVE_URLS.values()}
        if config.data_dir or self._selection.filtered or self._opted_out_of_a_default():
            info.splits, info.download_checksums = None, None
            info.download_size = info.dataset_size = info.size_in_bytes = None

    def _opted_out_of_a_default(self):
        """Whether exclude_eval_articles differs from the config's default (what recorded sizes describe)."""
        return bool(self.config.exclude_eval_articles) != PREDEFINED[self.config.name].exclude_eval_articles

    def _info(self):
        recorded = recorded_infos().get(self.config.name) or datasets.DatasetInfo()
        return datasets.DatasetInfo(
            description=DESCRIPTION + "\n" + (self.config.description or ""),
            features=FEATURES[self.config.task],
            homepage=HOMEPAGE,
            license=LICENSE,
            citation=CITATION,
            splits=recorded.splits,
            download_checksums=recorded.download_checksums,
            download_size=recorded.download_size,
            dataset_size=recorded.dataset_size,
        )

    def _source(self, archive, dl_manager, download=True):
        location = archive_location(archive, self.config, dl_manager, download)
        return Source(archive, location, self.config.http_timeout, self._scifig_cache, self._identities.get(archive))

    def _evaluation(self, benchmark=None):
        """Where this load reads its evaluation articles: `benchmark` (the task's own Source, when it reads
        benchmark.zip: its central directory is then read once for both), else benchmark.zip read by range, else
        (a data_dir without it) the list shipped beside the builder."""
        recipe = RECIPES[self.config.task]
        if benchmark is None:
            try:  # read by range: the archive is not downloaded for its dev and test files
                benchmark = self._source("benchmark", None, download=False)
            except FileNotFoundError:
                benchmark = None
        shipped = os.path.join(self.base_path or os.path.dirname(os.path.abspath(__file__)), EVAL_ARTICLES_FILE)
        shared = recipe.reader.members("train", self._selection) if recipe.archive == "benchmark" else None
        return EvalArticlesSource(benchmark, shipped, shared)

    def _split_generators(self, dl_manager):
        recipe = RECIPES[self.config.task]
        source = self._source(recipe.archive, dl_manager)
        selection = Selection.of(self.config, self._evaluation(source if recipe.archive == "benchmark" else None))
        if PREDEFINED[self.config.name].exclude_eval_articles and not self.config.exclude_eval_articles:
            logger.warning("%s: exclude_eval_articles=False gives upstream's train as released, which %s",
                           self.config.name, released_train_leak(selection.evaluation))
        splits = recipe.splits if dl_manager.is_streaming else self._splits_there(source)
        # Shards in a fixed order: rows come in the same order however many processes or workers share them.
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={
                "source": source, "split": split, "selection": selection,
                "shards": recipe.reader.shards(source, split, selection),
            })
            for split in splits
        ]

    def _splits_there(self, source):
        """The task's splits whose file the archive holds, for a prepare (which reads every split): a partial copy
        or a train-only mirror of benchmark.zip prepares its train split, and says what it left out."""
        recipe = RECIPES[self.config.task]
        if recipe.member is None or "train" not in recipe.splits:
            return recipe.splits
        names = list(source.open(recipe.reader.members("train", self._selection)).names())
        files = {split: f"{SPLIT_FOLDERS[split]}/{recipe.member}" for split in recipe.splits}
        there = [split for split in recipe.splits if split == "train" or any(
            name == files[split] or name.endswith("/" + files[split]) for name in names)]
        for split in recipe.splits:
            if split not in there:
                logger.warning("%s: %s holds no %s, so this load has no %s split", self.config.name,
                               source.location, files[split], split)
        return tuple(there)

    def _generate_examples(self, source, split, selection, shards):
        for row in generate_rows(self.config, source, split, selection, shards):
            yield row["id"], row

    def split_shards(self, split):
        """(source, selection, shards) of one split, read where a stream reads (by range, never downloaded): what
        a reader of its own (Ray's read tasks) hands generate_rows, a shard or a few at a time."""
        for generator in self._split_generators(datasets.StreamingDownloadManager(
                base_path=self.base_path, dataset_name="scifig", data_dir=self.config.data_dir)):
            if generator.name == split:
                kwargs = generator.gen_kwargs
                return kwargs["source"], kwargs["selection"], kwargs["shards"]
        raise ValueError(f"{self.config.name} has no split {split!r}")


def generate_rows(config, source, split, selection, shards):
    """The rows of `shards` of a split, in order: the stages composed, as the builder's generator yields them.

    Args:
        config: the load's SciFigConfig.
        source, selection, shards: from the builder's split (SciFig.split_shards).

    Yields:
        Finished rows (features of the config's task, images as {bytes, path}).

    Raises:
        ScifigDataError: bad data, under on_error="raise".
    """
    recipe = RECIPES[config.task]
    archive = source.open(recipe.reader.members(split, selection))
    on_error, repeats = ERROR_POLICIES[config.on_error](), Count()
    ahead = recipe.ahead if archive.remote else 0
    rows = itertools.chain.from_iterable(
        built(kept(recipe.reader.records(archive, shard, split, selection), recipe.filing, selection, split,
                   on_error), recipe.row, on_error, ahead)
        for shard in shards
    )
    rows = unique_ids(rows, repeats)
    if config.circular:
        rows = (rotation for row in rows for rotation in recipe.rotated(row))
    yield from rows
    if repeats.value:
        logger.warning("%s %s: %d duplicate upstream records kept under suffixed ids", config.task, split,
                       repeats.value)
    if on_error.value:
        logger.warning("%s %s: skipped %d bad records (on_error='skip')", config.task, split, on_error.value)


def _identities(builder_kwargs):
    """{archive: archive_identity} of the archives a builder with these arguments reads: its task's, and
    benchmark.zip, whose dev and test files say which articles are evaluation articles. Empty for a config name that
    does not exist (datasets then says so)."""
    config = PREDEFINED.get(builder_kwargs.get("config_name") or DEFAULT_CONFIG)
    if config is None:
        return {}
    data_dir, base_url = builder_kwargs.get("data_dir"), builder_kwargs.get("base_url", config.base_url)
    timeout = builder_kwargs.get("http_timeout", config.http_timeout)
    return {archive: archive_identity(archive, data_dir, base_url, timeout)
            for archive in sorted({RECIPES[config.task].archive, "benchmark"})}


@functools.lru_cache(maxsize=1)
def recorded_infos():
    """{config: datasets.DatasetInfo} of what dataset_infos.json beside this file records of the hosted archives.

    datasets 3.6 merges the card's YAML into a script's builder itself, later lines do not, and neither reads the
    checksums, which only dataset_infos.json holds (DatasetInfosDict.from_directory prefers the card when it has
    `dataset_info`): so the builder reads the file.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), INFOS_FILENAME)
    try:
        with io.open(path, encoding="utf-8") as file:
            return {config: datasets.DatasetInfo.from_dict(info) for config, info in json.load(file).items()}
    except FileNotFoundError:
        return {}


# ======================================================================================== the front doors

_HERE = os.path.dirname(os.path.abspath(__file__))
# This file, its siblings and the evaluation articles they fall back on: what a prepared dataset's cache is keyed by
# (with the identity of the archives it was prepared from).
CODE_FILES = (os.path.abspath(__file__), *sorted(glob.glob(os.path.join(_HERE, "scifig_*.py"))),
              os.path.join(_HERE, EVAL_ARTICLES_FILE))


def code_hash():
    """A digest of the builder's code, every file: what prepared datasets are cached under."""
    digest = hashlib.sha256()
    for path in CODE_FILES:
        if os.path.exists(path):  # the shipped list may be missing (the builder then says so when it needs it)
            with io.open(path, "rb") as file:
                digest.update(file.read())
    return digest.hexdigest()[:16]


def check_split(config_name, split):
    """Raises ValueError, before any download or prepare, when `split` (a name, a slice such as "train[:10%]", or
    a "+" of them) names a split the config does not have, suggesting the one meant."""
    if split is None or not isinstance(split, (str, datasets.NamedSplit)):
        return
    splits = RECIPES[task_of(config_name)].splits
    for part in str(split).split("+"):
        name = part.split("[", 1)[0].strip()
        if name in splits:
            continue
        upstream = {folder: ours for ours, folder in SPLIT_FOLDERS.items() if folder != ours}
        if upstream.get(name) in splits:
            hint = f"; MMSci's {name!r} is scifig's {upstream[name]!r}"
        else:
            close = difflib.get_close_matches(name, splits, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{config_name} has no split {name!r}: its splits are {', '.join(splits)}{hint}")


def builder(name: str, data_dir: Optional[str] = None, cache_dir: Optional[str] = None, **config_kwargs) -> SciFig:
    """The SciFig builder for one config, as `load` drives it (and as tools prepare it).

    Args:
        name: a config name (CONFIG_NAMES), e.g. "mcq".
        data_dir: a folder holding benchmark.zip, pretraindata.zip and rawdata.zip (or them unzipped).
        cache_dir: the datasets cache to prepare into (HF_DATASETS_CACHE unless given).
        **config_kwargs: SciFigConfig fields to change (settings, subjects, base_url, on_error, ...).

    Returns:
        A SciFig whose cache is keyed by the code hash, so an edited builder never reuses a stale prepared dataset.

    Raises:
        ValueError: an unknown config, setting, subject or category, or a bad option value.
    """
    return SciFig(config_name=name, data_dir=data_dir, hash=code_hash(), dataset_name="scifig", cache_dir=cache_dir,
                  base_path=_HERE, **config_kwargs)


def load(name: str, split: Optional[str] = None, streaming: bool = False, data_dir: Optional[str] = None,
         **config_kwargs) -> Union[datasets.Dataset, datasets.DatasetDict, datasets.IterableDataset,
                                   datasets.IterableDatasetDict]:
    """What `load_dataset("scifig", name, ...)` returns, on every datasets line.

    It drives the builder directly (datasets 4 removed loading scripts; on 3.6 the same builder runs as the
    script).

    Args:
        name: a config name (CONFIG_NAMES), e.g. "mcq".
        split: a split name, slice ("train[:10%]") or "+" of them; None for every split.
        streaming: read rows as they are taken instead of preparing the dataset on disk.
        data_dir: a folder holding the archives (zips or unzipped); else `base_url=`, else MMSci's hosted archives.
        **config_kwargs: `cache_dir`, `num_proc`, `verification_mode` and `download_mode` are passed on as datasets
            takes them; other keywords configure the builder (settings, subjects, categories, base_url, on_error,
            http_timeout, ...); a keyword given as None is left at its default.

    Returns:
        A Dataset (or DatasetDict without `split`), or their Iterable forms when streaming.

    Raises:
        ValueError: a config or split name that does not exist, before anything is read.
        ScifigDataError: data that cannot become rows, naming archive, member and record, streaming or not (datasets
            wraps an error raised while preparing in its own DatasetGenerationError; `load` raises the
            ScifigDataError behind it).
    """
    check_split(name, split)
    config_kwargs = {key: value for key, value in config_kwargs.items() if value is not None}
    prepare_kwargs = {key: config_kwargs.pop(key) for key in _PREPARE_KEYWORDS if key in config_kwargs}
    with unwrapped_errors():
        builder_ = builder(name, data_dir, config_kwargs.pop("cache_dir", None), **config_kwargs)
        if streaming:
            return builder_.as_streaming_dataset(split=split)
        prepare(builder_, **prepare_kwargs)
        return builder_.as_dataset(split=split)


_PREPARE_KEYWORDS = ("num_proc", "verification_mode", "download_mode")


def prepare(builder_: SciFig, num_proc: Optional[int] = None, verification_mode=None, download_mode=None) -> SciFig:
    """Prepares a builder's dataset on disk, as `load` does, and returns the builder.

    Args:
        builder_: from `builder()`.
        num_proc: processes preparing the shards.
        verification_mode: as datasets takes it; "all_checks" also checks the recorded archive checksums.
        download_mode: as datasets takes it; "force_redownload" downloads and prepares again whatever is kept.

    Raises:
        ScifigDataError: data that cannot become rows (what it names, as `load` says); ScifigNetworkError: an archive
            that cannot be reached. Nothing of a failed prepare is left in the cache.
    """
    kwargs = {"num_proc": num_proc, "verification_mode": verification_mode, "download_mode": download_mode}
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    forced = str(download_mode) in ("force_redownload", "DownloadMode.FORCE_REDOWNLOAD")
    if forced:  # what scifig keeps of the archives (member indexes, record stores) is read afresh too
        builder_._identities = {archive: f"{identity}|forced at {time.time_ns()}"
                                for archive, identity in builder_._identities.items()}
    if str(verification_mode) in ("all_checks", "VerificationMode.ALL_CHECKS"):
        # datasets >= 4 records download checksums only for a download manager that asks (3.6 did it for
        # "all_checks" itself); without it a changed upstream archive would pass verification unnoticed.
        kwargs["dl_manager"] = datasets.DownloadManager(
            dataset_name="scifig", data_dir=builder_.config.data_dir, record_checksums=True,
            download_config=datasets.DownloadConfig(
                cache_dir=downloads_dir(builder_.datasets_cache_dir), num_proc=num_proc,
                force_download=forced))
    try:
        with unwrapped_errors():
            builder_.download_and_prepare(**kwargs)
    except BaseException:
        _discard_unprepared(builder_.cache_dir)
        raise
    return builder_


def _discard_unprepared(prepared_dir):
    """What a failed prepare leaves of its dataset's folder (datasets removes the rows, not its lock files): the
    config's folder, where it holds nothing else."""
    config_dir = os.path.dirname(os.path.dirname(prepared_dir))  # <cache>/scifig/<config id>/<version>/<hash>
    found = [os.path.join(folder, name) for folder, _, files in os.walk(config_dir) for name in files]
    if found and all(path.endswith(".lock") for path in found):
        shutil.rmtree(config_dir, ignore_errors=True)


def data_identity(name: str, data_dir: Optional[str] = None, base_url: Optional[str] = None) -> dict:
    """{archive: identity} of the archives a load of config `name` reads (archive_identity's: path, size and
    modification time, or URL, size, ETag and Last-Modified): what its prepared dataset is kept under, and what a
    score records of its data."""
    return _identities({"config_name": name, "data_dir": data_dir, "base_url": base_url})


def ray_dataset(name: str, split: str, data_dir: Optional[str] = None, base_url: Optional[str] = None,
                cache_dir: Optional[str] = None, **config_kwargs):
    """A split as a Ray Data dataset, read by Ray tasks that are scifig's own shards (`pip install "scifig[ray]"`).

    Every node of a Ray cluster reads its own shards of the archives, by HTTP range from `base_url` (or MMSci's
    hosted archives), or from `data_dir` where every node sees it; no node reads everything. `shards=N` (or
    `train_shards=N`) sets how many read tasks a split has. Images are {bytes, path}, as the Hub export stores
    them: `dataset.map(scifig.FEATURES[task].decode_example)` decodes them.

    Args:
        name: a config name (CONFIG_NAMES).
        split: a split the config has.
        data_dir, base_url, cache_dir, **config_kwargs: as `load` takes them (filters, exclude_eval_articles, ...).

    Returns:
        A ray.data.Dataset of the split's rows, in the shards' order.

    Raises:
        ValueError: an unknown config or split. Data that cannot become rows raises ScifigDataError, with the
            message `load` gives, where the rows are read.
    """
    import ray.data

    check_split(name, split)
    config_kwargs = {key: value for key, value in config_kwargs.items() if value is not None}
    with unwrapped_errors():
        builder_ = builder(name, data_dir, cache_dir, base_url=base_url, **config_kwargs)
        source, selection, shards = builder_.split_shards(split)
    tasks = read_tasks_of(generate_rows, builder_.config, builder_.info.features, source, split, selection, shards)
    return ray.data.read_datasource(datasource_class()(tasks, f"scifig {name} {split}"),
                                    override_num_blocks=len(tasks))


def eval_articles_of(data_dir: Optional[str] = None, base_url: Optional[str] = None,
                     cache_dir: Optional[str] = None) -> EvalArticles:
    """The evaluation articles a train load from this data leaves out (and `articles` marks), read where that load
    reads them: benchmark.zip's dev and test files, else the list shipped with scifig (with a warning)."""
    return builder("captioning", data_dir, cache_dir, base_url=base_url)._evaluation().read()


# How a worker's traceback names the error, when num_proc sends it back only as text.
_REMOTE_SCIFIG_ERROR = re.compile(r"^(?:[\w.]+\.)?ScifigDataError: (.+)$", re.MULTILINE)


class unwrapped_errors:
    """Raises the ScifigDataError behind a wrapper in its place: datasets' DatasetGenerationError (`with
    scifig.unwrapped_errors(): builder.download_and_prepare()` raises what `load` raises), or Ray's
    RayTaskError (`with scifig.unwrapped_errors(): ray_dataset.take_all()` raises the task's own error).

    A prepare in this process keeps the ScifigDataError on the wrapper's exception chain: that very error is
    raised, the wrapper as its cause. With num_proc, a worker's error reaches this process only as the text of its
    traceback (multiprocess's RemoteTraceback, which keeps no exception object): a ScifigDataError is raised from
    that text, with the same message and the wrapper as its cause.
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        original = getattr(error, "cause", None)  # Ray's RayTaskError(ScifigDataError): its task's own error
        if isinstance(original, ScifigDataError) and original is not error:
            # Ray Data appends its retry advice to the error's message: scifig's is its first line. The same class
            # (a ScifigNetworkError stays one), made without its __init__, whose arguments are not the message.
            unwrapped = type(original).__new__(type(original))
            unwrapped.args = (str(original).split("\n", 1)[0],)
            raise unwrapped from error
        if error is None or isinstance(error, ScifigDataError):
            return False
        cause, seen = error.__cause__ or error.__context__, set()
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, ScifigDataError):
                raise cause from error  # datasets' error stays on the chain (its own cause is this one)
            remote = _REMOTE_SCIFIG_ERROR.search(str(getattr(cause, "tb", "")))
            if remote:
                raise ScifigDataError(remote[1]) from error
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        return False
