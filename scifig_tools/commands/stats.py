"""`python -m scifig_tools stats`: the chart of figures and articles per subject."""

import argparse

from scifig_tools.cli import add_command, add_source


def register(commands):
    parser = add_command(commands, "stats", "chart figures and articles per category and subject")
    add_source(parser)
    parser.add_argument("--out", default=None, help="the PNG to write (default: assets/figures_per_subject.png)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Draws the chart, from upstream's published counts or counted from a data source.

    Args:
        args: the parsed command line (data_dir or base_url, out).

    Returns:
        The exit status, 0.
    """
    from scifig_tools import stats

    path, counts, totals = stats.main(args.data_dir, args.base_url, args.out)
    print(f"{len(counts)} subjects, {totals['figures']} figures, {totals['articles']} articles -> {path}")
    return 0
