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
3. how each source is read: MMSci's benchmark JSON, pre-training pickles and article folders, cut into shards,
   and the small generator stages rows pass through;
4. the builder, which looks its task's recipe up and composes those stages;
5. the front doors: `builder()` and `load()`, the same call on every `datasets` line.

The machinery that knows nothing of MMSci (byte sources over a file or HTTP ranges, the zip reader, the unzipped
folder, JSON streaming, the plain-data unpickler, figure checks, record stores, read-ahead) is its sibling
scifig_io.py, which datasets 3.6 copies beside it when it runs this file as a loading script (as wmt14's script
and wmt_utils.py). Nothing else of the project is imported. Archives are never extracted: members are read by
byte range.
"""

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
import re
from typing import Callable, NamedTuple, Optional

import datasets

# datasets 3.6 runs this file as a module of a package it builds, beside a copy of scifig_io.py, and finds that
# sibling only by a relative import written at column 0 (get_imports in datasets/utils/py_utils.py). Imported as a
# top-level module instead (from a clone; the wheel installs a regular package), the module makes itself the package
# its sibling is found in (a module with a __path__ is a package; PEP 366's __package__), so the same import reads
# the same file, as `scifig.scifig_io`.
if not __package__:
    __path__ = [os.path.dirname(os.path.abspath(__file__))]
    __package__ = __name__

from .scifig_io import (
    THREADS,
    ListOfLists,
    RecordStore,
    ScifigDataError,
    SeenIds,
    figure_problem,
    find_member,
    json_records,
    load_plain_pickle,
    one_builder,
    open_archive,
    read_ahead,
    under_any_folder,
    write_json_atomically,
)

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
    # The MMSci authors' fine-tuning mixture, in the chat layout; `task` says which benchmark file a row comes from.
    "sft": datasets.Features(
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
            "task": datasets.ClassLabel(names=["chat", "captioning", *SETTINGS]),
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
            "eval_splits": datasets.Sequence(datasets.Value("string")),
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
# Each takes the record and its Origin (where it sits; `origin.read_figure(name)` reads and checks a figure it names)
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
            "image": origin.read_figure(image),
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
        "image": origin.read_figure(image),
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
        "images": [origin.read_figure(image)],
        "messages": messages,
        "category": category,
        "subject": subject,
    }


# ---- the SFT mixture: the MMSci authors' fine-tuning data, rebuilt from the benchmark's train files ----
#
# As mmsci-data/scripts/process_llava_sft.py (Leezekun/MMSci, commit f9be52c) builds it: every chat conversation;
# one captioning conversation per train figure, its user turn one of conversation.py's detailed-caption templates
# filled with "Article" and the abstract; and every multiple-choice question of the three settings (at most 2
# fig2cap questions per article, the first in file order), answered "<letter>: <option text>".

# conversation.py's Conversation.detailed_caption_templates, verbatim (upstream picks one at random per figure;
# scifig picks by the row's id, so a row always gets the same one)
CAPTION_TEMPLATES = [
    "Can you describe the entire figure including all sub-figures based on the article content?\n{}: {}",
    "Detail the entire figure including all sub-figures as per the article content.\n{}: {}",
    "What content is shown in the whole figure including all sub-figures?\n{}: {}",
    "What is depicted in the figure including all sub-figures according to the article?\n{}: {}",
    "Describe all elements in the figure including all sub-figures from the article.\n{}: {}",
    "Summarize the entire figure including all sub-figures based on the article.\n{}: {}",
    "Detail the information in the figure including all sub-figures using the article.\n{}: {}",
    "Describe the whole figure including all sub-figures from the article content.\n{}: {}",
    "Explain everything in the figure including all sub-figures as per the article.\n{}: {}",
    "What do the figure and all sub-figures illustrate according to the article?\n{}: {}",
    "Summarize the contents of the figure including all sub-figures based on the article.\n{}: {}",
    "What are the main points of the figure including all sub-figures from the article?\n{}: {}",
    "What is the summary of the figure including all sub-figures from the article?\n{}: {}",
    "Provide an in-depth summary of the figure including all sub-figures using the article.\n{}: {}",
    "What information is conveyed by the figure including all sub-figures as per the article?\n{}: {}",
    "Give an outline of the figure including all sub-figures based on the article.\n{}: {}",
    "What do the figure and all sub-figures represent according to the article?\n{}: {}",
    "What are the key details in the figure including all sub-figures from the article?\n{}: {}",
    "Summarize the figure including all sub-figures as per the article.\n{}: {}",
    "What is the primary message of the figure including all sub-figures from the article?\n{}: {}",
    "Explain the figure including all sub-figures in detail using the article.\n{}: {}",
    "What message do the figure and all sub-figures communicate based on the article?\n{}: {}",
    "What is the figure and all sub-figures' subject matter from the article?\n{}: {}",
    "Summarize the main aspects of the figure including all sub-figures using the article.\n{}: {}",
    "What do the figure and all sub-figures reveal as described in the article?\n{}: {}",
    "What is the complete summary of the figure including all sub-figures from the article?\n{}: {}",
    "Give an overall description of the figure including all sub-figures using the article.\n{}: {}",
]


def _turns(image, question, reply):
    """A one-question conversation about one figure, in the chat layout."""
    return [{"role": "user", "content": [{"type": "image", "text": None, "index": 0},
                                         {"type": "text", "text": question, "index": None}]},
            {"role": "assistant", "content": [{"type": "text", "text": reply, "index": None}]}]


def _sft_row(row, task, messages):
    return {"id": f"{task}-{row['id']}" if task in ("chat", "captioning") else row["id"], "uid": row["uid"],
            "figure_id": row["figure_id"], "images": row.get("images") or [row["image"]], "messages": messages,
            "task": task, "category": row["category"], "subject": row["subject"]}


def sft_chat(record, origin):
    for row in chat_rows(record, origin):
        yield _sft_row(row, "chat", row["messages"])


def sft_captioning(record, origin):
    """One conversation per figure with a caption (a figure without one has nothing to teach)."""
    for row in captioning_rows(record, origin):
        if row["caption"] is None:
            continue
        template = CAPTION_TEMPLATES[int(_digest(row["id"]), 16) % len(CAPTION_TEMPLATES)]
        question = template.format("Article", row["abstract"] or "")
        yield _sft_row(row, "captioning", _turns(row["image"], question, row["caption"]))


def sft_mcq(record, origin):
    for row in mcq_rows(record, origin):
        letter = ANSWER_LETTERS[row["answer"]]
        yield _sft_row(row, SETTINGS[row["setting"]],
                       _turns(row["image"], row["prompt"], f"{letter}: {row['options'][row['answer']]}"))


class SftPart(NamedTuple):
    """One part of the mixture: which benchmark task's train file it reads (and which mcq list), how a record
    becomes its conversations, and upstream's cap on rows per article (in file order), if any."""

    task: str                   # the `task` its rows carry
    source: str                 # the benchmark task (a key of RECIPES) whose train file it reads
    setting: int                # mcq: which list of the file; -1: a plain list
    rows: Callable              # (record, origin) -> rows
    per_article: Optional[int] = None


