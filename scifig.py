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
hosted MMSci archives (or a local copy, or a mirror).

The file reads top to bottom:
1. what the data is: taxonomy, features, one row function per task and the table of task recipes, the configs;
2. where it lives: archive URLs and how a member is found whatever folder a zip adds;
3. how each source is read: archives (local zip, HTTP zip, unzipped folder), JSON, pickles, figures, and the
   small generator stages rows pass through;
4. the builder, which looks its task's recipe up and composes those stages;
5. the front doors: `builder()` and `load()`, the same call on every `datasets` line.

It must stand alone: `datasets` 3.6 runs it as a loading script, so it imports nothing from the rest of the
project. Archives are never extracted: members are read by byte range.
"""

import array
import base64
import collections
import concurrent.futures
import datetime
import difflib
import functools
import hashlib
import io
import itertools
import json
import os
import pickle
import re
import stat
import struct
import sys
import threading
import time
import warnings
import zlib
from typing import Callable, NamedTuple, Optional

import datasets
import filelock
import ijson
import numpy
import PIL.Image
import requests
import xxhash
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = datasets.logging.get_logger(__name__)


# ========================================================================================= 1. what the data is

CITATION = """\
@inproceedings{li2025mmsci,
  title     = {{MMSci}: A Dataset for Graduate-Level Multi-Discipline Multimodal Scientific Understanding},
  author    = {Li, Zekun and Yang, Xianjun and Choi, Kyuri and Zhu, Wanrong and Hsieh, Ryan and Kim, HyeonJung
               and Lim, Jin Hyuk and Ji, Sungyoung and Lee, Byungju and Yan, Xifeng and Petzold, Linda Ruth
               and Wilson, Stephen D. and Lim, Woosang and Wang, William Yang},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2025},
  note      = {arXiv:2407.04903}
}
"""

DESCRIPTION = """\
MMSci: figures from peer-reviewed Nature Communications articles (72 subjects in 5 categories) that take
graduate-level expertise to read -- schematics, microscopy, experimental plots. Configs: figure captioning
(`captioning`), multiple-choice figure/caption matching (`mcq` and one config per setting), chat-style
conversations about figures (`chat`), the raw article corpus (`articles`), and interleaved article text + figures
for continued pre-training (`pretraining`).
"""

HOMEPAGE = "https://github.com/Leezekun/MMSci"

LICENSE = "cc-by-4.0"

VERSION = datasets.Version("1.0.0")

# The upstream taxonomy (subjects.json), in upstream order. "Ecology" sits under two categories.
TAXONOMY = {
    "Physical sciences": [
        "Materials science", "Chemistry", "Physics", "Nanoscience and technology", "Optics and photonics",
        "Engineering", "Energy science and technology", "Mathematics and computing",
        "Astronomy and planetary science",
    ],
    "Earth and environmental sciences": [
        "Ecology", "Climate sciences", "Solid Earth sciences", "Environmental sciences", "Biogeochemistry",
        "Ocean sciences", "Environmental social sciences", "Natural hazards", "Planetary science", "Hydrology",
        "Limnology", "Space physics",
    ],
    "Biological sciences": [
        "Cell biology", "Biochemistry", "Microbiology", "Neuroscience", "Molecular biology", "Genetics", "Cancer",
        "Immunology", "Biological techniques", "Computational biology and bioinformatics", "Biotechnology",
        "Biophysics", "Structural biology", "Ecology", "Developmental biology", "Evolution", "Plant sciences",
        "Physiology", "Chemical biology", "Systems biology", "Drug discovery", "Stem cells", "Zoology",
        "Psychology",
    ],
    "Health sciences": [
        "Diseases", "Medical research", "Oncology", "Health care", "Pathogenesis", "Biomarkers", "Cardiology",
        "Gastroenterology", "Endocrinology", "Anatomy", "Neurology", "Molecular medicine", "Risk factors",
        "Rheumatology", "Nephrology", "Signs and symptoms", "Urology", "Health occupations",
    ],
    "Scientific community and society": [
        "Social sciences", "Scientific community", "Energy and society", "Agriculture", "Developing world",
        "Water resources", "Geography", "Business and industry", "Forestry",
    ],
}
CATEGORIES = list(TAXONOMY)
SUBJECTS = sorted({subject for subjects in TAXONOMY.values() for subject in subjects})

SETTINGS = ["fig2cap", "subfig2cap", "subcap2fig"]
ANSWER_LETTERS = ["A", "B", "C", "D"]
SPLITS = ["train", "validation", "test"]


def category_name(index):
    """The category a `category` (or `categories`) class label stands for."""
    return CATEGORIES[index]


class ScifigDataError(ValueError):
    """Upstream data scifig cannot turn into rows: the message names archive, member, record and problem."""


# datasets 3.6 runs a copy of this file under another module name; sharing the class with an imported `scifig`
# keeps `except scifig.ScifigDataError` working on that line too.
ScifigDataError = getattr(sys.modules.get("scifig"), "ScifigDataError", ScifigDataError)


class RecordError(Exception):
    """A problem with one record, raised by a row function; the builder adds where the record is and hands it to
    the load's error policy (raise, or log, count and skip)."""


# ---- features: declared once; the card, the export and the tests read them from here ----

def _category_feature():
    return datasets.ClassLabel(names=CATEGORIES)


FEATURES = {
    "captioning": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "figure_id": datasets.Value("string"),
            "image": datasets.Image(),
            "caption": datasets.Value("string"),
            "abstract": datasets.Value("string"),
            "content": datasets.Value("string"),
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
    "mcq": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "figure_id": datasets.Value("string"),
            "image": datasets.Image(),
            "setting": datasets.ClassLabel(names=SETTINGS),
            "question": datasets.Value("string"),
            "options": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.ClassLabel(names=ANSWER_LETTERS),
            "prompt": datasets.Value("string"),
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
    # The layout TRL's SFTTrainer and transformers' chat templates take for vision models (as llava-instruct-mix-vsft).
    # `messages` is a plain list of structs: datasets.Sequence of a dict would mean a dict of lists on every line.
    "chat": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "figure_id": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "messages": [
                {
                    "role": datasets.Value("string"),
                    "content": [
                        {
                            "type": datasets.Value("string"),
                            "text": datasets.Value("string"),
                            "index": datasets.Value("int64"),
                        }
                    ],
                }
            ],
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
    "articles": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "title": datasets.Value("string"),
            "abstract": datasets.Value("string"),
            "published": datasets.Value("date32"),
            "url": datasets.Value("string"),
            "pdf_url": datasets.Value("string"),
            "review_pdf_url": datasets.Value("string"),
            "categories": datasets.Sequence(_category_feature()),
            "subjects": datasets.Sequence(datasets.Value("string")),
            "sections": datasets.Sequence({"title": datasets.Value("string"), "content": datasets.Value("string")}),
            "figures": datasets.Sequence(
                {
                    "number": datasets.Value("int32"),
                    "image": datasets.Image(),
                    "title": datasets.Value("string"),
                    "description": datasets.Value("string"),
                }
            ),
            "references": datasets.Sequence(
                {"number": datasets.Value("int32"), "title": datasets.Value("string"), "url": datasets.Value("string")}
            ),
        }
    ),
    "pretraining": datasets.Features(
        {
            "id": datasets.Value("string"),
            "uid": datasets.Value("string"),
            "url": datasets.Value("string"),
            "texts": datasets.Sequence(datasets.Value("string")),
            "images": datasets.Sequence(datasets.Image()),
            "category": _category_feature(),
            "subject": datasets.Value("string"),
        }
    ),
}


# ---- checks shared by the row functions: each raises RecordError naming the field ----

def _unicode(value, what):
    """A str that is valid Unicode: JSON can spell lone surrogates ("\\ud800"), which no file or table can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(f"{what} is not valid Unicode (it holds a lone surrogate)") from None
    return value


def _text(record, name):
    """A required, non-empty string field."""
    if not isinstance(record, dict):
        raise RecordError(f"expected an object holding {name!r}, found {type(record).__name__}")
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise RecordError(f"field {name!r} is missing or not a non-empty string")
    return _unicode(value, f"field {name!r}")


def _optional_text(record, name, blank_is_none=False):
    """A string field that may be missing (None); with blank_is_none, an empty or blank string is None too."""
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} is a {type(value).__name__}, not a string")
    return None if blank_is_none and not value.strip() else _unicode(value, f"field {name!r}")


def _list_of(record, name, kind, default=None):
    """A list field whose items are all `kind` (str or dict); missing means `default`."""
    value = record.get(name)
    if value is None:
        value = default
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise RecordError(f"field {name!r} is not a list of {'objects' if kind is dict else 'strings'}")
    if kind is str:
        for item in value:
            _unicode(item, f"an item of field {name!r}")
    return value


def _int32(value, what):
    if not -2**31 <= value < 2**31:
        raise RecordError(f"{what} {value} does not fit a 32-bit integer")
    return value


class Filing(NamedTuple):
    """Where a record is filed: what the subjects, categories and exclude_eval_articles filters look at."""

    category: str
    subject: str
    uid: str   # the article


def benchmark_filing(record):
    """A benchmark record's filing, the category checked against the taxonomy."""
    if not isinstance(record, dict):
        raise RecordError(f"is a {type(record).__name__}, not an object")
    category = record.get("category")
    if not isinstance(category, str) or category not in TAXONOMY:
        raise RecordError(f"unknown category {category!r}")
    return Filing(category, _text(record, "subject"), _text(record, "uid"))


