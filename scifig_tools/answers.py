"""The letter a model chose, read out of its free text by fixed, documented rules: the one implementation every
harness scifig writes for (lmms-eval tasks, VLMEvalKit files, `scifig_tools evaluate`) imports.

Rules, tried in this order; the first rule that finds any letter decides:
1. the whole answer is one letter, bare or dressed: `A`, `A.`, `(A)`, `A)`, `**A**`, `[A]`, `Answer: A`;
2. the first line is one dressed letter and an explanation follows: `B\\n\\nExplanation: ...`, `**C** because ...`;
3. an answer phrase: `Answer: A`, `the answer is (A)`, `The final answer is **A**`, `Option B`, `choice: C`,
   `I choose B`, `I would pick B, not A`, `Select C`, `the correct option is D`, `it must be B`;
4. a conclusion: the last sentence that starts with therefore, thus, hence, so or in conclusion and names one
   letter: `... Therefore, B.`;
5. a letter said to be right: `B is correct`, `(C) is the right one`, `B fits best`;
6. a dressed letter anywhere: `(A)`, `**A**`, `[A]`, or `A:`, `A)`, `A.` at the start of a line;
7. an option's full text quoted in the answer (case and spacing ignored).
A rule that finds two or more different letters, or no rule that finds any, leaves the answer unparsed: it is
counted wrong and reported, never guessed. Letters are capitals: "a" is an article, not an option.
"""

import re

from scifig import ANSWER_LETTERS

# What MMSci's own evaluation appends to each question (`QA_TRIGGER` in the MMSci repository's run_matching.py):
# models are asked `prompt + ANSWER_INSTRUCTION`, the image beside it.
ANSWER_INSTRUCTION = "\nChoose one answer from available options. Return only your answer."

_L = r"(?<![\w'])([A-D])(?![\w'])"  # a capital letter standing alone
_DRESSED_ALONE = r"\W*(?:\*\*|__)?[\(\[]?(?:option|choice|answer)?\s*[:\-]?\s*" + _L + r"[\)\]]?(?:\*\*|__)?[.:)]?\W*"
_WHOLE = re.compile(r"^(?i:(?:final\s+)?answer\s*[:\-]?\s*)?" + _DRESSED_ALONE + "$")
_FIRST_LINE = re.compile(r"^\s*(?:\*\*|__)?[\(\[]?" + _L + r"[\)\]]?(?:\*\*|__)?[.:)]?(?:\s*$|\s+(?=\S))")
# Phrases in any case; the letter stays a capital.
_PHRASES = re.compile(
    r"(?i:(?:final|correct|right|best)?\s*answer\s*(?:is|would be|should be|will be|must be)?|option|choice"
    r"|(?:i|we)(?:'d|'ll|\s+would|\s+will)?\s+(?:choose|select|pick|go\s+with|answer)"
    r"|^\s*(?:choose|select|pick)|(?:correct|right|best)\s+(?:option|choice)\s+is|it\s+(?:must|should)\s+be)"
    r"\s*(?i:option|choice)?\s*[:\-=]?\s*(?:\*\*|__)?\s*[\(\[]?" + _L,
    re.MULTILINE,
)
_CONCLUSION = re.compile(r"(?i:therefore|thus|hence|so|in conclusion|overall)\b[^.!?\n]*?" + _L)
_SAID_RIGHT = re.compile(r"[\(\[]?" + _L + r"[\)\]]?\s+(?i:is\s+(?:the\s+)?(?:correct|right|best)|fits\s+best)")
_DRESSED = re.compile(r"\(([A-D])\)|\*\*([A-D])\*\*|\[([A-D])\]|(?m:^\s*([A-D])[:\).](?!\w))")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _normalized(text):
    return " ".join(text.lower().split())


def _found(matches):
    return {next(group for group in match.groups() if group) for match in matches}


def _conclusion(text):
    """The letters named by the last sentence that draws a conclusion."""
    sentences = [sentence for sentence in _SENTENCE_END.split(text) if sentence.strip()]
    for sentence in reversed(sentences):
        if re.match(r"\s*(?i:therefore|thus|hence|so|in conclusion|overall)\b", sentence):
            return _found(_CONCLUSION.finditer(sentence))
    return set()


def extract_letter(text, options=()):
    """The letter (A-D) the answer `text` chose, or None when the rules find none or disagree."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    whole = _WHOLE.match(stripped)
    if whole:
        return whole.group(1)
    first_line, _, rest = stripped.partition("\n")
    first = _FIRST_LINE.match(first_line)
    if first and first.end() >= len(first_line.rstrip()) and re.search(r"[a-z]{2}", rest):  # then an explanation
        return first.group(1)
    for found in (
        _found(_PHRASES.finditer(stripped)),
        _conclusion(stripped),
        _found(_SAID_RIGHT.finditer(stripped)),
        _found(_DRESSED.finditer(stripped)),
        {ANSWER_LETTERS[i] for i, option in enumerate(options)
         if option and _normalized(option) in _normalized(stripped)},
    ):
        if found:
            return found.pop() if len(found) == 1 else None
    return None
