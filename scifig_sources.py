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
"""MMSci's sources: where each archive lives, how each task's source is cut into shards and read record by record.

Holds: in order, where the archives live (`ARCHIVE_URLS`, `archive_location`); what a load keeps (`Selection`);
where a record sits (`Origin`) and what a shard is (`Shard`); the SourceReader contract and its four readers (the
benchmark's JSON, the SFT mixture of those files, the pre-training pickles, rawdata's article folders); the task
recipes (`RECIPES`: each task's archive, splits, reader and row function, as data); and the evaluation articles
(what exclude_eval_articles leaves out of train and `articles` marks).
May import: the standard library, scifig_data, scifig_rows, scifig_errors and the machinery (scifig_archives,
scifig_bytes, scifig_formats, scifig_store).
"""

import collections
import concurrent.futures
import functools
import hashlib
import io
import json
import os
import re
import time
from typing import Callable, Iterator, List, NamedTuple, Optional, Protocol, Tuple

import datasets

from .scifig_archives import Archive, find_member, open_archive, under_any_folder
from .scifig_bytes import THREADS, HttpBytes
from .scifig_data import CATEGORIES, EVAL_SPLITS, SETTINGS, SUBJECTS, TAXONOMY
from .scifig_errors import RecordError, ScifigDataError, ScifigNetworkError
from .scifig_formats import ListOfLists, figure_problem, is_figure, json_records, load_plain_pickle
from .scifig_rows import (
    Article,
    article_rows,
    benchmark_filing,
    captioning_rows,
    chat_rows,
    circular_rows,
    mcq_rows,
    pretraining_filing,
    pretraining_rows,
    sft_captioning,
    sft_chat,
    sft_mcq,
)
from .scifig_store import RecordStore, one_builder, write_json_atomically

logger = datasets.logging.get_logger(__name__)


# ==================================================================================================== where it lives

ARCHIVE_URLS = {
    "benchmark": "https://mmsci.s3.amazonaws.com/benchmark.zip",
    "pretraindata": "https://mmsci.s3.amazonaws.com/pretraindata.zip",
    "rawdata": "https://mmsci.s3.amazonaws.com/rawdata.zip",
}

# Hub split name -> the upstream folder inside benchmark.zip.
SPLIT_FOLDERS = {"train": "train", "validation": "dev", "test": "test"}

# Beside the builder: the evaluation articles of upstream's split files (mmsci-data/rawdata/{dev,test}_split_ids.json),
# with their source and commit, written by `python -m scifig_tools eval-articles`. Where benchmark.zip cannot be had
# (a data_dir holding only pretraindata.zip or rawdata.zip), exclude_eval_articles reads them from here.
EVAL_ARTICLES_FILE = "scifig_eval_articles.json"


def archive_location(archive, config, dl_manager, download=True):
    """data_dir (zip or unzipped folder) first, then base_url, then the hosted URL (downloaded into the datasets
    cache for a prepared load, unless download=False: then read by range, as when streaming)."""
    if config.data_dir:
        data_dir = os.path.abspath(os.path.expanduser(config.data_dir))
        for candidate in (f"{data_dir}{os.sep}{archive}", f"{data_dir}{os.sep}{archive}.zip"):
            if os.path.exists(candidate):
                return candidate
        raise FileNotFoundError(f"data_dir {data_dir} holds neither {archive}.zip nor an unzipped {archive}/ folder")
    url = archive_url(archive, config.base_url)
    if not download or dl_manager.is_streaming:
        return url  # read member by member with Range requests
    try:
        return dl_manager.download(url)  # cached and checksummed, then read in place
    except (OSError, ConnectionError) as error:  # datasets says only the URL (a FileNotFoundError) when offline
        raise ScifigNetworkError(url, error.__cause__ or error) from error


def archive_url(archive, base_url=None):
    """Where an archive is served: the mirror's, or MMSci's hosted one."""
    return f"{base_url.rstrip('/')}/{archive}.zip" if base_url else ARCHIVE_URLS[archive]


