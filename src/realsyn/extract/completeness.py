"""Whether a sentence is complete enough to build a caption from (beyond the paper).

The paper's filters keep text that is long, parseable and has an action, so documentation
fragments pass: a clause cut where a line or a list item broke ("This 3D effect is achieved
by"), a lead-in to a figure or a list ("We get following image :"), a heading ("What It
Does"), a list item cut at a comma, a quotation or bracket opened and never closed ("You can
observe the scene \""), a subordinate clause without its main clause ("If logging capture is
enabled."), a noun described by a relative clause ("The command name to invoke dvipng.").
Each is a separate drop reason. The rules read the text and five facts of the parse the paper's
filters already made (whether there is a finite verb, whether the root clause is a subordinate
one, whether there is a main clause, whether the text is a noun described by a clause, whether
a verb follows a term and its separator), so they cost microseconds per sentence. Measured on
labelled documentation sentences of fifteen toolchains: benchmarks/bench_completeness.py,
docs/stages/extract.md.
"""

from __future__ import annotations

import re
from itertools import islice

ENDS_IN_COLON = "ends_in_colon"
DANGLING_WORD = "dangling_word"
HEADING = "heading"
NO_FINITE_VERB = "no_finite_verb"
LIST_STUB = "list_stub"
UNBALANCED = "unbalanced_quotes_or_brackets"
SUBORDINATE_CLAUSE = "subordinate_clause"
NOUN_PHRASE = "noun_phrase"
COMPLETENESS_REASONS = (ENDS_IN_COLON, DANGLING_WORD, HEADING, LIST_STUB, UNBALANCED,
                        NO_FINITE_VERB, SUBORDINATE_CLAUSE, NOUN_PHRASE)

# Words that cannot end a sentence even before a full stop: the noun phrase or clause they
# open is missing ("... click on the.", "... the mask and.").
ARTICLES = {"a", "an", "the", "your", "our", "their", "my", "its"}
CONJUNCTIONS = {"and", "or", "but", "nor", "because", "than", "whether", "although", "though",
                "unless", "whereas"}
ALWAYS_DANGLING = ARTICLES | CONJUNCTIONS
# Words that can end a complete sentence ("the layer it is applied to.", "if any.", "Yes, it
# is."), so they dangle only when the text does not end a sentence (no . ! ?): the line was cut
# ("This 3D effect is achieved by").
# Prepositions ("above" and "below" are left out: at the end they are adverbs, "(see below)").
PREPOSITIONS = {
    "about", "across", "after", "against", "along", "among", "around", "as", "at",
    "before", "behind", "beneath", "beside", "between", "beyond", "by", "during",
    "except", "for", "from", "in", "inside", "into", "like", "near", "of", "off", "on", "onto",
    "over", "per", "since", "through", "throughout", "to", "toward", "towards", "under",
    "upon", "via", "with", "within", "without"}
# A wh-word before a final preposition strands it in a clause of its own: "identify what
# category the issue falls under" is complete without a full stop.
WH_WORDS = {"what", "which", "who", "whom", "whose", "where"}
OPEN_DANGLING = PREPOSITIONS | {
    # determiners, conjunctions and auxiliaries that open what follows
    "this", "these", "those", "every", "each", "some", "any", "no", "his", "her", "so", "if",
    "when", "while", "that", "until", "is", "are", "was", "were", "be", "been", "being", "am",
    "has", "have", "had", "will", "would", "shall", "should", "can", "could", "may", "might",
    "must", "does", "do", "did",
    # "... one of the following": a lead-in to a list, like a colon
    "following"}
# Words a title leaves in lower case ("Using the Paint Tools").
TITLE_MINOR = ALWAYS_DANGLING | OPEN_DANGLING | {"vs", "v"}
# Determiners that open a verb's object: "multiply the result", "Skip any move"
DETERMINERS = ARTICLES | {"this", "these", "those", "each", "every", "all", "any", "some"}
# Words that open a phrase or a clause, never an imperative: "If true, install ...",
# "Either a boolean, in which case ..."
FUNCTION_WORDS = TITLE_MINOR | {"either", "neither", "both", "whenever", "unless", "whether"}
# A list item this short without a sentence end is a label ("1. Brush Options"), not a step
# ("1. Open the image you want to crop" is kept).
LIST_STUB_WORDS = 5

