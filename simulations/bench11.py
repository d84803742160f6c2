"""Synthetic scenario ``bench11``: RouterBench's eleven models on four task families.

A second many-model world, built independently of ``families`` (simulations/families.py) so
that a learner can be checked on two worlds of different construction before it meets the
held-out benchmark of issue 17. What it assumes:

* **Models and prices.** RouterBench's line-up with list prices in USD per million tokens
  (input / output): gpt-4 30 / 60, claude-v2 and claude-v1 8 / 24, claude-instant-v1
  0.8 / 2.4, gpt-3.5-turbo 1 / 2, llama-70b-chat 0.9, mixtral-8x7b-chat 0.6, yi-34b-chat
  0.8, code-llama-34b-instruct 0.776, mistral-7b-chat 0.2, wizardlm-13b 0.3 (the open models
  at a hosting provider's flat per-token price).
* **Requests** (3,150 by default, RouterBench's held-out size) from four families in fixed
  shares: multiple-choice science (35 %; MMLU/ARC-style, four options, numeric questions
  computed from the drawn quantities and fact questions from word lists), commonsense (30 %;
  HellaSwag-style sentence completions with four endings and WinoGrande-style two-option
  blanks), short Python tasks (15 %; MBPP-style with ``assert`` tests whose expected values
  are computed) and grade-school maths word problems (20 %; GSM8K-style, 2–6 steps).
* **Outcomes: a three-parameter item-response model with format failures**, not a table of
  success rates. Each prompt ``i`` has a difficulty ``b_i`` (a visible part from its
  template — steps, subject, task — plus a hidden normal part); model ``m`` knows the answer
  with probability ``σ(a_m · (θ[m, f] − b_i))`` (ability ``θ`` per family, perturbed by
  ``ABILITY_NOISE`` per seed; discrimination ``a_m``: strong models are steeper), otherwise
  it guesses (``1/options`` for multiple choice, 0 for code and maths); independently, with
  probability ``FORMAT_FAIL[m, f]`` its answer cannot be graded (no letter, code that does not
  run, no final number) and counts as wrong. Every model sees the same ``b_i``, so outcomes
  are correlated across models the way benchmark items are. Rewards are 0/1.
* **Shape** (approximately that of RouterBench's published per-task accuracies, rounded; not
  copied): gpt-4 is best on every family; gpt-3.5 and the Claude models are strong on code
  and maths; among the six open models a different one is best on each family (mixtral on
  science, yi-34b on commonsense, code-llama on code, wizardlm-13b on maths) and poor on
  some other; mistral-7b is cheap, fair at commonsense and weak elsewhere.
* **Prices of a call** = the prompt's tokens × the input price + the answer's tokens × the
  output price. Answer length depends on family and model: multiple-choice answers are a
  letter for terse models and a sentence or two for chatty ones (the Claude models, llama,
  wizardlm), code and maths answers are long (80–300 tokens), with ±35 % per call. A router
  deciding sees the price the service would quote from its catalog: the prompt's tokens and
  the service's default answer length (256 tokens); the run is charged the real price.
  Tokens are counted like a BPE tokenizer would, roughly: one per word of up to four
  letters, one per further four letters, one per digit and per punctuation mark.

Past 300 lines on purpose: most of it is templates and word lists (data, not logic); the
world's rules are the tables below and :func:`generate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bandit_router.features import DEFAULT_SPEC, Featurizer, featurizer_for

FAMILIES = ("science-mc", "commonsense", "python", "grade-maths")
SHARES = np.array([0.35, 0.30, 0.15, 0.20])
# model: (input, output) USD per million tokens
PRICES = {
    "gpt-4": (30.0, 60.0),
    "claude-v2": (8.0, 24.0),
    "claude-v1": (8.0, 24.0),
    "claude-instant-v1": (0.8, 2.4),
    "gpt-3.5-turbo": (1.0, 2.0),
    "llama-70b-chat": (0.9, 0.9),
    "mixtral-8x7b-chat": (0.6, 0.6),
    "yi-34b-chat": (0.8, 0.8),
    "code-llama-34b": (0.776, 0.776),
    "mistral-7b-chat": (0.2, 0.2),
    "wizardlm-13b": (0.3, 0.3),
}
MODELS = tuple(PRICES)
OPEN_MODELS = MODELS[5:]  # the cheap, openly hosted ones
# θ[m, f]: ability in logits against a median item of the family (b = 0)
#                    sci   comm  code  maths
ABILITY = np.array([
    [1.6, 2.0, 1.2, 1.4],   # gpt-4
    [1.1, 1.2, 0.7, 1.0],   # claude-v2
    [0.8, 1.0, 0.5, 0.8],   # claude-v1
    [0.2, 0.5, 0.2, 0.5],   # claude-instant-v1
    [0.7, 0.9, 0.9, 0.7],   # gpt-3.5-turbo
    [0.5, 1.1, -0.9, 0.1],  # llama-70b-chat
    [1.0, 0.6, -0.2, -0.2],  # mixtral-8x7b-chat: science
    [0.5, 1.6, -0.8, -0.5],  # yi-34b-chat: commonsense
    [-0.4, -0.6, 0.6, -0.9],  # code-llama-34b: code
    [-0.3, 0.8, -1.3, -1.4],  # mistral-7b-chat
    [-0.5, 0.0, -0.9, 0.5],  # wizardlm-13b: maths
])
DISCRIMINATION = np.array([1.6, 1.4, 1.3, 1.2, 1.3, 1.1, 1.1, 1.1, 1.0, 0.9, 0.9])
# probability that an answer cannot be graded (wrong format), per model and family
FORMAT_FAIL = np.array([
    [0.01, 0.01, 0.02, 0.03],  # gpt-4
    [0.04, 0.05, 0.03, 0.04],  # claude-v2
    [0.05, 0.06, 0.04, 0.05],  # claude-v1
    [0.06, 0.06, 0.05, 0.05],  # claude-instant-v1
    [0.02, 0.02, 0.03, 0.04],  # gpt-3.5-turbo
    [0.06, 0.04, 0.10, 0.08],  # llama-70b-chat
    [0.03, 0.04, 0.06, 0.08],  # mixtral-8x7b-chat
    [0.05, 0.02, 0.10, 0.10],  # yi-34b-chat
    [0.08, 0.10, 0.03, 0.12],  # code-llama-34b
    [0.08, 0.06, 0.12, 0.12],  # mistral-7b-chat
    [0.07, 0.06, 0.10, 0.05],  # wizardlm-13b
])
# mean answer tokens per model and family (multiple choice: a letter, or a letter explained)
ANSWER_TOKENS = np.array([
    [3, 3, 190, 160],       # gpt-4
    [45, 35, 230, 190],     # claude-v2
    [55, 40, 240, 200],     # claude-v1
    [35, 30, 200, 170],     # claude-instant-v1
    [3, 4, 150, 130],       # gpt-3.5-turbo
    [60, 45, 260, 210],     # llama-70b-chat
    [8, 6, 220, 180],       # mixtral-8x7b-chat
    [12, 8, 240, 200],      # yi-34b-chat
    [20, 15, 170, 220],     # code-llama-34b
    [25, 20, 230, 190],     # mistral-7b-chat
    [70, 50, 280, 240],     # wizardlm-13b
], dtype=np.float64)
ANSWER_SPREAD = 0.35  # lognormal sd of an answer's length around its mean
ABILITY_NOISE = 0.1  # sd of the per-seed perturbation of ABILITY, in logits
HIDDEN_DIFFICULTY = 0.9  # sd of the part of an item's difficulty its text does not show
QUOTED_ANSWER_TOKENS = 256  # the service's default answer length when pricing a decision

_FIRST = ("Ava", "Noah", "Zara", "Mateo", "Ines", "Yusuf", "Chloe", "Arjun", "Freya", "Diego",
          "Amara", "Felix", "Leila", "Hugo", "Nadia", "Oscar", "Rosa", "Tariq", "Wren", "Jonas")


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _options(rng, correct: str, wrong: list[str]) -> tuple[str, str]:
    """Four lettered options with the correct one at a random place, and its letter."""
    opts = [correct, *wrong[:3]]
    order = rng.permutation(4)
    letters = "ABCD"
    lines = "\n".join(f"{letters[j]}. {opts[i]}" for j, i in enumerate(order))
    return lines, letters[int(np.flatnonzero(order == 0)[0])]


# --------------------------------------------------------------------------- science (MC)

def _num(x: float) -> str:
    return f"{x:.3g}"


def _physics(rng) -> tuple[str, str, float]:
    kind = int(rng.integers(4))
    if kind == 0:
        m, a = rng.integers(2, 40) / 2, rng.integers(2, 30) / 2
        q = f"A {_num(m)} kg cart accelerates uniformly at {_num(a)} m/s^2. What is the net force on the cart?"
        right = m * a
        wrong = [m + a, m / a, m * a * 2]
        unit, hard = "N", -0.6
    elif kind == 1:
        m, v = int(rng.integers(1, 20)), int(rng.integers(2, 25))
        q = (f"A ball of mass {m} kg moves at {v} m/s. What is its kinetic energy?")
        right, wrong, unit, hard = 0.5 * m * v * v, [m * v, m * v * v, 0.25 * m * v * v], "J", -0.2
    elif kind == 2:
        r, i = int(rng.integers(2, 60)), rng.integers(1, 20) / 4
        q = (f"A resistor of {r} ohms carries a current of {_num(i)} A. What power does it "
             "dissipate?")
        right, wrong, unit, hard = i * i * r, [i * r, r / i, i * r * r], "W", 0.3
    else:
        f, lam = int(rng.integers(50, 900)), rng.integers(1, 40) / 10
        q = (f"A sound wave has a frequency of {f} Hz and a wavelength of {_num(lam)} m in a "
             "gas. At what speed does it travel?")
        right, wrong, unit, hard = f * lam, [f / lam, lam / f * 1000, f + lam], "m/s", 0.0
    opts, letter = _options(rng, f"{_num(right)} {unit}", [f"{_num(w)} {unit}" for w in wrong])
    return f"{q}\n{opts}", letter, hard


_CHEM = (("NaCl", 58.44), ("H2O", 18.02), ("CO2", 44.01), ("CaCO3", 100.09), ("NH3", 17.03),
         ("C6H12O6", 180.16), ("KNO3", 101.10), ("MgO", 40.30))


def _chemistry(rng) -> tuple[str, str, float]:
    if rng.random() < 0.5:
        formula, molar = _pick(rng, _CHEM)
        grams = int(rng.integers(5, 400))
        q = f"How many moles are in {grams} g of {formula}?"
        right = grams / molar
        wrong = [grams * molar / 100, molar / grams, grams / molar * 2]
        opts, letter = _options(rng, f"{right:.2f} mol", [f"{w:.2f} mol" for w in wrong])
        return f"{q}\n{opts}", letter, 0.4
    exp = int(rng.integers(1, 13))
    acid = exp < 7
    q = (f"A solution has a hydrogen ion concentration of 1 x 10^-{exp} mol/L at 25 degrees C. "
         "What is its pH, and is the solution acidic or basic?")
    right = f"pH {exp}, {'acidic' if acid else 'basic'}"
    wrong = [f"pH {14 - exp}, {'acidic' if acid else 'basic'}",
             f"pH {exp}, {'basic' if acid else 'acidic'}", f"pH {-exp}, neutral"]
    opts, letter = _options(rng, right, wrong)
    return f"{q}\n{opts}", letter, 0.1


# (stem, correct, three distractors, visible difficulty)
_FACTS = (
    ("Which organelle is the main site of ATP production in animal cells?", "the mitochondrion",
     ("the ribosome", "the Golgi apparatus", "the lysosome"), -0.8),
    ("During which phase of mitosis do sister chromatids separate?", "anaphase",
     ("prophase", "metaphase", "telophase"), -0.3),
    ("Which molecule carries amino acids to the ribosome during translation?", "tRNA",
     ("mRNA", "rRNA", "DNA polymerase"), -0.2),
    ("A cross between two heterozygous pea plants (Tt x Tt) gives what ratio of tall to short "
     "offspring?", "3:1", ("1:1", "9:3:3:1", "1:2:1"), 0.0),
    ("Which gas makes up most of the Earth's atmosphere?", "nitrogen",
     ("oxygen", "carbon dioxide", "argon"), -1.0),
    ("What causes the seasons on Earth?", "the tilt of Earth's axis",
     ("the changing distance from the Sun", "the Moon's orbit", "solar flares"), -0.4),
    ("Which type of rock forms from cooled magma?", "igneous",
     ("sedimentary", "metamorphic", "limestone"), -0.7),
    ("Which planet has the shortest orbital period around the Sun?", "Mercury",
     ("Venus", "Mars", "Neptune"), -0.6),
    ("What is the main source of a main-sequence star's energy?",
     "nuclear fusion of hydrogen into helium",
     ("nuclear fission of uranium", "gravitational collapse alone", "chemical combustion"), 0.2),
    ("Which bond holds the two strands of a DNA double helix together?", "hydrogen bonds",
     ("ionic bonds", "peptide bonds", "disulfide bridges"), 0.1),
    ("An enzyme's rate drops sharply above 45 degrees C. What best explains this?",
     "the enzyme denatures and its active site changes shape",
     ("the substrate evaporates", "more collisions lower the rate", "the enzyme divides"), 0.5),
    ("Which of these is a conserved quantity in an elastic collision?", "kinetic energy",
     ("velocity of each body", "temperature", "acceleration"), 0.6),
    ("Which element has the highest electronegativity?", "fluorine",
     ("oxygen", "chlorine", "cesium"), 0.3),
    ("What kind of reaction is the neutralisation of HCl by NaOH?", "exothermic",
     ("endothermic", "nuclear", "photochemical"), 0.2),
)
_SUBJECTS = {"high school physics": _physics, "high school chemistry": _chemistry}
_FACT_SUBJECTS = ("high school biology", "college biology", "astronomy", "earth science",
                  "conceptual physics", "high school chemistry")


def _science(rng) -> tuple[str, float, int]:
    if rng.random() < 0.45:
        subject = _pick(rng, tuple(_SUBJECTS))
        body, _, hard = _SUBJECTS[subject](rng)
    else:
        subject = _pick(rng, _FACT_SUBJECTS)
        stem, right, wrong, hard = _pick(rng, _FACTS)
        opts, _ = _options(rng, right, list(wrong))
        body = f"{stem}\n{opts}"
        hard += 0.3 if subject.startswith("college") else 0.0
    header = _pick(rng, (f"The following are multiple choice questions (with answers) about "
                         f"{subject}.\n\n", f"Question ({subject}): ", ""))
    return f"{header}{body}\nAnswer:", hard, 4


# --------------------------------------------------------------------------- commonsense

_ACTIVITIES = (
    ("Removing ice from car", "is scraping frost off a windshield with a plastic scraper",
     ("then brushes the loose ice off the hood", "then pours the ice into a teacup",
      "then paints the scraper blue and eats it", "then climbs onto the roof to sleep")),
    ("Making a sandwich", "spreads butter on two slices of bread",
     ("then adds ham and cheese and closes the sandwich", "then irons the bread flat",
      "then mails the butter to a friend", "then plants the bread in a pot")),
    ("Walking the dog", "clips a leash onto the dog's collar",
     ("then opens the front door and heads outside", "then puts the dog in the dishwasher",
      "then knits the leash into a scarf", "then reads the leash a bedtime story")),
    ("Playing the violin", "tucks the violin under the chin and raises the bow",
     ("then draws the bow across the strings", "then uses the bow to stir soup",
      "then throws the violin into a lake", "then hammers a nail with the violin")),
    ("Brushing teeth", "squeezes toothpaste onto a toothbrush",
     ("then brushes along the gum line", "then spreads the paste on toast",
      "then hides the brush in the freezer", "then combs the cat's hair with it")),
    ("Painting a fence", "dips a wide brush into a can of white paint",
     ("then strokes paint along the fence boards", "then drinks from the can",
      "then paints the grass instead", "then buries the brush in sand")),
    ("Skateboarding", "pushes off the pavement with one foot",
     ("then rolls down the path and turns at the corner", "then sews a button on the board",
      "then waters the skateboard", "then folds the board into a square")),
    ("Washing dishes", "fills the sink with warm soapy water",
     ("then scrubs the plates with a sponge", "then puts the sink in the oven",
      "then pours the water into the piano", "then dries the soap with a towel")),
    ("Tying a tie", "drapes the tie around the collar with the wide end longer",
     ("then crosses the wide end over the narrow end", "then glues the tie to the wall",
      "then cuts the tie in half", "then wears the tie as a belt")),
    ("Wrapping a gift", "places the box in the middle of the wrapping paper",
     ("then folds the paper over and tapes it down", "then sets the paper on fire",
      "then wraps the scissors instead", "then puts the box in the fridge")),
)
_PEOPLE = ("A man", "A woman", "A young girl", "A teenage boy", "An older man", "A chef",
           "A coach", "Two friends")
# WinoGrande-style: (sentence with _, option that fits, the other option)
_WINO = (
    ("The {a} would not fit in the {b} because the _ was too large.", "a", "b"),
    ("The {a} would not fit in the {b} because the _ was too small.", "b", "a"),
    ("{p} poured water from the {a} into the {b} until the _ was full.", "b", "a"),
    ("{p} poured water from the {a} into the {b} until the _ was empty.", "a", "b"),
    ("{p} chose the {a} over the {b} because the _ was cheaper.", "a", "b"),
    ("{p} chose the {a} over the {b} because the _ was too expensive.", "b", "a"),
)
_PAIRS = (("suitcase", "closet"), ("bottle", "glass"), ("jacket", "backpack"),
          ("sofa", "doorway"), ("guitar", "case"), ("pot", "bowl"), ("laptop", "drawer"),
          ("bucket", "vase"), ("tent", "car boot"), ("trophy", "cabinet"))


def _commonsense(rng) -> tuple[str, float, int]:
    if rng.random() < 0.6:
        header, start, endings = _pick(rng, _ACTIVITIES)
        who = _pick(rng, _PEOPLE)
        opts, _ = _options(rng, endings[0], list(endings[1:]))
        tell = _pick(rng, ("", " The camera zooms in on the hands.", " People watch nearby.",
                           " It is early in the morning."))
        return (f"{header}: {who} {start}.{tell} {who.split()[-1].capitalize()} ...\n{opts}\n"
                "Answer:"), -0.5 + (0.4 if tell else 0.0), 4
    sentence, fits, other = _pick(rng, _WINO)
    a, b = _PAIRS[int(rng.integers(len(_PAIRS)))]
    words = {"a": a, "b": b}
    text = sentence.format(a=a, b=b, p=_pick(rng, _FIRST))
    first = rng.random() < 0.5
    o1, o2 = (words[fits], words[other]) if first else (words[other], words[fits])
    return (f"Fill in the blank: {text}\nOption 1: {o1}\nOption 2: {o2}\nAnswer:",
            0.3 + (0.3 if "too" in sentence else 0.0), 2)


# --------------------------------------------------------------------------- python

def _py_tasks(rng) -> tuple[str, str, list[tuple[str, str]], float]:
    """(function name, task, [(call, expected)], visible difficulty): expected values are
    computed by running the task here."""
    kind = int(rng.integers(8))
    ints = [int(v) for v in rng.integers(-20, 60, size=int(rng.integers(4, 9)))]
    if kind == 0:
        n = int(rng.integers(3, 12))
        return ("sum_of_squares", "find the sum of squares of the first n natural numbers",
                [(f"sum_of_squares({k})", str(sum(i * i for i in range(1, k + 1))))
                 for k in (n, n + 2, n + 5)], -0.8)
    if kind == 1:
        words = " ".join(_pick(rng, ("python", "program", "language", "apple", "queue", "io"))
                         for _ in range(3))
        return ("count_vowels", "count the number of vowels in a given string",
                [(f"count_vowels({words!r})", str(sum(c in "aeiou" for c in words)))], -0.7)
    if kind == 2:
        return ("second_largest", "find the second largest distinct number in a list",
                [(f"second_largest({ints})", str(sorted(set(ints))[-2]))], -0.1)
    if kind == 3:
        k = int(rng.integers(1, 4))
        return ("rotate_right", "rotate a given list to the right by k positions",
                [(f"rotate_right({ints}, {k})", str(ints[-k:] + ints[:-k]))], 0.2)
    if kind == 4:
        s = _pick(rng, ("programming", "mississippi", "bookkeeper", "balloon", "committee"))
        first = next((c for c in s if s.count(c) > 1), "None")
        return ("first_repeated_char", "find the first repeated character in a given string",
                [(f"first_repeated_char({s!r})", repr(first))], 0.0)
    if kind == 5:
        pairs = [(int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(3)]
        merged = sorted(pairs, key=lambda p: (p[1], p[0]))
        return ("sort_by_second", "sort a list of tuples by their second element, breaking ties "
                "by the first", [(f"sort_by_second({pairs})", str(merged))], 0.4)
    if kind == 6:
        n = int(rng.integers(10, 200))
        return ("count_primes", "count the prime numbers less than n",
                [(f"count_primes({n})",
                  str(sum(all(p % q for q in range(2, int(p ** 0.5) + 1)) for p in range(2, n))))],
                0.6)
    text = _pick(rng, ("aabcccccaaa", "abcd", "zzzzyy", "hello", "aaabbbcccd"))
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        out.append(f"{text[i]}{j - i}")
        i = j
    return ("run_length", "encode a string with run-length encoding, writing each character "
            "followed by its count", [(f"run_length({text!r})", repr("".join(out)))], 0.9)


def _python(rng) -> tuple[str, float, int]:
    name, task, tests, hard = _py_tasks(rng)
    asserts = "\n".join(f"assert {call} == {want}" for call, want in tests)
    lead = _pick(rng, ("Write a python function to", "Write a function to",
                       "Write a Python function that will"))
    tail = _pick(rng, ("Your code should pass these tests:\n\n", "", "Tests:\n"))
    return f"{lead} {task}.\n{tail}{asserts}", hard, 0


# --------------------------------------------------------------------------- grade-school maths

_GOODS = (("eggs", "carton", "cartons", 12), ("muffins", "box", "boxes", 6),
          ("pencils", "pack", "packs", 10), ("stickers", "sheet", "sheets", 24),
          ("apples", "bag", "bags", 8), ("cookies", "tray", "trays", 15))
_JOBS = (("walks dogs", "dog"), ("tutors students", "student"), ("mows lawns", "lawn"),
         ("repairs bikes", "bike"), ("babysits", "evening"))


def _maths(rng) -> tuple[str, float, int]:
    name = _pick(rng, _FIRST)
    steps = int(rng.integers(2, 7))
    if rng.random() < 0.5:
        item, unit, units, per = _pick(rng, _GOODS)
        n_units = int(rng.integers(2, 9))
        price = int(rng.integers(2, 15))
        parts = [f"{name} buys {n_units} {units} of {item}. Each {unit} holds {per} {item} "
                 f"and costs ${price}."]
        more = [f"{name} gives away {int(rng.integers(1, per))} {item} to a neighbour.",
                f"On the way home, {int(rng.integers(1, 4))} {item} are dropped and lost.",
                f"{name} then sells the rest at ${int(rng.integers(1, 4))} each.",
                f"A friend pays back ${int(rng.integers(3, 20))} of the cost.",
                f"{name} also spends ${int(rng.integers(2, 12))} on a bus ticket."]
        parts += more[: steps - 1]
        parts.append(_pick(rng, (f"How much money does {name} have left over at the end?",
                                 f"What is {name}'s profit in dollars?")))
    else:
        job, what = _pick(rng, _JOBS)
        rate = int(rng.integers(8, 30))
        parts = [f"{name} {job} and earns ${rate} per {what}."]
        more = [f"This week {name} worked {int(rng.integers(3, 12))} times on weekdays and "
                f"{int(rng.integers(1, 5))} times at the weekend.",
                f"Weekend work pays {int(rng.integers(2, 6)) * 10}% more.",
                f"{name} saves half of the money and spends ${int(rng.integers(5, 30))} of "
                "the rest.",
                f"Last week {name} earned ${int(rng.integers(40, 200))}.",
                f"A bonus of ${int(rng.integers(5, 25))} is paid for every 5 {what}s."]
        parts += more[: steps - 1]
        parts.append(f"How many dollars does {name} have from this week's work?")
    return " ".join(parts), 0.35 * (steps - 3.5), 0


# per family: prompt → (text, visible difficulty, number of options; 0: open answer)
_WRITERS = (_science, _commonsense, _python, _maths)

_TOKEN = re.compile(r"[A-Za-z]+|\d|[^\sA-Za-z\d]")


def count_tokens(text: str) -> int:
    """Tokens as a BPE tokenizer roughly counts them: one per word of up to four letters and
    one per further four letters, one per digit and per punctuation mark."""
    return sum(1 + (len(t) - 1) // 4 if t[0].isalpha() else 1 for t in _TOKEN.findall(text))


@dataclass(frozen=True)
class World:
    """One seed's stream: per request its text, family, every model's outcome and price."""

    models: tuple[str, ...]
    X: np.ndarray  # (n, d) the featuriser's vectors
    reward: np.ndarray  # (n, K) 0/1 outcome
    expected: np.ndarray  # (n, K) its probability
    quoted: np.ndarray  # (n, K) price known before the call: prompt + the default answer
    charged: np.ndarray  # (n, K) price of the call: prompt + this answer
    texts: list[str]
    family: np.ndarray  # (n,) index into FAMILIES
    difficulty: np.ndarray  # (n,) b_i


def generate(seed: int, steps: int = 3_150, featurizer: Featurizer | None = None) -> World:
    """The ``bench11`` world of ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, 1111])
    fam = rng.choice(len(FAMILIES), size=steps, p=SHARES)
    texts, visible, guess = [], np.empty(steps), np.empty(steps)
    for i, f in enumerate(fam):
        text, visible[i], options = _WRITERS[f](rng)
        texts.append(text)
        guess[i] = 1.0 / options if options else 0.0
    b = visible + rng.normal(0.0, HIDDEN_DIFFICULTY, size=steps)
    theta = ABILITY + rng.normal(0.0, ABILITY_NOISE, size=ABILITY.shape)
    know = 1.0 / (1.0 + np.exp(-DISCRIMINATION[None, :] * (theta[:, fam].T - b[:, None])))
    expected = (1.0 - FORMAT_FAIL[:, fam].T) * (guess[:, None] + (1.0 - guess[:, None]) * know)
    reward = (rng.random(expected.shape) < expected).astype(np.float64)
    tokens_in = np.array([count_tokens(t) for t in texts], dtype=np.float64)
    answer = ANSWER_TOKENS[:, fam].T * rng.lognormal(0.0, ANSWER_SPREAD, size=expected.shape)
    answer = np.maximum(1.0, np.round(answer))
    p_in = np.array([p[0] for p in PRICES.values()])
    p_out = np.array([p[1] for p in PRICES.values()])
    quoted = (tokens_in[:, None] * p_in + QUOTED_ANSWER_TOKENS * p_out) / 1e6
    charged = (tokens_in[:, None] * p_in + answer * p_out) / 1e6
    featurizer = featurizer or featurizer_for(DEFAULT_SPEC)
    return World(MODELS, featurizer.transform_many(texts), reward, expected, quoted, charged,
                 texts, fam, b)