def pretraining_filing(document):
    """A pre-training document's filing: '<Category>-<Subject>', and the article its url names."""
    if not isinstance(document, dict):
        raise RecordError(f"is a {type(document).__name__}, not a dict")
    value = document.get("category")
    if isinstance(value, str):
        for category in CATEGORIES:
            if value.startswith(category + "-") and len(value) > len(category) + 1:
                return Filing(category, value[len(category) + 1:], _url_uid(_text(document, "url")))
    raise RecordError(f"field 'category' is {value!r}, not '<Category>-<Subject>' with a known category")


def _url_uid(url):
    """The article id at the end of `https://www.nature.com/articles/<uid>`."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def _figure_id(image):
    base = image.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _digest(*parts):
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:8]


_OPTION_MARK = re.compile(r"\n([A-Z]):[ \t]")


def parse_mcq_prompt(prompt):
    """Splits an upstream question into its stem and the four options, A-D in order.

    Raises ValueError unless the text holds exactly the options A, B, C and D, each on its own line.
    """
    parts = _OPTION_MARK.split(prompt)
    letters = parts[1::2]
    if letters != ANSWER_LETTERS:
        raise ValueError(f"expected options A, B, C, D on their own lines, found {letters or 'none'}")
    stem, options = parts[0].strip(), [option.strip() for option in parts[2::2]]
    if not stem or not all(options):
        raise ValueError("the question stem or an option is empty")
    return stem, options


def mcq_prompt(stem, options):
    """An upstream multiple-choice question from its parts, the inverse of parse_mcq_prompt: the stem, then one
    `\nA: ...` line per option."""
    return stem + "".join(f"\n{letter}: {option}" for letter, option in zip(ANSWER_LETTERS, options))


# ---- row functions: one upstream record (or article) in, its complete rows out ----
#
# Each takes the record and its Origin (where it sits; `origin.figure(name)` reads and checks a figure it names)
# and yields finished rows, image and id included. A problem with the record raises RecordError.

def captioning_rows(record, origin):
    """One row per figure: train records list their figures under `images`, dev/test records hold one."""
    category, subject, uid = benchmark_filing(record)
    abstract, content = _optional_text(record, "abstract"), _optional_text(record, "content")
    figures = record.get("images")
    if figures is None:
        figures = [{"image": record.get("image"), "caption": record.get("caption")}]
    if not isinstance(figures, list):
        raise RecordError("field 'images' is not a list")
    for figure in figures:
        image = _text(figure, "image")
        figure_id = _figure_id(image)
        yield {
            "id": f"{figure_id}-{_digest(category, subject, image)}",
            "uid": uid,
            "figure_id": figure_id,
            "image": origin.figure(image),
            # withheld upstream where it is missing or blank
            "caption": _optional_text(figure, "caption", blank_is_none=True),
            "abstract": abstract,
            "content": content,
            "category": category,
            "subject": subject,
        }


def mcq_rows(record, origin):
    """One row per question; `origin.setting` says which of the file's three lists it came from."""
    category, subject, uid = benchmark_filing(record)
    image, prompt = _text(record, "image"), _text(record, "question")
    try:
        stem, options = parse_mcq_prompt(prompt)
    except ValueError as error:
        raise RecordError(f"question: {error}") from None
    answer = record.get("answer")
    if isinstance(answer, str) and answer in ANSWER_LETTERS:
        answer = ANSWER_LETTERS.index(answer)
    elif origin.split == "test":
        answer = -1  # withheld upstream, whatever stands in for it
    else:
        raise RecordError(f"answer {answer!r} is not one of A-D")
    figure_id = _figure_id(image)
    yield {
        "id": f"{SETTINGS[origin.setting]}-{figure_id}-{_digest(category, subject, image, prompt)}",
        "uid": uid,
        "figure_id": figure_id,
        "image": origin.figure(image),
        "setting": origin.setting,
        "question": stem,
        "options": options,
        "answer": answer,
        "prompt": prompt,
        "category": category,
        "subject": subject,
    }


def circular_rows(row):
    """A multiple-choice row once per rotation of its options (circular evaluation): `<id>-c0` keeps MMSci's
    order, `<id>-c<k>` moves every option k places down (D wrapping to A), the answer moving with its option and
    the prompt rebuilt in MMSci's format. A withheld answer stays withheld."""
    letters = len(ANSWER_LETTERS)
    for k in range(letters):
        options = row["options"][letters - k:] + row["options"][:letters - k]
        yield {**row, "id": f"{row['id']}-c{k}", "options": options,
               "answer": (row["answer"] + k) % letters if row["answer"] >= 0 else -1,
               "prompt": row["prompt"] if k == 0 else mcq_prompt(row["question"], options)}


_CHAT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def chat_rows(record, origin):
    """One conversation about one figure; the first user turn carries the figure."""
    category, subject, uid = benchmark_filing(record)
    image = _text(record, "image")
    conversations = record.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise RecordError("field 'conversations' is missing or not a non-empty list")
    messages = []
    for turn, message in enumerate(conversations):
        if not isinstance(message, dict) or not isinstance(message.get("from"), str) \
                or message["from"] not in _CHAT_ROLES:
            raise RecordError(f"conversations[{turn}] has no 'from' of human or assistant")
        if not isinstance(message.get("value"), str):
            raise RecordError(f"conversations[{turn}] has no text 'value'")
        text = _unicode(message["value"], f"conversations[{turn}] 'value'")
        content = [{"type": "text", "text": text, "index": None}]
        if turn == 0:
            if _CHAT_ROLES[message["from"]] != "user":
                raise RecordError("the conversation does not start with a human turn")
            content.insert(0, {"type": "image", "text": None, "index": 0})
        messages.append({"role": _CHAT_ROLES[message["from"]], "content": content})
    figure_id = _figure_id(image)
    yield {
        "id": f"{figure_id}-{_digest(category, subject, image)}",
        "uid": uid,
        "figure_id": figure_id,
        "images": [origin.figure(image)],
        "messages": messages,
        "category": category,
        "subject": subject,
    }


def pretraining_rows(document, origin):
    """One mmc4 document, its figures (inline base64 JPEGs) placed just before the sentence each was matched to."""
    category, subject, uid = pretraining_filing(document)
    url = document["url"]
    texts = _list_of(document, "text_list", str)
    infos = _list_of(document, "image_info", dict, default=[])
    before = collections.defaultdict(list)  # text index -> the images placed just before it
    for position, info in enumerate(infos):
        at = info.get("matched_text_index")
        if type(at) is not int or not 0 <= at < len(texts):
            raise RecordError(
                f"image_info[{position}] matched_text_index {at!r} is outside text_list (length {len(texts)})"
            )
        name = _optional_text(info, "image_name") or f"image_{position}.jpg"
        encoded = info.get("image_base64")
        try:
            data = base64.b64decode(encoded, validate=True) if isinstance(encoded, (str, bytes)) else b""
        except ValueError as error:
            raise RecordError(f"image_info[{position}] image_base64 is not base64: {error}") from None
        if not data:
            raise RecordError(f"image_info[{position}] has no image_base64")
        problem = figure_problem(data)
        if problem:
            raise RecordError(f"image_info[{position}] ({name}) {problem}")
        before[at].append({"bytes": data, "path": name})
    interleaved_texts, interleaved_images = [], []
    for index, text in enumerate(texts):
        for image in before.get(index, ()):
            interleaved_texts.append(None)
            interleaved_images.append(image)
        interleaved_texts.append(text)
        interleaved_images.append(None)
    yield {
        "id": f"{uid}-{_digest(document['category'], url)}",
        "uid": uid,
        "url": url,
        "texts": interleaved_texts,
        "images": interleaved_images,
        "category": category,
        "subject": subject,
    }


class Article(NamedTuple):
    """One rawdata article: its id and every folder it is filed in, (category, subject, prefix), its row's home
    folder first. Category and subject come from the path only."""

    uid: str
    folders: list


_FIGURE_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.?)\s*(\d+)\s*[:.]\s*(.*)$", re.DOTALL)
_NOT_FOUND = ("", "URL not found")


def _optional_url(record, name):
    """A link field; upstream writes "URL not found" where there is none."""
    value = _optional_text(record, name)
    return None if value is None or value.strip() in _NOT_FOUND else value


