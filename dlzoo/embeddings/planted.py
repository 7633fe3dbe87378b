"""A generated corpus with planted structure, and the analogy questions it answers.

Sentences come from templates whose slots are filled from small word pools, one pool per attribute:

- people: gender (male, masculine, manly; he and his in the singular / female, feminine ...; she, her),
  number (a, this, every ... stays, sits ... / two, these, many ... stay, sit ...), and a role shared by the
  male and female forms (actor/actress: stage, film ...; monk/nun: abbey, vows ...). The royalty grid splits
  the role in two attributes, age (adult: office, taxes ... / young: school, toys ...) and rank (common:
  village, farm ... / royal: palace, throne ...), over man, woman, boy, girl, king, queen, prince, princess
  and their plurals.
- objects (apple, dog, car ...): number, a category pool (fruit, animal ...) and an identity pool.
- countries and capitals: a type pool (nation, border ... / city, mayor ...) and an identity, the demonym
  (french, italian ...) that France and Paris share; plus "paris is the capital of france".

With probability `noise` a slot takes another value of its attribute ("that king said that she ..."), so
every contrast is graded rather than all-or-nothing; GloVe needs that, since a pair that never co-occurs is
no term of its loss and a contrast made only of zeros is invisible to it.

A word's contexts are a mixture over its attributes, so trained embeddings come out close to sums of
attribute vectors and the four relations hold as vector offsets: king - man + woman ~ queen. The questions
(`planted_analogies`: sections gender, royalty, plural, capital; questions-words format) can only be
answered through those offsets. One seeded numpy Generator draws everything: a seed fixes corpus and questions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlzoo.embeddings.evaluate import Question, write_analogies

# role -> (male, female, males, females, role pools). The first four rows are the royalty grid (age, rank).
AGE = {"adult": ["office", "taxes", "career", "wine", "newspaper"],
       "young": ["school", "toys", "playground", "homework", "candy"]}
RANK = {"common": ["village", "farm", "market", "cottage", "field"],
        "royal": ["palace", "throne", "crown", "castle", "court"]}
PEOPLE = [
    ("man", "woman", "men", "women", [AGE["adult"], RANK["common"]]),
    ("boy", "girl", "boys", "girls", [AGE["young"], RANK["common"]]),
    ("king", "queen", "kings", "queens", [AGE["adult"], RANK["royal"]]),
    ("prince", "princess", "princes", "princesses", [AGE["young"], RANK["royal"]]),
    ("actor", "actress", "actors", "actresses", [["stage", "film", "theater", "script", "audience"]]),
    ("waiter", "waitress", "waiters", "waitresses", [["restaurant", "menu", "tips", "kitchen", "tray"]]),
    ("father", "mother", "fathers", "mothers", [["children", "cradle", "lullaby", "nursery", "diapers"]]),
    ("son", "daughter", "sons", "daughters", [["parents", "inheritance", "bedroom", "allowance", "curfew"]]),
    ("brother", "sister", "brothers", "sisters", [["siblings", "twin", "bunk", "quarrel", "rivalry"]]),
    ("uncle", "aunt", "uncles", "aunts", [["visits", "holidays", "relatives", "gifts", "reunion"]]),
    ("husband", "wife", "husbands", "wives", [["marriage", "spouse", "anniversary", "ring", "honeymoon"]]),
    ("nephew", "niece", "nephews", "nieces", [["cousins", "grandparents", "christening", "stroller", "crib"]]),
    ("emperor", "empress", "emperors", "empresses", [["empire", "imperial", "dynasty", "legions", "senate"]]),
    ("duke", "duchess", "dukes", "duchesses", [["duchy", "estate", "manor", "ballroom", "carriage"]]),
    ("god", "goddess", "gods", "goddesses", [["temple", "heaven", "worship", "prayer", "altar"]]),
    ("hero", "heroine", "heroes", "heroines", [["quest", "legend", "sword", "monster", "saga"]]),
    ("monk", "nun", "monks", "nuns", [["monastery", "abbey", "convent", "vows", "chapel"]]),
    ("groom", "bride", "grooms", "brides", [["wedding", "veil", "bouquet", "aisle", "ceremony"]]),
    ("host", "hostess", "hosts", "hostesses", [["party", "guests", "dinner", "invitation", "banquet"]]),
    ("steward", "stewardess", "stewards", "stewardesses", [["airline", "flight", "cabin", "passengers", "plane"]]),
]
GENDER = {"m": {"pron": "he", "poss": "his", "adj": ["male", "masculine", "manly"]},
          "f": {"pron": "she", "poss": "her", "adj": ["female", "feminine", "womanly"]}}
NUMBER = {"sg": {"det": ["a", "one", "this", "that", "every", "each", "another", "either"],
                 "verb": ["stays", "sits", "waits", "stands", "rests", "remains", "lingers", "hides"],
                 "be": "is"},
          "pl": {"det": ["two", "these", "those", "many", "some", "several", "three", "both"],
                 "verb": ["stay", "sit", "wait", "stand", "rest", "remain", "linger", "hide"],
                 "be": "are"}}

# object -> (plural, category, identity pool)
CATEGORY = {"fruit": ["eat", "fruit", "tasty", "ripe", "snack"],
            "animal": ["animal", "pet", "feed", "fur", "tail"],
            "vehicle": ["drive", "road", "engine", "ride", "wheels"],
            "thing": ["home", "room", "shelf", "desk", "drawer"]}
OBJECTS = [
    ("apple", "apples", "fruit", ["orchard", "cider"]), ("banana", "bananas", "fruit", ["tropical", "bunch"]),
    ("grape", "grapes", "fruit", ["vineyard", "raisin"]), ("lemon", "lemons", "fruit", ["sour", "lemonade"]),
    ("cherry", "cherries", "fruit", ["blossom", "pit"]), ("dog", "dogs", "animal", ["bark", "leash"]),
    ("cat", "cats", "animal", ["meow", "whiskers"]), ("horse", "horses", "animal", ["saddle", "gallop"]),
    ("cow", "cows", "animal", ["milk", "moo"]), ("bird", "birds", "animal", ["nest", "feathers"]),
    ("car", "cars", "vehicle", ["garage", "highway"]), ("bus", "buses", "vehicle", ["route", "fare"]),
    ("truck", "trucks", "vehicle", ["cargo", "diesel"]), ("boat", "boats", "vehicle", ["harbor", "sail"]),
    ("train", "trains", "vehicle", ["railway", "station"]), ("chair", "chairs", "thing", ["seat", "cushion"]),
    ("lamp", "lamps", "thing", ["light", "bulb"]), ("book", "books", "thing", ["pages", "library"]),
    ("cup", "cups", "thing", ["coffee", "saucer"]), ("knife", "knives", "thing", ["blade", "sharp"]),
]

# country, capital, demonym
COUNTRIES = [
    ("france", "paris", "french"), ("italy", "rome", "italian"), ("germany", "berlin", "german"),
    ("spain", "madrid", "spanish"), ("japan", "tokyo", "japanese"), ("china", "beijing", "chinese"),
    ("russia", "moscow", "russian"), ("egypt", "cairo", "egyptian"), ("greece", "athens", "greek"),
    ("england", "london", "english"), ("portugal", "lisbon", "portuguese"), ("poland", "warsaw", "polish"),
    ("austria", "vienna", "austrian"), ("sweden", "stockholm", "swedish"), ("norway", "oslo", "norwegian"),
    ("finland", "helsinki", "finnish"), ("ireland", "dublin", "irish"), ("turkey", "ankara", "turkish"),
    ("canada", "ottawa", "canadian"), ("peru", "lima", "peruvian"), ("kenya", "nairobi", "kenyan"),
    ("cuba", "havana", "cuban"), ("thailand", "bangkok", "thai"), ("hungary", "budapest", "hungarian"),
]
PLACE = {"country": ["nation", "border", "republic", "province", "territory"],
         "capital": ["city", "streets", "mayor", "downtown", "subway"]}


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[rng.integers(len(options))]


def _noisy(rng: np.random.Generator, value: str, values: list[str], noise: float) -> str:
    """`value`, or with probability `noise` another of `values`: contrasts stay graded, never all-or-nothing."""
    if rng.random() >= noise:
        return value
    others = [v for v in values if v != value]
    return others[rng.integers(len(others))]


ROLE_POOLS = [pool for *_, pools in PEOPLE for pool in pools]
OBJECT_POOLS = [identity for *_, identity in OBJECTS]


def _person_sentence(rng: np.random.Generator, word: str, gender: str, number: str, pools: list[list[str]],
                     noise: float) -> list[str]:
    g = GENDER[_noisy(rng, gender, ["m", "f"], noise)]
    n = NUMBER[_noisy(rng, number, ["sg", "pl"], noise)]
    role = [_pick(rng, pool if rng.random() >= noise else _pick_pool(rng, ROLE_POOLS)) for pool in pools]
    det, verb, adj = _pick(rng, n["det"]), _pick(rng, n["verb"]), _pick(rng, g["adj"])
    templates = [[det, word, verb, "near", "the", *role],
                 ["the", adj, word, verb, "with", "the", *role],
                 [det, adj, word, n["be"], "by", "the", *role]]
    if number == "sg":  # he and she only fit one person
        templates.append([det, word, "said", "that", g["pron"], verb, "with", g["poss"], *role])
    return templates[rng.integers(len(templates))]


def _pick_pool(rng: np.random.Generator, pools: list[list[str]]) -> list[str]:
    return pools[rng.integers(len(pools))]


def _object_sentence(rng: np.random.Generator, word: str, number: str, category: str, identity: list[str],
                     noise: float) -> list[str]:
    n = NUMBER[_noisy(rng, number, ["sg", "pl"], noise)]
    det = _pick(rng, n["det"])
    cat = _pick(rng, CATEGORY[_noisy(rng, category, list(CATEGORY), noise)])
    own = _pick(rng, identity if rng.random() >= noise else _pick_pool(rng, OBJECT_POOLS))
    verb = _pick(rng, n["verb"])
    templates = [[det, word, verb, "near", "the", cat, "and", "the", own],
                 ["we", "saw", "that", det, cat, word, verb, "with", own],
                 [det, word, n["be"], "here", "with", own]]
    return templates[rng.integers(len(templates))]


DEMONYMS = [demonym for *_, demonym in COUNTRIES]


def _place_sentence(rng: np.random.Generator, country: str, capital: str, demonym: str, kind: str,
                    noise: float) -> list[str]:
    word = country if kind == "country" else capital
    place = _pick(rng, PLACE[_noisy(rng, kind, list(PLACE), noise)])
    demonym = _noisy(rng, demonym, DEMONYMS, noise)
    templates = [[word, "is", "a", place, "where", "the", demonym, "people", "live"],
                 ["the", demonym, place, "of", word, "is", "large"],
                 ["we", "visited", word, "and", "met", demonym, "friends", "in", "the", place],
                 [capital, "is", "the", "capital", "of", country]]
    return templates[rng.integers(len(templates))]


def planted_corpus(sentences_per_word: int = 200, noise: float = 0.2, seed: int = 0) -> list[list[str]]:
    """Sentences (token lists), `sentences_per_word` for each planted word, in a seeded random order."""
    if sentences_per_word < 1:
        raise ValueError(f"sentences_per_word must be >= 1, got {sentences_per_word}")
    if not 0 <= noise < 0.5:
        raise ValueError(f"noise must lie in [0, 0.5), got {noise}")
    rng = np.random.default_rng(seed)
    makers = []  # (sentence function, its arguments), one per planted word
    for male, female, males, females, pools in PEOPLE:
        for word, gender, number in ((male, "m", "sg"), (female, "f", "sg"), (males, "m", "pl"), (females, "f", "pl")):
            makers.append((_person_sentence, (word, gender, number, pools)))
    for singular, plural, category, identity in OBJECTS:
        makers += [(_object_sentence, (word, number, category, identity))
                   for word, number in ((singular, "sg"), (plural, "pl"))]
    for country, capital, demonym in COUNTRIES:
        makers += [(_place_sentence, (country, capital, demonym, kind)) for kind in ("country", "capital")]
    order = rng.permutation(np.repeat(np.arange(len(makers)), sentences_per_word))
    return [makers[i][0](rng, *makers[i][1], noise) for i in order]


def planted_analogies(max_per_section: int = 500, seed: int = 0) -> list[Question]:
    """Questions (section, a, b, c, d) for the four relations, each section sampled down to `max_per_section`."""
    rng = np.random.default_rng(seed)
    pairs = {
        "gender": [(m, f) for m, f, _, _, _ in PEOPLE] + [(ms, fs) for _, _, ms, fs, _ in PEOPLE],
        "royalty": [("man", "king"), ("woman", "queen"), ("boy", "prince"), ("girl", "princess"),
                    ("men", "kings"), ("women", "queens"), ("boys", "princes"), ("girls", "princesses")],
        "plural": [(s, p) for s, p, _, _ in OBJECTS] + [(m, ms) for m, _, ms, _, _ in PEOPLE]
                  + [(f, fs) for _, f, _, fs, _ in PEOPLE],
        "capital": [(capital, country) for country, capital, _ in COUNTRIES],
    }
    questions = []
    for section, relation in pairs.items():
        candidates = [(a, b, c, d) for a, b in relation for c, d in relation if a != c]
        if len(candidates) > max_per_section:
            chosen = rng.choice(len(candidates), max_per_section, replace=False)
            candidates = [candidates[i] for i in sorted(chosen)]
        questions += [(section, *q) for q in candidates]
    return questions


def write_planted(directory: str | Path, sentences_per_word: int = 200, noise: float = 0.2,
                  seed: int = 0) -> tuple[Path, Path]:
    """Write corpus.txt (one sentence a line) and questions-words.txt into `directory`; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    corpus, questions = directory / "corpus.txt", directory / "questions-words.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for sentence in planted_corpus(sentences_per_word, noise, seed):
            f.write(" ".join(sentence) + "\n")
    write_analogies(planted_analogies(seed=seed), questions)
    return corpus, questions
