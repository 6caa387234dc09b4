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

from scifig_tools import evaluate as ev
from scifig_tools.answers import extract_letter
from scifig_tools.audit import audit
from scifig_tools.browse import browse
from scifig_tools.layout import benchmark_json

from conftest import DUMMY, ROOT

OPTIONS = ["Concentration spectra.", "Temperature spectra.", "UV/Vis absorption.", "Emission spectra."]


@pytest.mark.parametrize("text,letter", [
    ("A", "A"), (" b ", None), ("B.", "B"), ("(C)", "C"), ("**D**", "D"), ("[A]", "A"), ("A:", "A"), ("C)", "C"),
    ("Answer: B", "B"), ("The answer is (C).", "C"), ("The final answer is **D**", "D"), ("answer:(A)", "A"),
    ("Option B is right", "B"), ("choice: C", "C"), ("ANSWER IS C", "C"),
    ("I think (A) fits.", "A"), ("**B** because of the peaks", "B"), ("Reasoning...\nC: the absorption one", "C"),
    ('It shows "temperature   SPECTRA."', "B"),
    ("The answer is A. (B) is wrong.", "A"),       # an answer phrase outranks letters mentioned elsewhere
    ("A or B", None), ("Between (A) and (B), hard to say", None), ("A\nB", None),
    ("The answer is a mixture of effects", None), ("none of them", None), ("", None),
])
def test_every_extraction_rule(text, letter):
    assert extract_letter(text, OPTIONS) == letter


def _mcq_rows():
    base = {"options": OPTIONS, "setting": "fig2cap", "category": "Physical sciences", "subject": "Physics"}
    return [dict(base, id=f"r{i}", answer=answer) for i, answer in enumerate([0, 1, 2, 3, -1, 0], 1)]


def test_mcq_accuracy_coverage_unparsed_and_wilson_interval():
    predictions = {"r1": "A", "r2": "Answer: B", "r3": "(D)", "r4": "A or B", "r5": "A"}
    metrics = ev.score_mcq(_mcq_rows(), predictions)
    assert metrics["coverage"] == {"predicted": 5, "missing": 1, "fraction": 5 / 6}
    assert metrics["unscorable"] == 1
    assert metrics["unparsed"] == {"count": 1, "examples": [{"id": "r4", "prediction": "A or B"}]}
    overall = metrics["overall"]
    assert (overall["n"], overall["correct"], overall["accuracy"]) == (4, 2, 0.5)
    # Wilson, p = 1/2, n = 4, z = 1.959964: centre 1/2, half-width z*sqrt(1/16 + z^2/64)/(1 + z^2/4) = 0.349962
    assert overall["ci95"] == pytest.approx([0.150038, 0.849962], abs=1e-5)
    assert metrics["accuracy_over_all_scorable"] == pytest.approx(2 / 5)
    assert metrics["by_setting"]["fig2cap"]["n"] == 4


def test_ambiguous_subjects_are_reported_with_their_category():
    categories = ["Biological sciences", "Earth and environmental sciences"]
    rows = [dict(r, subject="Ecology", category=c) for r, c in zip(_mcq_rows()[:2], categories)]
    metrics = ev.score_mcq(rows, {"r1": "A", "r2": "C"})
    assert metrics["by_subject"] == {
        "Ecology (Biological sciences)": ev._accuracy([True]),
        "Ecology (Earth and environmental sciences)": ev._accuracy([False]),
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
    with pytest.raises(ev.PredictionsError) as error:
        ev.score_mcq(_mcq_rows(), ev.read_predictions(path))
    assert message in str(error.value)


def test_caption_metrics_against_hand_computed_values():
    hypotheses = ["the cat sat on the mat", "a dog ran in the park today"]
    references = ["the cat sat on the mat", "a dog ran in a park"]
    metrics = ev.caption_metrics(hypotheses, references)
    # clipped n-gram matches over the corpus: 1-grams (6+5)/(6+7), 2-grams (5+3)/(5+6), 3-grams (4+2)/(4+5),
    # 4-grams (3+1)/(3+4); hypotheses are longer than references, so no brevity penalty
    precisions = [11 / 13, 8 / 11, 6 / 9, 4 / 7]
    got = [metrics["bleu_precisions"][f"bleu{n}"] for n in range(1, 5)]
    assert got == pytest.approx([100 * p for p in precisions])
    geometric = (precisions[0] * precisions[1] * precisions[2] * precisions[3]) ** 0.25
    assert metrics["bleu4"] == pytest.approx(100 * geometric)
    # ROUGE-L: identical pair 1; pair two has LCS 5 of 7 and 6 tokens: F = 2*(5/7)*(5/6)/(5/7 + 5/6) = 10/13
    assert metrics["rougeL"] == pytest.approx((1 + 10 / 13) / 2)
    assert metrics["meteor"]["available"] is False and "score" not in metrics["meteor"]
    assert metrics["bertscore"]["available"] is False and "f1" not in metrics["bertscore"]


def test_cider_d_against_hand_computed_values():
    # Two references with no n-gram in common: every n-gram has idf log(2). An identical hypothesis has cosine 1
    # at every n and no length penalty: 10 (CIDEr-D's scale); a hypothesis sharing nothing scores 0. Mean: 5.
    metrics = ev.caption_metrics(["alpha beta gamma delta", "iota kappa lambda mu"],
                                 ["alpha beta gamma delta", "epsilon zeta eta theta"])
    assert metrics["ciderD"] == pytest.approx(5.0)


def test_baselines_are_deterministic_and_do_what_they_say():
    rows = _mcq_rows()
    assert set(ev.baseline_predictions(rows, "first-option").values()) == {"A"}
    # "Concentration spectra." is the longest option
    assert set(ev.baseline_predictions(rows, "longest-option").values()) == {"A"}
    assert ev.baseline_predictions(rows, "random") == ev.baseline_predictions(list(reversed(rows)), "random")
    with pytest.raises(ValueError, match="unknown baseline"):
        ev.baseline_predictions(rows, "oracle")


def test_evaluate_on_the_sample_writes_every_output(tmp_path, upstream):
    out = tmp_path / "out"
    metrics = ev.evaluate("mcq", "validation", baseline="first-option", data_dir=str(DUMMY), out=out)
    answers = [r["answer"] for s in upstream["records"][benchmark_json("validation", "mcq")] for r in s]
    assert metrics["overall"]["accuracy"] == pytest.approx(answers.count("A") / len(answers))
    assert json.loads((out / "metrics.json").read_text())["overall"] == metrics["overall"]
    assert "| overall |" in (out / "metrics.md").read_text()
    with Image.open(out / "by_category.png") as chart:
        assert chart.format == "PNG"
    assert (out / "predictions-first-option.jsonl").read_text().count("\n") == len(answers)
    assert (out / "errors.html").is_file()


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
                          browse_errors=False)
    assert metrics["unscorable"] == sum(r["caption"] is None for r in rows) == 1
    assert metrics["overall"]["rougeL"] == pytest.approx(1.0)
    assert metrics["overall"]["bleu4"] == pytest.approx(100.0)


