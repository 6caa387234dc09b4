"""The scorer, the audit and the browse page: metrics against values worked out by hand, every extraction rule,
every error case, and the page opened in a real headless Chromium."""

import html.parser
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

import scifig
from scifig_tools import audit as audit_tool
from scifig_tools import captioning, dummy_data
from scifig_tools import evaluate as ev
from scifig_tools import scoring as sc
from scifig_tools.audit import audit
from scifig_tools.browse import browse
from scifig_tools.layout import benchmark_json
from scifig_tools.predictions import PredictionsError

from helpers import DUMMY, ROOT

OPTIONS = ["Concentration spectra.", "Temperature spectra.", "UV/Vis absorption.", "Emission spectra."]


def _mcq_rows():
    base = {"options": OPTIONS, "setting": "fig2cap", "category": "Physical sciences", "subject": "Physics"}
    return [dict(base, id=f"r{i}", figure_id=f"ncomms{i}_figure_0", prompt=f"Q{i}?", answer=answer)
            for i, answer in enumerate([0, 1, 2, 3, -1, 0], 1)]


def test_a_question_asked_under_two_subjects_counts_once_among_distinct_questions():
    rows = _mcq_rows()[:4]
    rows.append(dict(rows[0], id="r1-again", subject="Chemistry"))  # the same figure, setting and prompt
    metrics = sc.score_mcq(rows, {"r1": "A", "r1-again": "A", "r2": "C", "r3": "C", "r4": "C"})
    assert (metrics["overall"]["n"], metrics["overall"]["correct"]) == (5, 3)  # every entry, as MMSci counts
    assert (metrics["distinct_questions"]["n"], metrics["distinct_questions"]["correct"]) == (4, 2)
    assert metrics["distinct_figures"] == 4
    assert metrics["by_subject"]["Chemistry"]["n"] == 1 and metrics["by_subject"]["Physics"]["n"] == 4


def test_mcq_accuracy_coverage_unparsed_and_wilson_interval():
    predictions = {"r1": "A", "r2": "Answer: B", "r3": "(D)", "r4": "A or B", "r5": "A"}
    metrics = sc.score_mcq(_mcq_rows(), predictions, only_predicted=True)
    assert metrics["coverage"] == {"rows": 6, "predicted": 5, "missing": 1, "fraction": 5 / 6, "missing_ids": ["r6"],
                                   "scored": 4, "only_predicted": True}
    assert metrics["unscorable"] == 1
    assert metrics["unparsed"] == {"count": 1, "examples": [{"id": "r4", "prediction": "A or B"}]}
    overall = metrics["overall"]
    assert (overall["n"], overall["correct"], overall["accuracy"]) == (4, 2, 0.5)
    # Wilson, p = 1/2, n = 4, z = 1.959964: centre 1/2, half-width z*sqrt(1/16 + z^2/64)/(1 + z^2/4) = 0.349962
    assert overall["ci95"] == pytest.approx([0.150038, 0.849962], abs=1e-5)
    assert metrics["by_setting"]["fig2cap"]["n"] == 4


def test_a_row_without_a_prediction_counts_as_wrong_unless_only_predicted_is_asked():
    predictions = {"r1": "A", "r2": "B", "r3": "D"}  # half the scorable rows: r4, r6 are not predicted
    every = sc.score_mcq(_mcq_rows(), predictions)
    assert (every["overall"]["n"], every["overall"]["correct"]) == (5, 2)
    assert every["coverage"]["missing_ids"] == ["r4", "r5", "r6"] and every["coverage"]["scored"] == 5
    assert every["by_setting"]["fig2cap"]["accuracy"] == pytest.approx(2 / 5)
    predicted = sc.score_mcq(_mcq_rows(), predictions, only_predicted=True)
    assert (predicted["overall"]["n"], predicted["overall"]["correct"]) == (3, 2)
    assert "on 3 of 5 rows" in ev.markdown(predicted, "t") and "on 3 of 5" not in ev.markdown(every, "t")
    assert ev.coverage_line(every).startswith("Coverage: 3 of 6 rows predicted") and (
        "the 3 without a prediction count as wrong (r4, r5, r6" in ev.coverage_line(every))


