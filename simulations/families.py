"""Synthetic scenario ``families``: ten models, six task families of real-looking prompts.

The world is built to resemble a many-model benchmark in the style of RouterBench: prompts
from six task families (code, maths word problems, multiple-choice science, commonsense,
legal questions, chat), each written from several templates with varied vocabulary and
featurised by the service's own ``Featurizer``; ten models priced per token (list prices of
the kind public APIs charge, from $0.10 to $30 per million tokens), so that a call's price
depends on the prompt's length and on its answer's length (prices span > 100×). A router
deciding sees the price it can know beforehand (the prompt's tokens and a typical answer
length, as the service prices from its catalog); the run is charged the call's real price.

Quality: model ``m`` answers a request of family ``f`` and difficulty ``d`` correctly with
probability ``sigmoid(logit(BASE[m, f]) + ε[m, f] − SENSITIVITY[m] · d)``; ``ε`` is a small
per-seed perturbation of the table (every seed is another world of the same shape), ``d``
mixes what the prompt shows (more steps, longer code, more facts) with what it does not.
Small models lose more on hard requests. Graded families (legal, chat) score like a judge, a
Beta draw in [0, 1] with that mean; the others are right or wrong (0/1). The two dear models
are best overall but not by much on commonsense and chat; on each family a different cheap
model is the best of the cheap ones, about as good there as the mid-priced generalists.

Past 300 lines on purpose: most of it is the templates and vocabularies of the six families
(data, not logic); the world's rules are the tables at the top and ``generate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit_router.features import DEFAULT_SPEC, Featurizer, estimate_tokens, featurizer_for

FAMILIES = ("code", "math", "science", "commonsense", "legal", "chat")
GRADED = ("legal", "chat")
# model: (input, output) USD per million tokens
PRICES = {
    "frontier-a": (10.0, 30.0), "frontier-b": (3.0, 15.0),
    "dense-70b": (0.9, 0.9), "mixture-47b": (0.6, 0.6),
    "coder-7b": (0.15, 0.15), "math-7b": (0.15, 0.15), "sci-8b": (0.18, 0.18),
    "chat-8b": (0.15, 0.15), "legal-13b": (0.3, 0.3), "general-3b": (0.1, 0.1),
}
MODELS = tuple(PRICES)
#                       code  math  sci  comm legal chat
BASE = np.array([
    [0.84, 0.82, 0.86, 0.88, 0.80, 0.90],  # frontier-a
    [0.78, 0.74, 0.83, 0.87, 0.76, 0.88],  # frontier-b
    [0.62, 0.58, 0.70, 0.80, 0.64, 0.82],  # dense-70b
    [0.64, 0.62, 0.68, 0.78, 0.60, 0.80],  # mixture-47b
    [0.60, 0.40, 0.48, 0.64, 0.40, 0.66],  # coder-7b
    [0.38, 0.58, 0.50, 0.64, 0.40, 0.64],  # math-7b
    [0.36, 0.40, 0.64, 0.68, 0.46, 0.66],  # sci-8b
    [0.34, 0.36, 0.50, 0.70, 0.48, 0.80],  # chat-8b
    [0.36, 0.38, 0.54, 0.68, 0.62, 0.70],  # legal-13b
    [0.30, 0.30, 0.46, 0.78, 0.42, 0.72],  # general-3b
])
SENSITIVITY = np.array([0.5, 0.55, 0.7, 0.7, 0.9, 0.9, 0.9, 0.9, 0.85, 1.0])
VERBOSITY = np.array([1.2, 1.3, 1.0, 1.0, 0.9, 0.9, 0.9, 1.0, 1.0, 0.8])  # answer length factor
ANSWER_TOKENS = {"code": 260, "math": 180, "science": 4, "commonsense": 4, "legal": 380,
                 "chat": 300}
TABLE_NOISE = 0.15  # sd of the per-seed perturbation of BASE, in logits
HIDDEN_DIFFICULTY = 0.6  # sd of the part of difficulty the prompt does not show

_NAMES = ("Maria", "James", "Aisha", "Kenji", "Lucia", "Omar", "Priya", "Tom", "Elena", "Kwame",
          "Sofia", "Liam", "Mei", "Carlos", "Hannah", "Ravi")
_PRONOUN = {n: ("she" if n in ("Maria", "Aisha", "Lucia", "Priya", "Elena", "Sofia", "Mei",
                               "Hannah") else "he") for n in _NAMES}


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


# --------------------------------------------------------------------------- code

_LANGS = (("Python", "python"), ("JavaScript", "javascript"), ("Go", "go"), ("Rust", "rust"),
          ("Java", "java"), ("TypeScript", "typescript"))
_CODE_TASKS = ("returns the k most frequent words in a text", "merges two sorted lists",
               "checks whether a string is a palindrome, ignoring punctuation",
               "parses an ISO 8601 date and returns the weekday",
               "removes duplicate rows from a list of dictionaries by key",
               "computes the running median of a stream of integers",
               "flattens a nested list of arbitrary depth",
               "validates an email address without using a regex library",
               "reads a CSV file and sums the values of one column",
               "finds the longest common prefix of a list of strings",
               "retries an HTTP request with exponential backoff",
               "groups transactions by month and returns the totals")
_CONSTRAINTS = ("Do not use any third-party libraries.", "It must run in O(n log n) time.",
                "Include type hints and a docstring.", "Add unit tests for the edge cases.",
                "Keep memory use constant.", "Handle empty input gracefully.", "")
_SYMPTOMS = ("it returns None for some inputs", "it crashes with an index error on empty lists",
             "the result is off by one", "it never terminates on large inputs",
             "it gives the wrong answer when values repeat")
_ALGOS = ("binary search", "Dijkstra's algorithm", "quicksort", "a trie", "union-find",
          "the sliding window technique", "topological sort", "an LRU cache")


def _snippet(rng, tag: str) -> tuple[str, int]:
    """A short program in language ``tag`` and how many extra branches it has."""
    fname = _pick(rng, ("total", "score", "pick", "scan", "count_hits", "accumulate"))
    op = _pick(rng, (">", "<", ">=", "!="))
    k = int(rng.integers(1, 20))
    nums = ", ".join(str(int(v)) for v in rng.integers(-9, 30, size=int(rng.integers(3, 9))))
    lines = int(rng.integers(0, 4))
    if tag == "python":
        extra = "".join(f"        if x == {int(rng.integers(0, 9))}:\n            total -= 1\n"
                        for _ in range(lines))
        body = (f"def {fname}(xs):\n    total = 0\n    for x in xs:\n        if x {op} {k}:\n"
                f"            total += x\n{extra}    return total\n\nprint({fname}([{nums}]))")
    elif tag in ("javascript", "typescript"):
        extra = "".join(f"\n    .filter(x => x !== {int(rng.integers(0, 9))})" for _ in range(lines))
        body = (f"function {fname}(arr) {{\n  return arr.filter(x => x {op} {k}){extra}\n"
                f"    .map(x => x * {int(rng.integers(2, 5))})\n"
                f"    .reduce((a, b) => a + b, 0);\n}}\nconsole.log({fname}([{nums}]));")
    elif tag == "rust":
        extra = "".join(f".filter(|&&x| x != {int(rng.integers(0, 9))})" for _ in range(lines))
        body = (f"fn {fname}(xs: &[i32]) -> i32 {{\n    xs.iter().filter(|&&x| x {op} {k})"
                f"{extra}.sum()\n}}\n\nfn main() {{\n    println!(\"{{}}\", {fname}(&[{nums}]));\n}}")
    elif tag == "java":
        extra = "".join(f"        if (x == {int(rng.integers(0, 9))}) t--;\n" for _ in range(lines))
        body = (f"static int {fname}(int[] xs) {{\n    int t = 0;\n    for (int x : xs) {{\n"
                f"        if (x {op} {k}) t += x;\n{extra}    }}\n    return t;\n}}")
    else:
        extra = "".join(f"\t\tif x == {int(rng.integers(0, 9))} {{\n\t\t\tt--\n\t\t}}\n"
                        for _ in range(lines))
        body = (f"func {fname}(xs []int) int {{\n\tt := 0\n\tfor _, x := range xs {{\n"
                f"\t\tif x {op} {k} {{\n\t\t\tt += x\n\t\t}}\n{extra}\t}}\n\treturn t\n}}")
    return f"```{tag}\n{body}\n```", lines


def _code(rng) -> tuple[str, float]:
    lang, tag = _pick(rng, _LANGS)
    kind = int(rng.integers(4))
    if kind == 0:
        fname = _pick(rng, ("top_k_words", "merge_sorted", "is_palindrome", "parse_date",
                            "dedupe_rows", "running_median", "flatten"))
        return (f"Write a {lang} function `{fname}` that {_pick(rng, _CODE_TASKS)}. "
                f"{_pick(rng, _CONSTRAINTS)}").strip(), -0.3
    if kind == 1:
        snippet, lines = _snippet(rng, tag)
        return (f"Fix the bug in this {lang} code. It should {_pick(rng, _CODE_TASKS)}, but "
                f"{_pick(rng, _SYMPTOMS)}.\n{snippet}"), 0.6 + 0.2 * lines
    if kind == 2:
        snippet, lines = _snippet(rng, tag)
        return f"What does the following code print?\n{snippet}", 0.1 + 0.2 * lines
    return (f"Explain the time and space complexity of {_pick(rng, _ALGOS)} and give an "
            f"implementation in {lang}. {_pick(rng, _CONSTRAINTS)}").strip(), 0.0


# --------------------------------------------------------------------------- math

_ITEMS = (("notebook", 3), ("apple", 1), ("ticket", 12), ("bag of rice", 9), ("pencil", 1),
          ("cupcake", 2), ("movie pass", 15), ("plant", 7))


def _math(rng) -> tuple[str, float]:
    name = _pick(rng, _NAMES)
    he = _PRONOUN[name]
    kind = int(rng.integers(3))
    steps = int(rng.integers(1, 5))
    if kind == 0:
        (item, price), (item2, price2) = (_ITEMS[i] for i in rng.choice(len(_ITEMS), 2, False))
        a, b = int(rng.integers(2, 15)), int(rng.integers(2, 10))
        parts = [f"{name} buys {a} {item}s at ${price} each and {b} {item2}s at ${price2} each."]
        extra = [f"Then {he} returns {int(rng.integers(1, a))} of the {item}s for a refund.",
                 f"A coupon takes {int(rng.integers(5, 30))}% off the {item2}s.",
                 f"{he.capitalize()} splits the bill equally with {int(rng.integers(1, 4))} "
                 "friends.",
                 f"Sales tax of {int(rng.integers(3, 10))}% is added at the till."]
        parts += extra[: steps - 1]
        parts.append(f"How much does {name} pay in the end?")
    elif kind == 1:
        d, h = int(rng.integers(60, 400)), int(rng.integers(2, 6))
        parts = [f"A train travels {d} km in {h} hours."]
        extra = [f"It then stops for {int(rng.integers(10, 50))} minutes.",
                 f"After the stop it speeds up by {int(rng.integers(5, 25))} km/h.",
                 f"The second leg of the journey is {int(rng.integers(50, 300))} km long.",
                 "The return trip is made at the original speed."]
        parts += extra[: steps - 1]
        parts.append("How many hours does the whole journey take? Show your working.")
    else:
        age = int(rng.integers(5, 40))
        other = _pick(rng, [n for n in _NAMES if n != name])
        parts = [f"{name} is {age} years old and {other} is {int(rng.integers(2, 5))} times "
                 f"as old as {name} was {int(rng.integers(1, age // 2 + 2))} years ago."]
        extra = [f"In {int(rng.integers(2, 12))} years, their ages will add up to a number.",
                 f"{other}'s sister is {int(rng.integers(2, 9))} years younger than {other}.",
                 "Their father is twice as old as the sister.",
                 f"{name}'s cousin was born when {name} was {int(rng.integers(1, 5))}."]
        parts += extra[: steps - 1]
        parts.append(f"How old is {other} now?")
    return " ".join(parts), 0.45 * (steps - 2.0)


# --------------------------------------------------------------------------- science

_SCIENCE = {
    "physics": (("a block sliding down a frictionless incline", "an object in free fall",
                 "the electric field between two charged parallel plates",
                 "a pendulum whose length is doubled", "light passing from air into glass",
                 "an ideal gas compressed at constant temperature"),
                ("its acceleration stays constant", "its speed decreases", "its period doubles",
                 "the pressure is inversely proportional to the volume",
                 "the wavelength decreases while the frequency stays the same",
                 "the field is uniform between the plates", "its kinetic energy is conserved",
                 "the net force is zero")),
    "chemistry": (("a buffer solution of acetic acid and sodium acetate",
                   "an exothermic reaction at equilibrium", "the second ionisation energy",
                   "a catalyst added to a reaction", "the electrolysis of brine"),
                  ("the pH changes very little when a small amount of acid is added",
                   "raising the temperature shifts the equilibrium to the left",
                   "it is larger than the first", "it lowers the activation energy",
                   "chlorine gas is released at the anode", "the enthalpy change is positive",
                   "the reaction rate is independent of concentration")),
    "biology": (("mitochondria in eukaryotic cells", "meiosis in animals",
                 "the light-dependent reactions of photosynthesis", "a recessive X-linked allele",
                 "the loop of Henle", "an enzyme at its optimum temperature"),
                ("they contain their own circular DNA", "it produces four haploid cells",
                 "they take place in the thylakoid membranes",
                 "it is expressed more often in males", "it concentrates the urine",
                 "its active site changes shape", "it occurs only in plant cells")),
}


def _science(rng) -> tuple[str, float]:
    subject = _pick(rng, tuple(_SCIENCE))
    topics, claims = _SCIENCE[subject]
    topic = _pick(rng, topics)
    opts = [claims[i] for i in rng.choice(len(claims), 4, replace=False)]
    stem = _pick(rng, (f"Which of the following is true of {topic}?",
                       f"A student studies {topic}. Which statement best describes it?",
                       f"In {subject}, consider {topic}. Which of these is correct?",
                       f"Which observation would you expect for {topic}?"))
    hard = subject == "chemistry"
    return (stem + "\n" + "\n".join(f"{c}. {o}" for c, o in zip("ABCD", opts)) + "\nAnswer:",
            0.3 if hard else -0.1)


# --------------------------------------------------------------------------- commonsense

_SCENES = (("is making pancakes for breakfast", "pours the batter into a hot pan",
            ("flips the pancake when bubbles appear", "puts the pan in the freezer",
             "throws the batter out of the window", "reads the newspaper aloud to the pan")),
           ("is washing a car in the driveway", "rinses the soap off with a hose",
            ("dries the car with a towel", "paints the car with the soap",
             "drives the car into the pool", "eats the sponge")),
           ("is packing for a hiking trip", "checks the weather forecast",
            ("packs a rain jacket", "packs a toaster", "unpacks the tent and goes to bed",
             "fills the backpack with sand")),
           ("is planting tomatoes in the garden", "digs a small hole in the soil",
            ("places the seedling in the hole and waters it", "buries the watering can",
             "puts the tomatoes in the fridge", "fills the hole with cement")),
           ("is at a job interview", "shakes hands with the manager",
            ("sits down and answers the first question", "leaves through the window",
             "starts singing loudly", "takes a nap on the desk")),
           ("is baking bread", "kneads the dough for ten minutes",
            ("leaves it to rise in a warm place", "puts the dough in the washing machine",
             "feeds the dough to the goldfish", "throws it at the ceiling")),
           ("is changing a flat tyre", "loosens the wheel nuts",
            ("jacks up the car and removes the wheel", "inflates the spare with a straw",
             "drives off with the nuts loose", "paints the tyre black")),
           ("is getting ready for a swim", "puts on goggles",
            ("dives into the pool", "puts the goggles in the oven",
             "fills the goggles with sand", "climbs a tree")),
           ("is writing an essay", "makes an outline of the main points",
            ("starts drafting the introduction", "deletes the outline and goes skiing",
             "prints the outline on a pancake", "mails the laptop to a friend")),
           ("is tidying the kitchen", "loads the dishwasher",
            ("adds detergent and starts it", "fills it with soil",
             "puts the dishwasher in the garden", "climbs inside and closes the door")))
_GOALS = (("keep bread fresh for longer", "store it in a sealed bag", "leave it in the sun"),
          ("remove a stripped screw", "use a rubber band for extra grip", "hit it with a fish"),
          ("cool soup quickly", "pour it into a shallow dish", "cover it with a thick blanket"),
          ("open a tight jar lid", "run the lid under hot water", "put the jar in the freezer"),
          ("stop a door from squeaking", "oil the hinges", "paint the door a new colour"),
          ("dry wet shoes overnight", "stuff them with newspaper", "fill them with water"),
          ("keep a cut flower alive longer", "trim the stem and change the water",
           "put it in a dry drawer"),
          ("find a small lost earring on a carpet", "vacuum with a stocking over the nozzle",
           "burn the carpet"),
          ("make ice melt on a path", "sprinkle salt on it", "pour cold water on it"),
          ("unclog a sink", "use a plunger", "pour in cooking oil and flour"),
          ("wake up on time", "put the alarm across the room", "unplug every clock"),
          ("keep a laptop cool", "raise it on a stand", "wrap it in a wool scarf"))


def _commonsense(rng) -> tuple[str, float]:
    name = _pick(rng, _NAMES)
    he = _PRONOUN[name]
    if rng.random() < 0.6:
        start, action, endings = _pick(rng, _SCENES)
        order = rng.permutation(4)
        body = "\n".join(f"{c}. {endings[i]}" for c, i in zip("ABCD", order))
        return (f"{name} {start}. {he.capitalize()} {action}. What does {he} most likely do "
                f"next?\n{body}\nAnswer:"), -0.2
    goal, good, bad = _pick(rng, _GOALS)
    sols = (good, bad) if rng.random() < 0.5 else (bad, good)
    ask = _pick(rng, (f"Goal: {goal}.", f"{name} wants to {goal}.",
                      f"How can {name} {goal}?", f"Question: what is the best way to {goal}?"))
    return (f"{ask}\nWhich solution is more sensible?\n1. {sols[0]}\n2. {sols[1]}\n"
            "Answer:"), 0.1


# --------------------------------------------------------------------------- legal

_JURIS = ("English", "New York", "California", "Delaware", "Ontario", "Scottish")
_PARTIES = ("a software vendor", "a landlord", "a freelance designer", "a logistics company",
            "a hospital trust", "a start-up", "a construction firm", "a retailer")
_CONTRACTS = ("services agreement", "commercial lease", "licence agreement",
              "supply contract", "employment contract", "non-disclosure agreement")
_FACTS = ("The contract contains a limitation of liability clause capped at the annual fee.",
          "Delivery was three weeks late because of a strike at the port.",
          "The other party was told of the defect by email but did not reply.",
          "A verbal promise to extend the deadline was made at a meeting.",
          "The agreement has a clause requiring disputes to go to arbitration.",
          "The buyer has already resold part of the goods.",
          "One of the directors signed without board approval.")
_DOCTRINES = ("frustration", "promissory estoppel", "the penalty rule", "mitigation of loss",
              "implied terms of satisfactory quality", "misrepresentation", "consideration")


def _legal(rng) -> tuple[str, float]:
    a, b = (_PARTIES[i] for i in rng.choice(len(_PARTIES), 2, replace=False))
    juris = _pick(rng, _JURIS)
    if rng.random() < 0.7:
        n_facts = int(rng.integers(1, 5))
        facts = " ".join(_FACTS[i] for i in rng.choice(len(_FACTS), n_facts, replace=False))
        return (f"Under {juris} law, {a} entered into a {_pick(rng, _CONTRACTS)} with {b}. "
                f"{facts} Can {b} terminate the contract and claim damages? Discuss "
                f"{_pick(rng, _DOCTRINES)} and advise {b}."), 0.35 * (n_facts - 2)
    return (f"Draft a {_pick(rng, ('termination', 'confidentiality', 'force majeure', 'indemnity'))}"
            f" clause for a {_pick(rng, _CONTRACTS)} between {a} and {b}, governed by {juris} "
            "law. Keep it under 200 words and explain each part in plain English."), -0.2


# --------------------------------------------------------------------------- chat

_CHAT = (
    lambda r: (f"hey! can you help me write a {_pick(r, ('short', 'funny', 'heartfelt', 'polite'))}"
               f" message to my {_pick(r, ('landlord', 'best friend', 'sister', 'team', 'coach'))}"
               f" about {_pick(r, ('being late with rent', 'their birthday', 'moving away', 'a missed deadline', 'the weekend plans'))}?"),
    lambda r: (f"Give me {int(r.integers(3, 8))} ideas for "
               f"{_pick(r, ('a rainy Sunday', 'a cheap date night', 'a team offsite', 'a kid birthday party', 'a long flight'))}"
               f"{_pick(r, (' in a small flat', ' on a budget', ' with two dogs', ' near the beach', ''))}."),
    lambda r: (f"I'm feeling {_pick(r, ('anxious', 'stuck', 'overwhelmed', 'unmotivated'))} about "
               f"{_pick(r, ('starting a new job', 'my exams', 'learning to drive', 'a break-up', 'public speaking'))}."
               " Any advice? Please keep it practical."),
    lambda r: (f"Can you recommend some {_pick(r, ('science fiction', 'mystery', 'history', 'fantasy', 'poetry'))}"
               f" books for someone who liked {_pick(r, ('slow-burn stories', 'big ideas', 'unreliable narrators', 'funny dialogue'))}?"),
    lambda r: (f"what's a good {_pick(r, ('vegetarian', 'quick', 'one-pot', 'spicy'))} dinner I can "
               f"make with {_pick(r, ('rice and chickpeas', 'pasta and spinach', 'eggs and potatoes', 'leftover chicken'))}?"),
)


_OPENERS = ("", "Hi! ", "hey, ", "Quick question: ", "Hello there. ", "ok so ", "Please help. ")
_CLOSERS = ("", " Thanks!", " thx", " Keep it short.", " Bullet points please.",
            " I have about an hour.", " Be honest.")


def _chat(rng) -> tuple[str, float]:
    body = _pick(rng, _CHAT)(rng)
    return f"{_pick(rng, _OPENERS)}{body}{_pick(rng, _CLOSERS)}", -0.3 + 0.6 * rng.random()


_WRITERS = {"code": _code, "math": _math, "science": _science, "commonsense": _commonsense,
            "legal": _legal, "chat": _chat}


@dataclass(frozen=True)
class World:
    """One seed's stream: per request its text, family, every model's outcome and price."""

    models: tuple[str, ...]
    X: np.ndarray  # (n, d) the featuriser's vectors
    reward: np.ndarray  # (n, K) realised quality
    expected: np.ndarray  # (n, K) its expectation
    quoted: np.ndarray  # (n, K) price known before the call: prompt tokens + a typical answer
    charged: np.ndarray  # (n, K) price of the call: prompt tokens + this answer's tokens
    texts: list[str]
    family: np.ndarray  # (n,) index into FAMILIES


def generate(seed: int, steps: int, featurizer: Featurizer | None = None) -> World:
    """The ``families`` world of ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, 17])
    featurizer = featurizer or featurizer_for(DEFAULT_SPEC)
    fam = rng.integers(0, len(FAMILIES), size=steps)
    texts, visible = [], np.empty(steps)
    for i, f in enumerate(fam):
        text, visible[i] = _WRITERS[FAMILIES[f]](rng)
        texts.append(text)
    d = visible + rng.normal(0.0, HIDDEN_DIFFICULTY, size=steps)
    base = np.log(BASE / (1 - BASE)) + rng.normal(0.0, TABLE_NOISE, size=BASE.shape)
    logit = base[:, fam].T - SENSITIVITY[None, :] * d[:, None]
    expected = 1.0 / (1.0 + np.exp(-logit))
    graded = np.isin(fam, [FAMILIES.index(g) for g in GRADED])
    reward = (rng.random(expected.shape) < expected).astype(np.float64)
    kappa = 8.0  # a judge's score: Beta with mean `expected`
    scores = rng.beta(expected * kappa, (1 - expected) * kappa)
    reward[graded] = np.round(scores[graded], 2)
    tokens_in = np.array([estimate_tokens(t) for t in texts], dtype=np.float64)
    answer = np.array([ANSWER_TOKENS[FAMILIES[f]] for f in fam], dtype=np.float64)
    answer = answer * rng.lognormal(0.0, 0.3, size=steps)
    typical = float(np.mean(list(ANSWER_TOKENS.values())))  # what a router assumes beforehand
    p_in = np.array([PRICES[m][0] for m in MODELS])
    p_out = np.array([PRICES[m][1] for m in MODELS]) * VERBOSITY
    quoted = (tokens_in[:, None] * p_in + typical * p_out) / 1e6
    charged = (tokens_in[:, None] * p_in + answer[:, None] * p_out) / 1e6
    return World(MODELS, featurizer.transform_many(texts), reward, expected, quoted, charged,
                 texts, fam)