# Verbs that open an instruction in documentation ("Use Futurize to update your code",
# "Continue the process if it is stopped"): the small parser often tags them as nouns or
# adjectives, so a line opening with one is a step, not a heading, unless it is in title case.
IMPERATIVE_VERBS = {
    "add", "apply", "avoid", "build", "call", "change", "check", "choose", "click", "close",
    "configure", "continue", "copy", "create", "define", "delete", "disable", "download",
    "drag", "edit", "enable", "enter", "find", "follow", "install", "keep", "let", "load",
    "make", "move", "open", "pass", "press", "put", "read", "remove", "rename", "replace",
    "resolve", "restart", "return", "run", "save", "see", "select", "set", "specify", "start",
    "stop", "try", "turn", "type", "update", "use", "write",
    # and verbs that open a function's or a command's summary ("Print list of available
    # compilers (used by ...).", "Generate ctags-like information for ...")
    "calculate", "compute", "convert", "display", "fix", "generate", "get", "print", "send",
    "show",
    # and verbs that open a changelog entry ("Bugfix: Revert livereload file watching to ...")
    "allow", "ensure", "ignore", "improve", "include", "prevent", "revert",
    # and verbs that open a parser library's function summaries ("Parse zero or more tokens
    # for which ...", "Abort option reader by exiting with a ParseError.", Haddock)
    "abort", "parse"}

# A line this short without a sentence end names an option or a menu item ("Work on copy",
# "Crop to result"): a label, not a sentence, unless its second word is an auxiliary after a
# subject ("pip is installed").
LABEL_WORDS = 3
AUXILIARIES = {"is", "are", "was", "were", "has", "have", "had", "can", "could", "will",
               "would", "shall", "should", "may", "might", "must", "does", "do", "did"}

# Conjunctions that open a subordinate clause: alone ("If logging capture is enabled."), with no
# comma or "then" before a main clause, it is a condition cut from its sentence.
SUBORDINATORS = {"if", "when", "whenever", "once", "unless", "whether", "although", "though",
                 "because", "whereas"}
# A literal value before a condition describes a return value or a flag ("true if numeric
# object keys are allowed."): there is no main clause, comma or not.
VALUE_WORDS = {"true", "false", "none", "null", "zero", "nonzero"}
# An upper-case constant names a value the same way: "-ENOENT if ...", "EOF when ..."
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]+")
# Relative pronouns: a line that opens with one in lower case ("(which depend on the
# process)") is a relative clause cut from the noun it describes.
RELATIVE_PRONOUNS = {"which", "who", "whom", "whose"}
_RELATIVE_LEAD = re.compile(r"^\W*(?:" + "|".join(sorted(RELATIVE_PRONOUNS)) + r")\b")
# Modal auxiliaries: a line without a sentence end that stops at the reader (or "we") and a
# modal and its verb ("If you want ..., you could say", "Similarly, in C#, you would change")
# is a lead-in cut before the verb's object, the code that followed it. A named subject may
# end its clause there ("Git will reply").
MODALS = {"can", "could", "will", "would", "shall", "should", "may", "might", "must"}
READER_PRONOUNS = {"you", "we", "one"}
# Words in -ing that open a line but are not gerunds (nouns, pronouns, and participles used as
# prepositions, which open an adverbial before a main clause: "Depending on ..., ...").
NOT_GERUNDS = {"anything", "everything", "nothing", "something", "string", "thing", "things",
               "according", "concerning", "considering", "during", "excluding", "following",
               "including", "notwithstanding", "pending", "regarding", "morning", "evening",
               "ceiling", "spring", "bring", "king", "ring", "sing", "swing", "ping", "wing"}