def test_ambiguous_subjects_are_reported_with_their_category():
    categories = ["Biological sciences", "Earth and environmental sciences"]
    rows = [dict(r, subject="Ecology", category=c) for r, c in zip(_mcq_rows()[:2], categories)]
    metrics = sc.score_mcq(rows, {"r1": "A", "r2": "C"})
    assert metrics["by_subject"] == {
        "Ecology (Biological sciences)": sc.accuracy([True]),
        "Ecology (Earth and environmental sciences)": sc.accuracy([False]),
    }


@pytest.mark.parametrize("lines,message", [
    (['{"id": "r1", "prediction": "A"}', '{"id": "nope", "prediction": "B"}'],
     "1 prediction ids are not in the split: nope"),
    (['{"id": "r1", "prediction": "A"}', '{"id": "r1", "prediction": "B"}'], "duplicate ids (1): r1"),
    (['{"id": "r1", "prediction": "A"}', "not json"], ":2: not JSON"),
    (['{"id": "r1", "answer": "A"}'], ':1: expected {"id": str, "prediction": str}'),
])
def test_prediction_file_errors_name_the_problem(tmp_path, lines, message):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PredictionsError) as error:
        sc.score_mcq(_mcq_rows(), ev.read_predictions(path))
    assert message in str(error.value)


def test_the_scifig_protocols_corpus_bleu_and_rouge_against_hand_computed_values():
    rows = [{"id": f"r{n}", "figure_id": f"f{n}", "caption": caption, "category": "Physical sciences",
             "subject": "Physics"} for n, caption in enumerate(["the cat sat on the mat", "a dog ran in a park"])]
    found = captioning.score_scifig(rows, {"r0": "the cat sat on the mat", "r1": "a dog ran in the park today"})
    # clipped n-gram matches over the corpus: 1-grams (6+5)/(6+7), 2-grams (5+3)/(5+6), 3-grams (4+2)/(4+5),
    # 4-grams (3+1)/(3+4); hypotheses are longer than references, so no brevity penalty
    precisions = [11 / 13, 8 / 11, 6 / 9, 4 / 7]
    assert found["corpus"]["BLEU precisions"] == pytest.approx(precisions)
    assert found["corpus"]["BLEU-4"] == pytest.approx((precisions[0] * precisions[1] * precisions[2]
                                                       * precisions[3]) ** 0.25)
    # ROUGE-L: identical pair 1; pair two has LCS 5 of 7 and 6 tokens: F = 2*(5/7)*(5/6)/(5/7 + 5/6) = 10/13
    assert found["scores"]["ROUGE-L"]["mean"] == pytest.approx((1 + 10 / 13) / 2)


def test_cider_d_against_hand_computed_values():
    # Two references with no n-gram in common: every n-gram has idf log(2). An identical hypothesis has cosine 1
    # at every n and no length penalty: 10 (CIDEr-D's scale); a hypothesis sharing nothing scores 0. Mean: 5.
    rows = [{"id": f"r{n}", "figure_id": f"f{n}", "caption": caption, "category": "Physical sciences",
             "subject": "Physics"} for n, caption in enumerate(["alpha beta gamma delta", "epsilon zeta eta theta"])]
    found = captioning.score_scifig(rows, {"r0": "alpha beta gamma delta", "r1": "iota kappa lambda mu"})
    assert found["corpus"]["CIDEr-D"] == pytest.approx(5.0)


def test_baselines_are_deterministic_and_do_what_they_say():
    rows = _mcq_rows()
    assert set(sc.baseline_predictions(rows, "first-option").values()) == {"A"}
    # "Concentration spectra." is the longest option
    assert set(sc.baseline_predictions(rows, "longest-option").values()) == {"A"}
    assert sc.baseline_predictions(rows, "random") == sc.baseline_predictions(list(reversed(rows)), "random")
    with pytest.raises(ValueError, match="unknown baseline"):
        sc.baseline_predictions(rows, "oracle")


def test_evaluate_on_the_sample_writes_every_output(tmp_path, upstream):
    out = tmp_path / "out"
    metrics = ev.evaluate("mcq", "validation", baseline="first-option", data_dir=str(DUMMY), out=out)
    answers = [r["answer"] for s in upstream["records"][benchmark_json("validation", "mcq")] for r in s]
    assert metrics["overall"]["accuracy"] == pytest.approx(answers.count("A") / len(answers))
    assert json.loads((out / "metrics.json").read_text())["overall"] == metrics["overall"]
    assert "| overall (every entry, as MMSci counts) |" in (out / "metrics.md").read_text()
    with Image.open(out / "by_category.png") as chart:
        assert chart.format == "PNG"
    assert (out / "predictions-first-option.jsonl").read_text().count("\n") == len(answers)
    assert (out / "errors" / "index.html").is_file()


