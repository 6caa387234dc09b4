"""Builds dummy_data/{benchmark,pretraindata,rawdata}.zip from dummy_data/source/articles.json.

The archives follow the hosted MMSci layout exactly (see the builder's docstring and the card), so every code
path that reads the real archives reads these. Output is deterministic: fixed zip timestamps, seeded choices,
images drawn from the article and figure number.

    python -m scifig_tools dummy-data [--out dummy_data]
"""

import base64
import io
import json
import pickle
import random
import re
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

import scifig
from scifig_tools import layout, paths

SOURCE = paths.SAMPLE / "source" / "articles.json"
_SHARD_SIZE = 3


def load_articles(source=SOURCE):
    """Articles from the readable source, one entry per subject filing (an article can sit under several)."""
    articles = json.loads(Path(source).read_text(encoding="utf-8"))["articles"]
    filings = []
    for article in articles:
        filings.append(article)
        for category, subject, *split in article.get("also_filed_under", []):
            # Upstream picks evaluation articles per subject, so a second filing can land in another split.
            filings.append({**article, "category": category, "subject": subject,
                            "split": split[0] if split else article["split"]})
    return filings


def figure_size(uid, index):
    """The pixel size of figure `index` (0-based) of article `uid`: distinct per figure, so tests can check it."""
    return 48 + 6 * index + zlib.crc32(uid.encode()) % 16, 32 + 3 * index


def figure_image(uid, index):
    """A small plot-like RGB picture: axes and bars whose heights come from the article and figure."""
    width, height = figure_size(uid, index)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(4, 2), (4, height - 4), (width - 2, height - 4)], fill="black")
    rng = random.Random(f"{uid}/{index}")
    for bar in range(4):
        top = rng.randint(4, height - 8)
        draw.rectangle([8 + bar * 8, top, 12 + bar * 8, height - 5], fill=(40 * bar, 90, 200 - 40 * bar))
    return image


def encode(image, fmt):
    """An image's bytes in `fmt` ("PNG" or "JPEG"), deterministic."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {"optimize": False}))
    return buffer.getvalue()


def caption_of(figure):
    panels = " ".join(f"({letter}) {text}" for letter, text in figure["panels"].items())
    return f"{figure['title']} {panels}"


def _record(article, **fields):
    return {"uid": article["uid"], "category": article["category"], "subject": article["subject"], **fields}


def _question(stem, correct, distractors, rng):
    options = [correct] + distractors[:3]
    rng.shuffle(options)
    return scifig.mcq_prompt(stem, options), scifig.ANSWER_LETTERS[options.index(correct)]


def _featured_figure(article):
    """The figure an article's dev/test records ask about: its last one (figure_10 for the 11-figure article)."""
    return len(article["figures"]) - 1 if len(article["figures"]) > 4 else 1


def mcq_records(article, withheld_answer=None):
    """One record per setting: [fig2cap, subfig2cap, subcap2fig]."""
    rng = random.Random(article["uid"] + article["subject"])
    figures = article["figures"]
    k = _featured_figure(article)
    others = [figure["title"] for i, figure in enumerate(figures) if i != k]
    fig2cap = _question(layout.FIG2CAP_QUESTION, figures[k]["title"], others, rng)
    # The figure with the most panels, so SubCap2Fig's distractors come from the same figure where they can.
    busiest = max(range(len(figures)), key=lambda i: (len(figures[i]["panels"]), -i))
    letter, text = list(figures[busiest]["panels"].items())[-1]
    same_figure = [t for other, t in figures[busiest]["panels"].items() if other != letter]
    other_figures = [t for i, f in enumerate(figures) if i != busiest for t in f["panels"].values()]
    subfig2cap = _question(layout.SUBFIG_QUESTION.format(letter), text, rng.sample(other_figures, 3), rng)
    subcap2fig = _question(layout.SUBFIG_QUESTION.format(letter), text, same_figure + other_figures, rng)
    records = []
    for (text, answer), figure in ((fig2cap, k), (subfig2cap, busiest), (subcap2fig, busiest)):
        shown = answer if withheld_answer is None else withheld_answer
        records.append(_record(article, question=text, answer=shown, image=layout.figure_name(article["uid"], figure)))
    return records


def _content(article):
    sections = "\n".join(f"{s['title']}\n{s['content']}" for s in article["sections"])
    return f"{article['title']}\n{article['abstract']}\n{sections}"


def in_the_benchmark(article):
    """Whether an article is in benchmark.zip and rawdata.zip (the one planted in pre-training only is not)."""
    return not article.get("only_in_pretraining")