_CLOSERS = "\"'”’»)]}"
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# "1.", "2)", "a)", "(iv)", bullets and dashes that open a list item
_LIST_MARKER = re.compile(r"^(?:[-–—*•·◦▪‣]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)])\s")
# A Markdown heading left raw in the HTML: "## Do you like the code style?"
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S")
# An admonition's label before its title: "GOING FURTHER ...", "TIP ...", "NOTE ..."
_LABEL = re.compile(r"^[A-Z]{3,}(?: [A-Z]{3,})* [A-Z]")
# A definition-list item: a code-like term, a colon and its description, with no sentence end
# ("exclude_tags: a set of tag names ...", "kern: message coming from the kernel"). The term
# is lower case, quoted or an upper-case constant, so a caption such as "Photo: a red car"
# is not one.
_DEFINITION = re.compile(r"^(?:[a-z_][\w.+-]*|[A-Z][A-Z0-9_]+|['\"‘“`][^'\"’”`]+['\"’”`])"
                         r"(?:\s*:|\s+[-–—])\s+\S"  # "term: ..." or "term - ..."
                         # or a type parameter before a dash: "T - the type of the object"
                         r"|^[A-Z]\s+[-–—]\s+\S"
                         # or a name of at most LABEL_WORDS words, a spaced dash and a
                         # lower-case article: a noun phrase describes the name (a reference
                         # page's NAME line, "Bounds-checking integer arithmetic — a set of
                         # helpers ..."), where a predicate would open with a verb ("The Main
                         # Event Loop — manages all ...")
                         rf"|^[^\W\d][\w-]*+(?: [^\W\d][\w-]*+){{0,{LABEL_WORDS - 1}}}"
                         r" [-–—] (?:a|an|the) ")
_PARTICIPLE_LEAD = re.compile(r"^\W*[A-Z][a-z]+ed (?:by|from|in|on|for|with|to|as)\b")
# A gerund opening a line: "Passing a URL to ...", "Developing a library?"
_GERUND = re.compile(r"[A-Z][a-z]+ing")
_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"))
# The rest of a cut clause or a table cell: a line opens with a comma or semicolon, or with a
# dash that stands for a term before one ("—, uses a C# specific message catalog format")
_CUT_START = re.compile(r"^(?:[,;]|[-–—]\s*[,;])")
# A code-like term glued to the sentence that describes it, as index and table cells read
# once their markup is gone ("eval_gettext See Invoking the eval_gettext function."): an
# identifier with "_" or "." inside, then a capitalised word
_GLUED_TERM = re.compile(r"^[a-z][^\W_]*(?:[._][^\W_]+)+(?:\(\))?\s+[A-Z][a-z]+\b")
# An issue or pull-request number that ends a changelog entry: "... offline. (#143)",
# "Tweaked logic for handling ConfigOption.default (#2938)"
_ISSUE_REFERENCE = re.compile(r"\((?:#\d+(?:, ?)?)+\)$")
# A permalink sign that Sphinx and other generators put after a heading's text
_PERMALINK = "¶"
# Bracketed asides, left out where a rule looks for a comma of the sentence itself
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
# What ends a definition item's term: "term: ...", "term - ..."
_TERM_SEPARATOR = re.compile(r":\s|\s[-–—]\s")
# Labels before a changelog entry or a step: "#6816: linkcheck: Add ...", "Explicit: set ..."
MAX_LABELS = 3