def test_evaluate_test_split_reports_withheld_answers_as_unscorable(tmp_path):
    metrics = ev.evaluate("mcq", "test", baseline="random", data_dir=str(DUMMY))
    assert metrics["overall"]["n"] == 0 and metrics["unscorable"] == metrics["rows"] > 0
    with pytest.raises(ValueError, match="multiple-choice configs only"):
        ev.evaluate("captioning", "validation", baseline="random", data_dir=str(DUMMY))


def test_captioning_evaluation_end_to_end(tmp_path):
    rows = ev.references("captioning", "test", data_dir=str(DUMMY))
    path = tmp_path / "p.jsonl"
    ev.write_predictions({r["id"]: r["caption"] or "a figure" for r in rows}, path)
    metrics = ev.evaluate("captioning", "test", predictions=path, data_dir=str(DUMMY), out=tmp_path / "out",
                          browse_errors=False, captions=ev.CaptionScoring(bertscore_model="none"))
    assert metrics["unscorable"] == sum(r["caption"] is None for r in rows) == 1
    assert metrics["scifig"]["scores"]["ROUGE-L"]["mean"] == pytest.approx(1.0)
    assert metrics["scifig"]["corpus"]["BLEU-4"] == pytest.approx(1.0)
    assert (tmp_path / "out" / "metrics.md").read_text().startswith("Coverage: ")


def test_audit_finds_the_article_filed_in_train_and_test(upstream):
    report, text = audit(configs=["captioning", "mcq"], data_dir=str(DUMMY), as_released=True)
    assert report["leaks"] == ["ncomms90003"]
    captioning = report["configs"]["captioning"]
    assert captioning["overlap"]["train/test"]["articles"] == 1
    assert captioning["overlap"]["train/test"]["identical_images"] >= 1  # the same figure files on both sides
    assert captioning["overlap"]["train/validation"]["articles"] == 0
    assert captioning["train_figures"]["matches"] >= 1 and captioning["train_figures"]["other_article"] == 0
    assert all(not ids for ids in captioning["duplicate_ids"].values())
    mcq = report["configs"]["mcq"]
    validation = [r["answer"] for s in upstream["records"][benchmark_json("validation", "mcq")] for r in s]
    assert mcq["answers"]["validation"] == {**{letter: validation.count(letter) for letter in "ABCD"}, "withheld": 0}
    assert mcq["answers"]["test"]["withheld"] == mcq["rows"]["test"]
    assert mcq["baselines"]["validation"]["first-option"]["correct"] == validation.count("A")
    assert "ncomms90003" in text
    # loaded by default, train holds none of it
    clean, _ = audit(configs=["captioning", "mcq"], data_dir=str(DUMMY))
    assert clean["leaks"] == [] and clean["figure_leaks"] == 0


def test_audit_counts_questions_and_figures_asked_more_than_once():
    """ncomms90005 is filed under both "Ecology" entries: its validation figure and questions are asked twice."""
    report, _ = audit(configs=["captioning", "mcq"], data_dir=str(DUMMY))
    figures = report["configs"]["captioning"]["repeats"]["validation"]
    assert (figures["rows"], figures["distinct"], figures["asked_more_than_once"]) == (4, 3, 1)
    assert all(row_id.startswith("ncomms90005_figure_") for row_id in figures["ids"][0])
    questions = report["configs"]["mcq"]["repeats"]["validation"]
    assert (questions["rows"], questions["distinct"], questions["asked_more_than_once"]) == (12, 9, 3)


def _evaluation_uids(upstream):
    return {a["uid"] for a in upstream["articles"] if a["split"] != "train"}


def test_audit_finds_the_evaluation_articles_in_the_training_sources(upstream):
    report, text = audit(configs=["pretraining", "chat", "articles"], data_dir=str(DUMMY), as_released=True)
    planted = dummy_data.planted_in_pretraining()
    assert planted == ["ncomms90007"]
    # the planted test article, and the article filed under a train subject and a test subject
    pretraining = report["configs"]["pretraining"]["contamination"]
    assert pretraining["article_uids"] == ["ncomms90003", *planted]
    assert report["configs"]["chat"]["contamination"]["article_uids"] == ["ncomms90003"]
    assert report["configs"]["chat"]["contamination"]["identical_images"] > 0  # the same figure files
    # the raw corpus holds every article, evaluation ones included, marked: not a leak
    assert report["configs"]["articles"]["contamination"]["marked"] == len(_evaluation_uids(upstream))
    assert report["leaks"] == ["ncomms90003", "ncomms90007"]
    assert "ncomms90007" in text


