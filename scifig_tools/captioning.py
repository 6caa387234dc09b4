"""Scoring captions, by three protocols: scifig's own, the MMSci paper's and VLMEvalKit's.

- `mmsci` reproduces `mmsci-exps/eval/textgen_scores.py`'s `get_all_metrics` (Leezekun/MMSci, c787815): each
  metric per figure, then averaged (BLEU-1..4 are n-gram precisions), the k runs of k samples averaged;
- `vlmevalkit` reproduces the reference-based columns of VLMEvalKit's `MMSci_DEV_Captioning_*` (e8e78f05): B2, RL,
  M, BS and CD per row, averaged overall, per subject and per category;
- `scifig` reproduces nobody's: corpus BLEU-4 and CIDEr-D, and per-figure means beside them with 95% bootstrap
  intervals.

Both upstream scorers call Hugging Face `evaluate`'s metrics once per sample; `evaluate.load` fetches their code from
the Hub at run time, so the same algorithms are called here directly from the libraries behind them: BLEU is the
tensorflow/nmt `compute_bleu` over sacrebleu's 13a tokens (as `evaluate`'s `bleu`), ROUGE is `rouge_score` without a
stemmer (as `rouge`), METEOR is nltk's `single_meteor_score` over `word_tokenize` (as `meteor`), BERTScore is
`bert_score` with roberta-large at its default layer, no idf and no rescaling (as `bertscore` with `lang="en"`), and
CIDEr-D is pycocoevalcap's. A figure MMSci files under two subjects is one figure: upstream keys predictions by image
(the later row wins, where the first stood). An empty prediction is skipped (as upstream does) and counted; a row
without a prediction scores 0 (scores count every row) unless only the predicted rows are asked for.

Metrics whose resources are missing say so and why (METEOR without WordNet or the Punkt model, BERTScore without its
model), never 0: upstream's `try/except` would score them 0 silently.
"""

import collections
import hashlib
import math
import re

import numpy as np
from scipy import stats

from scifig_tools import metric_resources

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class MetricUnavailable(ValueError):
    """A metric that cannot be computed here: the message says which resource is missing and how to get it."""


# ============================================================================ the metrics, one sample each

# tensorflow/nmt's nmt/scripts/bleu.py (Apache-2.0, commit 0be8642), the definition `evaluate`'s `bleu` downloads and
# calls: the same algorithm, unchanged but for names.
def _ngrams(segment, max_order):
    counts = collections.Counter()
    for order in range(1, max_order + 1):
        for start in range(0, len(segment) - order + 1):
            counts[tuple(segment[start:start + order])] += 1
    return counts


def compute_bleu(reference_corpus, translation_corpus, max_order=4, smooth=False):
    """BLEU of tokenized translations against lists of tokenized references: (bleu, precisions, brevity penalty,
    length ratio, translation length, reference length), as tensorflow/nmt computes them."""
    matches = [0] * max_order
    possible = [0] * max_order
    reference_length = translation_length = 0
    for references, translation in zip(reference_corpus, translation_corpus):
        reference_length += min(len(reference) for reference in references)
        translation_length += len(translation)
        merged = collections.Counter()
        for reference in references:
            merged |= _ngrams(reference, max_order)
        overlap = _ngrams(translation, max_order) & merged
        for ngram in overlap:
            matches[len(ngram) - 1] += overlap[ngram]
        for order in range(1, max_order + 1):
            if len(translation) - order + 1 > 0:
                possible[order - 1] += len(translation) - order + 1
    if smooth:
        precisions = [(matches[i] + 1.0) / (possible[i] + 1.0) for i in range(max_order)]
    else:
        precisions = [float(matches[i]) / possible[i] if possible[i] > 0 else 0.0 for i in range(max_order)]
    geo_mean = math.exp(sum((1.0 / max_order) * math.log(p) for p in precisions)) if min(precisions) > 0 else 0
    ratio = float(translation_length) / reference_length
    bp = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return geo_mean * bp, precisions, bp, ratio, translation_length, reference_length


def _tokens_13a(text):
    """sacrebleu's 13a tokens, as `evaluate`'s bleu splits them (its tokenizer_13a is sacrebleu's, returning the
    tokens rather than their join)."""
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()(text).split()


def bleu(prediction, reference):
    """`evaluate`'s bleu of one prediction against one reference: {"bleu", "precisions"} (fractions)."""
    score, precisions, *_ = compute_bleu([[_tokens_13a(reference)]], [_tokens_13a(prediction)])
    return {"bleu": score, "precisions": precisions}


_ROUGE = {}