def incomplete_reason(text: str, finite_verb: bool | None = None,
                      subordinate: bool | None = None, main_clause: bool | None = None,
                      relative_noun: bool | None = None,
                      verb_after_term: bool | None = None) -> str | None:
    """The reason a sentence is a fragment, or None when it reads as complete. `finite_verb`
    (from the parse; None: not parsed) says whether it has a clause of its own: a line with
    neither a finite verb nor a sentence end is a heading or a caption ("Managing the XMPP
    server"), a sentence without one that opens with a participle a phrase ("Referenced by
    parse()."), a question without one a heading ("Developing a library?"). `subordinate`
    (from the parse; None: not parsed) says whether its root clause opens with a subordinating
    conjunction: a condition without a main clause ("If logging capture is enabled.").
    `main_clause` (from the parse; None: not parsed) says whether the root is a tensed verb or
    an imperative: "Reading objects.inv fails again" is a sentence, not a gerund heading, and
    "latex: merged cells allow ..." a changelog entry, not a definition-list item.
    `relative_noun` (from the parse) says whether the text is a noun with a relative clause or
    an infinitive and no main clause: "The command name to invoke dvipng." describes a value.
    `verb_after_term` (from the parse; None: not parsed) says whether a verb opens what follows
    a term and its separator: a definition item whose description opens with one is a
    statement or a step ("recalculate - determines whether ...")."""
    stripped = text.strip()
    if not stripped:
        return None
    # A changelog entry that cites its issue states a change (an imperative, or a past tense
    # without its subject), not a heading; the citation after a full stop hides the stop.
    cited = _ISSUE_REFERENCE.search(stripped)
    if cited and cited.start() > 0:
        stripped = stripped[:cited.start()].rstrip()
    ends_sentence = bool(_SENTENCE_END.search(stripped))
    if _MARKDOWN_HEADING.match(stripped) or stripped.endswith(_PERMALINK):
        return HEADING
    if stripped.rstrip(_CLOSERS + " ").endswith(":"):
        return ENDS_IN_COLON
    # A list marker's bracket ("11) multiply ...") opens nothing.
    if _unbalanced(_LIST_MARKER.sub("", stripped, count=1)):
        return UNBALANCED
    # A lead-in and its list's first items, glued where a line broke ("The formats understood
    # by the kernel include: AF_UNIX, AF_LOCAL"), is a lead-in: the list is cut from it.
    if not ends_sentence and _glued_list(stripped):
        return ENDS_IN_COLON
    # A definition item is a term and its description; when the parse finds no main clause a
    # full stop does not make it a sentence ("stream - (optional) whether to download the
    # response content."). A description that is an imperative makes a step of it ("build:
    # Build the MkDocs documentation"), and so does one that the parse opens with a verb (a
    # command's summary, "git-fetch-pack - Receive missing objects from another repository",
    # or a predicate, "recalculate - determines whether ..."); a noun phrase stays an item
    # ("warnings - Perl pragma to control optional warnings", "path_resolution - how a
    # pathname is resolved to a file"). Without that fact, a capitalised description in which
    # the parse finds a main clause is a step.
    definition = _DEFINITION.match(stripped) and (not ends_sentence or main_clause is False)
    statement = _description_step(stripped) or (
        verb_after_term if verb_after_term is not None else _capitalised_clause(
            stripped, main_clause))
    if stripped.endswith((",", ";")) or (definition and not _labelled_step(stripped)
                                         and not statement) or (
            not ends_sentence and _LIST_MARKER.match(stripped)
            and len(stripped.split()) <= LIST_STUB_WORDS) or _CUT_START.match(stripped) or (
            _GLUED_TERM.match(stripped)):
        return LIST_STUB
    body = _LIST_MARKER.sub("", stripped, count=1)
    head = _first_words(body, 2)
    gerund = _gerund_lead(head)
    if not ends_sentence and not cited and (_title_case(stripped) or _LABEL.match(stripped)
                              or (finite_verb is False and not _instruction(stripped, head)
                                  and not _clause_after_condition(head, body))
                              or (gerund and "," not in stripped and main_clause is not True)
                              or _label(stripped.split())):
        return HEADING
    # A question needs a finite verb ("Does it ...?"): without one it is a heading
    # ("Developing a library?").
    if finite_verb is False and stripped.rstrip(_CLOSERS).endswith("?"):
        return HEADING
    last = stripped.split()[-1].rstrip(".!?…" + _CLOSERS).lower()
    if last in ALWAYS_DANGLING or (last in OPEN_DANGLING and not ends_sentence and not (
            last in PREPOSITIONS and any(word.lower() in WH_WORDS
                                         for word in _WORD.findall(body)))):
        return DANGLING_WORD
    if not ends_sentence and _cut_after_modal(body):
        return DANGLING_WORD
    if _subordinate_alone(head, body, subordinate) or _RELATIVE_LEAD.match(stripped):
        return SUBORDINATE_CLAUSE
    # The parse's tags are unreliable on technical prose ("prints", "Returns" tagged as
    # nouns), so a sentence without a finite verb is a fragment only when it opens with a
    # participle phrase: "Referenced by parse().", "(Contributed by Larry Hastings.)". (Not
    # a gerund: "Pressing the Shift key toggles ..." is a sentence whose verb it misses.)
    if finite_verb is False and _PARTICIPLE_LEAD.match(stripped):
        return NO_FINITE_VERB
    # A noun and its relative clause or infinitive, with a full stop and no main clause, is
    # the description of a parameter or a value ("A regular expression that matches a URI.").
    # A comma outside brackets sets off a clause the parse may have missed ("single acts as
    # a counterpart, and leads to ..."), and an opening imperative is a step the parser
    # tagged as a noun ("Use array.tobytes() to obtain ...").
    if (relative_noun and "," not in _BRACKETED.sub("", stripped)
            and not _instruction(stripped, head)):
        return NOUN_PHRASE
    # A line that opens with a lower-case article or determiner is no sentence's start, and
    # without a main clause it is the description of a value or a parameter, comma or not
    # ("the value of symbol in the given scope, or NULL if ...", "a GTimeVal to modify", "this
    # if the power is one, ..."); with one it is a clause cut from its capital ("an EAGAIN
    # error occurred", "this fixes an optimistic use of gethostbyname").
    if main_clause is False and head and head[0] in DETERMINERS:
        return NOUN_PHRASE
    return None


