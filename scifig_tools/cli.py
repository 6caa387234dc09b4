"""What every command's parser shares: argparse's parser saying what a missing argument is for, defaults shown in
every help text, and the options that say where rows come from."""

import argparse
import re


class Parser(argparse.ArgumentParser):
    """argparse's parser, saying what a missing argument is for, not only its name."""

    def error(self, message):
        missing = re.match(r"the following arguments are required: (.+)", message)
        if missing:
            helps = {name: action.help for action in self._actions if action.help
                     for name in (action.dest, action.metavar) if name}
            message += "".join(f"\n  {name}: {helps[name]}" for name in missing[1].split(", ") if name in helps)
        super().error(message)


def add_command(commands, name, help):
    """A command's parser, its help text showing every option's default."""
    return commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_source(parser):
    """--data-dir or --base-url: where the archives are (MMSci's hosted archives when neither is given)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", help="folder holding benchmark.zip / pretraindata.zip / rawdata.zip or their "
                                           "unzipped folders (dummy_data: the bundled sample)")
    source.add_argument("--base-url", help="a mirror serving the archives, e.g. http://127.0.0.1:8000/")
