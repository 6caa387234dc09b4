"""python -m scifig_tools <command>: every command in scifig_tools.commands registers its own parser and handler."""

import sys

from scifig_tools.cli import Parser
from scifig_tools.commands import COMMANDS


def parser():
    """The whole command line: the shared options, then one sub-parser per command, each from its own module."""
    top = Parser(prog="python -m scifig_tools", description=__doc__)
    top.add_argument("--debug", action="store_true", help="show the whole traceback of an error")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.register(commands)
    return top


def main(argv=None):
    """Runs one command; returns its exit status (1, with one line on stderr, for an error in what it was given)."""
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:  # ScifigDataError is a ValueError
        if args.debug:
            raise
        hint = ""
        if getattr(args, "data_dir", None) is None and getattr(args, "base_url", None) is None \
                and getattr(args, "dataset", None) is None and type(error).__name__ == "ScifigDataError":
            hint = " (read from MMSci's hosted archives; --data-dir dummy_data reads the bundled sample)"
        print(f"python -m scifig_tools {args.command}: {error}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
