"""Captioning scored by three protocols: the metrics as upstream's `evaluate` scripts call them, per figure (a figure
filed twice counted once), empty predictions skipped and counted, k samples averaged, VLMEvalKit's columns with its
CIDEr as it computes it, METEOR and BERTScore offline or said to be unavailable, and the G-Eval judge through a real
OpenAI-compatible server backed by a tiny model."""

import hashlib
import json
import random
import subprocess
import sys

import pytest

from scifig_tools import captioning, judge, metric_resources, tiny_models
from scifig_tools import evaluate as ev

from helpers import DUMMY, ROOT, meteor_data

ROWS = ev.references("captioning", "validation", data_dir=str(DUMMY))


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    pytest.importorskip("bert_score", reason="tests/run.sh installs bert-score on the current line")
    return str(tiny_models.roberta(tmp_path_factory.mktemp("tiny-roberta")))


def test_bleu_is_nmts_over_13a_tokens_per_sample():
    assert captioning.bleu("The dog runs, fast.", "The dog runs, fast.") == {"bleu": 1.0,
                                                                             "precisions": [1.0, 1.0, 1.0, 1.0]}
    # 13a splits the comma and the full stop off: 6 tokens, 5 of them in the reference's order
    found = captioning.bleu("The dog runs, slowly.", "The dog runs, fast.")
    assert found["precisions"] == [5 / 6, 3 / 5, 2 / 4, 1 / 3]
    assert found["bleu"] == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    assert captioning.bleu("cat", "The dog runs")["bleu"] == 0.0  # a zero precision: no smoothing


def test_the_figure_filed_under_two_subjects_counts_once_with_its_later_prediction():
    twice = [row for row in ROWS if row["figure_id"] == "ncomms90005_figure_1"]
    assert len(twice) == 2 and len(ROWS) == 4
    predictions = {row["id"]: row["caption"] for row in ROWS}
    predictions[twice[0]["id"]] = "nothing like it"
    pairs = captioning.per_figure(ROWS, predictions)
    assert [row["figure_id"] for row, _ in pairs] == ["ncomms90004_figure_1", "ncomms90005_figure_1",
                                                       "ncomms90006_figure_10"]
    assert pairs[1] == (twice[1], twice[1]["caption"])
    assert captioning.score_mmsci(ROWS, predictions)["scores"]["BLEU"] == pytest.approx(1.0)


def test_mmsci_skips_empty_predictions_counts_them_and_averages_k_runs():
    captions = {row["id"]: row["caption"] for row in ROWS}
    samples = {key: [caption, "", "an unrelated caption of some plot"] for key, caption in captions.items()}
    found = captioning.score_mmsci(ROWS, samples, k=3)
    assert found["skipped_empty"] == [0, 3, 0]
    runs = [captioning.score_mmsci(ROWS, {key: [value[run]] * 1 for key, value in samples.items()}, k=1)
            for run in range(3)]
    # run 1 is all empty: nan, and so is the mean, as upstream's np.mean would give
    assert runs[0]["scores"]["BLEU"] == pytest.approx(1.0)
    assert all(value != value for value in found["runs"][1].values())
    assert set(found["scores"]) >= {"BLEU-1", "BLEU-4", "BLEU", "rouge1", "rouge2", "rougeL", "rougeLSum"}
    # a row with no prediction scores 0 (every row counts), unless only the predicted ones are asked for
    one = {ROWS[0]["id"]: ROWS[0]["caption"]}
    assert captioning.score_mmsci(ROWS, one)["scores"]["BLEU"] == pytest.approx(1 / 3)
    assert captioning.score_mmsci(ROWS, one, only_predicted=True)["scores"]["BLEU"] == pytest.approx(1.0)


def test_vlmevalkit_columns_and_its_cider_that_is_always_zero():
    predictions = {row["id"]: row["caption"] for row in ROWS}
    found = captioning.score_vlmevalkit(ROWS, predictions)
    overall = found["table"]["Overall"]
    assert overall["B2"] == pytest.approx(100.0) and overall["RL"] == pytest.approx(100.0)
    assert overall["CD"] == 0.0 and "compute_cider" in found["note"]
    assert found["rows"] == 4 and found["figures"] == 3  # the figure filed twice: one score, on both rows
    assert set(found["table"]) == {"Optics and photonics", "Ecology", "Materials science",
                                   "CATEGORY_Physical sciences", "CATEGORY_Earth and environmental sciences",
                                   "CATEGORY_Biological sciences", "Overall"}
    # the same call, with pycocoevalcap's argument types, is not 0: VLMEvalKit's list where a dict belongs is
    from pycocoevalcap.cider.cider import Cider

    assert captioning.vlmevalkit_cider("a plot of b", "a plot of b") == 0.0
    assert Cider().compute_score({0: ["a plot of b"], 1: ["c d e"]}, {0: ["a plot of b"], 1: ["c d e"]})[0] > 0


def test_scifig_protocol_has_corpus_scores_and_per_figure_intervals():
    predictions = {row["id"]: row["caption"] for row in ROWS}
    predictions[ROWS[0]["id"]] = ""
    found = captioning.score_scifig(ROWS, predictions)
    assert found["figures"] == 3 and found["empty_predictions"] == 1
    assert found["scores"]["ROUGE-L"]["mean"] == pytest.approx(2 / 3)
    low, high = found["scores"]["ROUGE-L"]["ci95"]
    assert low < 2 / 3 < high and found["corpus"]["CIDEr-D"] > 0 and "\\w+" in found["cider_tokens"]


