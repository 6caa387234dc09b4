"""A caption judge anyone can run: MMSci's G-Eval "relevance" (mmsci-exps/eval/llm_judge_scores.py, Leezekun/MMSci
c787815) through any OpenAI-compatible endpoint (vLLM, a local server, OpenAI itself).

As upstream: the system prompt is prompts/rel_detailed.txt, the user turn gives the oracle and the second caption and
asks for the score alone; 10 completions at temperature 1, up to 16 tokens; the first completion that is a whole
number is the rating, or failing that the digit 1-5 found in the last completion holding one; a figure whose ratings
cannot be read scores 0 and counts in the mean; empty predictions are skipped. Unlike upstream, the figures judged are
a seeded sample (upstream shuffles unseeded, afresh for each of its k runs) and a request is retried a bounded number
of times (upstream's loop never ends on a judge that keeps answering 0). The judge's model decides the numbers:
MMSci's paper used gpt-4o-2024-08-06, so a run with another model is not comparable with its tables.
"""

import hashlib
import random
from pathlib import Path

PROMPT = Path(__file__).resolve().parent / "upstream" / "prompts" / "rel_detailed.txt"
COMPLETIONS, TEMPERATURE, MAX_TOKENS, ATTEMPTS = 10, 1, 16, 5


def prompt():
    return PROMPT.read_text(encoding="utf-8")


def question(reference, prediction):
    """The user turn upstream sends."""
    return (f"Oracle Caption:\n{reference}\n\nSecond Caption:\n{prediction}\n\n"
            "What is the relevance score (1-5)? Return the score ONLY!")


def rating(replies):
    """Upstream's reading of the completions: the first that int() takes, else the digit 1-5 of the last one
    holding one (each such reply overwrites the last); 0 where none has any."""
    found = 0
    for reply in replies:
        reply = (reply or "").strip()
        try:
            return int(reply)
        except ValueError:
            for digit in "12345":
                if digit in reply:
                    found = int(digit)
                    break
    return found


def client(url):
    """An OpenAI client of the endpoint (any key: a local server takes none, OpenAI reads OPENAI_API_KEY)."""
    import os

    from openai import OpenAI

    return OpenAI(base_url=url, api_key=os.environ.get("OPENAI_API_KEY", "none"))


def rate(endpoint, model, reference, prediction):
    """One figure's rating: asked again (up to ATTEMPTS) while it reads as 0, as upstream does."""
    answer = 0
    for _ in range(ATTEMPTS):
        response = endpoint.chat.completions.create(
            model=model, messages=[{"role": "system", "content": prompt()},
                                   {"role": "user", "content": question(reference, prediction)}],
            temperature=TEMPERATURE, max_tokens=MAX_TOKENS, top_p=1, frequency_penalty=0, presence_penalty=0,
            n=COMPLETIONS)
        answer = rating(choice.message.content for choice in response.choices)
        if answer:
            break
    return answer


def relevance(rows, predictions, scoring):
    """G-Eval relevance of a seeded sample of figures, averaged over the k samples of each; says model, prompt hash,
    sample and seed."""
    from scifig_tools.captioning import _sample, per_figure

    pairs = [(row, prediction) for row, prediction in per_figure(rows, predictions)]
    chosen = sorted(random.Random(scoring.seed).sample(range(len(pairs)), min(scoring.judge_sample, len(pairs))))
    endpoint = client(scoring.judge_url)
    runs, unparsed, skipped = [], 0, 0
    for run in range(scoring.k):
        ratings = []
        for at in chosen:
            row, prediction = pairs[at]
            candidate = _sample(prediction, run)
            if not (candidate or "").strip():  # empty, or no prediction: upstream skips both
                skipped += 1
                continue
            ratings.append(rate(endpoint, scoring.judge_model, row["caption"], candidate))
            unparsed += ratings[-1] == 0
        runs.append(sum(ratings) / len(ratings) if ratings else float("nan"))
    return {"relevance": sum(runs) / len(runs), "runs": runs, "model": scoring.judge_model, "url": scoring.judge_url,
            "prompt_sha256": hashlib.sha256(prompt().encode("utf-8")).hexdigest()[:16], "sample": len(chosen),
            "seed": scoring.seed, "figures": [pairs[at][0]["figure_id"] for at in chosen], "unparsed": unparsed,
            "skipped_empty": skipped}
