"""What is known of the data and how it was made, said once: the card (README.md) and the export's croissant.json
(its responsible-AI fields) both read these. Numbers come from the files they are counted in."""

import json

import scifig
from scifig_tools import paths

COLLECTION = (
    "MMSci (Li et al., ICLR 2025) collected open-access *Nature Communications* articles published 2010-04-12 to "
    "2024-04-15 — 131,393 articles and 742,273 figures (514,054 sub-figures) — with their text, figures and "
    "captions, filed under the journal's subjects. From them MMSci built the benchmark (captioning and "
    "multiple-choice tasks with train, dev and test splits chosen per subject), conversations about figures for "
    "instruction tuning, and mmc4-format interleaved pre-training documents (figures matched to sentences by "
    "similarity, images as JPEG with the short side at most 336 px). scifig adds no data: it reads MMSci's three "
    "archives as published and turns their records into typed rows."
)

COLLECTION_TYPE = ["Web scraping"]  # upstream's mmsci-data/scripts/scrape_link.py and scrape_content.py

ANNOTATION = (
    "No one annotated the data: captions are the articles' own, the multiple-choice questions were built by MMSci's "
    "scripts from those captions (distractors are other captions of the same article or figure), and the "
    "conversations walk through a figure's sub-figure captions."
)

PROCESSING = (
    "What scifig does to MMSci's records: it splits each multiple-choice question into its stem and four options at "
    "the `A: ` ... `D: ` lines (keeping the question text verbatim in `prompt`), turns withheld test answers into "
    "-1 and missing captions into None, gives every row a stable `id`, places each pre-training image just before "
    "the sentence MMSci matched it to, and checks every figure (a damaged one is an error naming it, never a "
    "silent skip). By default it leaves the validation and test articles out of every train split "
    "(exclude_eval_articles); text keeps MMSci's quirks (thin spaces, words run together, very long options)."
)

BIASES = [
    "One journal: every article is from *Nature Communications*, in English, 2010-2024; the figures follow its "
    "style and its authors' fields, not science at large.",
    "Uneven subjects: articles and figures per subject differ by orders of magnitude (the figures-per-subject "
    "chart); per-subject numbers on small subjects rest on few rows.",
    "Open access: the corpus holds articles published open access; before late 2014 that was a subset of the "
    "journal.",
    "Automatic questions: distractors come from the same article or figure, so their wording and length differ "
    "from the right option's in ways a text-only model can exploit; `python -m scifig_tools audit` reports the "
    "text-only baselines.",
]

SENSITIVE = (
    "MMSci collected published articles and no information about people beyond what the articles print (author "
    "names are not in the rows). Some figures show people: *Health sciences* and biology articles include clinical "
    "images, medical scans and photographs of patients or participants, published with the consent the journal "
    "requires. Treat them as the journal does — for research on the articles' content, not to identify anyone — "
    "and check a figure's article before reusing the figure itself."
)

USES = [
    "Evaluating vision-language models on figure captioning and multiple-choice figure/caption matching "
    "(validation: MMSci's dev; test answers are withheld).",
    "Fine-tuning on the train task data (captioning, multiple choice, chat), clean of evaluation articles by "
    "default.",
    "Continued pre-training on interleaved article text and figures.",
]


def eval_list():
    """The list of evaluation articles shipped beside the builder, with upstream's counts."""
    return json.loads(paths.EVAL_ARTICLES.read_text(encoding="utf-8"))


def share(part, whole):
    return f"{part:,} of {whole:,} ({100 * part / whole:.0f}%)"


def split_overlap():
    """MMSci's split leak in one sentence, with its numbers and their source."""
    listed = eval_list()
    articles, also = listed["articles"], listed["also_in_train"]
    return (f"In MMSci's own split files ({listed['source']} at commit {listed['commit'][:7]}), "
            f"{share(also['test'], articles['test'])} test articles and "
            f"{share(also['validation'], articles['validation'])} dev (validation) articles are also train articles, "
            "filed under another subject: MMSci avoids reusing an article only within a subject.")


def limitations():
    return [
        split_overlap() + " scifig's train splits leave every validation and test article out by default "
        "(exclude_eval_articles=True); upstream's train as released, which the MMSci paper fine-tuned on, is "
        "exclude_eval_articles=False. Pre-training documents may hold evaluation figures re-encoded under other "
        "article ids, which only a perceptual-hash audit finds.",
        "Test answers are withheld by MMSci (answer -1): only validation can be scored offline.",
        "An article filed under several subjects gives one row per filing: the same question can be asked twice in "
        "one split.",
        "Text is kept as MMSci published it, quirks included (thin spaces, words run together where markup was "
        "stripped, options over a thousand characters).",
        f"Licences: MMSci's release is {scifig.LICENSE.upper()}; the articles carry their own licences, and "
        "material from third parties in a figure is excluded from an article's licence.",
    ]