def article_rows(article, origin):
    """One row per article: `<uid>_data.json` from its home folder, with every figure it lists."""
    uid = article.uid
    record = origin.json(f"{uid}_data.json")
    if not isinstance(record, dict):
        raise RecordError("the article JSON is not an object")
    published = record.get("published_time")
    try:
        published = datetime.date.fromisoformat(published) if published else None
    except (TypeError, ValueError):
        raise RecordError(f"published_time {published!r} is not YYYY-MM-DD") from None
    sections = _list_of(record, "sections", dict, default=[])
    images = _list_of(record, "images", dict, default=[])
    references = _list_of(record, "references", dict, default=[])
    figures = {"number": [], "image": [], "title": [], "description": []}
    for position, image in enumerate(images):
        filename = _text(image, "image_filename")
        caption = _optional_text(image, "caption") or ""
        match = _FIGURE_CAPTION.match(caption)
        if match:
            number, title = int(match[1]), match[2].strip()
        else:  # figure_<i>.png is 0-based; the printed number is i + 1
            index = re.search(r"(\d+)", filename)
            number, title = (int(index[1]) + 1 if index else position + 1), caption.strip()
        figures["number"].append(_int32(number, f"figure {filename} number"))
        figures["image"].append(filename)
        figures["title"].append(title or None)
        figures["description"].append(_optional_text(image, "description"))
    figures["image"] = origin.figures(figures["image"])
    numbers = []
    for reference in references:
        try:
            numbers.append(_int32(int(reference.get("idx")), "reference idx"))
        except (TypeError, ValueError, OverflowError):
            raise RecordError(f"reference idx {reference.get('idx')!r} is not a number") from None
    yield {
        "id": uid,
        "uid": uid,
        "title": _text(record, "title"),
        "abstract": _optional_text(record, "abstract"),
        "published": published,
        "url": f"https://www.nature.com/articles/{uid}",
        "pdf_url": _optional_url(record, "pdf_link"),
        "review_pdf_url": _optional_url(record, "review_pdf_link"),
        "categories": [category for category, _, _ in article.folders],
        "subjects": [subject for _, subject, _ in article.folders],
        "sections": {"title": [_optional_text(s, "section") for s in sections],
                     "content": [_optional_text(s, "content") for s in sections]},
        "figures": figures,
        "references": {"number": numbers, "title": [_optional_text(r, "title") for r in references],
                       "url": [_optional_url(r, "link") for r in references]},
    }


# ---- the task recipes: what each task reads and how a record becomes rows ----

class Recipe(NamedTuple):
    """Everything task-specific, as data: the builder looks its task's recipe up and branches on nothing else."""

    archive: str        # which hosted archive holds the source (a key of ARCHIVE_URLS)
    splits: tuple       # the splits the task has
    member: str         # the source member inside each split folder, or the members' pattern (see the reader)
    reader: str         # how the source is read and cut into shards: a key of READERS
    row: Callable       # (record, origin) -> the record's complete rows
    filing: Optional[Callable]  # record -> its Filing, checked before any figure is read; None: the reader
                                # filters
    ahead: int          # over HTTP, records built ahead on threads so figure requests overlap (about 32 figures)
    rotated: Optional[Callable] = None  # row -> its rotations, for circular=True; None: the task has none


RECIPES = {
    "captioning": Recipe("benchmark", tuple(SPLITS), "image_caption_generation_data.json", "json", captioning_rows,
                         benchmark_filing, ahead=8),  # a train record holds ~5.6 figures
    "mcq": Recipe("benchmark", tuple(SPLITS), "image_caption_matching_data.json", "json-by-setting", mcq_rows,
                  benchmark_filing, ahead=32, rotated=circular_rows),
    "chat": Recipe("benchmark", ("train",), "image_caption_chat_data.json", "json", chat_rows, benchmark_filing,
                   ahead=32),
    # figures travel inside the pickles: nothing to fetch
    "pretraining": Recipe("pretraindata", ("train",), "shards/**/shard_<i>.pkl", "pickles", pretraining_rows,
                          pretraining_filing, ahead=0),
    # one article's figures are fetched together (Origin.figures); reading other articles ahead would delay the
    # first row by their bytes
    "articles": Recipe("rawdata", ("train",), "<Category>/<Subject>/<uid>/<uid>_data.json", "article-folders",
                       article_rows, filing=None, ahead=0),
}


# ---- the configs ----

class SciFigConfig(datasets.BuilderConfig):
    """BuilderConfig for scifig.

    Args:
        task: a key of RECIPES: "captioning", "mcq", "chat", "pretraining" or "articles".
        settings: for "mcq", the settings kept (names from SETTINGS, a list or one name).
        subjects: keep only these subjects (names from TAXONOMY; "Ecology" matches both of its categories).
        categories: keep only these categories.
        base_url: a mirror serving benchmark.zip, pretraindata.zip and rawdata.zip; ignored when data_dir is set.
        exclude_eval_articles: drop from train splits every article (uid) in the benchmark's validation or test
            split, read from benchmark.zip's dev and test files (by range: the archive is not downloaded).
        circular: for the multiple-choice configs, each question once per rotation of its options (4 rows,
            ids `<id>-c0` ... `<id>-c3`), for circular evaluation.
        train_shards: how many shards the train split of captioning and chat (8 unless given) and of mcq (one per
            setting unless given) is read as: round-robin parts of its records, for ranks and workers to share.
        on_error: "raise" (default) stops at the first bad record; "skip" logs each and counts them per split.
        http_timeout: seconds a read from a server may stall before it is retried (and, after five tries, fails).
    """

    def __init__(self, *, task=None, settings=None, subjects=None, categories=None, base_url=None,
                 exclude_eval_articles=False, circular=False, train_shards=None, on_error="raise", http_timeout=60,
                 **kwargs):
        kwargs.setdefault("version", VERSION)
        super().__init__(**kwargs)
        self.task = task
        self.settings = settings
        self.subjects = subjects
        self.categories = categories
        self.base_url = base_url
        self.exclude_eval_articles = exclude_eval_articles
        self.circular = circular
        self.train_shards = train_shards
        self.on_error = on_error
        self.http_timeout = http_timeout


CONFIGS = [
    SciFigConfig(name="captioning", task="captioning",
                 description="Figure captioning: one row per figure, with the article's abstract and text."),
    SciFigConfig(name="mcq", task="mcq", settings=list(SETTINGS),
                 description="Multiple-choice figure/caption matching, all three settings."),
    SciFigConfig(name="mcq_fig2cap", task="mcq", settings=["fig2cap"],
                 description="Multiple choice: which caption describes the whole figure."),
    SciFigConfig(name="mcq_subfig2cap", task="mcq", settings=["subfig2cap"],
                 description="Multiple choice: which caption describes sub-figure (x); distractors from the "
                             "whole article."),
    SciFigConfig(name="mcq_subcap2fig", task="mcq", settings=["subcap2fig"],
                 description="Multiple choice: which caption describes sub-figure (x); distractors from the "
                             "same figure."),
    SciFigConfig(name="chat", task="chat",
                 description="Multi-turn conversations about a figure's sub-figures (train only), as chat "
                             "messages ready for instruction tuning."),
    SciFigConfig(name="articles", task="articles",
                 description="The whole raw corpus: one row per article, with its sections, figures and "
                             "references, whatever subjects it is filed under."),
    SciFigConfig(name="pretraining", task="pretraining",
                 description="Interleaved article text and figures (OBELICS-style), for continued "
                             "pre-training."),
]
CONFIG_NAMES = [config.name for config in CONFIGS]
DEFAULT_CONFIG = "mcq"


def task_of(config_name):
    """The task (a key of RECIPES and FEATURES) a config name stands for."""
    for config in CONFIGS:
        if config.name == config_name:
            return config.task
    raise ValueError(f"unknown config {config_name!r}; valid configs: {', '.join(CONFIG_NAMES)}")


def is_mcq(config_name):
    """Whether a config is multiple choice (`mcq` or one of its per-setting configs)."""
    return task_of(config_name) == "mcq"


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


class Selection(NamedTuple):
    """What one load keeps and how it cuts it: the mcq settings (in upstream order), where given the subjects and
    categories, the articles its train splits leave out (exclude_eval_articles), and the train shards asked."""

    settings: tuple
    subjects: Optional[frozenset]
    categories: Optional[frozenset]
    excluded: frozenset = frozenset()
    train_shards: Optional[int] = None  # how the train split is cut into shards, where it is one file

    @classmethod
    def of(cls, config):
        """The config's choices, checked: an unknown name is a ValueError listing the valid ones."""
        settings = _validated_names("settings", config.settings, SETTINGS) or frozenset(SETTINGS)
        shards = config.train_shards
        if shards is not None and (isinstance(shards, bool) or not isinstance(shards, int) or shards < 1):
            raise ValueError(f"train_shards must be a positive integer, not {shards!r}")
        return cls(tuple(setting for setting in SETTINGS if setting in settings),
                   _validated_names("subjects", config.subjects, SUBJECTS),
                   _validated_names("categories", config.categories, CATEGORIES), train_shards=shards)

    @property
    def filtered(self):
        return self.subjects is not None or self.categories is not None

    def filters(self, split):
        return self.filtered or bool(self.excluded and split == "train")

    def keeps(self, category, subject):
        return (self.categories is None or category in self.categories) and (
            self.subjects is None or subject in self.subjects)

    def keeps_article(self, uid, split):
        return split != "train" or uid not in self.excluded


def _validated_names(kind, given, valid):
    if given is None:
        return None
    names = [given] if isinstance(given, str) else list(given)
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}; valid {kind}: {', '.join(valid)}")
    return frozenset(names)


# ========================================================================================== 2. where it lives

ARCHIVE_URLS = {
    "benchmark": "https://mmsci.s3.amazonaws.com/benchmark.zip",
    "pretraindata": "https://mmsci.s3.amazonaws.com/pretraindata.zip",
    "rawdata": "https://mmsci.s3.amazonaws.com/rawdata.zip",
}

