"""`python -m scifig_tools audit`: leaks and biases in the data itself."""

import argparse
import sys

from scifig_tools.cli import add_command, add_source


def register(commands):
    parser = add_command(commands, "audit", "report leaks and biases in the data itself")
    parser.add_argument("--configs", nargs="+", default=None,
                        help="the configs to audit (default: captioning mcq pretraining chat articles)")
    add_source(parser)
    parser.add_argument("--out", help="folder for audit.json and audit.md")
    parser.add_argument("--as-released", action="store_true",
                        help="audit upstream's train as released (exclude_eval_articles=False), not as loaded")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when an evaluation article or figure is in a train split")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Audits the configs and prints the report.

    Args:
        args: configs, data_dir / base_url, out, as_released, strict.

    Returns:
        The exit status: 1 under --strict when an evaluation article or figure is in a train split, else 0.
    """
    from scifig_tools.audit import audit

    report, text = audit(args.configs, args.data_dir, args.base_url, args.out, as_released=args.as_released)
    print(text)
    if args.strict and (report["leaks"] or report["figure_leaks"]):
        print(f"--strict: {len(report['leaks'])} evaluation articles and {report['figure_leaks']} evaluation "
              "figures are in a train split", file=sys.stderr)
        return 1
    return 0
