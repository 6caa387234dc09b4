"""How scifig reads a letter out of a model's reply: a table of realistic replies and the letter a careful reader
takes from each (None where that reader cannot tell). Every reply the reader reads as one letter without doubt
must parse; the ones left unparsed, and why, are listed in docs/answers.md."""

import pytest

from scifig import ANSWER_LETTERS
from scifig_tools.answers import extract_letter

OPTIONS = ["Concentration spectra.", "Temperature spectra.", "UV/Vis absorption.", "Emission spectra."]

SHAPES = [
    # a letter alone, bare or dressed
    ("A", "A"), ("B.", "B"), ("(C)", "C"), ("D)", "D"), ("**A**", "A"), ("[B]", "B"), ("C:", "C"), ("  d ", None),
    ("Answer: B", "B"), ("Answer: (C)", "C"), ("Final answer: D", "D"), ("**Answer:** A", "A"), ("Option B", "B"),
    # a letter alone on the first line, then an explanation
    ("B\n\nExplanation: panel a shows the absorption spectra while panel b ...", "B"),
    ("C.\nThe figure plots emission against wavelength, which matches option C.", "C"),
    ("**D**\n\nReasoning: the x-axis is temperature.", "D"),
    ("(A)\nBecause the concentration varies from 25 to 500 uM.", "A"),
    # answer phrases
    ("The answer is (C).", "C"), ("The answer is C because the peaks shift.", "C"),
    ("The final answer is **D**", "D"), ("The correct answer is B.", "B"), ("answer:(A)", "A"), ("ANSWER IS C", "C"),
    ("I think the answer would be B.", "B"), ("Correct option is D", "D"), ("The correct option is A.", "A"),
    ("I would choose B, not A.", "B"), ("I'd pick C here.", "C"), ("I choose option D.", "D"),
    ("Select B.", "B"), ("I will go with A.", "A"), ("It must be C, given the inset.", "C"),
    ("My answer: D", "D"), ("Choice: B", "B"), ("The answer is A. (B) is wrong.", "A"),
    # chains of thought that end in a conclusion
    ("The panel shows spectra at several concentrations, and the legend lists micromolar values. Therefore, A.", "A"),
    ("Panels a-c vary temperature; panel d varies concentration. Thus the caption is B.", "B"),
    ("Looking at the axes, intensity against wavelength. So, C.", "C"),
    ("First, (A) is about absorption. (B) is about temperature. Hence, D.", "D"),
    # a letter said to be right
    ("B is correct.", "B"), ("(C) is the right one.", "C"), ("Option D is the best match.", "D"),
    ("A fits best.", "A"),
    # markdown
    ("### Answer\n**B**", "B"), ("- Answer: **C**", "C"), ("> D", "D"),
    # the option's text
    ('It shows "temperature   SPECTRA."', "B"), ("UV/Vis absorption.", "C"),
    ("C: UV/Vis absorption.", "C"),
    # a letter first, then the option in the model's own words
    ("C. The UV/Vis absorption of the sample at 1,000 °C.", "C"),
    # a careful reader cannot tell
    ("A or B", None), ("Between (A) and (B), hard to say.", None), ("A\nB", None),
    ("B and C are both plausible.", None),
    ("The answer is a mixture of effects.", None), ("none of them", None), ("", None), ("Not A.", None),
    ("I'm sorry, I can't help with that.", None), ("I cannot determine the answer from the image.", None),
    ("The figure shows spectra.", None), ("Either (C) or (D).", None),
    ("A careful look at panel b shows a shift.", None),
    # and the rest of the shapes the rules were first written for
    (" b ", None), ("C)", "C"), ("Option B is right", "B"), ("choice: C", "C"), ("I think (A) fits.", "A"),
    ("**B** because of the peaks", "B"), ("Reasoning...\nC: the absorption one", "C"),
    ("Between (A) and (B), hard to say", None), ("The answer is a mixture of effects", None),
]


def test_the_table_is_large_enough_to_mean_something():
    assert len(SHAPES) >= 50 and len({text for text, _ in SHAPES}) == len(SHAPES)
    assert {letter for _, letter in SHAPES} == set(ANSWER_LETTERS) | {None}


@pytest.mark.parametrize("text,letter", SHAPES, ids=[repr(text[:40]) for text, _ in SHAPES])
def test_each_reply_reads_as_a_careful_reader_reads_it(text, letter):
    assert extract_letter(text, OPTIONS) == letter


def test_non_text_is_unparsed():
    assert extract_letter(None, OPTIONS) is None and extract_letter(3, OPTIONS) is None