# Hub split name -> the upstream folder inside benchmark.zip.
SPLIT_FOLDERS = {"train": "train", "validation": "dev", "test": "test"}


def is_url(location):
    return location.startswith(("http://", "https://"))


def archive_location(archive, config, dl_manager, download=True):
    """data_dir (zip or unzipped folder) first, then base_url, then the hosted URL (downloaded into the datasets
    cache for a prepared load, unless download=False: then read by range, as when streaming)."""
    if config.data_dir:
        data_dir = os.path.abspath(os.path.expanduser(config.data_dir))
        for candidate in (f"{data_dir}{os.sep}{archive}", f"{data_dir}{os.sep}{archive}.zip"):
            if os.path.exists(candidate):
                return candidate
        raise FileNotFoundError(f"data_dir {data_dir} holds neither {archive}.zip nor an unzipped {archive}/ folder")
    url = f"{config.base_url.rstrip('/')}/{archive}.zip" if config.base_url else ARCHIVE_URLS[archive]
    if dl_manager.is_streaming or not download:
        return url  # read member by member with Range requests
    return dl_manager.download(url)  # cached and checksummed, then read in place


def archive_label(location, archive):
    """How errors name an archive: the file or URL, and the archive's own name when it is a download cache."""
    return location if location.rstrip("/").split("/")[-1].startswith(archive) else f"{archive}.zip ({location})"


def find_member(archive, suffix):
    """The member whose name is `suffix` under whatever top-level folder the archive adds."""
    matches = sorted((name for name in archive.names() if name == suffix or name.endswith("/" + suffix)), key=len)
    if not matches:
        raise ScifigDataError(f"{archive.label}: no member ends in {suffix}")
    return matches[0]


# ================================================================================== 3. how each source is read

# ---- byte sources: a local file, or an HTTP URL read by Range requests ----

def _checked_range(label, size, start, length):
    if start < 0 or length < 0 or start + length > size:
        raise ScifigDataError(
            f"{label}: wanted bytes {start}-{start + length - 1} but the archive is {size} bytes; "
            "the archive is truncated or its directory is corrupt"
        )


class _LocalBytes:
    """A local file read with pread, so prefetch threads never share a file position."""

    def __init__(self, path):
        self.label = path
        self._file = io.open(path, "rb")
        status = os.fstat(self._file.fileno())
        self.size = status.st_size
        self.version = f"{os.path.abspath(path)}|{status.st_size}|{status.st_mtime_ns}"  # what identifies this copy

    def read(self, start, length):
        _checked_range(self.label, self.size, start, length)
        return os.pread(self._file.fileno(), length, start)


_HTTP_CONNECT_TIMEOUT = 10  # seconds; the read timeout is the config's http_timeout (60 by default)
_HTTP_ATTEMPTS = 5


class _HttpBytes:
    """An archive on an HTTP server, read only by byte range."""

    def __init__(self, url, timeout=60):
        self.label = url
        self._url = url
        # A stalled server fails a read after `timeout` seconds instead of hanging it; reads are retried.
        self._timeout = (_HTTP_CONNECT_TIMEOUT, timeout)
        self._local = threading.local()
        try:
            response = self._session().head(url, allow_redirects=True, timeout=self._timeout)
            response.raise_for_status()
        except requests.RequestException as error:
            raise ScifigDataError(f"{url}: cannot open the archive: {error}") from error
        try:
            self.size = int(response.headers["Content-Length"])
        except (KeyError, ValueError):
            raise ScifigDataError(f"{url}: the server sent no Content-Length, so the zip cannot be read by range")
        headers = response.headers
        self.version = f"{url}|{self.size}|{headers.get('ETag', '')}|{headers.get('Last-Modified', '')}"

    def _session(self):
        # requests sessions are not thread-safe: one per prefetch thread.
        session = getattr(self._local, "session", None)
        if session is None:
            # urllib3 retries refused connections and 429/5xx answers with backoff; a body that stalls or drops
            # (read=0 here) is resumed by read() itself from the byte where it stopped.
            retry = Retry(
                total=_HTTP_ATTEMPTS, read=0, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=("GET", "HEAD"), raise_on_status=True,
            )
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            self._local.session = session
        return session

    def read(self, start, length):
        _checked_range(self.label, self.size, start, length)
        if length == 0:
            return b""
        last = start + length - 1
        parts, got = [], 0
        for attempt in range(_HTTP_ATTEMPTS):
            begin = start + got
            headers = {"Range": f"bytes={begin}-{last}", "Accept-Encoding": "identity"}
            try:
                with self._session().get(self._url, headers=headers, stream=True, timeout=self._timeout) as r:
                    r.raise_for_status()
                    if r.status_code != 206:
                        raise ScifigDataError(
                            f"{self.label}: the server does not honour Range requests (asked for bytes "
                            f"{begin}-{last}, got HTTP {r.status_code}); scifig reads archives by "
                            "range and will not download a whole archive to read one member"
                        )
                    for chunk in r.iter_content(chunk_size=1 << 20):
                        parts.append(chunk)
                        got += len(chunk)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                # A dropped or stalled body: keep what arrived and ask for the rest, after a pause.
                if attempt == _HTTP_ATTEMPTS - 1:
                    raise ScifigDataError(
                        f"{self.label}: bytes {start}-{last} could not be read after {_HTTP_ATTEMPTS} attempts: "
                        f"{error}"
                    ) from error
                logger.warning("%s: retrying a range read after %s", self.label, error)
                time.sleep(min(8.0, 0.25 * 2 ** attempt))
                continue
            except requests.RequestException as error:  # an HTTP error status, after urllib3's own retries
                raise ScifigDataError(f"{self.label}: bytes {start}-{last}: {error}") from error
            if got >= length:
                break
        data = b"".join(parts)
        if len(data) != length:
            raise ScifigDataError(f"{self.label}: asked for {length} bytes at {start}, the server sent {len(data)}")
        return data


# ---- archives: one interface over a zip (local or HTTP) and an unzipped folder ----
#
#   label            how errors name the archive
#   remote           whether reads go over the network (then figures are fetched ahead on threads)
#   names()          the members other than figures (JSON, pickles, text), where layouts are discovered
#   name in archive  whether a member (figures included) is there
#   read(name)       a member's bytes, verified against the zip's stored checksum
#   open(name)       a member as a stream, verified as it is read; memory stays flat however large it is
#   version(name)    what identifies a member's content, for what is kept in the cache about it

_FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_figure(name):
    return name.lower().endswith(_FIGURE_SUFFIXES)


_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 20

# (local header offset, compression method, compressed size, uncompressed size, crc32, extra field length in the
# central directory: the local header's is usually the same, so one request reads header and data)
_Member = collections.namedtuple("_Member", "offset method csize size crc extra")


class _Stored:
    eof = True

    def decompress(self, data):
        return data


def _decompressor(label, name, method):
    if method == _STORED:
        return _Stored()
    if method == _DEFLATED:
        return zlib.decompressobj(-15)
    raise ScifigDataError(f"{label}: member {name} uses unsupported compression method {method}")


def _check_member(label, name, member, size, crc):
    """A member's bytes against its central directory entry (crc None: the content carries its own checks)."""
    if size != member.size or (crc is not None and crc != member.crc):
        raise ScifigDataError(f"{label}: member {name} is corrupt (size or CRC-32 mismatch)")


