"""Scores count every row: a row without a prediction is wrong, the first line says the coverage, `--only-predicted`
says on how many rows every table is, and an empty predictions file is an error."""

import json
import subprocess
import sys

import pytest

import scifig
from scifig import ANSWER_LETTERS
from scifig_tools import evaluate as ev

from helpers import DUMMY, ROOT


def _evaluate(tmp_path, lines, *options, config="mcq"):
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "scifig_tools", "evaluate", "--config", config, "--split",
                           "validation", "--data-dir", str(DUMMY), "--predictions", str(path), "--out",
                           str(tmp_path / "out"), *options], cwd=ROOT, capture_output=True, text=True, timeout=600)


def _right_half():
    rows = list(scifig.load("mcq", split="validation", streaming=True, data_dir=str(DUMMY)).select_columns(
        ["id", "answer"]))
    return rows, [json.dumps({"id": row["id"], "prediction": ANSWER_LETTERS[row["answer"]]})
                  for row in rows[: len(rows) // 2]]


def test_half_the_predictions_score_half_and_the_first_line_says_so(tmp_path):
    rows, lines = _right_half()
    result = _evaluate(tmp_path, lines)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"Coverage: {len(lines)} of {len(rows)} rows predicted") and "count as wrong" in first
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["overall"]["accuracy"] == pytest.approx(len(lines) / len(rows))
    assert metrics["overall_on_predicted"]["accuracy"] == 1.0
    assert metrics["coverage"]["missing_ids"] == [row["id"] for row in rows[len(lines):]]
    assert metrics["config"] == "mcq" and metrics["split"] == "validation"
    assert metrics["software"]["code"] == scifig.code_hash()
    [(archive, identity)] = metrics["data"]["archives"].items()
    assert archive == "benchmark" and identity.startswith(str((DUMMY / "benchmark.zip").resolve()))


def test_only_predicted_scores_the_predicted_rows_and_every_table_says_on_how_many(tmp_path):
    rows, lines = _right_half()
    result = _evaluate(tmp_path, lines, "--only-predicted")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["overall"]["accuracy"] == 1.0 and metrics["coverage"]["only_predicted"]
    on = f"on {len(lines)} of {len(rows)} rows"
    assert result.stdout.count(on) >= 3 and "--only-predicted" in result.stdout.splitlines()[0]


UNREADABLE = [
    ("", "holds no predictions"),
    ("\n\n", "holds no predictions"),
    ('{"id": "x", "prediction": "A"\n', ":1: not JSON (Expecting ',' delimiter at the end of the line)"),
    ('{"id": "x", "prediction": A}\n', ":1: not JSON (Expecting value at character 27)"),
]


@pytest.mark.parametrize("content,message", UNREADABLE)
def test_an_empty_or_unreadable_predictions_file_is_an_error_in_one_line(tmp_path, content, message):
    result = _evaluate(tmp_path, [content] if content else [])
    assert result.returncode == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out" / "metrics.json").exists()


def test_a_caption_left_unpredicted_scores_zero(tmp_path):
    rows = ev.references("captioning", "validation", data_dir=str(DUMMY))
    perfect = {row["id"]: row["caption"] for row in rows if row["caption"] is not None}
    half = dict(list(perfect.items())[:1])
    whole, partial = ev.score_captioning(rows, perfect), ev.score_captioning(rows, half)
    figures = whole["scifig"]["figures"]
    assert partial["scifig"]["figures"] == figures == 3 and partial["coverage"]["missing"] == len(rows) - 1
    assert partial["scifig"]["scores"]["ROUGE-L"]["mean"] == pytest.approx(1 / figures)
    assert ev.score_captioning(rows, half, only_predicted=True)["scifig"]["figures"] == 1