def _unbalanced(text: str) -> bool:
    """A bracket or a double quote opened and never closed (or closed and never opened). A
    closing bracket after the final stop closes a parenthesis of an earlier sentence: "... for
    a variety of reasons.)" is complete."""
    closing = re.search(r"[.!?]([)\]])$", text)
    if closing and text.count(closing.group(1)) > text.count("(" if closing.group(1) == ")"
                                                               else "["):
        text = text[:-1]  # only when this sentence has no opener of its own to close
    if any(text.count(open_) != text.count(close) for open_, close in _PAIRS):
        return True
    return text.count('"') % 2 == 1


def _instruction(text: str, words: list[str]) -> bool:
    """A step that opens with an imperative verb ("Install the selected services"), or one
    after up to MAX_LABELS one-word labels and colons ("Explicit: set detect_types to
    PARSE_COLNAMES", "#6816: linkcheck: Add ..."); `words`: the first two words after the
    text's list marker."""
    return (len(words) >= 2 and (words[0].lower() in IMPERATIVE_VERBS
                                 or _verb_and_object(text, words))) or _labelled_step(text)


def _verb_and_object(text: str, words: list[str]) -> bool:
    """The first word takes a determiner right after it, as a verb takes its object ("multiply
    the result by ...", "Skip the move ..."): a noun or an adjective does not. Function words,
    gerunds and participles are left out ("About the project", "Managing the server"), and
    so is a label before its colon ("Explicit: the detect_types option")."""
    first = words[0].lower()
    return _LIST_MARKER.sub("", text, count=1).startswith(f"{words[0]} {words[1]} ") and (
        words[1].lower() in DETERMINERS and first not in FUNCTION_WORDS
        and not first.endswith(("ing", "ed")))


def _clause_after_condition(head: list[str], text: str) -> bool:
    """A subordinate clause and a comma before the rest: the rest is the main clause ("When
    creating files, prepend <string> ..."), whose verb the tagger may miss."""
    return bool(head) and head[0].lower() in SUBORDINATORS and "," in text


def _labelled_step(text: str) -> bool:
    """An imperative after up to MAX_LABELS one-word labels and colons ("build: Build the
    documentation", "#6816: linkcheck: Add ...")."""
    rest = text
    for _ in range(MAX_LABELS):  # "#6816: linkcheck: Add linkcheck_auth option ..."
        label, colon, rest = rest.partition(": ")
        # an aside in brackets is part of its label: "Bugfix (regression in 1.2): Revert ..."
        if not colon or len(_BRACKETED.sub("", label).split()) != 1:
            return False
        step = _first_words(rest, 2)
        if len(step) >= 2 and step[0].lower() in IMPERATIVE_VERBS:
            return True
    return False


def _glued_list(text: str) -> bool:
    """A clause, a colon and at most LABEL_WORDS words without a sentence end: the lead-in to
    a list and its first items ("... can be one of: BPF_LWT_ENCAP_SEG6", "... types of key:
    "keyring""). A label before the colon ("Bugfix: Revert ...") is not a clause."""
    lead, colon, items = _BRACKETED.sub("", text).rpartition(": ")  # not "(refs: #3435)"
    return bool(colon) and len(lead.split()) > LABEL_WORDS and (
        len(items.split()) <= LABEL_WORDS) and not _labelled_step(text)


