"""Scoring 1,400 captions (the size of MMSci's dev captioning split) by each protocol, every reference metric but
BERTScore (whose cost is its model's). Target: under a minute on 2 cores.

    python benchmarks/caption_scoring.py [--captions 1400] [--repeats 1]

Captions are the bundled sample's figure captions and sentences, long as MMSci's (about 100 words), and the
predictions are other captions and truncations of the reference, so every metric has matches to count. The first row
is a plain baseline on the same machine (sacrebleu's corpus BLEU over the same pairs): how fast this machine is.
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scifig_tools import captioning, metric_resources, tiny_models  # noqa: E402


def corpus(count, seed=0):
    """(rows, predictions): `count` figures with ~100-word captions and predictions made from the sample's text."""
    rng = random.Random(seed)
    words = " ".join(tiny_models.sample_text()).split()
    rows, predictions = [], {}
    for n in range(count):
        start = rng.randrange(len(words) - 120)
        caption = " ".join(words[start:start + rng.randint(60, 140)])
        rows.append({"id": f"r{n}", "figure_id": f"f{n}", "caption": caption, "category": "Physical sciences",
                     "subject": rng.choice(["Physics", "Chemistry", "Optics and photonics"])})
        other = rng.randrange(len(words) - 120)
        predictions[f"r{n}"] = rng.choice([caption[: len(caption) // 2], " ".join(words[other:other + 90]),
                                           caption + " " + " ".join(words[other:other + 20])])
    return rows, predictions


def timed(function, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=1400)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    metric_resources.nltk_ready()  # built once, before anything is timed
    rows, predictions = corpus(args.captions)
    import sacrebleu

    print(f"| what ({args.captions} captions, best of {args.repeats}) | seconds | target |")
    print("|---|---|---|")
    baseline = timed(lambda: sacrebleu.corpus_bleu([predictions[r["id"]] for r in rows], [[r["caption"]
                                                                                         for r in rows]]),
                     args.repeats)
    print(f"| plain baseline: sacrebleu corpus BLEU alone | {baseline:.2f} | |")
    for protocol in ("mmsci", "vlmevalkit", "scifig"):
        seconds = timed(lambda: captioning.score(protocol, rows, predictions), args.repeats)
        print(f"| `--protocol {protocol}`, every metric but BERTScore | {seconds:.2f} | < 60 |")


if __name__ == "__main__":
    main()
