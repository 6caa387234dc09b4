"""`python -m scifig_tools card`: README.md (the dataset card) and docs/, written from the builder."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "card", "write README.md (the dataset card) and docs/ from the builder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes README.md and docs/.

    Args:
        args: the parsed command line (no options).

    Returns:
        The exit status, 0.
    """
    from scifig_tools import card

    print(f"wrote {card.write()}")
    for path in card.write_docs():
        print(f"wrote {path}")
    return 0