class ZipArchive:
    """The members of one zip that `keep(name)` selects, read by range from a local file or a URL.

    With `index_dir`, the member index is kept there for the next process, DataLoader worker or epoch that opens
    the same version of the archive (`index_key` says which members it holds): they read it instead of the
    central directory, which for MMSci's archives is tens of MB. A version is the file's path, size and
    modification time, or the URL's size, ETag and Last-Modified; the archive's last KiB is compared as well.
    """

    def __init__(self, location, keep, label=None, timeout=60, index_dir=None, index_key=""):
        self._bytes = _HttpBytes(location, timeout) if is_url(location) else _LocalBytes(location)
        self.label = label or location
        self.remote = is_url(location)
        self.from_index = False
        size = self._bytes.size
        if size < _EOCD.size:
            raise ScifigDataError(f"{self.label}: {size} bytes is too small to be a zip archive")
        tail = self._bytes.read(size - min(size, 1024), min(size, 1024))
        index = None
        if index_dir:
            digest = hashlib.sha256(f"{_INDEX_FORMAT}|{self._bytes.version}|{index_key}".encode()).hexdigest()
            index = os.path.join(index_dir, f"{digest}.npz")
            self._members = _MemberTable.load(index, tail)
            self.from_index = self._members is not None
        if not self.from_index:
            self._members = self._read_central_directory(keep, tail)
            if index:
                self._members.save(index, tail)

    def _read_central_directory(self, keep, tail):
        size = self._bytes.size
        # The end record is the last 22 bytes unless the archive has a comment (up to 64 KiB): look there last.
        for tail_len in (len(tail), min(size, _EOCD.size + 0xFFFF + _EOCD64_LOCATOR.size)):
            if tail_len > len(tail):
                tail = self._bytes.read(size - tail_len, tail_len)
            at = tail.rfind(b"PK\x05\x06")
            if at >= 0 and at + _EOCD.size <= len(tail):
                break
        else:
            raise ScifigDataError(
                f"{self.label}: no end-of-central-directory record; the archive is truncated or not a zip"
            )
        _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
        locator_at = at - _EOCD64_LOCATOR.size
        if locator_at >= 0 and tail[locator_at:locator_at + 4] == b"PK\x06\x07":
            _, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack_from(tail, locator_at)
            if eocd64_offset + _EOCD64.size > size:
                raise ScifigDataError(f"{self.label}: broken zip64 end-of-central-directory record")
            record = self._bytes.read(eocd64_offset, _EOCD64.size)
            if record[:4] != b"PK\x06\x06":
                raise ScifigDataError(f"{self.label}: broken zip64 end-of-central-directory record")
            _, _, _, _, _, _, _, count, cd_size, cd_offset = _EOCD64.unpack(record)
        if cd_offset + cd_size > size:
            raise ScifigDataError(
                f"{self.label}: the central directory ends at byte {cd_offset + cd_size} past the archive's "
                f"{size} bytes; the archive is truncated"
            )
        members = _MemberTable()
        entries = _CentralDirectory(self._bytes, self.label, cd_offset, cd_size)
        for index in range(count):
            header = _CENTRAL.unpack(entries.take(_CENTRAL.size))
            if header[0] != b"PK\x01\x02":
                raise ScifigDataError(f"{self.label}: central directory entry {index} is corrupt")
            flags, method, crc, csize, usize = header[5], header[6], header[9], header[10], header[11]
            name_len, extra_len, comment_len, offset = header[12], header[13], header[14], header[18]
            raw_name, extra = entries.take(name_len), entries.take(extra_len)
            entries.take(comment_len)
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
            if name.endswith("/") or not keep(name):
                continue
            if 0xFFFFFFFF in (csize, usize, offset):
                usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
            if flags & 0x1:
                raise ScifigDataError(f"{self.label}: member {name} is encrypted")
            if offset + _LOCAL.size + csize > size:
                raise ScifigDataError(
                    f"{self.label}: member {name} ends past the archive's {size} bytes; the archive is truncated "
                    "or its central directory is corrupt"
                )
            members.add(name, _Member(offset, method, csize, usize, crc, extra_len))
        if not entries.exhausted():
            raise ScifigDataError(
                f"{self.label}: the central directory holds more than the {count} entries its end record counts; "
                "the archive is damaged"
            )
        members.freeze()
        return members

    def names(self):
        return iter(self._members)

    def __contains__(self, name):
        return name in self._members

    def _data_start(self, name, member, head):
        """Where a member's data begins, after its local header (whose own name is checked)."""
        if head[:4] != b"PK\x03\x04":
            raise ScifigDataError(f"{self.label}: member {name} has no local header at byte {member.offset}")
        fields = _LOCAL.unpack_from(head)
        stored = head[_LOCAL.size:_LOCAL.size + fields[10]]
        if len(stored) == fields[10] and stored.decode("utf-8" if fields[3] & 0x800 else "cp437", "replace") != name:
            raise ScifigDataError(
                f"{self.label}: the local header at byte {member.offset} names {stored!r}, not {name}")
        return member.offset + _LOCAL.size + fields[10] + fields[11]

    def read(self, name):
        """A member's bytes, in one range request where possible.

        PNG figures skip the zip's CRC-32: every figure scifig reads goes through figure_problem, whose PNG
        verify() checks each chunk's own CRC-32 over the same bytes (the zip's check is ~1% of streaming time).
        """
        member = self._members[name]
        guess = _LOCAL.size + len(name.encode("utf-8")) + member.extra
        blob = self._bytes.read(member.offset, min(guess + member.csize, self._bytes.size - member.offset))
        data_start = self._data_start(name, member, blob) - member.offset
        if data_start + member.csize > len(blob):
            blob += self._bytes.read(member.offset + len(blob), data_start + member.csize - len(blob))
        raw = blob[data_start: data_start + member.csize]
        try:
            data = _decompressor(self.label, name, member.method).decompress(raw)
        except zlib.error as error:
            raise ScifigDataError(f"{self.label}: member {name} is corrupt: {error}") from error
        _check_member(self.label, name, member, len(data),
                      None if name.lower().endswith(".png") else zlib.crc32(data))
        return data

    def version(self, name):
        member = self._members[name]
        return f"{self._bytes.version}|{name}|{member.size}|{member.crc}"

    def open(self, name):
        member = self._members[name]
        head = self._bytes.read(member.offset, min(_LOCAL.size + len(name.encode("utf-8")),
                                                   self._bytes.size - member.offset))
        start = self._data_start(name, member, head)
        return io.BufferedReader(_MemberStream(self, name, member, start), buffer_size=_CHUNK)


_INDEX_FORMAT = "scifig member index 1"


def _name_hash(name):
    """A member name's 64-bit hash, the same in every process (Python's own hash() is salted per process)."""
    value = xxhash.xxh64_intdigest(name.encode("utf-8"))
    return value - (1 << 64) if value >= 1 << 63 else value


class _MemberTable:
    """Zip members by name, in ~40 bytes each for figures: a split can need hundreds of thousands of them.

    Figures are kept only as (hash of name, extent) in sorted numpy columns; other members (JSON, pickles) also
    by name, so they can be listed. The local header's own name is checked on every read, so a hash collision is
    caught, not served. Saved and loaded as plain numpy arrays (no pickle), to be shared between processes.
    """

    _COLUMNS = (("offset", "q"), ("method", "H"), ("csize", "q"), ("size", "q"), ("crc", "L"), ("extra", "H"))

    def __init__(self):
        self._listed = {}
        self._hashes = array.array("q")
        self._columns = {field: array.array(code) for field, code in self._COLUMNS}

    def add(self, name, member):
        if not is_figure(name):
            self._listed[name] = member
            return
        self._hashes.append(_name_hash(name))
        for field, _ in self._COLUMNS:
            self._columns[field].append(getattr(member, field))

    def freeze(self):
        hashes = numpy.frombuffer(self._hashes, dtype=numpy.int64) if len(self._hashes) else numpy.empty(0, "int64")
        order = numpy.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._columns = {field: numpy.frombuffer(column, dtype=column.typecode)[order] if len(column) else
                         numpy.empty(0) for field, column in self._columns.items()}

    def _position(self, name):
        key = _name_hash(name)
        at = int(numpy.searchsorted(self._hashes, key))
        return at if at < len(self._hashes) and self._hashes[at] == key else None

    def __contains__(self, name):
        return name in self._listed or self._position(name) is not None

    def __getitem__(self, name):
        if name in self._listed:
            return self._listed[name]
        at = self._position(name)
        if at is None:
            raise KeyError(name)
        return _Member(*(int(self._columns[field][at]) for field, _ in self._COLUMNS))

    def __iter__(self):
        """The listed (non-figure) member names."""
        return iter(self._listed)

    def save(self, path, tail):
        """Writes the table for other processes: to a temporary name, then renamed, so that a reader never sees a
        file half written and concurrent first readers do not corrupt it."""
        listed = json.dumps([[name, list(member)] for name, member in self._listed.items()]).encode("utf-8")
        columns = {f"column_{field}": self._columns[field] for field, _ in self._COLUMNS}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{os.getpid()}.{threading.get_ident()}.partial"
        try:
            with io.open(partial, "wb") as file:
                numpy.savez(file, hashes=self._hashes, listed=numpy.frombuffer(listed, dtype=numpy.uint8),
                            tail=numpy.frombuffer(tail, dtype=numpy.uint8), **columns)
            os.replace(partial, path)
        except OSError as error:  # a read-only or full cache costs the next process a directory read, nothing more
            logger.warning("could not keep the member index at %s: %s", path, error)
            if os.path.exists(partial):
                os.remove(partial)

    @classmethod
    def load(cls, path, tail):
        """The table saved at `path` for an archive ending in `tail`, or None (absent, another version, damaged)."""
        try:
            with numpy.load(path, allow_pickle=False) as saved:
                if saved["tail"].tobytes() != tail:
                    return None
                table = cls()
                table._listed = {name: _Member(*fields) for name, fields in json.loads(saved["listed"].tobytes())}
                table._hashes = saved["hashes"]
                table._columns = {field: saved[f"column_{field}"] for field, _ in cls._COLUMNS}
                return table
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - a damaged index is read again from the archive
            logger.warning("ignoring the member index at %s: %s", path, error)
            return None


class _CentralDirectory:
    """The central directory, fetched a chunk at a time: memory stays flat for millions of members."""

    def __init__(self, source, label, offset, size):
        self._source, self._label = source, label
        self._next, self._end = offset, offset + size
        self._buffer, self._position = b"", 0

    def take(self, length):
        while len(self._buffer) - self._position < length:
            if self._next >= self._end:
                raise ScifigDataError(f"{self._label}: the central directory is shorter than its entry count says")
            chunk = min(_CHUNK, self._end - self._next)
            self._buffer = self._buffer[self._position:] + self._source.read(self._next, chunk)
            self._position, self._next = 0, self._next + chunk
        piece = self._buffer[self._position:self._position + length]
        self._position += length
        return piece

    def exhausted(self):
        return self._next >= self._end and self._position == len(self._buffer)


