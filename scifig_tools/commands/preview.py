"""`python -m scifig_tools preview CONFIG`: a config's features and first rows."""

import argparse

from scifig_tools.cli import add_command, add_source


def register(commands):
    parser = add_command(commands, "preview", "print a config's features and first rows")
    parser.add_argument("config", help="the config to show, e.g. mcq")
    parser.add_argument("--split", default=None, help="the split to show (default: validation where the config has "
                                                      "one, else its first)")
    parser.add_argument("--limit", type=int, default=3, help="rows to print")
    add_source(parser)
    parser.add_argument("--subjects", nargs="+", help="keep only these subjects")
    parser.add_argument("--categories", nargs="+", help="keep only these categories")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prints the features and the first `--limit` rows of a split.

    Args:
        args: the parsed command line (config, split, limit, data_dir or base_url, subjects, categories).

    Returns:
        The exit status, 0.

    Raises:
        ValueError: an unknown config, split, subject or category; ScifigDataError for data that cannot be read.
    """
    from scifig_tools.preview import preview
    from scifig_tools.source import default_split

    filters = {key: value for key, value in (("subjects", args.subjects), ("categories", args.categories)) if value}
    split = args.split or default_split(args.config)
    preview(args.config, split, args.limit, data_dir=args.data_dir, base_url=args.base_url, **filters)
    return 0
