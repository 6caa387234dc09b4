"""`python -m scifig_tools tiny-model KIND OUT`: a tiny model built from a config, for running offline end to end."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    from scifig_tools.tiny_models import KINDS

    parser = add_command(commands, "tiny-model", "build a tiny model from a config (nothing downloaded): its numbers "
                                                 "mean nothing, the plumbing runs")
    parser.add_argument("kind", choices=list(KINDS), help="roberta: BERTScore's model (--bertscore-model OUT); "
                                                         "judge: a chat model to serve as an OpenAI-compatible judge; "
                                                         "qwen2vl: a Qwen2-VL for the fine-tuning recipes")
    parser.add_argument("out", help="the folder to write the model and its tokenizer into")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes the model.

    Args:
        args: kind, out.

    Returns:
        The exit status, 0 once the folder is written.
    """
    from scifig_tools.tiny_models import KINDS

    print(f"wrote {KINDS[args.kind](args.out)} ({args.kind})")
    return 0