def benchmark_records(articles):
    """{member path inside benchmark.zip: JSON-ready records} and {member path: image bytes}."""
    members, images = {}, {}
    for split in scifig.SPLITS:
        in_split = [a for a in articles if a["split"] == split and in_the_benchmark(a)]
        captioning, settings, chat = [], [[], [], []], []
        for position, article in enumerate(in_split):
            uid, figures = article["uid"], article["figures"]
            for index in range(len(figures)):
                name = layout.benchmark_image(split, layout.figure_name(uid, index))
                images[name] = encode(figure_image(uid, index), "PNG")
            common = {"abstract": article["abstract"], "content": _content(article)}
            if split == "train":
                captioning.append(_record(article, **common, images=[
                    {"image": layout.figure_name(uid, i), "caption": caption_of(f)} for i, f in enumerate(figures)]))
            else:
                k = _featured_figure(article)
                # The last test article's caption is withheld, as a hidden-reference release would do.
                hidden = split == "test" and position == len(in_split) - 1
                captioning.append(_record(article, **common, image=layout.figure_name(uid, k),
                                          caption=None if hidden else caption_of(figures[k])))
            withheld = None if split != "test" else ("" if position % 2 else "anonymized")
            for setting, record in enumerate(mcq_records(article, withheld)):
                settings[setting].append(record)
            if split == "train":
                for index, figure in enumerate(figures):
                    if len(figure["panels"]) < 2:
                        continue
                    turns = list(figure["panels"].items())
                    random.Random(f"{uid}/{index}/chat").shuffle(turns)
                    conversations = []
                    for letter, text in turns:
                        conversations += [{"from": "human", "value": f"What does sub-figure ({letter}) show?"},
                                          {"from": "assistant", "value": text}]
                    chat.append(_record(article, image=layout.figure_name(uid, index), caption=figure["title"],
                                        conversations=conversations))
        members[layout.benchmark_json(split, "captioning")] = captioning
        members[layout.benchmark_json(split, "mcq")] = settings
        if split == "train":
            members[layout.benchmark_json(split, "chat")] = chat
    return members, images


def _sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s]  # "Fig. 2" does not end a sentence


SHORT_SIDE = 336  # MMSci's pre-training JPEGs: the short side at most 336 pixels


def pretraining_jpeg(image, seed):
    """A figure as MMSci's pre-training documents hold it: scaled to a short side of 336 pixels, as a JPEG. A faint
    seeded grain makes it as large as a real figure's (15-20 KB; trainers such as open_flamingo drop images of 10 KB
    or less), where the sample's flat drawings would compress to a few."""
    import numpy

    scaled = image.resize((round(SHORT_SIDE * image.width / image.height), SHORT_SIDE), Image.BICUBIC)
    pixels = numpy.asarray(scaled).astype(numpy.int16)
    grain = numpy.random.default_rng(zlib.crc32(seed.encode())).integers(-4, 5, size=pixels.shape[:2])[..., None]
    return encode(Image.fromarray(numpy.clip(pixels + grain, 0, 255).astype(numpy.uint8)), "JPEG")


def _planted_figure(plant):
    """A benchmark figure as it would reappear in another article's pre-training document: rescaled and re-encoded
    as a JPEG, so that only a perceptual hash finds it."""
    return pretraining_jpeg(figure_image(plant["figure_of"], plant["figure"]), f"planted {plant['figure_of']}")


def pretraining_document(article, planted=()):
    """One mmc4-style document: sentences in reading order, figures matched to the sentence citing them; `planted`
    figures (see _planted_figure) are matched to the last sentence."""
    uid = article["uid"]
    texts = [article["title"]] + _sentences(article["abstract"])
    for section in article["sections"]:
        texts += _sentences(section["content"])
    image_info = []
    for index, figure in enumerate(article["figures"]):
        number = index + 1
        cited = [i for i, t in enumerate(texts) if re.search(rf"Fig\. {number}\b", t)]
        matched = cited[0] if cited else len(texts) - 1
        image_info.append({
            "face_detections": None,
            "index": number,
            "image_name": f"{uid}_{number}.png",
            "local_path": f"images/{uid}_{number}.png",
            "raw_url": f"https://www.nature.com/articles/{uid}/figures/{number}",
            "caption": caption_of(figure),
            "image_base64": base64.b64encode(pretraining_jpeg(figure_image(uid, index), f"{uid}/{index}")
                                             ).decode("ascii"),
            "matched_text_index": matched,
            "matched_sim": round(0.26 + 0.02 * (zlib.crc32(f"{uid}/{number}".encode()) % 8), 2),
        })
    for plant in planted:
        number = len(image_info) + 1
        image_info.append({
            "face_detections": None, "index": number, "image_name": f"{uid}_{number}.png",
            "local_path": f"images/{uid}_{number}.png",
            "raw_url": f"https://www.nature.com/articles/{uid}/figures/{number}",
            "caption": f"Figure reused from {plant['figure_of']}.",
            "image_base64": base64.b64encode(_planted_figure(plant)).decode("ascii"),
            "matched_text_index": len(texts) - 1, "matched_sim": 0.27,
        })
    return {
        "text_list": texts,
        "image_info": image_info,
        "similarity_matrix": similarity_matrix(uid, image_info, len(texts)),
        "url": f"https://www.nature.com/articles/{uid}",
        "category": f"{article['category']}-{article['subject']}",
    }