def rouge(prediction, reference, stemmer=False):
    """`evaluate`'s rouge of one prediction (rouge_score's F-measures; no stemmer, as its default)."""
    from rouge_score import rouge_scorer

    if stemmer not in _ROUGE:
        _ROUGE[stemmer] = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=stemmer)
    return {key: value.fmeasure for key, value in _ROUGE[stemmer].score(reference, prediction).items()}


def meteor(prediction, reference):
    """`evaluate`'s meteor of one prediction: nltk's single_meteor_score over word_tokenize, alpha 0.9, beta 3,
    gamma 0.5. Raises MetricUnavailable without WordNet or the English Punkt model."""
    metric_resources.nltk_ready()
    from nltk import word_tokenize
    from nltk.translate.meteor_score import single_meteor_score

    return single_meteor_score(word_tokenize(reference), word_tokenize(prediction), alpha=0.9, beta=3, gamma=0.5)


class BertScore:
    """`evaluate`'s bertscore with lang="en": roberta-large at layer 17, no idf, no baseline rescaling, one
    prediction at a time. `model` may be a local folder: then every layer counts unless `layer` says which."""

    DEFAULT_MODEL = "roberta-large"

    def __init__(self, model=None, layer=None):
        self.model, self.layer = model or self.DEFAULT_MODEL, layer
        self._scorer = None

    def describe(self):
        return f"{self.model}, layer {self.layer or 'default'}"

    def scorer(self):
        if self._scorer is None:
            self._scorer, self.layer = metric_resources.bert_scorer(self.model, self.layer)
        return self._scorer

    def __call__(self, prediction, reference):
        _, _, f1 = self.scorer().score([prediction], [reference], verbose=False, batch_size=64)
        return float(f1[0])


# ============================================================================ which prediction each figure has

def per_figure(rows, predictions, only_predicted=False):
    """[(row, prediction)] once per figure with a reference caption, in the order figures first appear: the later row
    of a figure filed twice wins (upstream keys by image). A row without a prediction has None (scored 0 under every
    metric: scores count every row), unless `only_predicted` leaves it out."""
    figures = {}
    for row in rows:
        if row["caption"] is None or (only_predicted and row["id"] not in predictions):
            continue
        figures[row["figure_id"]] = (row, predictions.get(row["id"]))
    return list(figures.values())


def _sample(prediction, run):
    """The prediction of run `run`: a list holds k samples, a string is run 0's; None (no prediction) stays None."""
    if prediction is None:
        return None
    if isinstance(prediction, str):
        return prediction if run == 0 else ""
    return prediction[run] if run < len(prediction) else ""


def _tried(function, default, *args):
    """What upstream's `try/except` gives: the metric, or its default where the metric raises."""
    try:
        return function(*args)
    except MetricUnavailable:
        raise
    except Exception:  # noqa: BLE001 - upstream scores any failure of a metric as its default
        return default


# ============================================================================ the mmsci protocol

MMSCI_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "BLEU", "rouge1", "rouge2", "rougeL", "rougeLSum", "METEOR",
              "BERTSCORE")


def mmsci_run(pairs, bertscore=None, meteor_ok=True):
    """textgen_scores.get_all_metrics over (reference, candidate) pairs: each metric per sample, then averaged; an
    empty candidate is skipped, as upstream does; a missing one (None) scores 0 under every metric. Returns
    ({key: mean}, skipped)."""
    keys = [key for key in MMSCI_KEYS if (key != "METEOR" or meteor_ok) and (key != "BERTSCORE" or bertscore)]
    scores, skipped = collections.defaultdict(list), 0
    for reference, candidate in pairs:
        if candidate is None:
            for key in keys:
                scores[key].append(0.0)
            continue
        if not candidate.strip():
            skipped += 1
            continue
        found = _tried(bleu, {"bleu": 0.0, "precisions": [0.0, 0.0, 0.0, 0.0]}, candidate, reference)
        for n, precision in enumerate(found["precisions"], 1):
            scores[f"BLEU-{n}"].append(precision)
        scores["BLEU"].append(found["bleu"])
        found = _tried(rouge, dict.fromkeys(ROUGE_TYPES, 0.0), candidate, reference)
        for key in ROUGE_TYPES:
            scores["rougeLSum" if key == "rougeLsum" else key].append(found[key])
        if meteor_ok:
            scores["METEOR"].append(_tried(meteor, 0.0, candidate, reference))
        if bertscore is not None:
            scores["BERTSCORE"].append(_tried(bertscore, 0.0, candidate, reference))
    return {key: float(np.mean(scores[key])) if scores[key] else float("nan") for key in keys}, skipped


