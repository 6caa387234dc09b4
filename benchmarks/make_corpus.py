"""A synthetic MMSci corpus at real scale, in exactly the hosted layout, deterministic from a seed.

    python benchmarks/make_corpus.py --articles 1000 --out /tmp/corpus [--figure-kb 100 500] [--content-kb 40]

Writes benchmark.zip, pretraindata.zip and rawdata.zip (or those named by --archives) with the real corpus's
shape: ~5.6 figures per article, captions and abstracts of ~150 tokens, article text of ~7.5k tokens (~40 KB),
PNG figures of 100-500 KB, pre-training documents in pickle shards of 200. Figures come from a pool of
distinct images (--image-pool), so building is quick while every member is real PNG/JPEG bytes. Not committed.
"""

import argparse
import base64
import io
import json
import pickle
import random
import sys
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scifig  # noqa: E402
from scifig_tools import layout  # noqa: E402

_SHARD = 200


class Text:
    """Pseudo-words from a fixed vocabulary, sliced out of one pre-built reservoir: fast and deterministic."""

    def __init__(self, rng, reservoir_words=400_000):
        vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
                      for _ in range(5000)]
        words = rng.choices(vocabulary, k=reservoir_words)
        for i in range(0, len(words), rng.randint(12, 25)):
            words[i] = words[i].capitalize()
            if i:
                words[i - 1] += "."
        self.words = words
        self.rng = rng

    def tokens(self, count):
        start = self.rng.randrange(0, len(self.words) - count)
        return " ".join(self.words[start:start + count])

    def kilobytes(self, kb):
        return self.tokens(max(1, int(kb * 1024 / 6.5)))  # ~6.5 bytes per token with its space


def png_pool(rng, count, kb_range):
    """Distinct figure-like PNGs: a large white canvas with axes, lines and bars (which compress well, as real
    plots do) and one photo-like noise panel sized so the file lands in kb_range."""
    pool = []
    for _ in range(count):
        target = rng.uniform(*kb_range) * 1024
        if target < 20 * 1024:  # stand-ins for corpora that measure members, not pixels
            side = max(4, int((target / 3) ** 0.5))
            buffer = io.BytesIO()
            Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(buffer, format="PNG")
            pool.append(buffer.getvalue())
            continue
        width, height = rng.randint(900, 1600), rng.randint(600, 1100)
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        for _ in range(40):
            x, y = rng.randrange(width), rng.randrange(height)
            draw.line([(x, y), (rng.randrange(width), rng.randrange(height))], fill=(0, 0, rng.randint(0, 200)),
                      width=2)
            draw.rectangle([x, y, x + rng.randint(5, 40), min(height - 1, y + rng.randint(20, 200))],
                           fill=(rng.randint(0, 255), 120, 90))
        side = max(4, min(int((target / 3) ** 0.5), min(width, height) - 1))
        image.paste(Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)), (0, 0))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=6)
        pool.append(buffer.getvalue())
    return pool


def jpeg_pool(rng, count):
    """Plot-like JPEGs with the short side at 336 px, as upstream stores pre-training images."""
    pool = []
    for n in range(count):
        image = Image.new("RGB", (448, 336), "white")
        draw = ImageDraw.Draw(image)
        for bar in range(12):
            top = rng.randint(20, 300)
            draw.rectangle([20 + bar * 34, top, 44 + bar * 34, 320], fill=(rng.randint(0, 255), 80, 160))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        pool.append(buffer.getvalue())
    return pool


def articles(n, seed):
    rng = random.Random(seed)
    pairs = [(c, s) for c, subjects in scifig.TAXONOMY.items() for s in subjects]
    for i in range(n):
        category, subject = rng.choice(pairs)
        yield {"uid": f"ncomms{100000 + i}", "category": category, "subject": subject,
               "figures": 6 if rng.random() < 0.6 else 5}  # 5.6 figures per article on average


def _split_of(index, dev_fraction, test_fraction):
    position = (index * 7919) % 1000 / 1000  # spread evaluation articles over the corpus
    return "validation" if position < dev_fraction else "test" if position < dev_fraction + test_fraction else "train"


class _Writer:
    def __init__(self, path):
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)

    def add(self, name, data, compress=False):
        self.zip.writestr(layout.zip_entry(name, compress), data, compresslevel=1 if compress else None)

    def json_list(self, name, items):
        """A JSON list streamed into one deflated member: memory stays flat however large it grows."""
        with self.zip.open(layout.zip_entry(name, compress=True), "w", force_zip64=True) as member:
            member.write(b"[")
            for n, item in enumerate(items):
                member.write((b"," if n else b"") + json.dumps(item, ensure_ascii=False).encode("utf-8"))
            member.write(b"]")

    def close(self):
        self.zip.close()