def similarity_matrix(uid, image_info, sentences):
    """Image-to-sentence similarities as MMSci's mmc4 documents hold them (one row per image): each image's matched
    sentence at its matched_sim, the highest of its row, every other sentence below the 0.24 that open_flamingo
    keeps an image at."""
    rng = random.Random(f"{uid}/similarities")
    return [[info["matched_sim"] if at == info["matched_text_index"] else round(rng.uniform(0.02, 0.2), 4)
             for at in range(sentences)] for info in image_info]


def planted_in_pretraining(source=SOURCE):
    """The evaluation articles the sample plants in its pre-training documents, for the contamination check."""
    return json.loads(Path(source).read_text(encoding="utf-8"))["planted_in_pretraining"]


def planted_figures(source=SOURCE):
    """[{figure_of, figure, into}]: benchmark figures the sample re-encodes into other articles' documents."""
    return json.loads(Path(source).read_text(encoding="utf-8"))["planted_figures"]


def pretraining_shards(articles, source=SOURCE):
    """{member path inside pretraindata.zip: list of documents}: shards of three under shards/all/. Documents
    come from train filings, as MMSci builds them, and from the planted evaluation articles."""
    planted = set(planted_in_pretraining(source))
    figures = planted_figures(source)
    documents = [pretraining_document(article, [plant for plant in figures if plant["into"] == article["uid"]])
                 for article in articles if article["split"] == "train" or article["uid"] in planted]
    return {
        layout.pretraining_shard(n): documents[start:start + _SHARD_SIZE]
        for n, start in enumerate(range(0, len(documents), _SHARD_SIZE))
    }


def rawdata_members(articles):
    """{member path inside rawdata.zip: bytes}: rawdata/<Category>/<Subject>/<uid>/ for every filing."""
    members = {}
    for article in filter(in_the_benchmark, articles):
        uid = article["uid"]
        number = int(uid[-2:])
        folder = layout.rawdata_folder(article["category"], article["subject"], uid)
        images = []
        for index, figure in enumerate(article["figures"]):
            members[f"{folder}figure_{index}.png"] = encode(figure_image(uid, index), "PNG")
            description = " ".join(f"({letter}) {text}" for letter, text in figure["panels"].items())
            members[f"{folder}figure_{index}_info.txt"] = f"{figure['title']}\n{description}\n".encode("utf-8")
            images.append({"image_filename": f"figure_{index}.png", "text_filename": f"figure_{index}_info.txt",
                           "caption": f"Figure {index + 1}: {figure['title']}", "description": description})
        record = {
            "pdf_link": f"https://www.nature.com/articles/{uid}.pdf",
            # Every other article has no review file, as upstream marks it.
            "review_pdf_link": "URL not found" if number % 2 else f"https://www.nature.com/articles/{uid}-review.pdf",
            "unique_id": uid,
            "images": images,
            "title": article["title"],
            "published_time": f"{2010 + number}-0{1 + number % 9}-1{number % 10}",
            "abstract": article["abstract"],
            "sections": [{"section": s["title"], "content": s["content"]} for s in article["sections"]],
            "references": [
                {"idx": str(n), "title": f"Reference {n} of {article['title']}.", "link": f"https://doi.org/10.0000/{uid}.{n}"}
                for n in range(1, 4)
            ],
        }
        members[f"{folder}{uid}_data.json"] = json.dumps(record, ensure_ascii=False, indent=4).encode("utf-8")
    return members


def build(out_dir, source=SOURCE):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    articles = load_articles(source)
    records, images = benchmark_records(articles)
    members = {name: json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")
               for name, value in records.items()}
    layout.write_zip(out_dir / "benchmark.zip", {**members, **images})
    shards = {}
    for name, documents in pretraining_shards(articles, source).items():
        shards[name] = pickle.dumps(documents, protocol=4)
        shards[layout.shard_count(name)] = str(len(documents)).encode("ascii")
    layout.write_zip(out_dir / "pretraindata.zip", shards)
    layout.write_zip(out_dir / "rawdata.zip", rawdata_members(articles))
    return [out_dir / "benchmark.zip", out_dir / "pretraindata.zip", out_dir / "rawdata.zip"]