SFT_PARTS = [
    SftPart("chat", "chat", -1, sft_chat),
    SftPart("captioning", "captioning", -1, sft_captioning),
    SftPart("fig2cap", "mcq", 0, sft_mcq, per_article=2),
    SftPart("subfig2cap", "mcq", 1, sft_mcq),
    SftPart("subcap2fig", "mcq", 2, sft_mcq),
]


def sft_part(origin):
    """The part a record read for the mixture belongs to, from the member and list it was read from."""
    for part in SFT_PARTS:
        if origin.member.endswith("/" + RECIPES[part.source].member) and origin.setting == part.setting:
            return part
    raise ScifigDataError(f"{origin}: not a member of the SFT mixture")


def sft_rows(record, origin):
    """The mixture's rows of one record: its part's conversations."""
    yield from sft_part(origin).rows(record, origin)


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
    """One rawdata article: its id, every folder it is filed in, (category, subject, prefix), its row's home
    folder first (category and subject come from the path only), and the evaluation splits it is in."""

    uid: str
    folders: list
    eval_splits: list


_FIGURE_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.?)\s*(\d+)\s*[:.]\s*(.*)$", re.DOTALL)
_NOT_FOUND = ("", "URL not found")


def _optional_url(record, name):
    """A link field; upstream writes "URL not found" where there is none."""
    value = _optional_text(record, name)
    return None if value is None or value.strip() in _NOT_FOUND else value


