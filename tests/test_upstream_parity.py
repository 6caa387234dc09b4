"""`evaluate --protocol mmsci` and `--protocol vlmevalkit` against the upstream scorers' own code, every key, to 1e-9.

The upstream code is not shipped with scifig and no CI machine can fetch it: set SCIFIG_UPSTREAM to a folder holding
snapshots of Leezekun/MMSci (c787815), open-compass/VLMEvalKit (e8e78f05), huggingface/evaluate (its metrics/) and
tensorflow/nmt (the BLEU evaluate downloads), each in a folder of that repository's name, and this runs them:
MMSci's textgen_scores.main over a predictions file built from the same predictions, and VLMEvalKit's
get_all_metrics_for_reference_based_metrics and merge_rating. `evaluate.load` fetches metric code from the Hub at
run time; here it is given the same scripts from the evaluate snapshot instead. BERTScore runs on both sides with the
same tiny local model (bert_score's table of languages pointed at it, as lang="en" then picks it).
"""

import importlib
import importlib.util
import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest

from scifig_tools import captioning, metric_resources, tiny_models
from scifig_tools import evaluate as ev

from helpers import DUMMY

UPSTREAM = os.environ.get("SCIFIG_UPSTREAM")
pytestmark = pytest.mark.skipif(not UPSTREAM, reason="SCIFIG_UPSTREAM (the upstream scorers' code) is not set")

K = 3


def _predictions(rows):
    """k samples per row: the reference itself, an unrelated text, a paraphrase, an empty one, varying by run."""
    shapes = [lambda c: c, lambda c: "A bar chart of unrelated quantities over time.",
              lambda c: " ".join(reversed(c.split()))[:200], lambda c: "", lambda c: c.split(".")[0] + "."]
    return {row["id"]: [shapes[(at + run) % len(shapes)](row["caption"]) for run in range(K)]
            for at, row in enumerate(rows)}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """evaluate's four metrics built from the snapshot's scripts, and bert_score's English model pointed at a
    tiny local RoBERTa."""
    import bert_score
    import evaluate

    metric_resources.nltk_ready()  # WordNet and Punkt for nltk: upstream's METEOR reads them too (else it is 0)
    root, work = Path(UPSTREAM), tmp_path_factory.mktemp("metrics")
    for name in ("bleu", "rouge", "meteor", "bertscore"):
        package = work / f"upstream_{name}"
        shutil.copytree(root / "evaluate" / "metrics" / name, package)
        (package / "__init__.py").write_text("")
    shutil.copy(root / "nmt" / "nmt" / "scripts" / "bleu.py", work / "upstream_bleu" / "nmt_bleu.py")
    sys.path.insert(0, str(work))
    metrics = {name: getattr(importlib.import_module(f"upstream_{name}.{name}"), cls)()
               for name, cls in (("bleu", "Bleu"), ("rouge", "Rouge"), ("meteor", "Meteor"),
                                 ("bertscore", "BERTScore"))}
    model = tiny_models.roberta(tmp_path_factory.mktemp("tiny-roberta"))
    bert_score.utils.lang2model["en"] = str(model)
    bert_score.utils.model2layers[str(model)] = 3
    original = evaluate.load
    evaluate.load = lambda name, *args, **kwargs: metrics[name]
    yield {"root": root, "model": str(model)}
    evaluate.load = original


def _rows():
    return ev.references("captioning", "validation", data_dir=str(DUMMY))


def test_the_mmsci_protocol_equals_textgen_scores(upstream, tmp_path):
    rows = _rows()
    predictions = _predictions(rows)
    sys.path.insert(0, str(upstream["root"] / "MMSci" / "mmsci-exps" / "eval"))
    textgen_scores = importlib.import_module("textgen_scores")
    # upstream's predictions file: the benchmark items in file order, each with its k predictions
    items = [{"image": f"{row['figure_id']}.png", "caption": row["caption"], "prediction": predictions[row["id"]]}
             for row in rows]
    (tmp_path / "run.json").write_text(json.dumps(items))
    runs = []
    for run in range(K):  # textgen_scores' __main__: main() once per sample index
        args = types.SimpleNamespace(input_json=str(tmp_path / "run.json"), answer_json=str(tmp_path / "run.json"),
                                     base_score_dir=str(tmp_path / "scores"), tag="t", overwrite=1,
                                     save_per_instance=None, eval_pred_idx=run)
        runs.append(textgen_scores.main(args)[1])
    theirs = {key: sum(run[key] for run in runs) / K for key in runs[0]}
    ours = captioning.score_mmsci(rows, predictions, k=K, bertscore=captioning.BertScore(upstream["model"], 3))
    assert set(theirs) == set(ours["scores"]) == set(captioning.MMSCI_KEYS)
    for key, value in theirs.items():
        assert ours["scores"][key] == pytest.approx(value, abs=1e-9), key
    assert ours["skipped_empty"] == [sum(1 for p in {r["figure_id"]: predictions[r["id"]][run] for r in rows}.values()
                                         if not p.strip()) for run in range(K)]


def test_the_vlmevalkit_protocol_equals_its_reference_based_columns(upstream, tmp_path, monkeypatch):
    import pandas as pd

    rows = _rows()
    predictions = {key: next(p for p in samples if p.strip()) for key, samples in _predictions(rows).items()}
    kit = upstream["root"] / "VLMEvalKit"
    package = types.ModuleType("vlmeval")  # the real vlmeval.smp, without vlmeval/__init__ (models, torch, ...)
    package.__path__ = [str(kit / "vlmeval")]
    monkeypatch.setitem(sys.modules, "vlmeval", package)
    smp = importlib.import_module("vlmeval.smp")
    package.dump, package.load, package.track_progress_rich = smp.dump, smp.load, None  # (the judge's only)
    # the scorer's file alone: importing vlmeval.dataset would import every dataset of VLMEvalKit
    spec = importlib.util.spec_from_file_location("vlmeval_mmsci", kit / "vlmeval" / "dataset" / "utils" / "mmsci.py")
    mmsci = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mmsci)
    data = pd.DataFrame([{"image_id": row["figure_id"], "prediction": predictions[row["id"]],
                          "caption": row["caption"], "subject": row["subject"], "category": row["category"]}
                         for row in rows])
    # MMSci_Captioning.evaluate's own steps: one candidate per image (the last row's), scored, put on every row
    candidates = {row.image_id: row.prediction for row in data.itertuples()}
    references = {row.image_id: [row.caption] for row in data.itertuples()}
    found = mmsci.get_all_metrics_for_reference_based_metrics(
        list(references.values()), [candidates[key] for key in references], list(references), str(tmp_path / "r.pkl"))
    data["reference_based_metrics"] = [str(found[row.image_id]) for row in data.itertuples()]
    smp.dump(data, str(tmp_path / "refer.pkl"))
    smp.dump(data.assign(g_eval_metrics=0), str(tmp_path / "geval.pkl"))
    table = mmsci.merge_rating(str(tmp_path / "refer.pkl"), str(tmp_path / "geval.pkl"), None)
    ours = captioning.score_vlmevalkit(rows, predictions, bertscore=captioning.BertScore(upstream["model"], 3))
    for row in table.itertuples():
        for column in captioning.VLMEVALKIT_COLUMNS:
            assert ours["table"][row.subject][column] == pytest.approx(getattr(row, column), abs=1e-9), (
                row.subject, column)
    assert ours["table"]["Overall"]["CD"] == 0.0
