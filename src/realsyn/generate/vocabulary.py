"""The tag vocabulary of the zero-shot tagger.

The shipped list (tags.txt, one tag a line) is built by `python -m realsyn.generate.vocabulary`
from sources that install offline, with no WordNet:
  1. every lemma of the 1000 ImageNet-1k classes (timm's synset-to-lemma file), without Latin
     binomials ("Carassius auratus");
  2. the head noun of each multi-word lemma ("tabby cat" -> "cat", "sports car" -> "car"),
     which adds the general categories ImageNet only names through its fine classes;
  3. the COCO detection categories (as torchvision lists them);
  4. GENERAL_NOUNS below: everyday concrete nouns for people, places, scenes and materials
     that object-centric ImageNet lacks.
At run time the stage extends it, as the paper extended RAM++'s list, with frequent concrete
nouns mined from the project's own sentence database (`mine_nouns`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SHIPPED = Path(__file__).with_name("tags.txt")

GENERAL_NOUNS = """
person man woman boy girl child baby people crowd family couple player worker student soldier
police officer doctor nurse chef farmer teacher musician singer dancer athlete rider driver pilot
sailor tourist audience team portrait face hand eye hair smile beard hat uniform dress shirt
jacket coat suit skirt trousers shoes glasses scarf
building house home apartment tower skyscraper church temple mosque castle palace bridge road
street highway sidewalk crosswalk square market shop store restaurant cafe kitchen bathroom
bedroom living room office classroom library museum hospital school station airport harbor port
factory farm garden park playground stadium field court beach coast island mountain hill valley
cliff canyon cave desert forest jungle lake river waterfall ocean sea wave sky cloud sunset
sunrise night snow ice rain fog storm rainbow moon star sun grass flower tree leaf branch bush
rock stone sand soil mud wood field meadow city town village countryside landscape skyline
window door wall roof floor ceiling stairs fence gate column arch dome statue sculpture monument
fountain lamp light sign poster painting picture photo map flag banner screen computer laptop
keyboard phone camera television radio clock watch book newspaper paper letter pen pencil desk
table chair sofa bed shelf cabinet box bag basket bottle cup glass plate bowl spoon fork knife
food meal bread cake pizza sandwich fruit vegetable apple banana orange tomato salad soup rice
meat fish egg cheese chocolate coffee tea wine beer drink water fire smoke candle
car truck bus train tram bicycle motorcycle boat ship yacht airplane helicopter rocket vehicle
wheel engine tractor
dog cat horse cow sheep goat pig chicken duck bird eagle owl parrot fish shark whale dolphin
insect butterfly bee spider snake lizard turtle frog monkey elephant lion tiger bear wolf fox
deer rabbit squirrel mouse
toy ball doll game guitar piano violin drum microphone stage concert tool machine robot
hammer rope chain wire cable pipe bucket ladder umbrella tent flagpole
metal plastic glass fabric leather paper cardboard brick concrete marble gold silver
"""

_LATIN_EPITHET = re.compile(r"(?:us|um|is|ae|ii|a|ensis|oides|ata|atus|ica|icus|ea|ans|ens|"
                            r"ax|ex|ix|ops|es)$")


def is_latin_binomial(lemma: str) -> bool:
    words = lemma.split()
    return (len(words) == 2 and words[0][:1].isupper() and words[1].islower()
            and bool(_LATIN_EPITHET.search(words[1])))


def normalize_tag(tag: str) -> str | None:
    tag = re.sub(r"\s+", " ", tag.replace("_", " ")).strip().lower()
    if len(tag) < 3 or not re.fullmatch(r"[a-z][a-z' -]*[a-z]", tag):
        return None
    return tag


def build_base_vocabulary() -> list[str]:
    from realsyn.models.imagenet import imagenet_classes

    tags: list[str] = []
    for cls in imagenet_classes():
        for lemma in cls.lemmas:
            if is_latin_binomial(lemma):
                continue
            tags.append(lemma)
            words = lemma.split()
            if len(words) > 1 and lemma.islower():
                tags.append(words[-1])
    tags.extend(_coco_categories())
    tags.extend(GENERAL_NOUNS.split())
    return dedupe(tags)


def _coco_categories() -> list[str]:
    try:
        from torchvision.models._meta import _COCO_CATEGORIES
    except ImportError:  # torchvision is optional; the other sources still make a vocabulary
        return []
    return [name for name in _COCO_CATEGORIES if name not in ("__background__", "N/A")]


def dedupe(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        normal = normalize_tag(tag)
        if normal:
            seen.setdefault(normal, None)
    return sorted(seen)


def load_vocabulary(path: str | Path | None = None) -> list[str]:
    text = Path(path or SHIPPED).read_text(encoding="utf-8")
    return dedupe(line for line in text.splitlines() if line and not line.startswith("#"))


# Nouns that are frequent in prose but name nothing one can photograph.
_ABSTRACT = """
time year years day days way thing things lot part kind sort type number example case fact
point use result reason problem question idea information data system process way form level
area order end side group place world life work course state service use issue matter option
value list set page section chapter version file option default user users mode step note
support change changes need needs term terms rate cost size amount percent per cent top bottom
use usage access control function feature method value values effect effects name names
history experience research study development interest quality quantity number numbers
"""
ABSTRACT_NOUNS = frozenset(_ABSTRACT.split())


def mine_nouns(sentences: Iterable[str], nlp, *, min_count: int = 3, max_new: int = 4000,
               exclude: Iterable[str] = ()) -> list[str]:
    """Frequent common nouns of `sentences` (spaCy lemmas), most frequent first, that are not
    in `exclude` nor known abstract nouns. Proper nouns are skipped: tags name what is seen."""
    known = set(exclude)
    counts: Counter[str] = Counter()
    for doc in nlp.pipe(sentences, batch_size=256):
        for token in doc:
            if token.pos_ != "NOUN":
                continue
            lemma = normalize_tag(token.lemma_)
            if lemma and lemma not in ABSTRACT_NOUNS and lemma not in known:
                counts[lemma] += 1
    ranked = sorted((item for item in counts.items() if item[1] >= min_count),
                    key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:max_new]]


def main() -> None:
    tags = build_base_vocabulary()
    header = ("# realsyn tag vocabulary: ImageNet-1k lemmas (no Latin binomials), their head "
              "nouns, COCO categories and\n# everyday concrete nouns; built by "
              "`python -m realsyn.generate.vocabulary` (see its docstring).\n")
    SHIPPED.write_text(header + "\n".join(tags) + "\n", encoding="utf-8")
    print(f"{len(tags)} tags -> {SHIPPED}")


if __name__ == "__main__":
    main()