def test_meteor_reads_wordnet_offline_and_says_so_when_it_cannot(tmp_path, monkeypatch):
    meteor_data()
    synonyms = captioning.meteor("the hound runs", "the dog runs")
    assert synonyms > captioning.meteor("the cat runs", "the dog runs")  # WordNet matches hound to dog
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nowhere")])
    monkeypatch.setenv("SCIFIG_NLTK_DATA", str(tmp_path / "built"))
    monkeypatch.setattr(metric_resources, "DEBIAN_WORDNET", tmp_path / "no-wordnet")
    with pytest.raises(captioning.MetricUnavailable, match="apt-get install wordnet-base wordnet-sense-index"):
        captioning.meteor("a", "a")
    found = captioning.score_mmsci(ROWS, {row["id"]: row["caption"] for row in ROWS})
    assert "METEOR" not in found["scores"] and "wordnet" in found["unavailable"]["METEOR"]


def test_bertscore_with_a_local_model_and_a_clear_error_without_one(tiny_roberta, tmp_path):
    scorer = captioning.BertScore(tiny_roberta)
    assert scorer("the dog runs", "the dog runs") == pytest.approx(1.0, abs=1e-5) and scorer.layer == 3
    predictions = {row["id"]: row["caption"] for row in ROWS}
    predictions[ROWS[0]["id"]] = "   "  # bert-score 0.3.13 raises on an empty candidate: it never gets one
    assert captioning.score_mmsci(ROWS, predictions, bertscore=scorer)["scores"]["BERTSCORE"] == pytest.approx(
        1.0, abs=1e-5)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": row["id"], "prediction": row["caption"]}) + "\n" for row in ROWS))
    result = subprocess.run([sys.executable, "-m", "scifig_tools", "evaluate", "--config", "captioning",
                             "--data-dir", str(DUMMY), "--predictions", str(path), "--protocol", "mmsci",
                             "--bertscore-model", "roberta-large"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                                         "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert "BERTScore's model" in result.stderr and "cannot be had here" in result.stderr


def test_the_cli_scores_k_samples_by_the_mmsci_protocol(tmp_path, tiny_roberta):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": row["id"], "prediction": [row["caption"], "something else"]}) + "\n"
                            for row in ROWS))
    result = subprocess.run([sys.executable, "-m", "scifig_tools", "evaluate", "--config", "captioning",
                             "--data-dir", str(DUMMY), "--predictions", str(path), "--protocol", "mmsci", "--k", "2",
                             "--bertscore-model", tiny_roberta, "--out", str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["protocol"] == "mmsci" and metrics["mmsci"]["k"] == 2
    assert metrics["mmsci"]["scores"]["BLEU-1"] == pytest.approx(
        (1 + metrics["mmsci"]["runs"][1]["BLEU-1"]) / 2)
    assert "BERTSCORE" in result.stdout and "skipped, as upstream does: 0, 0" in result.stdout


def test_the_judge_rating_is_read_as_upstream_reads_it():
    assert judge.rating(["The score is 4", "3", "5"]) == 3  # the first whole number wins
    assert judge.rating(["about 4", "maybe 2 or 5"]) == 2  # else the last reply holding a digit 1-5
    assert judge.rating(["no idea", ""]) == 0


def test_the_judge_through_an_openai_compatible_server_backed_by_a_tiny_model(tmp_path):
    pytest.importorskip("openai", reason="tests/run.sh installs openai on the current line")
    from openai_server import ChatServer

    server = ChatServer(tiny_models.judge(tmp_path / "judge")).start()
    try:
        predictions = {row["id"]: row["caption"] for row in ROWS}
        scoring = ev.CaptionScoring(protocol="scifig", bertscore_model="none", judge_url=server.url,
                                    judge_model="tiny-judge", judge_sample=2, seed=7)
        found = judge.relevance(ROWS, predictions, scoring)
    finally:
        server.stop()
    assert found["sample"] == 2 and found["seed"] == 7 and found["model"] == "tiny-judge"
    figures = [row["figure_id"] for row, _ in captioning.per_figure(ROWS, predictions)]
    assert found["figures"] == [figures[at] for at in sorted(random.Random(7).sample(range(len(figures)), 2))]
    request = server.requests[0]
    assert request["n"] == 10 and request["temperature"] == 1 and request["max_tokens"] == 16
    assert request["messages"][0] == {"role": "system", "content": judge.prompt()}
    assert request["messages"][1]["content"].endswith("What is the relevance score (1-5)? Return the score ONLY!")
    # what it reports is upstream's reading of what the server sent, averaged: per figure, asked again while 0
    ratings = [judge.rating(completions) for completions in server.completions]
    per_figure, kept = [], []
    for value in ratings:
        kept.append(value)
        if value or len(kept) == judge.ATTEMPTS:
            per_figure.append(value)
            kept = []
    assert len(per_figure) == 2 and found["relevance"] == pytest.approx(sum(per_figure) / 2)
    assert found["prompt_sha256"] == hashlib.sha256(judge.prompt().encode()).hexdigest()[:16]
