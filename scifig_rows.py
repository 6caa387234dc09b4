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
"""The row functions: one upstream record (or article) in, its complete rows out.

Holds: the checks row functions share, the filings, the multiple-choice prompt parser, one row function per task
(captioning, mcq and its rotations, chat, the SFT mixture's conversations, pre-training documents, articles).
Each row function takes `(record, origin)` and yields finished rows with the features of its task (scifig_data),
image and id included; a problem with the record raises RecordError naming the field. `origin` says where the record
sits and reads what it names: `origin.split`, `origin.setting` (mcq: which list of the file, -1 otherwise),
`origin.read_figure(name)` ({bytes, path}, checked to be a readable image), `origin.read_figures(names)` and
`origin.read_json(name)` (scifig_sources.Origin is the one implementation). The filings (`benchmark_filing`,
`pretraining_filing`) say where a record is filed before any figure is read, for the subjects, categories and
evaluation-article filters.
May import: the standard library, scifig_data, scifig_errors, scifig_formats. Nothing here reads an archive.
"""

import base64
import collections
import datetime
import hashlib
import re
from typing import NamedTuple

from .scifig_data import ANSWER_LETTERS, CATEGORIES, SETTINGS, TAXONOMY
from .scifig_errors import RecordError
from .scifig_formats import figure_problem

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


# ---- row functions ----

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


# ---- pre-training documents and articles ----

def pretraining_rows(document, origin):
    """One mmc4 document: its figures (inline base64 JPEGs) placed just before the sentence each was matched to,
    and everything MMSci wrote of them (`image_info`, in MMSci's order) and of the document (`similarity_matrix`)."""
    category, subject, uid = pretraining_filing(document)
    url = document["url"]
    texts = _list_of(document, "text_list", str)
    infos = _list_of(document, "image_info", dict, default=[])
    before = collections.defaultdict(list)  # text index -> the images placed just before it
    facts = []
    for position, info in enumerate(infos):
        at = info.get("matched_text_index")
        if type(at) is not int or not 0 <= at < len(texts):
            raise RecordError(
                f"image_info[{position}] matched_text_index {at!r} is outside text_list (length {len(texts)})"
            )
        before[at].append(_pretraining_image(info, position))
        facts.append(_image_facts(info, position))
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
        "image_info": facts,
        "similarity_matrix": _similarity(document),
        "category": category,
        "subject": subject,
    }


def _pretraining_image(info, position):
    """An image_info's figure, as {bytes, path}, checked to be a readable image."""
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
    return {"bytes": data, "path": name}


def _number(value, what, kind):
    """An int or float field (bool is neither), or None where it is missing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise RecordError(f"{what} is {value!r}, not a number")
    if isinstance(value, int) and not -2**63 <= value < 2**63:
        raise RecordError(f"{what} {value} does not fit a 64-bit integer")
    return float(value) if kind is not int else value


def _image_facts(info, position):
    """What MMSci wrote of one image besides its bytes (the `image_info` feature's fields)."""
    if info.get("face_detections") is not None:
        raise RecordError(f"image_info[{position}] face_detections is {info['face_detections']!r}: MMSci writes "
                          "None there, and scifig keeps no face detections")
    return {"index": _number(info.get("index"), f"image_info[{position}] index", int),
            "image_name": _optional_text(info, "image_name"),
            "local_path": _optional_text(info, "local_path"),
            "raw_url": _optional_text(info, "raw_url"),
            "caption": _optional_text(info, "caption"),
            "matched_text_index": info["matched_text_index"],
            "matched_sim": _number(info.get("matched_sim"), f"image_info[{position}] matched_sim", (int, float))}


def _similarity(document):
    """The document's similarity_matrix (mmc4's: one row per image, one column per sentence), as floats and as
    written, whatever its shape; None if absent."""
    matrix = document.get("similarity_matrix")
    if matrix is None:
        return None
    if not isinstance(matrix, list) or not all(isinstance(row, list) for row in matrix):
        raise RecordError("similarity_matrix is not a list of lists of numbers")
    return [[_number(value, "a similarity_matrix value", (int, float)) for value in row] for row in matrix]


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
            index = re.search(r"figure_(\d+)", filename)
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