def archive_identity(archive, data_dir=None, base_url=None, timeout=60):
    """What tells this copy of an archive from any other: its resolved path with size and modification time (for
    an unzipped folder, those of every file but the figures), or its URL with the size, ETag and Last-Modified the
    server gives. What a load prepares is kept under it, so a changed, moved or other archive is read afresh."""
    if data_dir:
        folder = os.path.realpath(os.path.expanduser(data_dir))
        for candidate in (os.path.join(folder, archive), os.path.join(folder, f"{archive}.zip")):
            if os.path.isdir(candidate):
                return _folder_identity(candidate)
            if os.path.exists(candidate):
                status = os.stat(candidate)
                return f"{candidate}|{status.st_size}|{status.st_mtime_ns}"
        return f"{folder}|no {archive}"
    return _url_identity(archive_url(archive, base_url), timeout, int(time.monotonic() // _UNREACHABLE_FOR))


_UNREACHABLE_FOR = 60  # seconds an archive found unreachable is not asked again (builders made for every config)


def _url_identity(url, timeout, period):
    """One HEAD request, no retry: a load offline, or from a mirror without this archive, says so where it reads
    the archive. An unreachable archive is not asked again within the period (a tool making a builder per config
    offline would wait for each); a reachable one always is, so a change is seen at once."""
    unreachable = _UNREACHABLE.get((url, period))
    if unreachable:
        return unreachable
    try:
        return HttpBytes(url, timeout, attempts=0).version
    except ScifigDataError as error:
        _UNREACHABLE[(url, period)] = f"{url}|unreachable: {error}"
        return _UNREACHABLE[(url, period)]


_UNREACHABLE = {}


def _folder_identity(root):
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            if not is_figure(name):
                status = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}|{status.st_size}|{status.st_mtime_ns}\n".encode("utf-8", "replace"))
    return f"{root}|folder|{digest.hexdigest()}"


def archive_label(location, archive):
    """How errors name an archive: the file or URL, and the archive's own name when it is a download cache."""
    return location if location.rstrip("/").split("/")[-1].startswith(archive) else f"{archive}.zip ({location})"


class Source(NamedTuple):
    """One archive of a load, wherever it is (local zip or folder, URL), opened per member pattern on demand."""

    archive: str    # its name, a key of ARCHIVE_URLS
    location: str
    timeout: float
    cache: Optional[str] = None  # where member indexes (and parsed records) are kept across processes
    identity: Optional[str] = None  # archive_identity's, when the load took it: a URL read again once it changes

    def open(self, members):
        return open_archive(self.location, members, archive_label(self.location, self.archive), self.timeout,
                            self.cache, self.identity)


# ========================================================================================== what a load keeps

class Selection(NamedTuple):
    """What one load keeps and how it cuts it: the mcq settings (in upstream order), where given the subjects and
    categories, whether the train split leaves the evaluation articles out (and where they are read), and the train
    shards asked."""

    settings: tuple
    subjects: Optional[frozenset]
    categories: Optional[frozenset]
    exclude: bool
    train_shards: Optional[int]
    evaluation: Optional["EvalArticlesSource"] = None
    shards: Optional[int] = None  # every split of the benchmark's JSON cut into this many parts

    @classmethod
    def of(cls, config, evaluation=None):
        """The config's choices, checked: an unknown name is a ValueError listing the valid ones."""
        settings = _validated_names("settings", config.settings, SETTINGS) or frozenset(SETTINGS)
        for name in ("train_shards", "shards"):
            shards = getattr(config, name)
            if shards is not None and (isinstance(shards, bool) or not isinstance(shards, int) or shards < 1):
                raise ValueError(f"{name} must be a positive integer, not {shards!r}")
        return cls(tuple(setting for setting in SETTINGS if setting in settings),
                   _validated_names("subjects", config.subjects, SUBJECTS),
                   _validated_names("categories", config.categories, CATEGORIES),
                   bool(config.exclude_eval_articles), config.train_shards, evaluation, config.shards)

    @property
    def filtered(self):
        return self.subjects is not None or self.categories is not None

    def filters(self, split):
        return self.filtered or (self.exclude and split == "train")

    def keeps(self, category, subject):
        return (self.categories is None or category in self.categories) and (
            self.subjects is None or subject in self.subjects)

    def keeps_article(self, uid, split):
        return split != "train" or not self.exclude or uid not in self.evaluation.read().every


def _validated_names(kind, given, valid):
    if given is None:
        return None
    names = [given] if isinstance(given, str) else list(given)
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}; valid {kind}: {', '.join(valid)}")
    return frozenset(names)


