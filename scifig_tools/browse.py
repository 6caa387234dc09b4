"""One self-contained HTML page to look at a split, and at a model's errors (images embedded, no network).

    python -m scifig_tools browse mcq --split validation --out page.html [--limit N]
        [--predictions P.jsonl --only-errors] [--data-dir D | --base-url U]

The offline counterpart of the Hub viewer, for private copies and error analysis: `mcq` shows each figure with
its question, lettered options, the answer and, with predictions, the model's raw text, the letter read from it
and whether it was right; `captioning` the figure, reference and prediction; `pretraining` each document in
reading order with its figures in place.
"""

import base64
import itertools
from pathlib import Path

import datasets
import jinja2

import scifig
from scifig_tools.answers import LETTERS, extract_letter
from scifig_tools.predictions import read_predictions

SUPPORTED = [name for name in scifig.CONFIG_NAMES if scifig.task_of(name) in ("captioning", "mcq", "pretraining")]

_PAGE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
.row { border-top: 1px solid #ccc; padding: 1em 0; }
.row img { max-width: 100%; max-height: 480px; border: 1px solid #eee; display: block; margin: .5em 0; }
.meta { color: #666; font-size: 12px; }
.right { color: #1a7f37; } .wrong { color: #cf222e; } .answer { font-weight: bold; }
ol.options { list-style: upper-alpha; } pre { white-space: pre-wrap; background: #f6f8fa; padding: .5em; }
</style></head><body>
<h1>{{ title }}</h1>
<p id="count" data-rows="{{ rows|length }}">{{ rows|length }} rows{% if only_errors %} (errors only){% endif %}</p>
{% for row in rows %}<section class="row" id="{{ row.id }}">
<p class="meta">{{ row.id }} · {{ row.category }} / {{ row.subject }}{% if row.setting %} · {{ row.setting }}{% endif %}</p>
{% if kind == "mcq" %}<img src="{{ row.image }}" alt="{{ row.figure_id }}">
<p>{{ row.question }}</p>
<ol class="options">{% for option in row.options %}<li{% if loop.index0 == row.answer %} class="answer"{% endif %}>{{ option }}</li>{% endfor %}</ol>
<p>Answer: {% if row.answer >= 0 %}<b>{{ letters[row.answer] }}</b>{% else %}withheld{% endif %}</p>
{% if row.prediction is not none %}<p>Model: <pre>{{ row.prediction }}</pre> read as <b>{{ row.parsed or "unparsed" }}</b>
{% if row.answer >= 0 %}<span class="{{ 'right' if row.correct else 'wrong' }}">{{ "right" if row.correct else "wrong" }}</span>{% endif %}</p>{% endif %}
{% elif kind == "captioning" %}<img src="{{ row.image }}" alt="{{ row.figure_id }}">
<p><b>Reference</b>: {{ row.caption if row.caption is not none else "withheld" }}</p>
{% if row.prediction is not none %}<p><b>Prediction</b>: {{ row.prediction }}</p>{% endif %}
{% else %}<h2><a href="{{ row.url }}">{{ row.uid }}</a></h2>
{% for text, image in row.reading_order %}{% if image %}<img src="{{ image }}" alt="figure">{% else %}<p>{{ text }}</p>{% endif %}{% endfor %}
{% endif %}</section>
{% endfor %}</body></html>
""")


def _data_uri(image):
    data = image["bytes"]
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg" if data[:2] == b"\xff\xd8" \
        else "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _rows(config, stream, predictions, only_errors):
    for row in stream:
        row["category"] = scifig.category_name(row["category"])
        if config == "pretraining":
            row["reading_order"] = [(text, _data_uri(image) if image else None)
                                    for text, image in zip(row["texts"], row["images"])]
            yield row
            continue
        row["image"] = _data_uri(row["image"])
        row["prediction"] = predictions.get(row["id"]) if predictions is not None else None
        if scifig.is_mcq(config):
            row["setting"] = scifig.SETTINGS[row["setting"]]
            row["parsed"] = (extract_letter(row["prediction"], row["options"]) if row["prediction"] is not None
                             else None)
            row["correct"] = row["answer"] >= 0 and row["parsed"] == LETTERS[row["answer"]]
            wrong = row["prediction"] is not None and row["answer"] >= 0 and not row["correct"]
        else:
            wrong = row["prediction"] is not None and row["caption"] is not None
        if only_errors and not wrong:
            continue  # captioning has no right or wrong: with predictions every scorable row is shown
        yield row


def browse(config, split, out, limit=None, data_dir=None, base_url=None, predictions=None, only_errors=False,
           **config_kwargs):
    """Writes the page; returns the number of rows shown."""
    if config not in SUPPORTED:
        raise ValueError(f"browse shows {', '.join(SUPPORTED)}; not {config!r}")
    if only_errors and predictions is None:
        raise ValueError("only_errors needs predictions")
    stream = scifig.load(config, split=split, streaming=True, data_dir=data_dir, base_url=base_url, **config_kwargs)
    image_columns = ["images"] if config == "pretraining" else ["image"]
    for column in image_columns:  # the page embeds the archive's own bytes: no decoding, no re-encoding
        raw = datasets.Image(decode=False)
        feature = datasets.Sequence(raw) if column == "images" else raw
        stream = stream.cast_column(column, feature)
    predicted = read_predictions(predictions) if predictions is not None else None
    rows = list(itertools.islice(_rows(config, stream, predicted, only_errors), limit))
    kind = scifig.task_of(config)
    title = f"scifig {config} [{split}]" + (f" — {Path(str(predictions)).name}" if predictions else "")
    Path(out).write_text(_PAGE.render(title=title, rows=rows, kind=kind, letters=LETTERS, only_errors=only_errors),
                         encoding="utf-8")
    return len(rows)