def _zip64_sizes(extra, usize, csize, offset):
    """The real sizes and offset from a zip64 extra field, for those the central directory marks 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, at)
        if tag == 0x0001:
            body = extra[at + 4: at + 4 + length]
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return usize, csize, offset


class _MemberStream(io.RawIOBase):
    """Reads one zip member's compressed extent in chunks, inflating and CRC-checking as it goes."""

    def __init__(self, archive, name, member, data_start):
        self._archive, self._name, self._member = archive, name, member
        self._position, self._end = data_start, data_start + member.csize
        self._inflater = _decompressor(archive.label, name, member.method)
        self._pending, self._crc, self._produced = b"", 0, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        label = self._archive.label
        while not self._pending and self._position < self._end:
            length = min(_CHUNK, self._end - self._position)
            raw = self._archive._bytes.read(self._position, length)
            self._position += length
            try:
                self._pending = self._inflater.decompress(raw)
            except zlib.error as error:
                raise ScifigDataError(f"{label}: member {self._name} is corrupt: {error}") from error
            self._crc = zlib.crc32(self._pending, self._crc)
            self._produced += len(self._pending)
        if not self._pending:
            if not self._inflater.eof and self._member.csize:
                raise ScifigDataError(f"{label}: member {self._name} ends mid-stream")
            _check_member(label, self._name, self._member, self._produced, self._crc)
            return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class FolderArchive:
    """An archive already unzipped: the same interface as ZipArchive over plain files (which store no checksum)."""

    remote = False

    def __init__(self, root, keep, label=None):
        self.label = label or root
        self._paths = {}
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            relative = folder[len(root):].strip(os.sep).replace(os.sep, "/")
            for file in sorted(files):
                name = f"{relative}/{file}" if relative else file
                if keep(name):
                    self._paths[name] = f"{folder}{os.sep}{file}"

    def names(self):
        return (name for name in self._paths if not is_figure(name))

    def __contains__(self, name):
        return name in self._paths

    def read(self, name):
        with io.open(self._paths[name], "rb") as file:
            return file.read()

    def open(self, name):
        return io.open(self._paths[name], "rb")

    def version(self, name):
        status = os.stat(self._paths[name])
        return f"{os.path.abspath(self._paths[name])}|{status.st_size}|{status.st_mtime_ns}"


_CACHE = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cached(key, make, keep=8):
    """One small per-process cache for what every shard of a split would otherwise redo: indexed archives (one
    central-directory read each) and where each article is filed."""
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = make()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > keep:
            _CACHE.popitem(last=False)
    return value


def open_archive(location, members, label=None, timeout=60, cache=None):
    """A zip (local or URL) or unzipped folder, indexed for the member names matching the regex `members`. With
    `cache` (a folder), a zip's index and the records of its big JSON members are kept there for the processes
    that read the same archive next."""
    def make():
        wanted = re.compile(members).search
        # os.stat, not os.path.isdir: datasets swaps os.path.* for URL-aware versions in this module when streaming.
        if not is_url(location) and stat.S_ISDIR(os.stat(location).st_mode):
            archive = FolderArchive(location, lambda name: wanted(name) is not None, label)
        else:
            archive = ZipArchive(location, lambda name: wanted(name) is not None, label, timeout,
                                 os.path.join(cache, "member-index") if cache else None, members)
        archive.key = (location, members, timeout)
        archive.records = os.path.join(cache, "records") if cache else None
        return archive

    # A local file rewritten since is indexed again; a URL's version is checked when an index is kept on disk.
    status = None if is_url(location) else os.stat(location)
    changed = (status.st_size, status.st_mtime_ns) if status else None
    return _cached(("archive", location, members, timeout, changed), make)


class Source(NamedTuple):
    """One archive of a load, wherever it is (local zip or folder, URL), opened per member pattern on demand."""

    archive: str    # its name, a key of ARCHIVE_URLS
    location: str
    timeout: float
    cache: Optional[str] = None  # where member indexes (and parsed records) are kept across processes

    def open(self, members):
        return open_archive(self.location, members, archive_label(self.location, self.archive), self.timeout,
                            self.cache)


# ---- records: JSON, pickles, article folders ----

def json_records(stream, label, nested, wanted=None):
    """Yields (outer index or -1, index, record) from a JSON list of objects (or, nested, of lists of objects).

    Parsed incrementally with ijson: memory stays flat however large the file. Records for which
    `wanted(outer, index)` is false are stepped over without being built.
    """
    outer_path, item_path = ("item", "item.item") if nested else (None, "item")
    outer, index, builder, skipping, expect = -1, -1, None, False, "start"
    try:
        for prefix, event, value in ijson.parse(stream, use_float=True):
            if skipping:
                skipping = not (prefix == item_path and event == "end_map")
                continue
            if builder is not None:
                builder.event(event, value)
                if prefix == item_path and event == "end_map":
                    yield outer, index, builder.value
                    builder = None
                continue
            if expect == "start":
                if prefix != "" or event != "start_array":
                    shape = "lists" if nested else "objects"
                    raise ScifigDataError(f"{label}: expected a JSON list of {shape} at the top, found {event}")
                expect = "items"
            elif nested and prefix == outer_path:
                if event == "start_array":
                    outer, index = outer + 1, -1
                elif event != "end_array":
                    raise ScifigDataError(
                        f"{label}: expected a list of {len(SETTINGS)} lists (one per setting); item {outer + 1} "
                        f"is a {_json_kind(event)}"
                    )
            elif prefix == item_path:
                index += 1
                if event != "start_map":
                    raise ScifigDataError(
                        f"{label}: record {index}{_in_setting(nested, outer)} is a {_json_kind(event)}, not an object"
                    )
                if wanted is not None and not wanted(outer, index):
                    skipping = True
                    continue
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
    except GeneratorExit:  # closed early (a consumer stopped): nothing to report, even at interpreter exit
        raise
    except ijson.JSONError as error:
        raise ScifigDataError(
            f"{label}: malformed JSON after record {index}{_in_setting(nested, outer)}: {error}"
        ) from error
    except UnicodeDecodeError as error:
        raise ScifigDataError(f"{label}: not UTF-8 after record {index}: {error}") from error
    if nested and outer + 1 != len(SETTINGS):
        raise ScifigDataError(
            f"{label}: expected a list of {len(SETTINGS)} lists (one per setting), found {outer + 1}")


def _json_kind(event):
    return {"start_map": "object", "start_array": "list"}.get(event, event)


def _in_setting(nested, outer):
    return f" of setting {outer} ({SETTINGS[outer]})" if nested and 0 <= outer < len(SETTINGS) else ""


class _PlainDataUnpickler(pickle.Unpickler):
    """Admits lists, dicts, strings, numbers and None; anything that names a callable is refused unrun."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is allowed")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: only plain data is allowed")


def load_plain_pickle(data, label):
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except Exception as error:  # noqa: BLE001 - whatever a damaged pickle makes the unpickler raise is a data error
        raise ScifigDataError(f"{label}: not a readable pickle of plain data: {error!r}") from error


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: no data, so always these 12 bytes


def figure_problem(data):
    """Why these bytes cannot be a figure (unreadable, corrupt, or a decompression bomb), or None.

    Checked once while reading, so a bad figure is named with its member and record instead of failing later
    inside PIL (in a training loop), far from where it came from. A PNG is checked without decoding its pixels:
    verify() checks every chunk's CRC-32 but the last, IEND, whose bytes are fixed and compared here, so every
    byte of the file is covered. Formats without checksums (the pre-training JPEGs) are decoded (at 1/8 scale).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)  # checked just below, by name
            with PIL.Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > PIL.Image.MAX_IMAGE_PIXELS:
                    return (f"is {width}x{height} pixels, over the {PIL.Image.MAX_IMAGE_PIXELS} a figure may decode "
                            "to (a decompression bomb)")
                if image.format != "PNG":
                    # JPEG has no checksums: decode it, at 1/8 scale (libjpeg still reads every block, so the same
                    # damage shows as at full size, at ~60% of the cost)
                    image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
                    image.load()
                    return None
                image.verify()
    except PIL.Image.DecompressionBombError as error:
        return f"would decompress to a huge image: {error}"
    except Exception as error:  # noqa: BLE001 - whatever PIL raises on damaged bytes means they are not a figure
        return f"is not a readable image: {error!r}"
    if not data.endswith(_PNG_END):
        return "is not a readable image: its PNG end chunk is damaged or followed by other bytes"
    return None