# ================================================================================ where a record sits, and shards

class Origin(NamedTuple):
    """Where one upstream record sits, as errors name it; it reads the figures and files the record names, which
    are relative to `folder`. Row functions see only this (scifig_rows' docstring)."""

    archive: Archive      # the archive the record was read from
    member: str           # the member holding it
    index: int            # its position in that member (or shard)
    key: str              # how it names itself: "uid 'ncomms1'", "url '...'"
    split: str = "train"
    setting: int = -1     # mcq: which of the member's three lists
    folder: str = ""      # the folder the names it holds (figures, files) are relative to
    sft_task: Optional[str] = None  # the SFT mixture: the part it is read for (its shard's)

    def __str__(self):
        setting = f" of setting {SETTINGS[self.setting]}" if self.setting >= 0 else ""
        return f"{self.archive.label}:{self.member}: record {self.index}{setting} ({self.key})"

    def error(self, problem):
        return ScifigDataError(f"{self}: {problem}")

    def read_figure(self, name):
        """A figure the record names, as {bytes, path}, checked to be a readable image."""
        member = self.folder + name
        if not self.archive.has_figure(member):
            raise RecordError(f"figure {member} is not in the archive")
        data = self.archive.read(member)
        problem = figure_problem(data)
        if problem:
            raise RecordError(f"figure {member} {problem}")
        return {"bytes": data, "path": name}

    def read_figures(self, names):
        """Several figures at once: over HTTP, fetched together on threads."""
        if not self.archive.remote or len(names) < 2:
            return [self.read_figure(name) for name in names]
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(names), THREADS)) as pool:
            return list(pool.map(self.read_figure, names))

    def read_json(self, name):
        """A JSON file the record names, parsed."""
        member = self.folder + name
        if member not in self.archive:
            raise RecordError(f"{member} is not in the archive")
        try:
            return json.loads(self.archive.read(member).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise RecordError(f"{member} is not valid UTF-8 JSON: {error}") from None


class Shard(NamedTuple):
    """One unit of work for a process or DataLoader worker, in the order rows come out. It reads one member (or, for
    articles, one subject folder) and carries what its rows need."""

    member: Optional[str] = None    # the member it reads, under whatever top folder the archive adds
    folder: Optional[str] = None    # articles: the subject folder "<Category>/<Subject>" whose articles it reads
    settings: tuple = ()            # mcq: which of the member's three lists it reads (in the file's order)
    part: int = 0                   # the records whose index % parts == part (in each list)
    parts: int = 1
    sft_task: Optional[str] = None  # the SFT mixture: which of SFT_PARTS its records are read for


# ========================================================================================== the source readers

class SourceReader(Protocol):
    """How a task's source is found, cut into shards and read. Shards come in a fixed order, and a shard's records
    in the member's: rows come in the same order however many processes or workers share the shards. Damaged data
    raises ScifigDataError naming the archive and member; a bad record is handed on with its Origin, to be judged
    by its row function."""

    def members(self, split: str, selection: Selection) -> str:
        """The pattern (a regex) of the members a split reads: its archive is indexed for these only."""

    def shards(self, source: Source, split: str, selection: Selection) -> List[Shard]:
        """The split's shards (it may open the archive to discover them)."""

    def records(self, archive: Archive, shard: Shard, split: str, selection: Selection
                ) -> Iterator[Tuple[object, Origin]]:
        """(record, origin) of every record of the shard, in order."""


def _uid_key(record):
    return f"uid {record.get('uid')!r}"


# The multiple-choice file: a list of one list of records per setting.
BY_SETTING = ListOfLists("setting", tuple(SETTINGS))
TRAIN_PARTS = 8  # shards of a train JSON read whole (captioning, chat): enough for ranks and workers to share


class JsonReader:
    """A benchmark task's JSON, one member per split folder: a list of records, or (`lists`) a list of one list per
    mcq setting. The train JSON of captioning and chat (and of mcq, when train_shards asks) is read as round-robin
    parts of its records so processes and workers have shards to spread; a member read in several parts is parsed
    once per machine into a RecordStore, each part then reading only its own records and their figures."""

    def __init__(self, member, lists=None):
        self.member = member  # the file inside each split folder
        self.lists = lists    # None: a plain list of records; BY_SETTING: one list per mcq setting

    def members(self, split, selection):
        folder = SPLIT_FOLDERS[split]
        return with_eval_files(under_any_folder(rf"{folder}/({re.escape(self.member)}$|images/[^/]+$)"), split)

    def shards(self, source, split, selection):
        member = f"{SPLIT_FOLDERS[split]}/{self.member}"  # found in the archive when read
        settings = tuple(SETTINGS.index(setting) for setting in selection.settings) if self.lists else ()
        if selection.shards:  # N parts, each a round-robin part of every list: near-equal rows
            return [Shard(member, settings=settings, part=part, parts=selection.shards)
                    for part in range(selection.shards)]
        asked = selection.train_shards if split == "train" else None
        if self.lists:
            parts = -(-asked // len(settings)) if asked else 1
            return [Shard(member, settings=(setting,), part=part, parts=parts)
                    for setting in settings for part in range(parts)]
        parts = (asked or TRAIN_PARTS) if split == "train" else 1
        return [Shard(member, part=part, parts=parts) for part in range(parts)]

    def records(self, archive, shard, split, selection):
        member = find_member(archive, shard.member)
        folder = member[: -len(self.member)] + "images/"
        label = f"{archive.label}:{member}"
        if shard.parts > 1 and archive.store_dir:  # every part would parse the member: parse it once instead
            found = RecordStore(archive, member, label, self.lists).read(shard.settings or (-1,), shard.part,
                                                                          shard.parts)
        else:
            found = self._parsed(archive, member, label, shard)
        for setting, index, record in found:
            yield record, Origin(archive, member, index, _uid_key(record), split, setting, folder, shard.sft_task)

    def _parsed(self, archive, member, label, shard):
        outers = shard.settings or (-1,)

        def wanted(setting, index):
            return setting in outers and index % shard.parts == shard.part

        with archive.open(member) as stream:
            yield from json_records(stream, label, self.lists, wanted)


CAPTIONING_FILE = JsonReader("image_caption_generation_data.json")
MCQ_FILE = JsonReader("image_caption_matching_data.json", BY_SETTING)
CHAT_FILE = JsonReader("image_caption_chat_data.json")


# ---- the SFT mixture: the MMSci authors' fine-tuning data, rebuilt from the benchmark's train files ----
#
# As mmsci-data/scripts/process_llava_sft.py (Leezekun/MMSci, commit f9be52c) builds it: every chat conversation;
# one captioning conversation per train figure; and every multiple-choice question of the three settings (at most 2
# fig2cap questions per article, the first in file order). The conversations are scifig_rows' sft_* functions.

class SftPart(NamedTuple):
    """One part of the mixture: the `task` its rows carry, the benchmark file it reads (and which mcq list), how a
    record becomes its conversations, and upstream's cap on rows per article (in file order), if any."""

    task: str
    file: JsonReader
    setting: int                # mcq: which list of the file; -1: a plain list
    rows: Callable              # (record, origin) -> rows
    per_article: Optional[int] = None


SFT_PARTS = (
    SftPart("chat", CHAT_FILE, -1, sft_chat),
    SftPart("captioning", CAPTIONING_FILE, -1, sft_captioning),
    SftPart("fig2cap", MCQ_FILE, 0, sft_mcq, per_article=2),
    SftPart("subfig2cap", MCQ_FILE, 1, sft_mcq),
    SftPart("subcap2fig", MCQ_FILE, 2, sft_mcq),
)
_SFT_PART = {part.task: part for part in SFT_PARTS}


def sft_rows(record, origin):
    """The mixture's rows of one record: the conversations of the part its shard reads it for."""
    yield from _SFT_PART[origin.sft_task].rows(record, origin)


class MixtureReader:
    """The SFT mixture: each part's train file read in turn, each cut as its own config's train split is, except a
    capped part (fig2cap), read whole in one shard so upstream's per-article cap runs over the file in order."""

    def members(self, split, selection):
        files = "|".join(sorted({re.escape(part.file.member) for part in SFT_PARTS}))
        return with_eval_files(under_any_folder(rf"{SPLIT_FOLDERS[split]}/({files}|images/[^/]+)$"), split)

    def shards(self, source, split, selection):
        shards = []
        for part in SFT_PARTS:
            member = f"{SPLIT_FOLDERS[split]}/{part.file.member}"
            parts = 1 if part.per_article else (selection.shards or selection.train_shards or (
                TRAIN_PARTS if part.setting < 0 else 1))
            shards += [Shard(member, settings=(part.setting,) if part.setting >= 0 else (), part=index, parts=parts,
                             sft_task=part.task)
                       for index in range(parts)]
        return shards

    def records(self, archive, shard, split, selection):
        part = _SFT_PART[shard.sft_task]
        records = part.file.records(archive, shard, split, selection)
        if part.per_article is None:
            yield from records
            return
        asked = collections.Counter()
        for record, origin in records:
            uid = record.get("uid") if isinstance(record, dict) else None
            if isinstance(uid, str) and asked[uid] >= part.per_article:
                continue
            asked[uid] += 1
            yield record, origin


class PickleReader:
    """pretraindata's `shards/**/shard_<i>.pkl` (a pickled list of documents, through the plain-data unpickler),
    each with its `.count` file; one shard per pickle."""

    MEMBERS = under_any_folder(r"shards/(.+/)?shard_[^/]+\.(pkl|count)$")

    def members(self, split, selection):
        return self.MEMBERS

    def shards(self, source, split, selection):
        archive = source.open(self.MEMBERS)
        names = set(archive.names())
        pickles = sorted(name for name in names if name.endswith(".pkl"))
        if not pickles:
            raise ScifigDataError(f"{archive.label}: no shards/**/shard_<i>.pkl members")
        orphans = sorted(name for name in names
                         if name.endswith(".count") and name[: -len(".count")] + ".pkl" not in names)
        if orphans:  # a shard's name was damaged, or the shard is gone: its documents would go missing silently
            raise ScifigDataError(
                f"{archive.label}: {', '.join(orphans)} counts documents of a shard that is not there")
        return [Shard(name) for name in pickles]

    def records(self, archive, shard, split, selection):
        label = f"{archive.label}:{shard.member}"
        with archive.open(shard.member) as stream:  # unpickled as it is read: the pickle's bytes are never all held
            documents = load_plain_pickle(stream, label)
        if not isinstance(documents, list):
            raise ScifigDataError(f"{label}: expected a pickled list of documents, found {type(documents).__name__}")
        count_member = shard.member[: -len(".pkl")] + ".count"
        if count_member in archive:
            count = archive.read(count_member).decode("ascii", "replace").strip()
            if count != str(len(documents)):
                raise ScifigDataError(f"{label}: holds {len(documents)} documents but {count_member} says {count}")
        documents.reverse()  # each document is let go once its rows are: memory falls as the shard is read
        for index in range(len(documents)):
            document = documents.pop()
            url = document.get("url") if isinstance(document, dict) else None
            yield document, Origin(archive, shard.member, index, f"url {url!r}", split)


_RAWDATA_ARTICLE = re.compile(
    r"^(?P<prefix>(?:.*/)?)(?P<category>" + "|".join(re.escape(c) for c in CATEGORIES)
    + r")/(?P<subject>[^/]+)/(?P<uid>[^/]+)/(?P=uid)_data\.json$"
)


def _folder_order(folder):
    category, subject = folder[0], folder[1]
    subjects = TAXONOMY[category]
    return CATEGORIES.index(category), subjects.index(subject) if subject in subjects else len(subjects), subject


class ArticleReader:
    """rawdata's `<Category>/<Subject>/<uid>/` folders. An article filed under several subjects gives one row,
    from its first kept folder in taxonomy order (its home); one shard per home folder."""

    def members(self, split, selection):
        """Every article's `<uid>_data.json` (to know all the folders an article sits in), and the figures of the
        folders the selection keeps: other folders' figures are never listed, let alone read."""
        categories = "|".join(re.escape(c) for c in CATEGORIES)
        kept = "|".join(f"{re.escape(c)}/{re.escape(s)}" for c, subjects in TAXONOMY.items() for s in subjects
                        if selection.keeps(c, s))
        figure_folders = f"(?:{categories})/[^/]+" if not selection.filtered else kept or "(?!)"
        return (under_any_folder(rf"(?:{categories})/[^/]+/([^/]+)/\1_data\.json$") + "|"
                + under_any_folder(rf"(?:{figure_folders})/[^/]+/[^/]+\.png$"))

    @staticmethod
    @functools.lru_cache(maxsize=8)  # every shard of a split places the same articles: once per process
    def placement(archive, selection, split="train"):
        """{uid: [(category, subject, prefix), ...]} for every article some kept folder holds: its kept folders
        first (the first is its home), then the rest, each group in taxonomy order."""
        every = collections.defaultdict(list)
        for name in archive.names():
            match = _RAWDATA_ARTICLE.match(name)
            if match:
                every[match["uid"]].append((match["category"], match["subject"], match["prefix"]))
        placed = {}
        for uid, folders in every.items():
            folders.sort(key=_folder_order)
            kept = [folder for folder in folders if selection.keeps(folder[0], folder[1])]
            if kept and selection.keeps_article(uid, split):
                placed[uid] = kept + [folder for folder in folders if folder not in kept]
        return placed

    def shards(self, source, split, selection):
        archive = source.open(self.members(split, selection))
        homes = {folders[0][:2] for folders in self.placement(archive, selection, split).values()}
        if not homes:
            raise ScifigDataError(f"{archive.label}: no <Category>/<Subject>/<uid>/<uid>_data.json members")
        return [Shard(folder=f"{category}/{subject}") for category, subject in sorted(homes, key=_folder_order)]

    def records(self, archive, shard, split, selection):
        """(article, origin) of every article whose home is the shard's folder, by uid."""
        placement = self.placement(archive, selection, split)
        home = tuple(shard.folder.split("/", 1))
        uids = sorted(uid for uid, folders in placement.items() if folders[0][:2] == home)
        evaluation = selection.evaluation.read()
        for index, uid in enumerate(uids):
            folders = placement[uid]
            folder = f"{folders[0][2]}{shard.folder}/{uid}/"
            origin = Origin(archive, f"{folder}{uid}_data.json", index, f"uid {uid!r}", split, folder=folder)
            yield Article(uid, folders, evaluation.splits_of(uid)), origin


# ============================================================================================= the task recipes

class Recipe(NamedTuple):
    """Everything task-specific, as data: the builder looks its task's recipe up and branches on nothing else."""

    archive: str            # which hosted archive holds the source (a key of ARCHIVE_URLS)
    splits: tuple           # the splits the task has
    reader: SourceReader    # how the source is found, cut into shards and read
    row: Callable           # (record, origin) -> the record's complete rows
    filing: Optional[Callable]  # record -> its Filing, checked before any figure is read; None: the reader filters
    ahead: int              # over HTTP, records built ahead on threads so figure requests overlap (about 32 figures)
    rotated: Optional[Callable] = None  # row -> its rotations, for circular=True; None: the task has none

    @property
    def member(self):
        """The file each split folder holds, for a task read from one file per split; None otherwise."""
        return getattr(self.reader, "member", None)


SPLITS_ALL, TRAIN_ONLY = ("train", "validation", "test"), ("train",)

RECIPES = {
    # a train record holds ~5.6 figures: 4 records ahead is ~22 figures for 8 threads
    "captioning": Recipe("benchmark", SPLITS_ALL, CAPTIONING_FILE, captioning_rows, benchmark_filing, ahead=4),
    "mcq": Recipe("benchmark", SPLITS_ALL, MCQ_FILE, mcq_rows, benchmark_filing, ahead=32, rotated=circular_rows),
    "chat": Recipe("benchmark", TRAIN_ONLY, CHAT_FILE, chat_rows, benchmark_filing, ahead=32),
    "sft": Recipe("benchmark", TRAIN_ONLY, MixtureReader(), sft_rows, benchmark_filing, ahead=32),
    # figures travel inside the pickles: nothing to fetch
    "pretraining": Recipe("pretraindata", TRAIN_ONLY, PickleReader(), pretraining_rows, pretraining_filing, ahead=0),
    # one article's figures are fetched together (Origin.read_figures); reading other articles ahead would delay
    # the first row by their bytes
    "articles": Recipe("rawdata", TRAIN_ONLY, ArticleReader(), article_rows, filing=None, ahead=0),
}


# ============================================ the evaluation articles: what train leaves out and `articles` marks

class EvalArticles(NamedTuple):
    """The articles (uid) of the benchmark's validation and test splits, and where they were read."""

    validation: frozenset
    test: frozenset
    source: str
    from_benchmark: bool = True  # False: the list shipped with scifig stood in for benchmark.zip

    @property
    def every(self):
        return self.validation | self.test

    def splits_of(self, uid):
        """The evaluation splits an article is in: [], ["validation"], ["test"] or both."""
        return [split for split in EVAL_SPLITS if uid in getattr(self, split)]


class EvalArticlesSource(NamedTuple):
    """Where a load reads its evaluation articles: benchmark.zip (a Source), or None when it cannot be had, and
    then the list shipped beside the builder (`shipped`, a path). Read once per process, when first needed.
    `members`: the member pattern benchmark.zip is opened with, the train split's own when it reads benchmark.zip
    too (with_eval_files), so its central directory is read once for both."""

    benchmark: Optional[Source]
    shipped: str
    members: Optional[str] = None

    def read(self):
        return eval_articles(self)


def _eval_files():
    """(member suffix, split, reader) of the dev and test files evaluation articles are read from."""
    return [(f"{SPLIT_FOLDERS[split]}/{recipe.member}", split, recipe.reader)
            for split in EVAL_SPLITS for recipe in RECIPES.values()
            if recipe.archive == "benchmark" and split in recipe.splits]


def _eval_files_pattern():
    return "|".join(under_any_folder(rf"{re.escape(suffix)}$") for suffix, _, _ in _eval_files())


def with_eval_files(members, split):
    """A train split's member pattern, with the dev and test files its evaluation articles come from."""
    return f"{members}|{_eval_files_pattern()}" if split == "train" else members


_EVAL_ARTICLES_FORMAT = "scifig eval articles 1"


@functools.lru_cache(maxsize=8)
def eval_articles(where):
    """EvalArticles from benchmark.zip's dev and test files (the captioning and multiple-choice ones, read by range
    and kept in the cache for the next process), or from the shipped list when benchmark.zip cannot be had."""
    if where.benchmark is None:
        found = shipped_eval_articles(where.shipped)
        logger.warning("evaluation articles: benchmark.zip is not among the archives, so they come from %s",
                       found.source)
        return found
    archive = where.benchmark.open(where.members or _eval_files_pattern())
    absent = [suffix for suffix, _, _ in _eval_files() if not any(
        name == suffix or name.endswith("/" + suffix) for name in archive.names())]
    if absent:  # a partial copy, or a train-only mirror: the train split still loads, clean by the shipped list
        found = shipped_eval_articles(where.shipped)
        logger.warning("evaluation articles: %s holds no %s, so they come from %s", archive.label,
                       " or ".join(absent), found.source)
        return found
    members = [(find_member(archive, suffix), split, reader) for suffix, split, reader in _eval_files()]
    source = f"{archive.label}: {', '.join(member for member, _, _ in members)}"
    if not where.benchmark.cache:
        return _read_eval_articles(archive, members, source)
    versions = "|".join(archive.version(member) for member, _, _ in members)
    key = hashlib.sha256(f"{_EVAL_ARTICLES_FORMAT}|{versions}".encode()).hexdigest()
    base = os.path.join(where.benchmark.cache, "eval-articles", key)
    kept, lock = f"{base}.json", f"{base}.build.lock"
    # processes starting at once (a cluster's first workers) read the files once: the others wait for what it keeps
    with one_builder(lock, f"{source}: the evaluation articles"):
        if os.path.exists(kept):
            with io.open(kept, encoding="utf-8") as file:
                saved = json.load(file)
            logger.info("evaluation articles: from %s (kept in %s)", source, kept)
            return EvalArticles(frozenset(saved["validation"]), frozenset(saved["test"]), source)
        found = _read_eval_articles(archive, members, source)
        write_json_atomically(kept, {"validation": sorted(found.validation), "test": sorted(found.test)})
        write_json_atomically(f"{base}.meta.json", {
            "kind": "evaluation articles", "archive": archive.label, "member": "dev and test files",
            "files": [os.path.basename(path) for path in (kept, lock)]})
        return found


def _read_eval_articles(archive, members, source):
    def uids_in(member, reader):
        with archive.open(member) as stream:
            return {record["uid"] for _, _, record in json_records(stream, f"{archive.label}:{member}", reader.lists)
                    if isinstance(record.get("uid"), str)}

    # the files at once: one's transfer and inflation (which release the GIL) overlap another's parse
    with concurrent.futures.ThreadPoolExecutor(len(members)) as pool:
        found = list(pool.map(lambda file: uids_in(file[0], file[2]), members))
    uids = {split: set() for split in EVAL_SPLITS}
    for (_, split, _), ids in zip(members, found):
        uids[split] |= ids
    logger.info("evaluation articles: read from %s", source)
    return EvalArticles(frozenset(uids["validation"]), frozenset(uids["test"]), source)


def released_train_leak(where):
    """How many evaluation articles upstream's train split holds, in words: those with figures in benchmark.zip's
    train images (every train article has its figure_0 there), found without reading the train files."""
    evaluation = where.read()
    if where.benchmark is None:
        return (f"keeps every one of the {len(evaluation.every)} validation and test articles of "
                f"{evaluation.source} that it holds (benchmark.zip is not there to count them)")
    captioning = RECIPES["captioning"]
    archive = where.benchmark.open(captioning.reader.members("train", None))
    listed = find_member(archive, f"{SPLIT_FOLDERS['train']}/{captioning.member}")
    images = listed[: -len(captioning.member)] + "images/"
    leaked = sorted(uid for uid in evaluation.every if archive.has_figure(f"{images}{uid}_figure_0.png"))
    shown = ", ".join(leaked[:5]) + (" ..." if len(leaked) > 5 else "")
    return (f"holds {len(leaked)} of the {len(evaluation.every)} validation and test articles under other subjects "
            f"({shown}: they have figures in its train split)")


def shipped_eval_articles(path=None):
    """EvalArticles from the list shipped with scifig (EVAL_ARTICLES_FILE beside this file, unless `path`)."""
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), EVAL_ARTICLES_FILE)
    try:
        with io.open(path, encoding="utf-8") as file:
            shipped = json.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: without benchmark.zip, exclude_eval_articles reads the "
                                "evaluation articles from it (pass exclude_eval_articles=False to load "
                                "upstream's train as released)") from None
    return EvalArticles(frozenset(shipped["validation"]), frozenset(shipped["test"]),
                        f"the list shipped with scifig ({shipped['source']} at commit {shipped['commit'][:7]})",
                        from_benchmark=False)
