"""Circular and blind scoring, on runs whose right answers are known by construction."""

import collections

import pytest

import scifig
from scifig_tools import evaluate as ev
from scifig_tools import scoring as sc
from scifig_tools.predictions import write_predictions

from helpers import DUMMY

LETTERS = "ABCD"


@pytest.fixture(scope="module")
def plain():
    return ev.references("mcq", "validation", data_dir=str(DUMMY))


@pytest.fixture(scope="module")
def rotated():
    return ev.references("mcq", "validation", data_dir=str(DUMMY), circular=True)


def test_every_question_comes_once_per_rotation_with_its_answer_moved(plain, rotated):
    assert len(rotated) == 4 * len(plain)
    by_id = {row["id"]: row for row in plain}
    for row in rotated:
        original = by_id[sc.question_of(row["id"])]
        k = int(row["id"].rsplit("-c", 1)[1])
        assert row["options"][(original["answer"] + k) % 4] == original["options"][original["answer"]]
        assert row["options"][row["answer"]] == original["options"][original["answer"]]
        assert row["prompt"] == row["question"] + "".join(f"\n{x}: {o}" for x, o in zip(LETTERS, row["options"]))
        assert (k == 0) == (row["options"] == original["options"])


def test_withheld_answers_stay_withheld():
    test = ev.references("mcq", "test", data_dir=str(DUMMY), circular=True)
    assert test and {row["answer"] for row in test} == {-1}


def test_circular_is_only_for_multiple_choice():
    with pytest.raises(ValueError, match="circular=True rotates multiple-choice options; captioning has none"):
        scifig.load("captioning", split="validation", streaming=True, data_dir=str(DUMMY), circular=True)


def test_always_answering_a_shows_position_bias_and_no_circular_credit(rotated, tmp_path):
    path = write_predictions({row["id"]: "A" for row in rotated}, tmp_path / "a.jsonl")
    metrics = ev.evaluate("mcq", "validation", predictions=path, data_dir=str(DUMMY), circular=True)
    found = metrics["circular"]
    questions = len(rotated) // 4
    originally_a = sum(row["answer"] == 0 for row in rotated if row["id"].endswith("-c0"))
    assert found["questions"] == questions
    assert found["vanilla"]["correct"] == originally_a and found["vanilla"]["n"] == questions
    assert found["circular"]["correct"] == 0  # "A" is right in exactly one rotation of each question
    assert found["accuracy_by_correct_letter"]["A"]["accuracy"] == 1.0
    assert all(found["accuracy_by_correct_letter"][letter]["accuracy"] == 0.0 for letter in "BCD")
    assert found["predicted_letters"] == {"A": len(rotated), "B": 0, "C": 0, "D": 0, "unparsed": 0}


def test_a_question_counts_only_when_every_rotation_is_right(rotated, tmp_path):
    # right on every rotation of the first half of the questions; on the rest, right except on -c3
    questions = sorted({sc.question_of(row["id"]) for row in rotated})
    perfect = set(questions[: len(questions) // 2])
    predictions = {}
    for row in rotated:
        right = LETTERS[row["answer"]]
        wrong = LETTERS[(row["answer"] + 1) % 4]
        predictions[row["id"]] = right if sc.question_of(row["id"]) in perfect or not row["id"].endswith("-c3") \
            else f"The answer is {wrong}."
    metrics = sc.score_circular(rotated, predictions)
    assert metrics["circular"]["circular"]["correct"] == len(perfect)
    assert metrics["circular"]["vanilla"]["accuracy"] == 1.0
    assert metrics["overall"]["correct"] == len(rotated) - (len(questions) - len(perfect))
    by_setting = collections.Counter(row["setting"] for row in rotated if sc.question_of(row["id"]) in perfect
                                     and row["id"].endswith("-c0"))
    assert {s: r["correct"] for s, r in metrics["circular"]["circular_by_setting"].items()} == {
        s: by_setting.get(s, 0) for s in metrics["circular"]["circular_by_setting"]}


def test_a_rotation_left_unanswered_makes_its_question_wrong_or_with_only_predicted_leaves_it_out(rotated):
    predictions = {row["id"]: LETTERS[row["answer"]] for row in rotated}
    del predictions[rotated[0]["id"]]
    found = sc.score_circular(rotated, predictions)["circular"]
    questions = len(rotated) // 4
    assert found["partly_predicted"] == 1 and found["questions"] == questions
    assert found["circular"]["correct"] == questions - 1
    found = sc.score_circular(rotated, predictions, only_predicted=True)["circular"]
    assert found["questions"] == questions - 1 and found["circular"]["accuracy"] == 1.0


def test_image_gain_of_a_perfect_run_over_a_blind_one(plain, tmp_path):
    seen = write_predictions({row["id"]: LETTERS[row["answer"]] for row in plain}, tmp_path / "seen.jsonl")
    blind = write_predictions({row["id"]: "A" for row in plain}, tmp_path / "blind.jsonl")
    metrics = ev.evaluate("mcq", "validation", predictions=seen, blind_predictions=blind, data_dir=str(DUMMY))
    gain = metrics["image_gain"]["overall"]
    share_a = sum(row["answer"] == 0 for row in plain) / len(plain)
    assert gain["n"] == len(plain) and gain["with_image"] == 1.0
    assert gain["gain"] == pytest.approx(1.0 - share_a)
    assert gain["ci95"][0] <= gain["gain"] <= gain["ci95"][1]
    assert set(metrics["image_gain"]["by_setting"]) == set(scifig.SETTINGS)
    assert "Image gain" in ev.markdown(metrics, "t")


def test_an_identical_blind_run_gains_nothing(plain):
    same = {row["id"]: "B" for row in plain}
    gain = sc.image_gain(plain, same, same)["overall"]
    assert gain["gain"] == 0.0 and gain["ci95"] == [0.0, 0.0]
