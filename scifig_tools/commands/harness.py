"""`python -m scifig_tools harness lmms-eval|vlmevalkit OUT`: task files for an evaluation harness."""

import argparse

from scifig_tools.cli import add_command, add_source


def register(commands):
    parser = add_command(commands, "harness", "write task files for an evaluation harness")
    harnesses = parser.add_subparsers(dest="kind", required=True, metavar="HARNESS")

    lmms = add_command(harnesses, "lmms-eval", "lmms-eval tasks reading an export")
    lmms.add_argument("out_dir", help="the folder to write into: lmms-eval's --include_path")
    lmms.add_argument("--dataset", required=True, help="a folder written by `export`, or its Hub id")
    lmms.add_argument("--split", default="validation", help="the split the tasks evaluate")
    lmms.set_defaults(run=run_lmms_eval)

    vlmevalkit = add_command(harnesses, "vlmevalkit", "VLMEvalKit multiple-choice TSVs")
    vlmevalkit.add_argument("out_dir", help="the folder to write into: VLMEvalKit's $LMUData (is it set in this "
                                            "shell?)")
    vlmevalkit.add_argument("--dataset", help="a folder written by `export`, or its Hub id, instead of the archives")
    vlmevalkit.add_argument("--split", default="validation", help="the split the TSVs hold")
    add_source(vlmevalkit)
    vlmevalkit.set_defaults(run=run_vlmevalkit)


def run_lmms_eval(args: argparse.Namespace) -> int:
    """Writes lmms-eval's task folder.

    Args:
        args: the parsed command line (out_dir, dataset, split).

    Returns:
        The exit status, 0.
    """
    from scifig_tools.harness import lmms_eval_tasks

    paths = lmms_eval_tasks(args.out_dir, args.dataset, args.split)
    print(f"wrote {len(paths)} tasks and groups to {args.out_dir}: "
          f"lmms-eval --model <model> --include_path {args.out_dir} --tasks scifig_mcq")
    return 0


def run_vlmevalkit(args: argparse.Namespace) -> int:
    """Writes one TSV per multiple-choice config and prints each with its md5.

    Args:
        args: the parsed command line (out_dir, dataset or data_dir or base_url, split).

    Returns:
        The exit status, 0.
    """
    from scifig_tools.harness import vlmevalkit_tsvs

    for path, md5 in vlmevalkit_tsvs(args.out_dir, args.split, args.data_dir, args.base_url, args.dataset).items():
        print(f"{path}  md5 {md5}")
    return 0