def test_audit_finds_a_benchmark_figure_re_encoded_in_another_articles_document():
    """The sample re-encodes ncomms90004's validation figure, rescaled as MMSci's pre-training JPEGs are, inside
    ncomms90001's pre-training document: no byte matches, the perceptual hash does; loaded by default it is still
    there (another article)."""
    [plant] = dummy_data.planted_figures()
    report, text = audit(configs=["pretraining"], data_dir=str(DUMMY))
    found = report["configs"]["pretraining"]["contamination"]
    assert found["article_uids"] == [] and found["identical_images"] == 0
    [pair] = found["figures"]["pairs"]
    assert (pair["eval_uid"], pair["train_uid"], pair["identical"]) == (plant["figure_of"], plant["into"], False)
    assert pair["eval_id"].startswith(f"{plant['figure_of']}_figure_{plant['figure']}-")
    assert pair["distance"] <= audit_tool.PHASH_DISTANCE and report["figure_leaks"] == 1


def test_audit_reports_where_benchmark_and_the_shipped_list_disagree(tmp_path):
    report, text = audit(configs=["pretraining"], data_dir=str(DUMMY))
    sources = report["eval_articles"]
    assert sources["benchmark"] and sources["splits"]["test"]["benchmark"] == 3
    assert sources["splits"]["test"]["shipped"] == len(scifig.shipped_eval_articles().test)
    # the sample's fictional evaluation articles are not upstream's; ncomms8779, a real test article planted in
    # pre-training, is kept (benchmark.zip's files win) and named
    assert report["configs"]["pretraining"]["contamination"]["shipped_list_only"] == ["ncomms8779"]
    assert "ncomms8779" in text
    # without benchmark.zip the shipped list stands in, and the document is left out
    (tmp_path / "only").mkdir()
    shutil.copy(DUMMY / "pretraindata.zip", tmp_path / "only")
    alone, _ = audit(configs=["pretraining"], data_dir=str(tmp_path / "only"))
    assert alone["eval_articles"]["benchmark"] is False
    assert alone["leaks"] == [] and alone["configs"]["pretraining"]["rows"]["train"] == 4


def test_exclude_eval_articles_leaves_no_evaluation_article_in_train(upstream):
    evaluation = _evaluation_uids(upstream)
    for config in ("pretraining", "chat", "captioning", "mcq"):
        kept = {row["uid"] for row in scifig.load(config, split="train", streaming=True, data_dir=str(DUMMY))
                .select_columns(["uid"])}
        released = {row["uid"] for row in scifig.load(config, split="train", streaming=True, data_dir=str(DUMMY),
                                                      exclude_eval_articles=False).select_columns(["uid"])}
        assert kept == released - evaluation and kept and released & evaluation, config
    report, _ = audit(configs=["pretraining", "articles", "chat"], data_dir=str(DUMMY))
    assert report["leaks"] == []


