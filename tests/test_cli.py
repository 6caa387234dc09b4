"""The command line as a newcomer meets it: one clear line and a non-zero exit for a mistake or bad data, the
traceback only with --debug, what a missing argument is for, paths printed as paths, outputs ignored by git."""

import json
import os
import subprocess
import sys

from scifig_tools.layout import benchmark_image, benchmark_json, write_zip

from helpers import DUMMY, ROOT


def _tools(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "scifig_tools", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _broken_benchmark(folder):
    bad = {"uid": "ncomms1", "category": "Physical sciences", "subject": "Physics", "image": "ncomms1_figure_0.png",
           "question": "Q?\nA: a\nB: b\nC: c\nD: d", "answer": "Q"}
    write_zip(folder / "benchmark.zip", {benchmark_json("validation", "mcq"): json.dumps([[bad], [], []]).encode(),
                                         benchmark_image("validation", bad["image"]): b"not a png"})
    return folder


def test_bad_data_ends_in_one_line_naming_the_record(tmp_path):
    data_dir = str(_broken_benchmark(tmp_path))
    result = _tools("evaluate", "--config", "mcq", "--baseline", "random", "--data-dir", data_dir)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("python -m scifig_tools evaluate: ") and "record 0 of setting fig2cap" in line
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = _tools("--debug", "evaluate", "--config", "mcq", "--baseline", "random", "--data-dir",
                    str(_broken_benchmark(tmp_path)))
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
    assert "ScifigDataError" in result.stderr


def test_mistakes_and_missing_inputs_end_in_one_line(tmp_path):
    for args, said in [
        (["evaluate", "--config", "mcqq", "--baseline", "random", "--data-dir", str(DUMMY)], "unknown config 'mcqq'"),
        (["evaluate", "--config", "mcq", "--predictions", str(tmp_path / "none.jsonl"), "--data-dir", str(DUMMY)],
         "No such file or directory"),
        (["preview", "mcq", "--data-dir", str(tmp_path / "nowhere")], "holds neither benchmark.zip"),
    ]:
        result = _tools(*args)
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.splitlines()
        assert said in line, line


def test_a_missing_positional_says_what_it_is_for():
    result = _tools("harness", "vlmevalkit")  # as `harness vlmevalkit $LMUData` reads with LMUData unset
    assert result.returncode == 2
    assert "the following arguments are required: out_dir" in result.stderr
    assert "out_dir: the folder to write into: VLMEvalKit's $LMUData (is it set in this shell?)" in result.stderr


def test_output_paths_print_normalised(tmp_path):
    result = _tools("evaluate", "--config", "mcq", "--baseline", "first-option", "--data-dir", str(DUMMY),
                    "--out", "eval/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote eval/metrics.json," in result.stdout and "//" not in result.stdout


def test_what_the_readme_has_users_write_is_ignored_by_git():
    for path in ("preds.jsonl", "eval/metrics.json", "scifig_tasks/scifig_mcq.yaml"):
        found = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert found.returncode == 0, f"{path} is not in .gitignore"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--predictions preds.jsonl --out eval" in readme and "harness lmms-eval scifig_tasks" in readme


def test_preview_and_browse_of_a_train_only_config_take_its_split(tmp_path):
    preview = _tools("preview", "pretraining", "--data-dir", str(DUMMY), "--limit", "1")
    assert preview.returncode == 0 and "scifig/pretraining [train] features:" in preview.stdout
    browse = _tools("browse", "pretraining", "--data-dir", str(DUMMY), "--out", str(tmp_path / "site"))
    assert browse.returncode == 0, browse.stderr
    assert "browse: pretraining [train] (browse shows captioning, mcq," in browse.stdout
    wrong = _tools("browse", "chat", "--data-dir", str(DUMMY), "--out", str(tmp_path / "chat"))
    assert wrong.returncode == 2 and "invalid choice: 'chat'" in wrong.stderr


def test_every_option_of_every_command_has_help_and_shows_its_default():
    from scifig_tools.__main__ import parser

    commands = parser()._subparsers._group_actions[0].choices
    for name, command in [*commands.items(), *commands["harness"]._subparsers._group_actions[0].choices.items()]:
        for action in command._actions:
            if action.dest not in ("help", "run", "kind"):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        defaults = [action for action in command._actions if action.option_strings and action.default not in (
            None, False, "==SUPPRESS==")]
        assert "(default:" in command.format_help() or not defaults, name