def test_audit_finds_the_article_filed_in_train_and_test(upstream):
    report, text = audit(data_dir=str(DUMMY))
    assert report["leaks"] == ["ncomms90003"]
    captioning = report["configs"]["captioning"]
    assert captioning["overlap"]["train/test"]["articles"] == 1
    assert captioning["overlap"]["train/test"]["identical_images"] >= 1  # the same figure files on both sides
    assert captioning["overlap"]["train/validation"]["articles"] == 0
    assert all(not ids for ids in captioning["duplicate_ids"].values())
    mcq = report["configs"]["mcq"]
    validation = [r["answer"] for s in upstream["records"][benchmark_json("validation", "mcq")] for r in s]
    assert mcq["answers"]["validation"] == {**{letter: validation.count(letter) for letter in "ABCD"}, "withheld": 0}
    assert mcq["answers"]["test"]["withheld"] == mcq["rows"]["test"]
    assert mcq["baselines"]["validation"]["first-option"]["correct"] == validation.count("A")
    assert "ncomms90003" in text


def test_audit_strict_fails_on_overlap(tmp_path):
    command = [sys.executable, "-m", "scifig_tools", "audit", "--data-dir", str(DUMMY), "--out", str(tmp_path)]
    loose = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    strict = subprocess.run(command + ["--strict"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert loose.returncode == 0, loose.stderr
    assert strict.returncode == 1 and "1 articles are in train and an evaluation split" in strict.stderr
    assert json.loads((tmp_path / "audit.json").read_text())["leaks"] == ["ncomms90003"]


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
    probed = tmp_path / "probed.html"
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
def test_browse_page_renders_every_image_in_chromium(config, split, tmp_path):
    page = tmp_path / "page.html"
    shown = browse(config, split, page, data_dir=str(DUMMY))
    probe = _open_in_chromium(page, tmp_path)
    assert probe["sections"] == probe["shown"] == shown > 0
    assert probe["images"] == probe["decoded"] > 0
    assert probe["fetched"] == []  # the browser loaded nothing beyond the page itself
    sources = _fetching_attributes(page.read_text(encoding="utf-8"))
    assert len(sources) == probe["images"] and all(value.startswith("data:") for value in sources)


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


def test_browse_only_errors_with_predictions(tmp_path):
    rows = ev.references("mcq", "validation", data_dir=str(DUMMY))
    predictions = {r["id"]: ("ABCD"[r["answer"]] if i % 2 else "I cannot tell") for i, r in enumerate(rows)}
    path = ev.write_predictions(predictions, tmp_path / "p.jsonl")
    page = tmp_path / "errors.html"
    shown = browse("mcq", "validation", page, data_dir=str(DUMMY), predictions=path, only_errors=True)
    assert shown == len(rows) // 2 + len(rows) % 2
    html = page.read_text()
    assert html.count('class="wrong"') == shown and "read as <b>unparsed</b>" in html
    probe = _open_in_chromium(page, tmp_path)
    assert probe["sections"] == probe["shown"] == shown and probe["decoded"] == shown