class Origin(NamedTuple):
    """Where one upstream record sits, as errors name it, and the archive folder its figures are named in."""

    archive: object       # the archive the record was read from
    member: str           # the member holding it
    index: int            # its position in that member (or shard)
    key: str              # how it names itself: "uid 'ncomms1'", "url '...'"
    split: str = "train"
    setting: int = -1     # mcq: which of the member's three lists
    folder: str = ""      # the folder the names it holds (figures, files) are relative to

    def __str__(self):
        setting = f" of setting {SETTINGS[self.setting]}" if self.setting >= 0 else ""
        return f"{self.archive.label}:{self.member}: record {self.index}{setting} ({self.key})"

    def error(self, problem):
        return ScifigDataError(f"{self}: {problem}")

    def figure(self, name):
        """A figure the record names, as {bytes, path}, checked to be a readable image."""
        member = self.folder + name
        if member not in self.archive:
            raise RecordError(f"figure {member} is not in the archive")
        data = self.archive.read(member)
        problem = figure_problem(data)
        if problem:
            raise RecordError(f"figure {member} {problem}")
        return {"bytes": data, "path": name}

    def figures(self, names):
        """Several figures at once: over HTTP, fetched together on threads."""
        if not self.archive.remote or len(names) < 2:
            return [self.figure(name) for name in names]
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(names), _THREADS)) as pool:
            return list(pool.map(self.figure, names))

    def json(self, name):
        """A JSON file the record names, parsed."""
        member = self.folder + name
        if member not in self.archive:
            raise RecordError(f"{member} is not in the archive")
        try:
            return json.loads(self.archive.read(member).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise RecordError(f"{member} is not valid UTF-8 JSON: {error}") from None


class Shard(NamedTuple):
    """One unit of work for a process or DataLoader worker, in the order rows come out."""

    member: str         # the member it reads (for articles, the subject folder "<Category>/<Subject>")
    setting: int = -1   # mcq: which of the member's three lists
    part: int = 0       # the records whose index % parts == part
    parts: int = 1


def _uid_key(record):
    return f"uid {record.get('uid')!r}"


_RECORDS_FORMAT = "scifig records 1"


class RecordStore:
    """A big JSON member's records, parsed once per machine into the cache: each record's JSON, compressed, and
    an index of where each starts and which list (mcq setting) and place it has. The first reader builds it while
    the others wait on a file lock, so however many parts, DataLoader workers and epochs read the member, it is
    read and parsed once; each then reads only its own records, in the member's order."""

    def __init__(self, archive, member, label, nested):
        key = hashlib.sha256(f"{_RECORDS_FORMAT}|{archive.version(member)}|{nested}".encode()).hexdigest()
        self._data = os.path.join(archive.records, f"{key}.records")
        index = os.path.join(archive.records, f"{key}.index.npz")
        if not os.path.exists(index):
            os.makedirs(archive.records, exist_ok=True)
            with filelock.FileLock(index + ".lock"):
                if not os.path.exists(index):
                    self._build(archive, member, label, nested, index)
        with numpy.load(index, allow_pickle=False) as saved:
            self._offsets, self._outer, self._position = saved["offsets"], saved["outer"], saved["position"]

    def _build(self, archive, member, label, nested, index):
        offsets, outer, position = array.array("q", [0]), array.array("b"), array.array("q")
        partial = f"{self._data}.{os.getpid()}.partial"
        try:
            with archive.open(member) as stream, io.open(partial, "wb") as out:
                for setting, at, record in json_records(stream, label, nested):
                    blob = zlib.compress(json.dumps(record).encode("ascii"), 1)
                    out.write(blob)
                    offsets.append(offsets[-1] + len(blob))
                    outer.append(setting)
                    position.append(at)
            os.replace(partial, self._data)
            with io.open(partial, "wb") as out:
                numpy.savez(out, offsets=numpy.frombuffer(offsets, "int64"), outer=numpy.frombuffer(outer, "int8"),
                            position=numpy.frombuffer(position, "int64") if position else numpy.empty(0, "int64"))
            os.replace(partial, index)  # last: its presence says the store is whole
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    def records(self, shard):
        """(outer, index, record) of the shard's records, in the member's order."""
        chosen = numpy.nonzero((self._outer == shard.setting) & (self._position % shard.parts == shard.part))[0]
        with io.open(self._data, "rb") as data:
            for at in chosen:
                data.seek(int(self._offsets[at]))
                blob = data.read(int(self._offsets[at + 1] - self._offsets[at]))
                yield int(self._outer[at]), int(self._position[at]), json.loads(zlib.decompress(blob))


class JsonReader:
    """A benchmark task's JSON, one member per split folder: a list of records, or (by setting) a list of one
    list per mcq setting. The train JSON of captioning and chat (and of mcq, when train_shards asks) is read as
    round-robin parts of its records so processes and workers have shards to spread; a member read in several
    parts is parsed once per machine into a RecordStore, each part then reading only its own records and their
    figures."""

    TRAIN_PARTS = 8

    def __init__(self, by_setting):
        self.by_setting = by_setting

    def members(self, recipe, split, selection):
        folder = SPLIT_FOLDERS[split]
        return rf"(^|/){folder}/({re.escape(recipe.member)}$|images/[^/]+$)"

    def shards(self, source, recipe, split, selection):
        member = f"{SPLIT_FOLDERS[split]}/{recipe.member}"  # found in the archive when read
        asked = selection.train_shards if split == "train" else None
        if self.by_setting:
            parts = -(-asked // len(selection.settings)) if asked else 1
            return [Shard(member, SETTINGS.index(setting), part, parts)
                    for setting in selection.settings for part in range(parts)]
        parts = (asked or self.TRAIN_PARTS) if split == "train" else 1
        return [Shard(member, -1, part, parts) for part in range(parts)]

    def records(self, archive, shard, split, selection):
        member = find_member(archive, shard.member)
        folder = member[: -len(shard.member.rsplit("/", 1)[1])] + "images/"
        label = f"{archive.label}:{member}"
        if shard.parts > 1 and archive.records:  # every part would parse the member: parse it once instead
            found = RecordStore(archive, member, label, self.by_setting).records(shard)
        else:
            found = self._parsed(archive, member, label, shard)
        for setting, index, record in found:
            yield record, Origin(archive, member, index, _uid_key(record), split, setting, folder)

    def _parsed(self, archive, member, label, shard):
        def wanted(setting, index):
            return setting == shard.setting and index % shard.parts == shard.part

        with archive.open(member) as stream:
            yield from json_records(stream, label, self.by_setting, wanted)


class PickleReader:
    """pretraindata's `shards/**/shard_<i>.pkl` (a pickled list of documents, through the plain-data unpickler),
    each with its `.count` file; one shard per pickle."""

    MEMBERS = r"(^|/)shards/(.+/)?shard_[^/]+\.(pkl|count)$"

    def members(self, recipe, split, selection):
        return self.MEMBERS

    def shards(self, source, recipe, split, selection):
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
        documents = load_plain_pickle(archive.read(shard.member), label)
        if not isinstance(documents, list):
            raise ScifigDataError(f"{label}: expected a pickled list of documents, found {type(documents).__name__}")
        count_member = shard.member[: -len(".pkl")] + ".count"
        if count_member in archive:
            count = archive.read(count_member).decode("ascii", "replace").strip()
            if count != str(len(documents)):
                raise ScifigDataError(f"{label}: holds {len(documents)} documents but {count_member} says {count}")
        for index, document in enumerate(documents):
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

    def members(self, recipe, split, selection):
        """Every article's `<uid>_data.json` (to know all the folders an article sits in), and the figures of the
        folders the selection keeps: other folders' figures are never listed, let alone read."""
        categories = "|".join(re.escape(c) for c in CATEGORIES)
        kept = "|".join(f"{re.escape(c)}/{re.escape(s)}" for c, subjects in TAXONOMY.items() for s in subjects
                        if selection.keeps(c, s))
        figure_folders = f"(?:{categories})/[^/]+" if not selection.filtered else kept or "(?!)"
        return (rf"(^|/)(?:{categories})/[^/]+/([^/]+)/\2_data\.json$"
                rf"|(^|/)(?:{figure_folders})/[^/]+/[^/]+\.png$")

    def placement(self, archive, selection, split="train"):
        """{uid: [(category, subject, prefix), ...]} for every article some kept folder holds: its kept folders
        first (the first is its home), then the rest, each group in taxonomy order."""
        def place():
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

        return _cached(("placement", archive.key, selection.subjects, selection.categories, selection.excluded,
                        split), place)

    def shards(self, source, recipe, split, selection):
        archive = source.open(self.members(recipe, split, selection))
        homes = {folders[0][:2] for folders in self.placement(archive, selection, split).values()}
        if not homes:
            raise ScifigDataError(f"{archive.label}: no <Category>/<Subject>/<uid>/<uid>_data.json members")
        return [Shard(f"{category}/{subject}") for category, subject in sorted(homes, key=_folder_order)]

    def records(self, archive, shard, split, selection):
        placement = self.placement(archive, selection, split)
        home = tuple(shard.member.split("/", 1))
        uids = sorted(uid for uid, folders in placement.items() if folders[0][:2] == home)
        for index, uid in enumerate(uids):
            folders = placement[uid]
            folder = f"{folders[0][2]}{shard.member}/{uid}/"
            yield Article(uid, folders), Origin(archive, f"{folder}{uid}_data.json", index, f"uid {uid!r}", split,
                                                folder=folder)


READERS = {
    "json": JsonReader(by_setting=False),
    "json-by-setting": JsonReader(by_setting=True),
    "pickles": PickleReader(),
    "article-folders": ArticleReader(),
}


def eval_uids(benchmark):
    """The articles (uid) of the benchmark's validation and test splits, from the captioning and multiple-choice
    files of MMSci's dev and test folders: what exclude_eval_articles leaves out of train splits."""
    def read():
        files = [(f"{SPLIT_FOLDERS[split]}/{recipe.member}", READERS[recipe.reader])
                 for split in ("validation", "test") for recipe in RECIPES.values()
                 if recipe.archive == "benchmark" and split in recipe.splits]
        archive = benchmark.open("|".join(rf"(^|/){re.escape(suffix)}$" for suffix, _ in files))
        uids = set()
        for suffix, reader in files:
            member = find_member(archive, suffix)
            with archive.open(member) as stream:
                for _, _, record in json_records(stream, f"{archive.label}:{member}", reader.by_setting):
                    if isinstance(record.get("uid"), str):
                        uids.add(record["uid"])
        return frozenset(uids)

    return _cached(("eval uids", benchmark), read)


# ---- the stages rows pass through, and the error policies ----

class RaiseOnError:
    """on_error="raise": the first bad record stops the load."""

    skipped = 0

    def __call__(self, error):
        raise error


class SkipAndCount:
    """on_error="skip": each bad record is logged and counted, and the load goes on."""

    def __init__(self):
        self.skipped = 0

    def __call__(self, error):
        self.skipped += 1
        logger.warning("skipped: %s", error)


ERROR_POLICIES = {"raise": RaiseOnError, "skip": SkipAndCount}


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


_THREADS = 8


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
        results = _ahead(records, build, ahead)
    for (record, origin), result in results:
        try:
            rows = result()
        except RecordError as error:
            on_error(origin.error(error))
            continue
        yield from rows


def _ahead(items, function, depth):
    """(item, result getter) in order, `function(item)` running `depth` items ahead on _THREADS threads."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=_THREADS)
    try:
        window = collections.deque()
        for item in items:
            window.append((item, pool.submit(function, item)))
            if len(window) > depth:
                ready, future = window.popleft()
                yield ready, future.result
        while window:
            ready, future = window.popleft()
            yield ready, future.result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def unique_ids(rows, repeats):
    """Rows with unique ids: an exact upstream repeat keeps a stable id with `-2`, `-3` appended; each repeat is
    counted in repeats[0]."""
    seen = set()
    for row in rows:
        if row["id"] in seen:
            repeats[0] += 1
            base, n = row["id"], 2
            while f"{base}-{n}" in seen:
                n += 1
            row["id"] = f"{base}-{n}"
        seen.add(row["id"])
        yield row


# ============================================================================================ 4. the builder

class SciFig(datasets.GeneratorBasedBuilder):
    """MMSci scientific figures: captioning, multiple choice, chat, raw articles and interleaved pre-training."""

    BUILDER_CONFIG_CLASS = SciFigConfig
    BUILDER_CONFIGS = CONFIGS
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    VERSION = VERSION
    # Rows per Arrow write when preparing: each row carries figures of 100-500 KB, and datasets' default for image
    # datasets (100 rows) costs ~90 MB more peak memory in a prepare for no measurable speed.
    DEFAULT_WRITER_BATCH_SIZE = 20

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        if config.data_dir or self._selection.filtered or config.exclude_eval_articles:
            info.splits, info.download_checksums = None, None
            info.download_size = info.dataset_size = info.size_in_bytes = None

    def _info(self):
        recorded = _recorded_info(self.config.name)
        return datasets.DatasetInfo(
            description=DESCRIPTION + "\n" + (self.config.description or ""),
            features=FEATURES[self.config.task],
            homepage=HOMEPAGE,
            license=LICENSE,
            citation=CITATION,
            splits=datasets.SplitDict.from_split_dict(recorded["splits"]) if recorded.get("splits") else None,
            download_checksums=recorded.get("download_checksums"),
            download_size=recorded.get("download_size"),
            dataset_size=recorded.get("dataset_size"),
        )

    def _split_generators(self, dl_manager):
        recipe = RECIPES[self.config.task]
        source = Source(recipe.archive, archive_location(recipe.archive, self.config, dl_manager),
                        self.config.http_timeout, self._scifig_cache())
        reader = READERS[recipe.reader]
        selection = self._selection
        if self.config.exclude_eval_articles:
            benchmark = Source("benchmark", archive_location("benchmark", self.config, dl_manager, download=False),
                               self.config.http_timeout, self._scifig_cache())
            selection = selection._replace(excluded=eval_uids(benchmark))
        # Shards in a fixed order: rows come in the same order however many processes or workers share them.
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={
                "source": source, "split": split, "selection": selection,
                "shards": reader.shards(source, recipe, split, selection),
            })
            for split in recipe.splits
        ]

    def _scifig_cache(self):
        """scifig's own folder in the datasets cache this load uses."""
        return os.path.join(str(getattr(self, "_cache_dir_root", None) or datasets.config.HF_DATASETS_CACHE), "scifig")

    def _generate_examples(self, source, split, selection, shards):
        recipe = RECIPES[self.config.task]
        reader = READERS[recipe.reader]
        archive = source.open(reader.members(recipe, split, selection))
        on_error, repeats = ERROR_POLICIES[self.config.on_error](), [0]
        rows = itertools.chain.from_iterable(
            built(kept(reader.records(archive, shard, split, selection), recipe.filing, selection, split, on_error),
                  recipe.row, on_error, ahead=recipe.ahead if archive.remote else 0)
            for shard in shards
        )
        rows = unique_ids(rows, repeats)
        if self.config.circular:
            rows = (rotation for row in rows for rotation in recipe.rotated(row))
        for row in rows:
            yield row["id"], row
        if repeats[0]:
            logger.warning("%s %s: %d duplicate upstream records kept under suffixed ids", self.config.task, split,
                           repeats[0])
        if on_error.skipped:
            logger.warning("%s %s: skipped %d bad records (on_error='skip')", self.config.task, split,
                           on_error.skipped)


def _recorded_info(config_name):
    """What dataset_infos.json beside this file measured on the hosted archives for one config, if anything.

    datasets 3.6 merges that file into a script's builder itself; current lines do not, so the builder reads it.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset_infos.json")
    try:
        with io.open(path, encoding="utf-8") as file:
            return json.load(file).get(config_name, {})
    except FileNotFoundError:
        return {}


# ======================================================================================== 5. the front doors

def _code_hash():
    with io.open(__file__, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def builder(name, data_dir=None, cache_dir=None, **config_kwargs):
    """The SciFig builder for one config, as `load` drives it on datasets >= 4 (and as tools prepare it).

    Its cache is keyed by this file's code hash, so an edited script never reuses a stale prepared dataset.
    """
    return SciFig(config_name=name, data_dir=data_dir, hash=_code_hash(), dataset_name="scifig", cache_dir=cache_dir,
                  **config_kwargs)


def load(name, split=None, streaming=False, data_dir=None, **config_kwargs):
    """What `load_dataset("scifig", name, ...)` returns, on every datasets line.

    On datasets < 4 it runs this file as a loading script; on >= 4, where scripts are gone, it drives the builder
    directly. `cache_dir`, `num_proc` and `verification_mode` are passed on; other keywords configure the builder
    (settings, subjects, categories, base_url, on_error, http_timeout); a keyword given as None is left at its
    default. A config or split name that does not exist is a ValueError before anything is read. Bad data raises
    ScifigDataError whether streaming or not (datasets wraps errors raised while preparing in its own
    DatasetGenerationError; `load` raises the ScifigDataError behind it, with datasets' error as its cause).
    """
    check_split(name, split)
    config_kwargs = {key: value for key, value in config_kwargs.items() if value is not None}
    load_kwargs = {key: config_kwargs.pop(key) for key in ("cache_dir", "num_proc", "verification_mode")
                   if key in config_kwargs}
    with _scifig_errors_unwrapped():
        if int(datasets.__version__.split(".")[0]) < 4:
            return datasets.load_dataset(
                __file__, name, split=split, streaming=streaming, data_dir=data_dir, trust_remote_code=True,
                **load_kwargs, **config_kwargs,
            )
        builder_ = builder(name, data_dir, load_kwargs.pop("cache_dir", None), **config_kwargs)
        if streaming:
            return builder_.as_streaming_dataset(split=split)
        # datasets >= 4 records download checksums only when this is set (3.6 did it for "all_checks" itself);
        # without it a changed upstream archive would pass verification unnoticed.
        builder_._record_checksums = str(load_kwargs.get("verification_mode")) in ("all_checks",
                                                                                 "VerificationMode.ALL_CHECKS")
        builder_.download_and_prepare(**load_kwargs)
        return builder_.as_dataset(split=split)


_REMOTE_SCIFIG_ERROR = re.compile(r"^(?:[\w.]+\.)?ScifigDataError: (.+)$", re.MULTILINE)


class _scifig_errors_unwrapped:
    """Re-raises the ScifigDataError behind a datasets wrapper (DatasetGenerationError), chained to it.

    With num_proc, a worker's error reaches this process only as the text of its traceback (multiprocess's
    RemoteTraceback): the ScifigDataError is raised again from that text, with the same message.
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, ScifigDataError):
            return False
        cause, seen = error.__cause__ or error.__context__, set()
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, ScifigDataError):
                raise ScifigDataError(str(cause)) from error
            remote = _REMOTE_SCIFIG_ERROR.search(str(getattr(cause, "tb", "")))
            if remote:
                raise ScifigDataError(remote[1]) from error
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        return False