def build(out, n_articles, seed=0, figure_kb=(100, 500), content_kb=40,
          archives=("benchmark", "pretraindata", "rawdata"), dev_fraction=0.15, test_fraction=0.05, image_pool=32):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    text = Text(rng)
    pngs = png_pool(rng, image_pool, figure_kb)
    corpus = list(articles(n_articles, seed))
    for index, article in enumerate(corpus):
        article["split"] = _split_of(index, dev_fraction, test_fraction)
        article["abstract"] = text.tokens(150)
        article["captions"] = [text.tokens(150) for _ in range(article["figures"])]
        article["png"] = [rng.randrange(len(pngs)) for _ in range(article["figures"])]
    written = []
    if "benchmark" in archives:
        writer = _Writer(out / "benchmark.zip")
        for split in scifig.SPLITS:
            chosen = [a for a in corpus if a["split"] == split]
            for article in chosen:
                for i, pool_index in enumerate(article["png"]):
                    writer.add(layout.benchmark_image(split, layout.figure_name(article["uid"], i)), pngs[pool_index])

            def captioning(chosen=chosen, split=split):
                for a in chosen:
                    common = {"uid": a["uid"], "category": a["category"], "subject": a["subject"],
                              "abstract": a["abstract"], "content": text.kilobytes(content_kb)}
                    if split == "train":
                        yield {**common, "images": [{"image": layout.figure_name(a["uid"], i), "caption": c}
                                                    for i, c in enumerate(a["captions"])]}
                    else:
                        yield {**common, "image": layout.figure_name(a["uid"], 1), "caption": a["captions"][1]}

            writer.json_list(layout.benchmark_json(split, "captioning"), captioning())
            settings = [[], [], []]
            for a in chosen:
                for setting in range(3):
                    options = list(a["captions"][:4])
                    correct = rng.randrange(4)
                    options[0], options[correct] = options[correct], options[0]
                    stem = (layout.FIG2CAP_QUESTION if setting == 0
                            else layout.SUBFIG_QUESTION.format("abcd"[rng.randrange(4)]))
                    settings[setting].append({"uid": a["uid"], "category": a["category"], "subject": a["subject"],
                                              "question": scifig.mcq_prompt(stem, options),
                                              "answer": "ABCD"[correct] if split != "test" else "",
                                              "image": layout.figure_name(a["uid"], setting)})
            writer.add(layout.benchmark_json(split, "mcq"), json.dumps(settings).encode(), True)
            if split == "train":
                writer.json_list(layout.benchmark_json(split, "chat"), (
                    {"uid": a["uid"], "category": a["category"], "subject": a["subject"],
                     "image": layout.figure_name(a["uid"], 0), "caption": a["captions"][0],
                     "conversations": [{"from": "human", "value": "What does sub-figure (a) show?"},
                                       {"from": "assistant", "value": a["captions"][0]}]} for a in chosen))
        writer.close()
        written.append(out / "benchmark.zip")
    if "pretraindata" in archives:
        jpegs = [base64.b64encode(j).decode("ascii") for j in jpeg_pool(rng, 16)]
        writer = _Writer(out / "pretraindata.zip")
        for shard, start in enumerate(range(0, len(corpus), _SHARD)):
            documents = []
            for a in corpus[start:start + _SHARD]:
                texts = [s + "." for s in text.kilobytes(content_kb).split(". ")]
                infos = [{"face_detections": None, "index": i + 1, "image_name": f"{a['uid']}_{i + 1}.png",
                          "local_path": "", "raw_url": "", "caption": a["captions"][i],
                          "image_base64": jpegs[(start + i) % len(jpegs)],
                          "matched_text_index": rng.randrange(len(texts)), "matched_sim": 0.3}
                         for i in range(a["figures"])]
                documents.append({"text_list": texts, "image_info": infos, "similarity_matrix": [],
                                  "url": f"https://www.nature.com/articles/{a['uid']}",
                                  "category": f"{a['category']}-{a['subject']}"})
            writer.add(layout.pretraining_shard(shard), pickle.dumps(documents, protocol=4))
            writer.add(layout.shard_count(layout.pretraining_shard(shard)), str(len(documents)).encode())
        writer.close()
        written.append(out / "pretraindata.zip")
    if "rawdata" in archives:
        writer = _Writer(out / "rawdata.zip")
        for a in corpus:
            folder = layout.rawdata_folder(a["category"], a["subject"], a["uid"])
            images = []
            for i, pool_index in enumerate(a["png"]):
                writer.add(f"{folder}figure_{i}.png", pngs[pool_index])
                writer.add(f"{folder}figure_{i}_info.txt", a["captions"][i].encode(), True)
                images.append({"image_filename": f"figure_{i}.png", "text_filename": f"figure_{i}_info.txt",
                               "caption": f"Figure {i + 1}: {a['captions'][i][:80]}", "description": a["captions"][i]})
            record = {"pdf_link": "URL not found", "review_pdf_link": "URL not found", "unique_id": a["uid"],
                      "images": images, "title": text.tokens(12), "published_time": "2020-01-01",
                      "abstract": a["abstract"],
                      "sections": [{"section": "Results", "content": text.kilobytes(content_kb)}],
                      "references": [{"idx": "1", "title": text.tokens(20), "link": "URL not found"}]}
            writer.add(f"{folder}{a['uid']}_data.json", json.dumps(record).encode(), True)
        writer.close()
        written.append(out / "rawdata.zip")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure-kb", type=float, nargs=2, default=(100, 500), metavar=("MIN", "MAX"))
    parser.add_argument("--content-kb", type=float, default=40)
    parser.add_argument("--archives", nargs="+", default=["benchmark", "pretraindata", "rawdata"])
    parser.add_argument("--image-pool", type=int, default=32)
    args = parser.parse_args(argv)
    for path in build(args.out, args.articles, args.seed, tuple(args.figure_kb), args.content_kb, args.archives,
                      image_pool=args.image_pool):
        with zipfile.ZipFile(path) as archive:
            members = len(archive.infolist())
        print(f"wrote {path}: {path.stat().st_size / 1e6:.1f} MB, {members} members")


if __name__ == "__main__":
    main()