def article_rows(article, origin):
    """One row per article: `<uid>_data.json` from its home folder, with every figure it lists."""
    uid = article.uid
    record = origin.read_json(f"{uid}_data.json")
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
    figures["image"] = origin.read_figures(figures["image"])
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
        "eval_splits": article.eval_splits,
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
                         benchmark_filing, ahead=4),  # a train record holds ~5.6 figures: 22 for 8 threads
    "mcq": Recipe("benchmark", tuple(SPLITS), "image_caption_matching_data.json", "json-by-setting", mcq_rows,
                  benchmark_filing, ahead=32, rotated=circular_rows),
    "chat": Recipe("benchmark", ("train",), "image_caption_chat_data.json", "json", chat_rows, benchmark_filing,
                   ahead=32),
    # the member is the mixture's: the reader reads each part's train file (SFT_PARTS)
    "sft": Recipe("benchmark", ("train",), "<the SFT parts' train files>", "sft-mixture", sft_rows, benchmark_filing,
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
        exclude_eval_articles: drop from the train split every article (uid) of the benchmark's validation or test
            split (True by default on every config that trains: MMSci files an article under several subjects
            and picks evaluation articles per subject, so most are train articles too under another). False
            gives upstream's train as released and warns how many evaluation articles it holds. The articles are
            read from benchmark.zip's dev and test files (by range), or, where benchmark.zip cannot be had, from
            the list shipped with scifig (EVAL_ARTICLES_FILE).
        circular: for the multiple-choice configs, each question once per rotation of its options (4 rows,
            ids `<id>-c0` ... `<id>-c3`), for circular evaluation.
        train_shards: how many shards the train split of captioning and chat (8 unless given) and of mcq (one per
            setting unless given) is read as: round-robin parts of its records, for ranks and workers to share.
        on_error: "raise" (default) stops at the first bad record; "skip" logs each and counts them per split.
        http_timeout: seconds a read from a server may stall before it is retried (and, after five tries, fails).
    """

    def __init__(self, *, task=None, settings=None, subjects=None, categories=None, base_url=None,
                 exclude_eval_articles=True, circular=False, train_shards=None, on_error="raise", http_timeout=60,
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
    SciFigConfig(name="sft", task="sft",
                 description="The MMSci authors' fine-tuning mixture (train only): every chat conversation, a "
                             "captioning conversation per figure and the multiple-choice questions, as chat "
                             "messages."),
    # the whole corpus: evaluation articles are kept, and marked (`eval_splits`)
    SciFigConfig(name="articles", task="articles", exclude_eval_articles=False,
                 description="The whole raw corpus: one row per article, with its sections, figures and "
                             "references, whatever subjects it is filed under."),
    SciFigConfig(name="pretraining", task="pretraining",
                 description="Interleaved article text and figures (OBELICS-style), for continued "
                             "pre-training."),
]
CONFIG_NAMES = [config.name for config in CONFIGS]
DEFAULT_CONFIG = "mcq"
_PREDEFINED = {config.name: config for config in CONFIGS}


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
    categories, where the evaluation articles are read and whether the train split leaves them out
    (exclude_eval_articles), and the train shards asked."""

    settings: tuple
    subjects: Optional[frozenset]
    categories: Optional[frozenset]
    evaluation: Optional["EvalArticlesSource"] = None
    exclude: bool = False
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


# ========================================================================================== 2. where it lives

ARCHIVE_URLS = {
    "benchmark": "https://mmsci.s3.amazonaws.com/benchmark.zip",
    "pretraindata": "https://mmsci.s3.amazonaws.com/pretraindata.zip",
    "rawdata": "https://mmsci.s3.amazonaws.com/rawdata.zip",
}

# Hub split name -> the upstream folder inside benchmark.zip.
SPLIT_FOLDERS = {"train": "train", "validation": "dev", "test": "test"}
EVAL_SPLITS = ("validation", "test")

# Beside this file: the evaluation articles of upstream's split files (mmsci-data/rawdata/{dev,test}_split_ids.json),
# with their source and commit, written by `python -m scifig_tools eval-articles`. Where benchmark.zip cannot be
# had (a data_dir holding only pretraindata.zip or rawdata.zip), exclude_eval_articles reads them from here.
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
    url = f"{config.base_url.rstrip('/')}/{archive}.zip" if config.base_url else ARCHIVE_URLS[archive]
    if dl_manager.is_streaming or not download:
        return url  # read member by member with Range requests
    return dl_manager.download(url)  # cached and checksummed, then read in place


def archive_label(location, archive):
    """How errors name an archive: the file or URL, and the archive's own name when it is a download cache."""
    return location if location.rstrip("/").split("/")[-1].startswith(archive) else f"{archive}.zip ({location})"


# ================================================================================== 3. how each source is read
#
# The machinery (byte sources, archives, JSON streaming, pickles, figure checks, record stores, read-ahead) is in
# scifig_io.py, which knows nothing of MMSci. Here: MMSci's archives, how each task's source is cut into shards and
# read record by record, and the stages rows pass through.

class Source(NamedTuple):
    """One archive of a load, wherever it is (local zip or folder, URL), opened per member pattern on demand."""

    archive: str    # its name, a key of ARCHIVE_URLS
    location: str
    timeout: float
    cache: Optional[str] = None  # where member indexes (and parsed records) are kept across processes

    def open(self, members):
        return open_archive(self.location, members, archive_label(self.location, self.archive), self.timeout,
                            self.cache)


# ---- MMSci's sources: benchmark JSON, pre-training pickles, article folders ----

class Origin(NamedTuple):
    """Where one upstream record sits, as errors name it; it reads the figures and files the record names, which
    are relative to `folder`."""

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
    """One unit of work for a process or DataLoader worker, in the order rows come out."""

    member: str         # the member it reads (for articles, the subject folder "<Category>/<Subject>")
    setting: int = -1   # mcq: which of the member's three lists
    part: int = 0       # the records whose index % parts == part
    parts: int = 1


def _uid_key(record):
    return f"uid {record.get('uid')!r}"


# The multiple-choice file: a list of one list of records per setting.
BY_SETTING = ListOfLists("setting", tuple(SETTINGS))


class JsonReader:
    """A benchmark task's JSON, one member per split folder: a list of records, or (by setting) a list of one
    list per mcq setting. The train JSON of captioning and chat (and of mcq, when train_shards asks) is read as
    round-robin parts of its records so processes and workers have shards to spread; a member read in several
    parts is parsed once per machine into a RecordStore, each part then reading only its own records and their
    figures."""

    TRAIN_PARTS = 8

    def __init__(self, lists=None):
        self.lists = lists  # None: a plain list of records; BY_SETTING: one list per mcq setting

    def members(self, recipe, split, selection):
        folder = SPLIT_FOLDERS[split]
        return with_eval_files(under_any_folder(rf"{folder}/({re.escape(recipe.member)}$|images/[^/]+$)"), split)

    def shards(self, source, recipe, split, selection):
        member = f"{SPLIT_FOLDERS[split]}/{recipe.member}"  # found in the archive when read
        asked = selection.train_shards if split == "train" else None
        if self.lists:
            parts = -(-asked // len(selection.settings)) if asked else 1
            return [Shard(member, SETTINGS.index(setting), part, parts)
                    for setting in selection.settings for part in range(parts)]
        parts = (asked or self.TRAIN_PARTS) if split == "train" else 1
        return [Shard(member, -1, part, parts) for part in range(parts)]

    def read_shard(self, archive, shard, split, selection):
        """(record, origin) of every record of the shard, in the member's order."""
        member = find_member(archive, shard.member)
        folder = member[: -len(shard.member.rsplit("/", 1)[1])] + "images/"
        label = f"{archive.label}:{member}"
        if shard.parts > 1 and archive.store_dir:  # every part would parse the member: parse it once instead
            found = RecordStore(archive, member, label, self.lists).read(shard.setting, shard.part, shard.parts)
        else:
            found = self._parsed(archive, member, label, shard)
        for setting, index, record in found:
            yield record, Origin(archive, member, index, _uid_key(record), split, setting, folder)

    def _parsed(self, archive, member, label, shard):
        def wanted(setting, index):
            return setting == shard.setting and index % shard.parts == shard.part

        with archive.open(member) as stream:
            yield from json_records(stream, label, self.lists, wanted)


class PickleReader:
    """pretraindata's `shards/**/shard_<i>.pkl` (a pickled list of documents, through the plain-data unpickler),
    each with its `.count` file; one shard per pickle."""

    MEMBERS = under_any_folder(r"shards/(.+/)?shard_[^/]+\.(pkl|count)$")

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

    def read_shard(self, archive, shard, split, selection):
        """(document, origin) of every document of the pickle, in order."""
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


class MixtureReader:
    """The SFT mixture: each part's train file read in turn (SFT_PARTS), each cut as its own config's train split
    is, except fig2cap, read whole in one shard so upstream's per-article cap runs over the file in order."""

    TRAIN_PARTS = JsonReader.TRAIN_PARTS

    def members(self, recipe, split, selection):
        files = "|".join(sorted({re.escape(RECIPES[part.source].member) for part in SFT_PARTS}))
        return with_eval_files(under_any_folder(rf"{SPLIT_FOLDERS[split]}/({files}|images/[^/]+)$"), split)

    def shards(self, source, recipe, split, selection):
        shards = []
        for part in SFT_PARTS:
            member = f"{SPLIT_FOLDERS[split]}/{RECIPES[part.source].member}"
            parts = 1 if part.per_article else (selection.train_shards or (
                self.TRAIN_PARTS if part.setting < 0 else 1))
            shards += [Shard(member, part.setting, index, parts) for index in range(parts)]
        return shards

    def read_shard(self, archive, shard, split, selection):
        reader = READERS["json-by-setting" if shard.setting >= 0 else "json"]
        records = reader.read_shard(archive, shard, split, selection)
        cap = next(part.per_article for part in SFT_PARTS if part.setting == shard.setting
                   and shard.member.endswith(RECIPES[part.source].member))
        if cap is None:
            yield from records
            return
        asked = collections.Counter()
        for record, origin in records:
            uid = record.get("uid") if isinstance(record, dict) else None
            if isinstance(uid, str) and asked[uid] >= cap:
                continue
            asked[uid] += 1
            yield record, origin


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

    def shards(self, source, recipe, split, selection):
        archive = source.open(self.members(recipe, split, selection))
        homes = {folders[0][:2] for folders in self.placement(archive, selection, split).values()}
        if not homes:
            raise ScifigDataError(f"{archive.label}: no <Category>/<Subject>/<uid>/<uid>_data.json members")
        return [Shard(f"{category}/{subject}") for category, subject in sorted(homes, key=_folder_order)]

    def read_shard(self, archive, shard, split, selection):
        """(article, origin) of every article whose home is the shard's folder, by uid."""
        placement = self.placement(archive, selection, split)
        home = tuple(shard.member.split("/", 1))
        uids = sorted(uid for uid, folders in placement.items() if folders[0][:2] == home)
        evaluation = selection.evaluation.read()
        for index, uid in enumerate(uids):
            folders = placement[uid]
            folder = f"{folders[0][2]}{shard.member}/{uid}/"
            origin = Origin(archive, f"{folder}{uid}_data.json", index, f"uid {uid!r}", split, folder=folder)
            yield Article(uid, folders, evaluation.splits_of(uid)), origin


READERS = {
    "json": JsonReader(),
    "json-by-setting": JsonReader(BY_SETTING),
    "sft-mixture": MixtureReader(),
    "pickles": PickleReader(),
    "article-folders": ArticleReader(),
}


# ---- the evaluation articles: what exclude_eval_articles leaves out of train, and `articles` marks ----

class EvalArticles(NamedTuple):
    """The articles (uid) of the benchmark's validation and test splits, and where they were read."""

    validation: frozenset
    test: frozenset
    source: str

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

    benchmark: Optional["Source"]
    shipped: str
    members: Optional[str] = None

    def read(self):
        return eval_articles(self)


def _eval_files():
    """(member suffix, split, reader) of the dev and test files evaluation articles are read from."""
    return [(f"{SPLIT_FOLDERS[split]}/{recipe.member}", split, READERS[recipe.reader])
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
    files = _eval_files()
    archive = where.benchmark.open(where.members or _eval_files_pattern())
    members = [(find_member(archive, suffix), split, reader) for suffix, split, reader in files]
    source = f"{archive.label}: {', '.join(member for member, _, _ in members)}"
    versions = "|".join(archive.version(member) for member, _, _ in members)
    if not where.benchmark.cache:
        return _read_eval_articles(archive, members, source)
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
    archive = where.benchmark.open(READERS[captioning.reader].members(captioning, "train", None))
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
                        f"the list shipped with scifig ({shipped['source']} at commit {shipped['commit'][:7]})")


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
    counted in repeats[0]."""
    seen = SeenIds()
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

# scifig reads its archives itself (by byte range, local or HTTP): datasets' streaming mode would swap this module's
# open and os.path.* for URL-aware wrappers it never needs, and importing what those patches name (scipy.io, when
# installed) costs each process 0.1 s before its first row. datasets skips a module already marked as patched.
_patched_for_streaming = True


class SciFig(datasets.GeneratorBasedBuilder):
    """MMSci scientific figures: captioning, multiple choice, chat, raw articles and interleaved pre-training."""

    BUILDER_CONFIG_CLASS = SciFigConfig
    BUILDER_CONFIGS = CONFIGS
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    VERSION = VERSION
    # Rows per Arrow write when preparing: each row carries figures of 100-500 KB, and datasets' default for image
    # datasets (100 rows) costs ~90 MB more peak memory in a prepare for no measurable speed.
    DEFAULT_WRITER_BATCH_SIZE = 20

    def __init__(self, *args, cache_dir=None, **kwargs):
        super().__init__(*args, cache_dir=cache_dir, **kwargs)
        # scifig's own folder in the cache this load uses: member indexes and record stores, kept across processes
        root = os.path.expanduser(str(cache_dir or datasets.config.HF_DATASETS_CACHE))
        self._scifig_cache = os.path.join(root, "scifig")
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
        return bool(self.config.exclude_eval_articles) != _PREDEFINED[self.config.name].exclude_eval_articles

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

    def _split_generators(self, dl_manager):
        recipe = RECIPES[self.config.task]
        source = Source(recipe.archive, archive_location(recipe.archive, self.config, dl_manager),
                        self.config.http_timeout, self._scifig_cache)
        reader = READERS[recipe.reader]
        if recipe.archive == "benchmark":
            benchmark = source
        else:
            try:  # read by range: the archive is not downloaded for its dev and test files
                benchmark = Source("benchmark", archive_location("benchmark", self.config, dl_manager,
                                                                 download=False),
                                   self.config.http_timeout, self._scifig_cache)
            except FileNotFoundError:  # a data_dir without benchmark.zip: the shipped list stands in
                benchmark = None
        shipped = os.path.join(self.base_path or os.path.dirname(os.path.abspath(__file__)), EVAL_ARTICLES_FILE)
        shared = reader.members(recipe, "train", self._selection) if recipe.archive == "benchmark" else None
        selection = self._selection._replace(evaluation=EvalArticlesSource(benchmark, shipped, shared),
                                             exclude=bool(self.config.exclude_eval_articles))
        if _PREDEFINED[self.config.name].exclude_eval_articles and not self.config.exclude_eval_articles:
            logger.warning("%s: exclude_eval_articles=False gives upstream's train as released, which %s",
                           self.config.name, released_train_leak(selection.evaluation))
        # Shards in a fixed order: rows come in the same order however many processes or workers share them.
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={
                "source": source, "split": split, "selection": selection,
                "shards": reader.shards(source, recipe, split, selection),
            })
            for split in recipe.splits
        ]

    def _generate_examples(self, source, split, selection, shards):
        recipe = RECIPES[self.config.task]
        reader = READERS[recipe.reader]
        archive = source.open(reader.members(recipe, split, selection))
        on_error, repeats = ERROR_POLICIES[self.config.on_error](), [0]
        rows = itertools.chain.from_iterable(
            built(kept(reader.read_shard(archive, shard, split, selection), recipe.filing, selection, split, on_error),
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


@functools.lru_cache(maxsize=1)
def recorded_infos():
    """{config: datasets.DatasetInfo} of what dataset_infos.json beside this file records of the hosted archives.

    datasets 3.6 merges the card's YAML into a script's builder itself, later lines do not, and neither reads the
    checksums, which only dataset_infos.json holds (DatasetInfosDict.from_directory prefers the card when it has
    `dataset_info`): so the builder reads the file.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), datasets.config.DATASETDICT_INFOS_FILENAME)
    try:
        with io.open(path, encoding="utf-8") as file:
            return {config: datasets.DatasetInfo.from_dict(info) for config, info in json.load(file).items()}
    except FileNotFoundError:
        return {}


