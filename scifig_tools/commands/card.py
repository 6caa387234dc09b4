"""`python -m scifig_tools card`: README.md (the dataset card) and docs/, written from the builder."""

import argparse
from pathlib import Path

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "card", "write README.md (the dataset card) and docs/ from the builder")
    parser.add_argument("--out", default=None, help="the folder to write README.md and docs/ into (default: the "
                                                    "scifig checkout this runs in; elsewhere it refuses)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes README.md and docs/.

    Args:
        args: the parsed command line (no options).

    Returns:
        The exit status, 0.
    """
    from scifig_tools import card

    folder = Path(args.out) if args.out else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    print(f"wrote {card.write(folder / 'README.md' if folder else None)}")
    for path in card.write_docs(folder):
        print(f"wrote {path}")
    return 0
