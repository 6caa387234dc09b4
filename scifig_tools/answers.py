"""The letter a model chose, read out of its free text by fixed, documented rules.

Rules, tried in this order; the first rule that finds any letter decides:
1. the whole answer is one letter, bare or dressed: `A`, `A.`, `A:`, `(A)`, `A)`, `**A**`, `[A]`;
2. an answer phrase: `Answer: A`, `answer is (A)`, `The final answer is **A**`, `Option B`, `choice: C`;
3. a dressed letter anywhere: `(A)`, `**A**`, `A:` or `A)` at the start of a line;
4. an option's full text quoted in the answer (case and spacing ignored).
A rule that finds two or more different letters, or no rule that finds any, leaves the answer unparsed: it is
counted wrong and reported, never guessed.
"""

import re

LETTERS = "ABCD"
_BARE = re.compile(r"^\W*(?:\*\*)?\(?\[?([A-D])\]?\)?(?:\*\*)?\W*$")
# The phrase in any case, the letter in capitals only: "the answer is a mixture" names no letter.
_PHRASE = re.compile(
    r"(?i:final answer|answer|option|choice)\s*(?i:is|would be)?\s*[:\-]?\s*(?:\*\*)?\s*[\(\[]?([A-D])\b"
)
_DRESSED = re.compile(r"\(([A-D])\)|\*\*([A-D])\*\*|(?m:^\s*([A-D])[:\)])")


def _normalized(text):
    return " ".join(text.lower().split())


def extract_letter(text, options=()):
    """The letter (A-D) the answer `text` chose, or None when the rules find none or disagree."""
    if not isinstance(text, str):
        return None
    bare = _BARE.match(text.strip())
    if bare:
        return bare.group(1)
    for found in (
        {m.group(1) for m in _PHRASE.finditer(text)},
        {next(g for g in m.groups() if g) for m in _DRESSED.finditer(text)},
        {LETTERS[i] for i, option in enumerate(options) if option and _normalized(option) in _normalized(text)},
    ):
        if found:
            return found.pop() if len(found) == 1 else None
    return None