def test_audit_strict_fails_on_any_leak(tmp_path):
    command = [sys.executable, "-m", "scifig_tools", "audit", "--configs", "mcq", "chat", "--data-dir", str(DUMMY),
               "--out", str(tmp_path)]
    released = subprocess.run(command + ["--as-released"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    strict = subprocess.run(command + ["--as-released", "--strict"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    clean = subprocess.run(command + ["--strict"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert released.returncode == 0, released.stderr
    assert strict.returncode == 1 and "1 evaluation articles and" in strict.stderr
    assert clean.returncode == 0, clean.stderr
    assert json.loads((tmp_path / "audit.json").read_text())["leaks"] == []
    # the re-encoded figure in pre-training fails --strict however the train split is loaded
    figure = subprocess.run(command[:5] + ["pretraining", "--data-dir", str(DUMMY), "--strict"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert figure.returncode == 1 and "0 evaluation articles and 1 evaluation figures" in figure.stderr


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed here (.ci/run installs Debian's chromium package)")
    return found


_PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const result = {images: images.length, decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
                  sections: document.querySelectorAll("section.row").length,
                  shown: Number(document.getElementById("count").dataset.rows),
                  fetched: performance.getEntriesByType("resource").map(e => e.name)};
  const out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def _open_in_chromium(page, tmp_path):
    """Loads a copy of the page with a probe script in headless Chromium; returns what the probe measured."""
    probed = page.with_name(f"probed-{page.name}")  # beside the page: its links are relative
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = result.stdout
    assert '<pre id="probe">' in dom, result.stderr[-2000:]
    return json.loads(dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0])


@pytest.mark.parametrize("config,split", [("mcq", "validation"), ("captioning", "test"), ("pretraining", "train")])
def test_browse_site_renders_every_image_in_chromium(config, split, tmp_path):
    site = tmp_path / "site"
    shown = browse(config, split, site, data_dir=str(DUMMY))
    page = site / "rows-0001.html"
    probe = _open_in_chromium(page, tmp_path)
    assert probe["sections"] == probe["shown"] == shown > 0
    assert probe["images"] == probe["decoded"] > 0
    # the browser's resource timing lists any network load; nothing but the site's own files may appear there
    assert all(name.startswith(site.as_uri() + "/") for name in probe["fetched"])
    sources = _fetching_attributes(page.read_text(encoding="utf-8"))
    assert len(sources) == probe["images"] and all((site / source).is_file() for source in sources)
    assert _open_in_chromium(site / "index.html", tmp_path)["shown"] == shown


def test_browse_pages_thumbnails_and_full_figures(tmp_path):
    site = tmp_path / "site"
    shown = browse("mcq", "validation", site, data_dir=str(DUMMY), rows_per_page=5)
    pages = sorted(site.glob("rows-*.html"))
    assert len(pages) == -(-shown // 5) and shown == len(ev.references("mcq", "validation", data_dir=str(DUMMY)))
    full = sorted((site / "figures").iterdir())
    stored = {row["id"]: row["image"]["bytes"] for row in scifig.load("mcq", split="validation", streaming=True,
                                                                      data_dir=str(DUMMY)).decode(False)}
    assert len(full) == shown and sorted(f.read_bytes() for f in full) == sorted(stored.values())
    for thumb in (site / "thumbs").iterdir():
        with Image.open(thumb) as picture:
            assert picture.format == "JPEG" and max(picture.size) <= 480
    index = (site / "index.html").read_text(encoding="utf-8")
    assert all(page.name in index for page in pages)


def test_browse_errors_with_predictions(tmp_path):
    rows = ev.references("mcq", "validation", data_dir=str(DUMMY))
    predictions = {r["id"]: ("ABCD"[r["answer"]] if i % 3 == 0 else "I cannot tell" if i % 3 == 1 else
                             "ABCD"[(r["answer"] + 1) % 4]) for i, r in enumerate(rows)}
    path = ev.write_predictions(predictions, tmp_path / "p.jsonl")
    scored = sc.score_mcq(rows, ev.read_predictions(path))
    site = tmp_path / "site"
    assert browse("mcq", "validation", site, data_dir=str(DUMMY), predictions=path, rows_per_page=3) == len(rows)
    errors = "".join(page.read_text(encoding="utf-8") for page in sorted(site.glob("errors-*.html")))
    assert errors.count('class="wrong"') == scored["overall"]["n"] - scored["overall"]["correct"]
    assert errors.count("read as <b>unparsed</b>") == scored["unparsed"]["count"] > 0
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "<th>right</th><th>wrong</th><th>unparsed</th>" in index
    only = tmp_path / "only"
    shown = browse("mcq", "validation", only, data_dir=str(DUMMY), predictions=path, only_errors=True)
    assert shown == scored["overall"]["n"] - scored["overall"]["correct"]
    probe = _open_in_chromium(only / "rows-0001.html", tmp_path)
    assert probe["sections"] == probe["shown"] == shown and probe["decoded"] == shown


class _Fetches(html.parser.HTMLParser):
    """Every attribute value a browser would fetch: src anywhere, href of <link>."""

    def __init__(self):
        super().__init__()
        self.values = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "src" or (tag == "link" and name == "href"):
                self.values.append(value or "")


def _fetching_attributes(text):
    parser = _Fetches()
    parser.feed(text)
    return parser.values


