"""`python -m scifig_tools eval-articles FOLDER --commit SHA`: the shipped list of evaluation articles."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "eval-articles",
                         "write the shipped list of evaluation articles from upstream's split files")
    parser.add_argument("folder", help="upstream's mmsci-data/rawdata, holding dev_split_ids.json and "
                                       "test_split_ids.json")
    parser.add_argument("--commit", required=True, help="the upstream commit the files are from")
    parser.add_argument("--out", default=None, help="the file to write (default: the checkout's "
                                                    "scifig_eval_articles.json)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes scifig_eval_articles.json from upstream's split files.

    Args:
        args: the parsed command line (folder, commit, out).

    Returns:
        The exit status, 0.

    Raises:
        FileNotFoundError: a split file missing from the folder.
    """
    from scifig_tools import eval_articles

    listed = eval_articles.build(args.folder, args.commit)
    path = eval_articles.write(listed, args.out)
    print(f"wrote {path}: {len(listed['validation'])} validation and {len(listed['test'])} test articles")
    return 0