def score_mmsci(rows, predictions, k=1, only_predicted=False, bertscore=None):
    """The MMSci paper's captioning scores: for each of the k samples per figure, get_all_metrics over the figures;
    then the k runs averaged (as print_captioning_scores.ipynb does, before its x100)."""
    pairs = per_figure(rows, predictions, only_predicted)
    meteor_ok, unavailable = _available(meteor), {}
    if not meteor_ok[0]:
        unavailable["METEOR"] = meteor_ok[1]
    if bertscore is None:
        unavailable["BERTSCORE"] = "not asked for (--bertscore-model)"
    runs = [mmsci_run([(row["caption"], _sample(prediction, run)) for row, prediction in pairs], bertscore,
                      meteor_ok[0]) for run in range(k)]
    return {
        "protocol": "mmsci",
        "figures": len(pairs),
        "k": k,
        "skipped_empty": [skipped for _, skipped in runs],
        "scores": {key: float(np.mean([found[key] for found, _ in runs])) for key in MMSCI_KEYS
                   if key not in unavailable},
        "runs": [found for found, _ in runs],
        "unavailable": unavailable,
        "bertscore_model": bertscore.describe() if bertscore else None,
    }


def _available(metric):
    try:
        metric("a figure", "a figure")
        return True, ""
    except MetricUnavailable as error:
        return False, str(error)


# ============================================================================ the vlmevalkit protocol

VLMEVALKIT_COLUMNS = ("B2", "RL", "M", "BS", "CD")
VLMEVALKIT_CD_NOTE = (
    "CD is 0 here as in every VLMEvalKit table: its compute_cider hands pycocoevalcap's Cider a list where it wants "
    "a dict, the call raises and a bare except scores 0 (and CIDEr of one caption, called correctly, is 0 too: its "
    "IDF collapses). scifig computes the same call."
)


def vlmevalkit_cider(prediction, reference):
    """VLMEvalKit's compute_cider([cand], [ref]) inside its try/except, called as it calls it."""
    from pycocoevalcap.cider.cider import Cider

    try:
        return Cider().compute_score([{i: list(refs)} for i, refs in enumerate([[reference]])],
                                     {i: [pred] for i, pred in enumerate([prediction])})[0]
    except Exception:  # noqa: BLE001 - VLMEvalKit's bare except, reproduced
        return 0.0


def score_vlmevalkit(rows, predictions, k=1, only_predicted=False, bertscore=None):
    """VLMEvalKit's reference-based columns: per figure once (the later prediction of a figure filed twice), put on
    every row of it, then averaged over rows: overall, per subject and per category (`CATEGORY_<name>`)."""
    _one_sample(k, "vlmevalkit")
    pairs = per_figure(rows, predictions, only_predicted)
    meteor_ok = _available(meteor)
    values, empty = {}, 0
    for row, prediction in pairs:
        if not (prediction or "").strip():  # VLMEvalKit stops at these with a KeyError; scored 0 here, and counted
            empty += prediction is not None
            values[row["figure_id"]] = dict.fromkeys(VLMEVALKIT_COLUMNS, 0.0)
            continue
        caption = row["caption"]
        values[row["figure_id"]] = {
            "B2": _tried(bleu, {"precisions": [0.0] * 4}, prediction, caption)["precisions"][1] * 100,
            "RL": _tried(rouge, {"rougeL": 0.0}, prediction, caption)["rougeL"] * 100,
            "M": _tried(meteor, 0.0, prediction, caption) * 100 if meteor_ok[0] else None,
            "BS": _tried(bertscore, 0.0, prediction, caption) * 100 if bertscore else None,
            "CD": vlmevalkit_cider(prediction, caption) * 100,
        }
    scored = [row for row in rows if row["figure_id"] in values and (row["caption"] is not None)]

    def mean(selected):
        return {column: (float(np.mean([values[row["figure_id"]][column] for row in selected]))
                         if values and values[selected[0]["figure_id"]][column] is not None else None)
                for column in VLMEVALKIT_COLUMNS} if selected else {}

    table = {subject: mean([row for row in scored if row["subject"] == subject])
             for subject in sorted({row["subject"] for row in scored})}
    table.update({f"CATEGORY_{category}": mean([row for row in scored if row["category"] == category])
                  for category in sorted({row["category"] for row in scored})})
    table["Overall"] = mean(scored)
    not_asked = "" if bertscore else "not asked for (--bertscore-model)"
    unavailable = {name: reason for name, reason in (("M", meteor_ok[1]), ("BS", not_asked)) if reason}
    return {"protocol": "vlmevalkit", "scale": 100, "figures": len(pairs), "rows": len(scored),
            "empty_predictions": empty,
            "scores": table["Overall"], "table": table, "unavailable": unavailable, "note": VLMEVALKIT_CD_NOTE,
            "bertscore_model": bertscore.describe() if bertscore else None}


