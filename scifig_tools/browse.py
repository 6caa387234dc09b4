"""An offline site to look at a split, and at a model's errors, at any size: nothing is fetched from a network.

    python -m scifig_tools browse CONFIG --split S --out SITE [--limit N] [--predictions P [--only-errors]]
        [--data-dir D | --base-url U]

SITE/index.html        rows per setting, category and subject (with predictions: right, wrong, unparsed) and links
                       to every page, and to the pages of errors only
SITE/rows-0001.html    100 rows a page (20 documents for pre-training): `mcq` shows the figure, the question, the
                       lettered options and the answer and, with predictions, the model's text, the letter read
                       from it and whether it was right; `captioning` the figure, reference and prediction;
                       `pretraining` each document in reading order with its figures in place
SITE/errors-0001.html  (with predictions) the wrong and unparsed rows only
SITE/figures/          every figure as stored, one click from its downscaled copy in SITE/thumbs/

A real validation split is ~4k multiple-choice rows with figures of 100-500 KB: pages show 480-pixel JPEG copies,
so a page stays a few MB however large the split.
"""

import collections
import io
import itertools
import shutil
from pathlib import Path

import jinja2
from PIL import Image

import scifig
from scifig import ANSWER_LETTERS
from scifig_tools.answers import extract_letter
from scifig_tools.predictions import read_predictions
from scifig_tools.source import BROWSABLE, rows_of, subject_label

ROWS_PER_PAGE = {"pretraining": 20}
DEFAULT_ROWS_PER_PAGE = 100
THUMBNAIL = 480  # pixels, the longer side

_STYLE = """body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
.row { border-top: 1px solid #ccc; padding: 1em 0; } .row img { max-width: 100%; border: 1px solid #eee; }
.meta { color: #666; font-size: 12px; } .right { color: #1a7f37; } .wrong { color: #cf222e; }
.answer { font-weight: bold; } ol.options { list-style: upper-alpha; } pre { white-space: pre-wrap;
background: #f6f8fa; padding: .5em; } table { border-collapse: collapse; } td, th { border: 1px solid #ddd;
padding: 2px 6px; text-align: right; } td:first-child { text-align: left; } nav a { margin-right: .5em; }"""

_ENVIRONMENT = jinja2.Environment(autoescape=True)
_PAGE = _ENVIRONMENT.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ style }}</style></head><body>
<h1>{{ title }}</h1>
<p><a href="index.html">index</a> · page {{ number }} of {{ pages|length }}</p>
<p id="count" data-rows="{{ rows|length }}">{{ rows|length }} rows</p>
{% for row in rows %}<section class="row" id="{{ row.id }}">
<p class="meta">{{ row.id }} · {{ row.category }} / {{ row.subject }}{% if row.setting %} · {{ row.setting }}{% endif %}</p>
{% if kind == "pretraining" %}<h2><a href="{{ row.url }}">{{ row.uid }}</a></h2>
{% for text, figure in row.reading_order %}{% if figure %}<a href="{{ figure.full }}"><img src="{{ figure.thumb }}" alt="figure"></a>{% else %}<p>{{ text }}</p>{% endif %}{% endfor %}
{% else %}<a href="{{ row.figure.full }}"><img src="{{ row.figure.thumb }}" alt="{{ row.figure_id }}"></a>
{% if kind == "mcq" %}<p>{{ row.question }}</p>
<ol class="options">{% for option in row.options %}<li{% if loop.index0 == row.answer %} class="answer"{% endif %}>{{ option }}</li>{% endfor %}</ol>
<p>Answer: {% if row.answer >= 0 %}<b>{{ letters[row.answer] }}</b>{% else %}withheld{% endif %}</p>
{% if row.prediction is not none %}<p>Model: <pre>{{ row.prediction }}</pre> read as <b>{{ row.parsed or "unparsed" }}</b>
{% if row.answer >= 0 %}<span class="{{ 'right' if row.correct else 'wrong' }}">{{ "right" if row.correct else "wrong" }}</span>{% endif %}</p>{% endif %}
{% else %}<p><b>Reference</b>: {{ row.caption if row.caption is not none else "withheld" }}</p>
{% if row.prediction is not none %}<p><b>Prediction</b>: {{ row.prediction }}</p>{% endif %}{% endif %}{% endif %}
</section>
{% endfor %}<nav>{% for page in pages %}<a href="{{ page }}">{{ loop.index }}</a>{% endfor %}</nav></body></html>
""")
_INDEX = _ENVIRONMENT.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ style }}</style></head><body>
<h1>{{ title }}</h1>
<p id="count" data-rows="{{ total }}">{{ total }} rows{% if only_errors %} (errors only){% endif %}</p>
<nav>Pages: {% for page in pages %}<a href="{{ page }}">{{ loop.index }}</a>{% endfor %}</nav>
{% if error_pages %}<nav>Errors only (wrong or unparsed): {% for page in error_pages %}<a href="{{ page }}">{{ loop.index }}</a>{% endfor %}</nav>{% endif %}
{% for group, counts in tables.items() %}<h2>By {{ group }}</h2>
<table><tr><th>{{ group }}</th>{% for column in columns %}<th>{{ column }}</th>{% endfor %}</tr>
{% for value, count in counts.items() %}<tr><td>{{ value }}</td>{% for column in columns %}<td>{{ count[column] }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}</body></html>
""")


