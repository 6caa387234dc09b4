"""The commands of `python -m scifig_tools`, one module each: `register(commands)` adds the command's parser, its
options and its handler (`run(args)`, returning the exit status). The helpers they share are the modules of
scifig_tools itself (scoring, export formats, the card, ...); a command module holds only its command line.

Adding a command: a module here with `register` and `run`, listed in COMMANDS (the order `--help` lists them in).
"""

from scifig_tools.commands import (
    audit,
    browse,
    cache,
    card,
    dummy_data,
    eval_articles,
    evaluate,
    export,
    harness,
    infos,
    metric_data,
    preview,
    serve,
    stats,
    tiny_model,
)

COMMANDS = (preview, evaluate, audit, browse, harness, export, card, infos, stats, dummy_data, eval_articles, serve,
            cache, metric_data, tiny_model)