# ============================================================================ the scifig protocol

_TOKEN = re.compile(r"\w+|[^\w\s]")
CIDER_TOKENS = "lower-cased words and punctuation (\\w+|[^\\w\\s]), in place of the Java PTB tokenizer"


def _cider_tokens(text):
    return " ".join(_TOKEN.findall(text.lower()))


def _interval(values, seed=0):
    """The mean of per-figure values and its 95% bootstrap interval over figures."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.ptp(values) == 0:
        return {"mean": float(values.mean()) if len(values) else None, "ci95": [None, None]}
    found = stats.bootstrap((values,), np.mean, n_resamples=2000, method="percentile",
                            rng=np.random.default_rng(seed))
    return {"mean": float(values.mean()),
            "ci95": [float(found.confidence_interval.low), float(found.confidence_interval.high)]}


def score_scifig(rows, predictions, k=1, only_predicted=False, bertscore=None):
    """Corpus BLEU-4 (sacrebleu, 13a tokens) and corpus CIDEr-D (pycocoevalcap, over CIDER_TOKENS), and beside them
    per-figure means with 95% bootstrap intervals: BLEU-4 (nmt, no smoothing), ROUGE-L (rouge_score, Porter
    stemmer), METEOR and BERTScore where available. An empty prediction scores 0; a missing one too, unless
    `only_predicted`."""
    import sacrebleu
    from pycocoevalcap.cider.cider import Cider

    _one_sample(k, "scifig")
    pairs = per_figure(rows, predictions, only_predicted)
    if not pairs:
        return {"protocol": "scifig", "figures": 0, "scores": {}, "unavailable": {}}
    candidates = [_sample(prediction, 0) or "" for _, prediction in pairs]
    references = [row["caption"] for row, _ in pairs]
    corpus = sacrebleu.corpus_bleu(candidates, [references])
    keys = range(len(pairs))
    cider, _ = Cider().compute_score({k: [_cider_tokens(references[k])] for k in keys},
                                     {k: [_cider_tokens(candidates[k])] for k in keys})
    per_sample = {"BLEU-4": [bleu(c, r)["bleu"] if c.strip() else 0.0 for c, r in zip(candidates, references)],
                  "ROUGE-L": [rouge(c, r, stemmer=True)["rougeL"] for c, r in zip(candidates, references)]}
    unavailable = {}
    meteor_ok = _available(meteor)
    if meteor_ok[0]:
        per_sample["METEOR"] = [meteor(c, r) if c.strip() else 0.0 for c, r in zip(candidates, references)]
    else:
        unavailable["METEOR"] = meteor_ok[1]
    if bertscore is not None:
        per_sample["BERTScore"] = [bertscore(c, r) if c.strip() else 0.0 for c, r in zip(candidates, references)]
    else:
        unavailable["BERTScore"] = "not asked for (--bertscore-model)"
    return {"protocol": "scifig", "figures": len(pairs),
            "empty_predictions": sum(1 for c in candidates if not c.strip()),
            "corpus": {"BLEU-4": corpus.score / 100, "BLEU precisions": [p / 100 for p in corpus.precisions],
                       "CIDEr-D": float(cider)},
            "scores": {name: _interval(values) for name, values in per_sample.items()},
            "cider_tokens": CIDER_TOKENS, "unavailable": unavailable,
            "bertscore_model": bertscore.describe() if bertscore else None}


SCORERS = {"scifig": score_scifig, "mmsci": score_mmsci, "vlmevalkit": score_vlmevalkit}


def score(protocol, rows, predictions, k=1, only_predicted=False, bertscore=None):
    """The captioning scores of one protocol (a key of SCORERS); `k` samples per figure for mmsci's."""
    if protocol not in SCORERS:
        raise ValueError(f"unknown protocol {protocol!r}; protocols: {', '.join(SCORERS)}")
    samples = {len(prediction) for prediction in predictions.values() if isinstance(prediction, list)}
    if samples - {k} or (k > 1 and any(isinstance(prediction, str) for prediction in predictions.values())):
        raise ValueError(f"--k {k}: every prediction must be a list of {k} samples" if k > 1 else
                         "a prediction is a list of samples: pass --k with their number (the mmsci protocol)")
    return SCORERS[protocol](rows, predictions, k=k, only_predicted=only_predicted, bertscore=bertscore)


def _one_sample(k, protocol):
    if k != 1:
        raise ValueError(f"--k {k}: the {protocol} protocol scores one prediction per figure (the mmsci protocol "
                         "averages k samples)")


def prompt_hash(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