class _Figures:
    """Writes each figure as stored, and a downscaled JPEG copy for the pages."""

    def __init__(self, site):
        self.site, self.count = site, 0
        (site / "figures").mkdir(parents=True, exist_ok=True)
        (site / "thumbs").mkdir(parents=True, exist_ok=True)

    def add(self, image):
        self.count += 1
        data = image["bytes"]
        suffix = ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ".jpg"
        full = f"figures/{self.count}{suffix}"
        (self.site / full).write_bytes(data)
        with Image.open(io.BytesIO(data)) as picture:
            picture.draft("RGB", (THUMBNAIL, THUMBNAIL))
            copy = picture.convert("RGB")
            copy.thumbnail((THUMBNAIL, THUMBNAIL))
            thumb = f"thumbs/{self.count}.jpg"
            copy.save(self.site / thumb, format="JPEG", quality=80)
        return {"full": full, "thumb": thumb}


def _rows(config, stream, predictions, figures):
    task = scifig.task_of(config)
    for row in stream:
        row["category"] = scifig.category_name(row["category"])
        row["subject"] = subject_label(row)
        if task == "pretraining":
            row["reading_order"] = [(text, figures.add(image) if image else None)
                                    for text, image in zip(row["texts"], row["images"])]
            row["outcome"] = "shown"
            yield row
            continue
        row["figure"] = figures.add(row["image"])
        row["prediction"] = predictions.get(row["id"]) if predictions is not None else None
        outcome = "shown"
        if task == "mcq":
            row["setting"] = scifig.SETTINGS[row["setting"]]
            row["parsed"] = (extract_letter(row["prediction"], row["options"]) if row["prediction"] is not None
                             else None)
            row["correct"] = row["answer"] >= 0 and row["parsed"] == ANSWER_LETTERS[row["answer"]]
            if row["prediction"] is not None:
                outcome = ("withheld" if row["answer"] < 0 else "right" if row["correct"]
                           else "unparsed" if row["parsed"] is None else "wrong")
        elif row["prediction"] is not None:
            outcome = "withheld" if row["caption"] is None else "scored"
        row["outcome"] = outcome
        yield row


def _pages(rows, size):
    iterator = iter(rows)
    while True:
        page = list(itertools.islice(iterator, size))
        if not page:
            return
        yield page


def browse(config, split, out, limit=None, data_dir=None, base_url=None, predictions=None, only_errors=False,
           dataset=None, rows_per_page=None, **config_kwargs):
    """Writes the site into the folder `out`; returns the number of rows shown."""
    if config not in BROWSABLE:
        raise ValueError(f"browse shows {', '.join(BROWSABLE)}; not {config!r}")
    scifig.check_split(config, split)
    if only_errors and predictions is None:
        raise ValueError("only_errors needs predictions")
    site = Path(out)
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    stream = rows_of(config, split, data_dir, base_url, dataset, **config_kwargs).decode(False)  # bytes as stored
    predicted = read_predictions(predictions) if predictions is not None else None
    task = scifig.task_of(config)
    rows = _rows(config, stream, predicted, _Figures(site))
    errors = {"wrong", "unparsed"}
    if only_errors:
        rows = (row for row in rows if row["outcome"] in errors)
    rows = itertools.islice(rows, limit)
    title = f"scifig {config} [{split}]" + (f" — {Path(str(predictions)).name}" if predictions else "")
    size = rows_per_page or ROWS_PER_PAGE.get(task, DEFAULT_ROWS_PER_PAGE)
    groups = ["setting", "category", "subject"] if task == "mcq" else ["category", "subject"]
    columns = (["rows", "right", "wrong", "unparsed", "withheld"] if predicted is not None and task == "mcq"
               else ["rows"])
    tables = {group: collections.defaultdict(collections.Counter) for group in groups}
    written, error_rows, total = [], [], 0
    for number, page in enumerate(_pages(rows, size), 1):
        for row in page:
            total += 1
            for group in groups:
                tables[group][row[group]].update(["rows", row["outcome"]])
            if row["outcome"] in errors:
                error_rows.append(row)
        written.append((f"rows-{number:04d}.html", page))
    names = [name for name, _ in written]
    for number, (name, page) in enumerate(written, 1):
        (site / name).write_text(_PAGE.render(title=title, rows=page, kind=task, letters=ANSWER_LETTERS, number=number,
                                              pages=names, style=_STYLE), encoding="utf-8")
    error_pages = []
    if predicted is not None and not only_errors:
        error_pages = [f"errors-{number:04d}.html" for number in range(1, -(-len(error_rows) // size) + 1)]
        for number, name in enumerate(error_pages, 1):
            page = error_rows[(number - 1) * size:number * size]
            (site / name).write_text(_PAGE.render(title=f"{title}: errors", rows=page, kind=task, letters=ANSWER_LETTERS,
                                                  number=number, pages=error_pages, style=_STYLE), encoding="utf-8")
    ordered = {group: dict(sorted(counts.items())) for group, counts in tables.items()}
    (site / "index.html").write_text(_INDEX.render(title=title, total=total, pages=names, error_pages=error_pages,
                                                   tables=ordered, columns=columns, only_errors=only_errors,
                                                   style=_STYLE), encoding="utf-8")
    return total
