"""The same replies score the same everywhere: lmms-eval's own evaluator over scifig's task folder against
`scifig_tools evaluate`, and the VLMEvalKit files read back against the builder's rows."""

import base64
import json
import os
import zlib

import datasets
import pandas as pd
import pytest

import scifig
from scifig import ANSWER_LETTERS
from scifig_tools import captioning, harness, lmms_tasks
from scifig_tools import evaluate as ev
from scifig_tools import scoring as sc
from scifig_tools.answers import ANSWER_INSTRUCTION
from scifig_tools.predictions import PredictionsError

from helpers import DUMMY, SCRIPTS_RUN, meteor_data, rows_of

if SCRIPTS_RUN:
    pytest.skip("the harnesses read the export, written and read with datasets >= 4", allow_module_level=True)

from scifig_tools import export  # noqa: E402

MCQ_CONFIGS = [name for name in scifig.CONFIG_NAMES if scifig.is_mcq(name) and name != "mcq"]


def _reply(row, context):
    """A fixed table of reply shapes, one picked per prompt: right and wrong letters bare or in phrases, an
    option's text, two letters, nonsense, nothing, a letter then an explanation."""
    right, wrong = ANSWER_LETTERS[row["answer"]], ANSWER_LETTERS[(row["answer"] + 1) % 4]
    shapes = [right, f"The answer is ({right}).", row["options"][row["answer"]], f"{wrong} or {right}",
              "I cannot tell from this figure.", "", f"{right}\n\nExplanation: the panels show it.", wrong,
              f"**{wrong}**", f"Therefore, {right}."]
    return shapes[zlib.crc32(context.encode("utf-8")) % len(shapes)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export.export(out, configs=MCQ_CONFIGS + ["mcq", "captioning"], data_dir=str(DUMMY), progress=False,
                  cache_dir=str(tmp_path_factory.mktemp("cache")))
    return out


def _rows(exported, config, circular=False):
    rows = ev.references(config, "validation", dataset=exported, circular=circular)
    return rows


@pytest.fixture(scope="module")
def lmms_results(exported, tmp_path_factory):
    if "CI" in os.environ:
        from lmms_eval import evaluator  # noqa: F401 - CI installs lmms-eval: a missing one is a failure there
    evaluator = pytest.importorskip("lmms_eval.evaluator", reason="tests/run.sh installs lmms-eval on this line")
    from lmms_eval.api.model import lmms
    from lmms_eval.tasks import TaskManager

    by_context = {}
    for config in MCQ_CONFIGS:
        for circular in (False, True):
            for row in _rows(exported, config, circular):
                by_context[row["prompt"] + ANSWER_INSTRUCTION] = row
    captions = {lmms_tasks.caption_doc_to_text(row): _caption_reply(row) for row in _caption_rows(exported)}

    class Stub(lmms):
        """Answers from the table above; "A" whatever the question when the task gives it no figure."""

        def generate_until(self, requests):
            return [captions[request.args[0]] if request.args[4] == "scifig_captioning" else
                    "A" if request.args[4].endswith("_blind") else _reply(by_context[request.args[0]],
                                                                          request.args[0])
                    for request in requests]

        def loglikelihood(self, requests):
            raise NotImplementedError

        def generate_until_multi_round(self, requests):
            raise NotImplementedError

    tasks = tmp_path_factory.mktemp("tasks")
    cwd = os.getcwd()
    os.chdir(exported.parent)  # the export named as a user in its parent folder names it; lmms-eval runs elsewhere
    try:
        harness.lmms_eval_tasks(tasks, exported.name)
    finally:
        os.chdir(cwd)
    os.chdir(tmp_path_factory.mktemp("run"))
    try:
        results = evaluator.simple_evaluate(model=Stub(), tasks=["scifig_mcq", "scifig_mcq_circular",
                                                                 "scifig_mcq_blind", "scifig_captioning"],
                                            task_manager=TaskManager(include_path=str(tasks)), log_samples=False)
        return results["results"]
    finally:
        os.chdir(cwd)


def _caption_rows(exported):
    return [dict(row, abstract=abstract) for row, abstract in zip(
        ev.references("captioning", "validation", dataset=exported),
        datasets.load_dataset(str(exported), "captioning", split="validation")["abstract"])]


def _caption_reply(row):
    """A fixed table of caption replies, one per figure: the reference, half of it, an unrelated text, nothing."""
    shapes = [row["caption"], row["caption"][: len(row["caption"]) // 2], "A bar chart of unrelated data.", ""]
    return shapes[zlib.crc32(row["figure_id"].encode()) % len(shapes)]


def test_lmms_eval_captioning_reports_the_mmsci_protocols_numbers(lmms_results, exported):
    meteor_data()
    rows = _caption_rows(exported)
    ours = captioning.score_mmsci(rows, {row["id"]: _caption_reply(row) for row in rows})["scores"]
    theirs = lmms_results["scifig_captioning"]
    assert {name: theirs[f"{name},none"] for name in lmms_tasks.CAPTION_METRICS if name != "bertscore"} == {
        name: ours[key] for name, key in lmms_tasks.CAPTION_METRICS.items() if name != "bertscore"}
    assert 0 < ours["BLEU-1"] < 1 and ours["METEOR"] > 0


def _predictions(rows):
    return {row["id"]: _reply(row, row["prompt"] + ANSWER_INSTRUCTION) for row in rows}


@pytest.mark.parametrize("config", MCQ_CONFIGS)
def test_lmms_eval_scores_each_task_as_scifig_evaluate_does(lmms_results, exported, config):
    rows = _rows(exported, config)
    ours = sc.score_mcq(rows, _predictions(rows))
    theirs = lmms_results[f"scifig_{config}"]
    assert theirs["accuracy,none"] == ours["overall"]["accuracy"]
    assert theirs["distinct_accuracy,none"] == ours["distinct_questions"]["accuracy"]
    assert theirs["unparsed,none"] == ours["unparsed"]["count"]
    assert theirs["by_category,none"] == {name: result["accuracy"] for name, result in ours["by_category"].items()}
    assert theirs["by_subject,none"] == {name: result["accuracy"] for name, result in ours["by_subject"].items()}


def test_the_group_is_the_whole_multiple_choice_config(lmms_results, exported):
    rows = _rows(exported, "mcq")
    ours = sc.score_mcq(rows, _predictions(rows))
    assert lmms_results["scifig_mcq"]["accuracy,none"] == pytest.approx(ours["overall"]["accuracy"])
    assert 0 < ours["unparsed"]["count"] < len(rows) and 0 < ours["overall"]["correct"] < len(rows)


@pytest.mark.parametrize("config", MCQ_CONFIGS)
def test_lmms_eval_circular_tasks_score_as_scifig_evaluate_circular(lmms_results, exported, config):
    rows = _rows(exported, config, circular=True)
    ours = sc.score_circular(rows, _predictions(rows))
    theirs = lmms_results[f"scifig_{config}_circular"]
    assert theirs["circular_accuracy,none"] == ours["circular"]["circular"]["accuracy"]
    assert theirs["vanilla_accuracy,none"] == ours["circular"]["vanilla"]["accuracy"]
    assert theirs["accuracy,none"] == ours["overall"]["accuracy"]
    assert theirs["unparsed,none"] == ours["unparsed"]["count"]


@pytest.mark.parametrize("config", MCQ_CONFIGS)
def test_lmms_eval_blind_tasks_and_the_image_gain(lmms_results, exported, config):
    rows = _rows(exported, config)
    blind = {row["id"]: "A" for row in rows}
    assert lmms_results[f"scifig_{config}_blind"]["accuracy,none"] == sc.score_mcq(rows, blind)["overall"]["accuracy"]
    gain = sc.image_gain(rows, _predictions(rows), blind)["overall"]["gain"]
    assert gain == pytest.approx(lmms_results[f"scifig_{config}"]["accuracy,none"]
                                 - lmms_results[f"scifig_{config}_blind"]["accuracy,none"])


@pytest.fixture(scope="module")
def tsvs(tmp_path_factory):
    return harness.vlmevalkit_tsvs(tmp_path_factory.mktemp("vlmevalkit"), data_dir=str(DUMMY))


def test_vlmevalkit_tsvs_hold_the_builder_rows(tsvs):
    names = {harness.vlmevalkit_name(c, "validation"): c for c in scifig.CONFIG_NAMES if scifig.is_mcq(c)}
    assert sorted(path.name for path in tsvs) == sorted(f"{name}.tsv" for name in names)
    for path, md5 in tsvs.items():
        config = names[path.stem]
        table = pd.read_csv(path, sep="\t")  # as VLMEvalKit loads it
        assert list(table.columns[:8]) == ["index", "image", "question", "A", "B", "C", "D", "answer"]
        assert list(table["index"]) == list(range(len(table))) and len(md5) == 32
        rows = {row["id"]: row for row in scifig.load(config, split="validation", streaming=True,
                                                       data_dir=str(DUMMY)).decode(False)}
        assert sorted(table["id"]) == sorted(rows)
        for line in table.to_dict("records"):
            row = rows[line["id"]]
            assert line["question"] == row["question"]
            assert [line[letter] for letter in ANSWER_LETTERS] == row["options"]
            assert line["answer"] == ANSWER_LETTERS[row["answer"]]
            assert base64.b64decode(line["image"]) == row["image"]["bytes"]
            assert (line["category"], line["l2-category"], line["subject"]) == (
                scifig.category_name(row["category"]), row["subject"], row["subject"])
            assert line["setting"] == harness.VLMEVALKIT_SETTINGS[scifig.SETTINGS[row["setting"]]]


def test_vlmevalkit_names_follow_the_rule_its_scorer_picks_a_report_by(tsvs):
    """VLMEvalKit (commit e8e78f05, ImageMCQDataset.evaluate_heuristic) reports a file whose name holds "MMSci" with
    report_acc_MMSci, which needs the three settings, and scores a name holding mmbench, ccbench, circular or mmcr
    circularly: only the file of every setting may say MMSci, and none may be circular."""
    assert harness.VLMEVALKIT_MMSCI_MARKER == "MMSci"
    assert harness.VLMEVALKIT_CIRCULAR_MARKERS == ("mmbench", "ccbench", "circular", "mmcr")
    for path in tsvs:
        settings = set(pd.read_csv(path, sep="\t")["setting"])
        assert ("MMSci" in path.stem) == (settings == {"Fig2Cap", "SubFig2Cap", "SubCap2Fig"}), path.name
        assert not any(marker in path.stem.lower() for marker in harness.VLMEVALKIT_CIRCULAR_MARKERS)
    assert harness.vlmevalkit_name("mcq", "validation") == "MMSci_scifig_mcq_validation"
    assert harness.vlmevalkit_name("mcq_fig2cap", "validation") == "scifig_mcq_fig2cap_validation"


def test_evaluate_reads_vlmevalkit_prediction_files(tsvs, tmp_path):
    """VLMEvalKit writes its predictions as the TSV's table (image dropped) plus `prediction`, in xlsx or tsv."""
    path = next(path for path in tsvs if path.name == "MMSci_scifig_mcq_validation.tsv")
    table = pd.read_csv(path, sep="\t").drop(columns=["image"])
    rows = ev.references("mcq", "validation", data_dir=str(DUMMY))
    replies = {row["id"]: _reply(row, row["prompt"]) for row in rows}
    table["prediction"] = [replies[key] for key in table["id"]]
    expected = sc.score_mcq(rows, replies)
    for suffix in ("xlsx", "tsv"):
        written = tmp_path / f"model_MMSci_scifig_mcq_validation.{suffix}"
        table.to_excel(written, index=False) if suffix == "xlsx" else table.to_csv(written, sep="\t", index=False)
        metrics = ev.evaluate("mcq", "validation", predictions=written, data_dir=str(DUMMY), browse_errors=False)
        assert metrics["overall"] == expected["overall"] and metrics["unparsed"] == expected["unparsed"]


def test_a_prediction_table_without_ids_says_why(tmp_path):
    path = tmp_path / "p.tsv"
    pd.DataFrame({"index": [0], "prediction": ["A"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(PredictionsError, match="no id column"):
        ev.read_predictions(path)


def test_the_export_reads_back_as_its_datasets_rows(exported):
    """What the lmms-eval tasks read (the export, through datasets) is the builder's split, row for row."""
    exported_rows = datasets.load_dataset(str(exported), "mcq_fig2cap", split="validation")
    built = scifig.load("mcq_fig2cap", split="validation", data_dir=str(DUMMY))
    assert exported_rows.num_rows == built.num_rows > 0
    assert rows_of(exported_rows) == rows_of(built)


def test_lmms_eval_tasks_name_the_export_by_its_absolute_path_and_refuse_archives(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(exported.parent)
    written = harness.lmms_eval_tasks(tmp_path / "tasks", exported.name)
    assert f"dataset_path: {json.dumps(str(exported.resolve()))}" in written["scifig_mcq_fig2cap"].read_text()
    with pytest.raises(ValueError, match="dummy_data is not a scifig export"):
        harness.lmms_eval_tasks(tmp_path / "tasks", str(DUMMY))
    hub = harness.lmms_eval_tasks(tmp_path / "hub", "example-org/scifig")["scifig_mcq_fig2cap"].read_text()
    assert 'dataset_path: "example-org/scifig"' in hub
