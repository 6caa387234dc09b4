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
"""What the data is: MMSci's taxonomy, scifig's features and configs.

Holds: the citation and description, the taxonomy (5 categories, 72 subject entries), the multiple-choice settings
and answer letters, the splits, the features of every task (declared once: the card, the exports and the tests read
them from here), and the configs (`SciFigConfig`, `CONFIGS`).
May import: `datasets` only. Everything else of scifig builds on these names.
"""

import dataclasses
from typing import List, Optional, Union

import datasets

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
ANSWER_LETTERS = ["A", "B", "C", "D"]  # an mcq `answer` indexes these
SPLITS = ["train", "validation", "test"]
EVAL_SPLITS = ("validation", "test")


def category_name(index):
    """The category a `category` (or `categories`) class label stands for."""
    return CATEGORIES[index]


# ---- features: declared once; the card, the export and the tests read them from here ----

def _category_feature():
    return datasets.ClassLabel(names=CATEGORIES)


def _figure_fields():
    """What every per-figure task's row starts with: its id, the article and the figure's file stem."""
    return {"id": datasets.Value("string"), "uid": datasets.Value("string"), "figure_id": datasets.Value("string")}


def _filing_fields():
    return {"category": _category_feature(), "subject": datasets.Value("string")}


def _messages():
    """The chat layout TRL's SFTTrainer and transformers' chat templates take for vision models (as
    llava-instruct-mix-vsft): a plain list of structs (datasets.Sequence of a dict would mean a dict of lists)."""
    part = {"type": datasets.Value("string"), "text": datasets.Value("string"), "index": datasets.Value("int64")}
    return [{"role": datasets.Value("string"), "content": [part]}]


FEATURES = {
    "captioning": datasets.Features({
        **_figure_fields(),
        "image": datasets.Image(),
        "caption": datasets.Value("string"),
        "abstract": datasets.Value("string"),
        "content": datasets.Value("string"),
        **_filing_fields(),
    }),
    "mcq": datasets.Features({
        **_figure_fields(),
        "image": datasets.Image(),
        "setting": datasets.ClassLabel(names=SETTINGS),
        "question": datasets.Value("string"),
        "options": datasets.Sequence(datasets.Value("string")),
        "answer": datasets.ClassLabel(names=ANSWER_LETTERS),
        "prompt": datasets.Value("string"),
        **_filing_fields(),
    }),
    "chat": datasets.Features({
        **_figure_fields(),
        "images": datasets.Sequence(datasets.Image()),
        "messages": _messages(),
        **_filing_fields(),
    }),
    # The MMSci authors' fine-tuning mixture, in the chat layout; `task` says which benchmark file a row comes from.
    "sft": datasets.Features({
        **_figure_fields(),
        "images": datasets.Sequence(datasets.Image()),
        "messages": _messages(),
        "task": datasets.ClassLabel(names=["chat", "captioning", *SETTINGS]),
        **_filing_fields(),
    }),
    "articles": datasets.Features({
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
        "figures": datasets.Sequence({
            "number": datasets.Value("int32"),
            "image": datasets.Image(),
            "title": datasets.Value("string"),
            "description": datasets.Value("string"),
        }),
        "references": datasets.Sequence(
            {"number": datasets.Value("int32"), "title": datasets.Value("string"), "url": datasets.Value("string")}
        ),
    }),
    "pretraining": datasets.Features({
        "id": datasets.Value("string"),
        "uid": datasets.Value("string"),
        "url": datasets.Value("string"),
        "texts": datasets.Sequence(datasets.Value("string")),
        "images": datasets.Sequence(datasets.Image()),
        # What MMSci wrote of each image (its mmc4 image_info, in MMSci's order) and of the document: what mmc4
        # trainers read (open_flamingo filters images on the similarities), kept as written (float64).
        "image_info": [{
            "index": datasets.Value("int64"),
            "image_name": datasets.Value("string"),
            "local_path": datasets.Value("string"),
            "raw_url": datasets.Value("string"),
            "caption": datasets.Value("string"),
            "matched_text_index": datasets.Value("int64"),
            "matched_sim": datasets.Value("float64"),
        }],
        "similarity_matrix": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
        **_filing_fields(),
    }),
}


# ---- the configs ----

@dataclasses.dataclass
class SciFigConfig(datasets.BuilderConfig):
    """BuilderConfig for scifig: which task a config reads, and the choices a load may change.

    Attributes:
        task: what a row is, a key of FEATURES: "captioning", "mcq", "chat", "sft", "pretraining" or "articles".
        settings: for "mcq", the settings kept (names from SETTINGS, a list or one name); None keeps all three.
        subjects: keep only these subjects (names from TAXONOMY; "Ecology" matches both of its categories).
        categories: keep only these categories.
        base_url: a mirror serving benchmark.zip, pretraindata.zip and rawdata.zip; ignored when data_dir is set.
        exclude_eval_articles: drop from the train split every article (uid) of the benchmark's validation or test
            split (True by default on every config that trains: MMSci files an article under several subjects
            and picks evaluation articles per subject, so most are train articles too under another). False
            gives upstream's train as released and warns how many evaluation articles it holds. The articles are
            read from benchmark.zip's dev and test files (by range), or, where benchmark.zip cannot be had, from
            the list shipped with scifig (scifig_eval_articles.json).
        circular: for the multiple-choice configs, each question once per rotation of its options (4 rows,
            ids `<id>-c0` ... `<id>-c3`), for circular evaluation.
        train_shards: how many shards the train split of captioning and chat (8 unless given) and of mcq (one per
            setting unless given) is read as: round-robin parts of its records, for ranks and workers to share.
        shards: cuts every split of the benchmark's configs (captioning, mcq, chat, sft) into this many shards of
            near-equal rows, each a round-robin part of every list, in order within each (ids unchanged): enough
            shards for every DataLoader worker or Ray task. Pre-training and articles come in their own units
            (pickles, subject folders), which MMSci has by the hundred.
        on_error: "raise" (default) stops at the first bad record; "skip" logs each and counts them per split.
        http_timeout: seconds a read from a server may stall before it is retried (and, after five tries, fails).
    """

    version: Optional[Union[datasets.Version, str]] = VERSION
    task: Optional[str] = None
    settings: Optional[Union[List[str], str]] = None
    subjects: Optional[Union[List[str], str]] = None
    categories: Optional[Union[List[str], str]] = None
    base_url: Optional[str] = None
    exclude_eval_articles: bool = True
    circular: bool = False
    train_shards: Optional[int] = None
    shards: Optional[int] = None
    on_error: str = "raise"
    http_timeout: float = 60


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
PREDEFINED = {config.name: config for config in CONFIGS}


def task_of(config_name):
    """The task (a key of FEATURES) a config name stands for; a ValueError listing the valid names otherwise."""
    if config_name not in PREDEFINED:
        raise ValueError(f"unknown config {config_name!r}; valid configs: {', '.join(CONFIG_NAMES)}")
    return PREDEFINED[config_name].task


def is_mcq(config_name):
    """Whether a config is multiple choice (`mcq` or one of its per-setting configs)."""
    return task_of(config_name) == "mcq"
