"""`python -m scifig_tools browse CONFIG --out DIR`: an offline site of a split, or of a model's errors."""

import argparse
from pathlib import Path

from scifig_tools.cli import add_command, add_source


def register(commands):
    parser = add_command(commands, "browse", "write an offline site of a split, or of a model's errors")
    from scifig_tools.source import BROWSABLE

    parser.add_argument("config", choices=BROWSABLE, metavar="CONFIG",
                        help=f"the config to show: {', '.join(BROWSABLE)}")
    parser.add_argument("--split", default=None, help="the split to show (default: validation where the config has "
                                                      "one, else its first)")
    parser.add_argument("--out", required=True, help="the site's folder")
    parser.add_argument("--dataset", help="a folder written by `export`, or its Hub id, instead of the archives")
    parser.add_argument("--limit", type=int, default=None, help="rows to show at most")
    parser.add_argument("--predictions", help="a predictions file: each row shows the model's answer")
    parser.add_argument("--only-errors", action="store_true", help="with --predictions: only the rows it got wrong")
    add_source(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes the site.

    Args:
        args: config, split, out, dataset / data_dir / base_url, limit, predictions, only_errors.

    Returns:
        The exit status, 0 once index.html and its pages are written.
    """
    from scifig_tools.browse import browse
    from scifig_tools.source import BROWSABLE, default_split

    split = args.split or default_split(args.config)
    print(f"browse: {args.config} [{split}] (browse shows {', '.join(BROWSABLE)})")
    shown = browse(args.config, split, args.out, args.limit, args.data_dir, args.base_url, args.predictions,
                   args.only_errors, dataset=args.dataset)
    print(f"wrote {Path(args.out) / 'index.html'} ({shown} rows)")
    return 0