# ======================================================================================== 5. the front doors

CODE_FILES = (__file__, os.path.join(os.path.dirname(os.path.abspath(__file__)), "scifig_io.py"))


def code_hash():
    """A digest of the builder's code, both files: what prepared datasets are cached under."""
    digest = hashlib.sha256()
    for path in CODE_FILES:
        with io.open(path, "rb") as file:
            digest.update(file.read())
    return digest.hexdigest()[:16]


def builder(name, data_dir=None, cache_dir=None, **config_kwargs):
    """The SciFig builder for one config, as `load` drives it (and as tools prepare it).

    Its cache is keyed by the code hash, so an edited builder never reuses a stale prepared dataset.
    """
    return SciFig(config_name=name, data_dir=data_dir, hash=code_hash(), dataset_name="scifig", cache_dir=cache_dir,
                  base_path=os.path.dirname(os.path.abspath(__file__)), **config_kwargs)


def load(name, split=None, streaming=False, data_dir=None, **config_kwargs):
    """What `load_dataset("scifig", name, ...)` returns, on every datasets line.

    It drives the builder directly (datasets 4 removed loading scripts; on 3.6 the same builder runs as the
    script). `cache_dir`, `num_proc` and `verification_mode` are passed on; other keywords configure the builder
    (settings, subjects, categories, base_url, on_error, http_timeout, ...); a keyword given as None is left at its
    default. A config or split name that does not exist is a ValueError before anything is read. Bad data raises
    ScifigDataError whether streaming or not: datasets wraps an error raised while preparing in its own
    DatasetGenerationError, and `load` raises the ScifigDataError behind it.
    """
    check_split(name, split)
    config_kwargs = {key: value for key, value in config_kwargs.items() if value is not None}
    load_kwargs = {key: config_kwargs.pop(key) for key in ("num_proc", "verification_mode") if key in config_kwargs}
    cache_dir = config_kwargs.pop("cache_dir", None)
    with unwrapped_errors():
        builder_ = builder(name, data_dir, cache_dir, **config_kwargs)
        if streaming:
            return builder_.as_streaming_dataset(split=split)
        if str(load_kwargs.get("verification_mode")) in ("all_checks", "VerificationMode.ALL_CHECKS"):
            # datasets >= 4 records download checksums only for a download manager that asks (3.6 did it for
            # "all_checks" itself); without it a changed upstream archive would pass verification unnoticed.
            load_kwargs["dl_manager"] = datasets.DownloadManager(
                dataset_name="scifig", data_dir=data_dir, record_checksums=True,
                download_config=datasets.DownloadConfig(
                    cache_dir=os.path.join(cache_dir, datasets.config.DOWNLOADED_DATASETS_DIR) if cache_dir
                    else str(datasets.config.DOWNLOADED_DATASETS_PATH),
                    num_proc=load_kwargs.get("num_proc")))
        builder_.download_and_prepare(**load_kwargs)
        return builder_.as_dataset(split=split)


# How a worker's traceback names the error, when num_proc sends it back only as text.
_REMOTE_SCIFIG_ERROR = re.compile(r"^(?:[\w.]+\.)?ScifigDataError: (.+)$", re.MULTILINE)


class unwrapped_errors:
    """Raises the ScifigDataError behind a datasets wrapper (DatasetGenerationError) in its place: `with
    scifig.unwrapped_errors(): builder.download_and_prepare()` raises what `load` raises.

    A prepare in this process keeps the ScifigDataError on the wrapper's exception chain: that very error is
    raised, the wrapper as its cause. With num_proc, a worker's error reaches this process only as the text of its
    traceback (multiprocess's RemoteTraceback, which keeps no exception object): a ScifigDataError is raised from
    that text, with the same message and the wrapper as its cause.
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
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
