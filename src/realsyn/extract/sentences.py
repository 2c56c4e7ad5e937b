"""Sentence splitting and the paper's sentence filters (quality, then semantic).

Quality (spec section 1):
- Cleaning: emoji and URLs are *removed from* the sentence and the cleaned sentence is kept
  (it goes on through the other filters); a sentence left empty is dropped.
- Word count in [min_words, max_words] (paper: [3, 81]); a word is a whitespace-separated token
  containing at least one letter or digit, so stray punctuation is not a word.
- CAT complexity >= C1 and at least one action (Radenovic et al., CVPR 2023), see `analyse`.

Semantic:
- Information entropy >= 0.3, definition selectable (see `entropy`).
- Perplexity in [30, 200] from a pluggable scorer (models/perplexity.py); thresholds depend on
  the scorer, whose identity is recorded.

CAT complexity as implemented here. Radenovic et al. parse a caption into a scene graph
(objects, attributes, relations) and grade its complexity C0, C1, C2, ... by the number of
relations; an *action* is a relation headed by a verb. We build the graph from the spaCy
dependency parse:
- objects: nouns and proper nouns, and pronouns that are subjects or objects;
- verb relations: a main verb (POS VERB, never AUX) with at least one object among its
  arguments (subjects, direct/dative objects, attributes, objects of its prepositions and of
  an agent phrase, and the noun it modifies when it is a participle/relative clause: "a dog
  sitting ..." has the dog as subject);
- prepositional relations: a preposition attached to an object with an object complement
  ("the cat on the mat").
complexity = number of relations (C_k means k relations); action = at least one verb relation
whose verb is not stative (be, have, seem, ...). With the paper's setting (>= C1 and an action)
"A dog sitting next to a door." is kept, while "The cat on the mat." (C1, no action),
"Click here." (a verb without objects) and "Figure 3." (C0) are dropped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import nupunkt

from realsyn.extract.completeness import COMPLETENESS_REASONS, VALUE_WORDS

# ---------------------------------------------------------------- splitting and cleaning
# Every pattern here runs on untrusted text, so each is linear: a match may start only at
# the beginning of a run (lookbehinds: a domain starts after no label character, nor after a
# dot that follows one) and quantifiers that cannot usefully give characters back are
# possessive. Otherwise "a-" repeated 50,000 times costs minutes (each of the 50,000
# starting points would rescan the whole run).
_SPACES = re.compile(r"\s+")

_EMOJI = re.compile(
    "["
    "\U0001F000-\U0001FAFF"  # pictographs, emoticons, transport, supplemental symbols
    "\U0001F1E6-\U0001F1FF"  # regional indicators (flags)
    "\u2600-\u27BF"  # miscellaneous symbols and dingbats
    "\u2B00-\u2BFF"  # arrows and stars used as emoji
    "\u231A\u231B\u23E9-\u23FA\u2934\u2935\u3030\u303D\u3297\u3299"
    "\u200D\uFE0E\uFE0F\u20E3"  # joiners, variation selectors, keycap
    "\U000E0020-\U000E007F"  # tag characters (subdivision flags)
    "]+"
)
# A URL never ends in sentence punctuation: "see https://example.com/a." keeps its full stop.
_URL_END = r"[^\s.,;:!?()\[\]'\"]"
_URL = re.compile(
    rf"(?:\b(?:https?|ftp)://|\bwww\.)(?:\S*{_URL_END})?"
    r"|(?<![\w-])(?<![\w-]\.)(?:[a-z0-9-]++\.)+"
    r"(?:com|org|net|edu|gov|io|info|biz|co|uk|de|fr|ru|jp|cn)\b"
    rf"(?:/(?:\S*{_URL_END})?)?",
    re.IGNORECASE,
)
_HAS_WORD_CHAR = re.compile(r"\w")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<!\s)\s++([.,;:!?])")


def split_sentences(text: str, split_on_newlines: bool = True) -> list[str]:
    """Sentences of a text item: nupunkt (punkt trained on legal and general English, no data
    download) within each line (or the whole text)."""
    blocks = text.split("\n") if split_on_newlines else [_SPACES.sub(" ", text)]
    sentences = []
    for block in blocks:
        block = block.strip()
        if block:
            sentences.extend(_continued_in_lower_case(
                [s.strip() for s in nupunkt.sent_tokenize(block) if s.strip()]))
    return sentences


def _continued_in_lower_case(pieces: list[str]) -> list[str]:
    """nupunkt ends a sentence at every "?" and "!", also where one belongs to a name (Rust's
    "format_args!", Ruby's "#key?") or stands alone ("the ? operator"): a piece that opens in
    lower case after one continues the sentence before it."""
    groups: list[list[str]] = []  # joined once at the end: linear however many pieces join
    for piece in pieces:
        if groups and groups[-1][-1].endswith(("?", "!")) and piece[0].islower():
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return [" ".join(group) for group in groups]


@dataclass
class Cleaned:
    text: str
    had_emoji: bool
    had_url: bool


def clean_sentence(text: str, remove_emoji: bool = True, remove_urls: bool = True) -> Cleaned:
    had_url = had_emoji = False
    if remove_urls:
        text, count = _URL.subn(" ", text)
        had_url = count > 0
    if remove_emoji:
        text, count = _EMOJI.subn(" ", text)
        had_emoji = count > 0
    if had_url or had_emoji:
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return Cleaned(text=_SPACES.sub(" ", text).strip(), had_emoji=had_emoji, had_url=had_url)


def count_words(text: str) -> int:
    return sum(1 for token in text.split() if _HAS_WORD_CHAR.search(token))


# ---------------------------------------------------------------- entropy
def entropy(text: str, kind: str = "word_normalized") -> float:
    """Information entropy of a sentence.

    - word_normalized (default): Shannon entropy of the word distribution divided by its
      maximum log(N) for N words, in [0, 1]: 1 when no word repeats, 0 for one word repeated
      ("buy buy buy"); sentences of fewer than 2 words score 0.
    - word: Shannon entropy of the word distribution in bits (grows with length).
    - char: Shannon entropy of the non-space characters divided by log(N) for N characters.
    Words are lower-cased runs of letters/digits.
    """
    if kind == "char":
        units = [c for c in unicodedata.normalize("NFKC", text.lower()) if not c.isspace()]
    elif kind in ("word", "word_normalized"):
        units = re.findall(r"\w+", text.lower())
    else:
        raise ValueError(f"unknown entropy definition {kind!r}")
    total = len(units)
    if total == 0:
        return 0.0
    counts = Counter(units).values()
    value = max(0.0, -sum(c / total * math.log(c / total) for c in counts))
    if kind == "word":
        return value / math.log(2)
    return value / math.log(total) if total > 1 else 0.0


# ---------------------------------------------------------------- CAT complexity and action
OBJECT_POS = {"NOUN", "PROPN"}
ARGUMENT_DEPS = {"nsubj", "nsubjpass", "csubj", "dobj", "dative", "attr", "oprd", "obj"}
PRONOUN_OBJECT_DEPS = ARGUMENT_DEPS | {"pobj"}
STATIVE_VERBS = {"be", "have", "seem", "appear", "become", "remain", "belong", "consist",
                 "contain", "exist", "include", "mean", "represent"}


@dataclass
class Analysis:
    complexity: int
    has_action: bool
    objects: int
    finite_verb: bool = False  # a clause of its own: a tensed verb, a modal or an imperative
    # the root clause opens with a subordinating conjunction ("If logging capture is enabled."):
    # there is no main clause
    subordinate: bool = False
    # the root is a tensed verb or an imperative, or carries a tensed auxiliary: a main clause
    # ("Reading objects.inv fails again"), not a phrase whose only verbs sit in its modifiers
    main_clause: bool = False
    # no main clause, and the root is a noun with a relative clause, an infinitive or a past
    # participle: the description of a value ("The command name to invoke dvipng.")
    relative_noun: bool = False
    # the word after a term and its separator is a verb: a definition item's description is a
    # statement or a step ("git-fetch-pack - Receive missing objects ...", "recalculate -
    # determines whether ..."), not a noun phrase ("warnings - Perl pragma to control ...")
    verb_after_term: bool = False

    @property
    def completeness_facts(self) -> tuple[bool, bool, bool, bool, bool]:
        """The facts `incomplete_reason` reads, in its argument order."""
        return (self.finite_verb, self.subordinate, self.main_clause, self.relative_noun,
                self.verb_after_term)


# Penn tags of tensed verbs and modals; an imperative is a base-form verb at the root.
FINITE_TAGS = {"VBD", "VBP", "VBZ", "MD"}
SINGULAR_NOUN_TAGS = {"NN", "NNP"}
# Clauses that hang on a noun or on the root without being the main clause: relative,
# participle and adverbial (subordinate) clauses, and a clause after a preposition.
CLAUSE_MODIFIER_DEPS = {"relcl", "acl", "advcl", "pcomp"}
# Dependencies of a word that modifies a noun ("Case insensitive check", "UTF-8 encoded
# string"): a verb tag there is a misread adjective or participle.
NOUN_MODIFIER_DEPS = {"amod", "compound", "nmod"}
# Dependencies of the words before a noun inside its own phrase ("the usual", "Case
# insensitive", "UTF-8 encoded")
NOUN_PHRASE_DEPS = NOUN_MODIFIER_DEPS | {"det", "poss", "case", "nummod", "quantmod", "punct",
                                         "advmod"}
NOUN_TAGS = SINGULAR_NOUN_TAGS | {"NNS", "NNPS"}


def _is_object(token) -> bool:
    if token.pos_ in OBJECT_POS:
        return True
    return token.pos_ == "PRON" and token.dep_ in PRONOUN_OBJECT_DEPS


def _prep_objects(prep) -> list:
    return [child for child in prep.children if child.dep_ == "pobj" and _is_object(child)]


def _verb_arguments(verb) -> list:
    arguments = []
    for child in verb.children:
        if child.dep_ in ARGUMENT_DEPS and _is_object(child):
            arguments.append(child)
        elif child.dep_ in ("prep", "agent"):
            arguments.extend(_prep_objects(child))
            # "next to the door": spaCy hangs the prep under an adverb ("next").
        elif child.dep_ == "advmod":
            for grandchild in child.children:
                if grandchild.dep_ == "prep":
                    arguments.extend(_prep_objects(grandchild))
    # A participle or relative clause modifying a noun takes that noun as its subject.
    if verb.dep_ in ("acl", "relcl") and _is_object(verb.head):
        arguments.append(verb.head)
    return arguments


def analyse(doc) -> Analysis:
    """Scene-graph complexity and action of one parsed sentence (see the module doc)."""
    relations = 0
    action = False
    for token in doc:
        if token.pos_ == "VERB" and _verb_arguments(token):
            relations += 1
            if token.lemma_.lower() not in STATIVE_VERBS:
                action = True
        elif token.dep_ == "prep" and _is_object(token.head) and _prep_objects(token):
            relations += 1
    objects = sum(1 for token in doc if _is_object(token))
    finite = any(token.tag_ in FINITE_TAGS or (token.tag_ == "VB" and token.dep_ == "ROOT")
                 for token in doc)
    roots = [token for token in doc if token.dep_ == "ROOT"]
    subordinate = bool(roots) and all(_opens_subordinate(root) for root in roots)
    main = any((root.tag_ in FINITE_TAGS or root.tag_ == "VB"
                or any(child.dep_ in ("aux", "auxpass") and child.tag_ in FINITE_TAGS
                       for child in root.children)) and not _misread_root(root) for root in roots)
    return Analysis(complexity=relations, has_action=action, objects=objects,
                    finite_verb=finite, subordinate=subordinate, main_clause=main,
                    relative_noun=not main and (_relative_noun(doc, roots) or any(
                        _noun_and_infinitive(root) for root in roots)),
                    verb_after_term=_verb_after_term(doc))


def _misread_root(root) -> bool:
    """The root is tagged a verb but heads no main clause: a literal value the tagger read as
    a verb ("the clone if the object implements Cloneable otherwise null"), a noun and its
    infinitive ("the byte to prepend on the start of the GString"), or a plain-form verb (VB,
    VBP) without an auxiliary whose subject is a singular noun: a tensed verb would agree with
    it ("the source name of a test to run, ... array", "The step function the pattern is
    being attached to."). A plural subject agrees ("further calls return the result"), and a
    subject before a colon or a dash is a label before an imperative ("#8245: linkcheck: take
    source directory into account")."""
    return root.tag_ in VERB_TAGS | FINITE_TAGS and (
        root.lower_ in VALUE_WORDS or _noun_and_infinitive(root)
        or bool(_disagreeing_subjects(root)))


def _disagreeing_subjects(root) -> list:
    """The singular-noun subjects of a plain-form verb (VB, VBP) without an auxiliary, leaving
    out a label before a colon or a dash: a tensed verb would agree with them."""
    if root.tag_ not in ("VB", "VBP") or any(
            child.dep_ in ("aux", "auxpass") for child in root.children):
        return []
    return [subject for subject in _subjects(root) if subject.tag_ in SINGULAR_NOUN_TAGS
            and not any(token.text in TERM_SEPARATORS
                        for token in root.doc[subject.i + 1:root.i])]


def _noun_and_infinitive(root) -> bool:
    """The root is an infinitive ("to" and a bare verb, no tensed auxiliary) whose "subject"
    is a noun phrase that opens with a determiner: a noun and the infinitive that describes it
    ("a GTimeVal to modify"), not a sentence. Without a determiner the first words may be an
    imperative the tagger read as a noun ("Configure builders to create readers and
    writers.", "switch color to blue")."""
    return root.tag_ == "VB" and any(
        child.dep_ == "aux" and child.tag_ == "TO" for child in root.children) and not any(
        child.dep_ in ("aux", "auxpass") and child.tag_ in FINITE_TAGS
        for child in root.children) and any(
        subject.left_edge.tag_ == "DT" for subject in _subjects(root))


def _subjects(verb) -> list:
    """The subjects of `verb` that come before it."""
    return [child for child in verb.children
            if child.dep_ in ("nsubj", "nsubjpass") and child.i < verb.i]


# What separates a term from its description: "term - ...", "term: ..." (a hyphen inside a
# name, "git-fetch-pack", has no space after it)
TERM_SEPARATORS = {"-", "–", "—", ":"}
VERB_TAGS = {"VB", "VBZ", "VBP"}


def _verb_after_term(doc) -> bool:
    """The first word after the first separator followed by a space is a verb."""
    for token in doc[1:]:
        if token.text in TERM_SEPARATORS and token.whitespace_:
            following = next((word for word in doc[token.i + 1:] if not word.is_punct), None)
            return following is not None and following.tag_ in VERB_TAGS
    return False


def _opens_subordinate(root) -> bool:
    """The root's clause opens with a subordinating conjunction ("If logging capture is
    enabled.": a "mark"), or with a wh-adverb of its own ("When you activate the first
    button": the parser makes "when" an adverb of the root, not a mark)."""
    first = root.left_edge
    return any(child.dep_ == "mark" for child in root.children) or (
        first.tag_ == "WRB" and first.dep_ == "advmod" and first.head.i == root.i)


def _relative_noun(doc, roots) -> bool:
    """Every root is a singular noun and one carries a relative clause or an infinitive ("A
    regular expression that matches a URI."). The tagger often reads a third-person verb as
    a plural noun ("The filter blurs in a direction that you can set.", "This slider selects
    which ..."), or as a verb where a noun should be ("A click on the button displays the
    selector where ..."), and an imperative as a noun ("Click-and-drag a line to move it."):
    a plural root, a tensed verb outside the modifiers, or a verb first are not this phrase."""
    if not roots or (doc[0].tag_ == "VB" and not _misread_modifier(doc)):
        return False
    if _participle_noun(doc, roots):
        return True
    # A root read as a verb after the noun it makes a compound with is that compound's head
    # noun ("The step function the pattern is being attached to."), and the clause the parse
    # hangs on it as its complement is the noun's relative clause.
    compounds = {root.i for root in roots if _compound_head(root)}
    if any(root.tag_ not in SINGULAR_NOUN_TAGS and root.i not in compounds for root in roots):
        return False
    modifiers = {inner.i for head in doc if _clause_modifier(head, compounds)
                 for inner in head.subtree}
    # A "tensed" verb that modifies a noun is a participle the tagger misread ("UTF-8
    # encoded string ...").
    if any(token.tag_ in FINITE_TAGS and token.i not in modifiers | compounds
           and token.dep_ not in NOUN_MODIFIER_DEPS for token in doc):
        return False
    # A relative clause, or a clause with a tensed verb hung on the noun: a subordinate clause
    # ("The name of the property as it is passed to listeners.", "Case insensitive check if a
    # CharSequence ends with a suffix.") or a participle's ("An error tagged with where it was
    # encountered").
    return any(token.dep_ == "relcl" or _tensed_clause_on_noun(doc, root, token, compounds)
               for root in roots for token in root.subtree)


def _compound_head(root) -> bool:
    """The root disagrees with a subject right before it: a noun compound misread ("step
    function", "Constructor function")."""
    return any(subject.i == root.i - 1 for subject in _disagreeing_subjects(root))


def _clause_modifier(head, compounds) -> bool:
    """`head` heads a clause that modifies a noun: a clause modifier, or the complement the
    parse hangs on a misread compound's head."""
    return head.dep_ in CLAUSE_MODIFIER_DEPS or (head.dep_ == "ccomp" and head.head.i in compounds)


def _misread_modifier(doc) -> bool:
    """The first word, tagged a verb, modifies the noun after it and no determiner follows it
    before the noun ("Case insensitive check if ..."): not an imperative and its object
    ("Click-and-drag the midpoint line to move it.")."""
    return doc[0].dep_ in NOUN_MODIFIER_DEPS and not any(
        token.tag_ == "DT" for token in doc[1:doc[0].head.i])


def _tensed_clause_on_noun(doc, root, clause, compounds) -> bool:
    """`clause` modifies the noun `root` and has a tensed verb, the text opens with the noun's
    own phrase (not "From the menu Select → Save if ...", a misread step) and no colon comes
    between them: after a colon a clause is a statement of its own ("Useless shadow
    information: Some raw processors can output ...", "Factor : How many units make up an
    inch."). `compounds`: the roots that head a misread noun compound (`_compound_head`),
    whose "subject" is the compound's first noun."""
    first_noun = root.i - 1 if root.i in compounds else None
    return (_clause_modifier(clause, compounds)
            and any(inner.tag_ in FINITE_TAGS for inner in clause.subtree)
            and all(token.dep_ in NOUN_PHRASE_DEPS or token.i == first_noun
                    for token in doc[:root.i])
            and not any(token.text == ":" for token in doc[root.i:clause.left_edge.i]))


def _participle_noun(doc, roots) -> bool:
    """Every root is a noun, no verb is tensed, and a past participle describes a noun ("The
    name of the first branch created in new repositories.", "Exceptions thrown by the
    macros."): a value's description. With no tensed verb at all a plural root is no
    misread verb. (A present participle is left alone: "A dog sitting next to a door." is the
    paper's own caption.)"""
    if any(root.tag_ not in NOUN_TAGS for root in roots) or any(
            token.tag_ in FINITE_TAGS for token in doc):
        return False
    # A plural "noun" before a determiner is a third-person verb and its object: "Returns the
    # string obtained by ..." describes what a function does, with a verb the tagger misread.
    if any(root.tag_ in ("NNS", "NNPS") and root.i + 1 < len(doc)
           and doc[root.i + 1].tag_ in ("DT", "PRP$", "CD") for root in roots):
        return False
    # On the root itself a participle may be a misread past tense ("A woodpecker tapped
    # loudly on the trunk."), unless its agent makes it passive ("Exceptions thrown by ...").
    return any(token.dep_ == "acl" and token.tag_ == "VBN" and (
        token.head.dep_ != "ROOT" or any(child.dep_ == "agent" for child in token.children))
        for root in roots for token in root.subtree)


def load_parser(name: str):
    """The spaCy pipeline with what the analysis needs (tagger, parser, lemmatizer)."""
    import spacy

    return spacy.load(name, exclude=["ner"])


def analyse_many(nlp, texts: Iterable[str], batch_size: int = 256) -> list[Analysis]:
    return [analyse(doc) for doc in nlp.pipe(texts, batch_size=batch_size)]


# ---------------------------------------------------------------- the filter chain
# Drop reasons, in the order the filters run (stats keys are "dropped_<reason>").
EMPTY = "empty_after_cleaning"
TOO_FEW_WORDS = "too_few_words"
TOO_MANY_WORDS = "too_many_words"
LOW_COMPLEXITY = "low_complexity"
NO_ACTION = "no_action"
LOW_ENTROPY = "low_entropy"
LOW_PERPLEXITY = "low_perplexity"
HIGH_PERPLEXITY = "high_perplexity"
UNSCORABLE = "no_perplexity"
QUALITY_REASONS = (EMPTY, TOO_FEW_WORDS, TOO_MANY_WORDS, LOW_COMPLEXITY, NO_ACTION,
                   *COMPLETENESS_REASONS)  # the fragments (extract/completeness.py)
SEMANTIC_REASONS = (LOW_ENTROPY, LOW_PERPLEXITY, HIGH_PERPLEXITY, UNSCORABLE)