def _capitalised_clause(text: str, main_clause: bool | None) -> bool:
    """A definition item's description opens with a capitalised word that is no function word
    and the parse finds a main clause: a statement or a step ("git-fetch-pack - Receive
    missing objects ..."), not the description of a term ("override - If true, install the
    node ...", "verify - Either a boolean, in which case ...")."""
    first = _first_words(_description(text), 1)
    return main_clause is True and bool(first) and first[0][0].isupper() and (
        first[0].lower() not in FUNCTION_WORDS)


def _description_step(text: str) -> bool:
    """A definition item's description opens with a capitalised verb of IMPERATIVE_VERBS, which
    the tagger may read as a noun: "git-hash-object - Compute object ID and ...", a command's
    summary. In lower case the word is as often a noun ("delimiters - set of characters ...")."""
    first = _first_words(_description(text), 1)
    return bool(first) and first[0][0].isupper() and first[0].lower() in IMPERATIVE_VERBS


def _first_words(text: str, count: int) -> list[str]:
    """The first `count` words of `text` (fewer if it has fewer)."""
    return [match.group() for match in islice(_WORD.finditer(text), count)]


def _description(text: str) -> str:
    """What follows a definition item's term and its separator ("term: ...", "term - ...");
    the whole text when it has none."""
    return _TERM_SEPARATOR.split(text, maxsplit=1)[-1]


def _label(tokens: list[str]) -> bool:
    """A line of at most three words names an option ("Work on copy"), unless a subject and an
    auxiliary open a clause ("pip is installed")."""
    return len(tokens) <= LABEL_WORDS and not (len(tokens) >= 2
                                               and tokens[1].lower() in AUXILIARIES)


def _gerund_lead(words: list[str]) -> bool:
    """The line opens with a gerund ("Passing a URL to ...", "Developing a library?")."""
    return bool(words) and _GERUND.fullmatch(words[0]) is not None and (
        words[0].lower() not in NOT_GERUNDS)


def _subordinate_alone(head: list[str], text: str, subordinate: bool | None) -> bool:
    """A subordinate clause without its main clause: a literal value or a constant opens a
    condition ("true if the keys are allowed.", "-ENOENT if the architecture does not support
    branch records."), or the text opens with a subordinating conjunction and has no
    comma, semicolon or "then" where a main clause would start, and at most one auxiliary
    (a second opens the main clause: "If you have ... this can make ..."), and the parse, when
    there is one, makes the conjunction's clause the root ("If logging capture is enabled.").
    A question ("When does the loop stop?") opens with an interrogative, not a conjunction.
    `head`: the first two words of `text` (the text after its list marker)."""
    if len(head) < 2:
        return False
    first, second = head[0].lower(), head[1].lower()
    if (first in VALUE_WORDS or _CONSTANT.fullmatch(head[0])) and second in (
            "if", "when", "unless", "iff"):
        return True
    if (first not in SUBORDINATORS or subordinate is False or "," in text or ";" in text
            or text.rstrip(_CLOSERS).endswith("?")):
        return False
    lower = [word.lower() for word in _WORD.findall(text)]
    return "then" not in lower and sum(word in AUXILIARIES for word in lower) <= 1


def _cut_after_modal(text: str) -> bool:
    """The text stops at the reader, a modal and its bare verb ("..., you could say"): the
    verb's object is missing. A wh-word or "that" before it may be that object ("the options
    that you can set")."""
    words = [word.lower() for word in _WORD.findall(text)]
    return len(words) >= 3 and words[-3] in READER_PRONOUNS and words[-2] in MODALS and (
        words[-1] not in AUXILIARIES) and not (
        set(words[:-3]) & (WH_WORDS | {"that", "how", "when", "why"}))


def _title_case(text: str) -> bool:
    """Every word but the minor ones capitalised, and at least two words that count."""
    words = _WORD.findall(text)
    major = [w for w in words if w.lower() not in TITLE_MINOR or w == words[0]]
    return len(words) >= 2 and len(major) >= 2 and all(w[0].isupper() for w in major)

