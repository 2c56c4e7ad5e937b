"""Whether a sentence is complete enough to build a caption from (beyond the paper).

The paper's filters keep text that is long, parseable and has an action, so documentation
fragments pass: a clause cut where a line or a list item broke ("This 3D effect is achieved
by"), a lead-in to a figure or a list ("We get following image :"), a heading ("What It
Does"), a list item cut at a comma, a quotation or bracket opened and never closed ("You can
observe the scene \""). Each is a separate drop reason. The rules read the text and one fact of
the parse the paper's filters already made (whether there is a finite verb), so they cost
microseconds per sentence. Measured on labelled documentation sentences of three toolchains:
benchmarks/bench_completeness.py, docs/stages/extract.md.
"""

from __future__ import annotations

import re

ENDS_IN_COLON = "ends_in_colon"
DANGLING_WORD = "dangling_word"
HEADING = "heading"
NO_FINITE_VERB = "no_finite_verb"
LIST_STUB = "list_stub"
UNBALANCED = "unbalanced_quotes_or_brackets"
COMPLETENESS_REASONS = (ENDS_IN_COLON, DANGLING_WORD, HEADING, LIST_STUB, UNBALANCED,
                        NO_FINITE_VERB)

# Words that cannot end a sentence even before a full stop: the noun phrase or clause they
# open is missing ("... click on the.", "... the mask and.").
ARTICLES = {"a", "an", "the", "your", "our", "their", "my", "its"}
CONJUNCTIONS = {"and", "or", "but", "nor", "because", "than", "whether", "although", "though",
                "unless", "whereas"}
ALWAYS_DANGLING = ARTICLES | CONJUNCTIONS
# Words that can end a complete sentence ("the layer it is applied to.", "if any.", "Yes, it
# is."), so they dangle only when the text does not end a sentence (no . ! ?): the line was cut
# ("This 3D effect is achieved by").
OPEN_DANGLING = {
    # prepositions
    "about", "above", "across", "after", "against", "along", "among", "around", "as", "at",
    "before", "behind", "below", "beneath", "beside", "between", "beyond", "by", "during",
    "except", "for", "from", "in", "inside", "into", "like", "near", "of", "off", "on", "onto",
    "over", "per", "since", "through", "throughout", "to", "toward", "towards", "under",
    "upon", "via", "with", "within", "without",
    # determiners, conjunctions and auxiliaries that open what follows
    "this", "these", "those", "every", "each", "some", "any", "no", "his", "her", "so", "if",
    "when", "while", "that", "until", "is", "are", "was", "were", "be", "been", "being", "am",
    "has", "have", "had", "will", "would", "shall", "should", "can", "could", "may", "might",
    "must", "does", "do", "did"}
# Words a title leaves in lower case ("Using the Paint Tools").
TITLE_MINOR = ALWAYS_DANGLING | OPEN_DANGLING | {"vs", "v"}
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
    "stop", "try", "turn", "type", "update", "use", "write"}

# A line this short without a sentence end names an option or a menu item ("Work on copy",
# "Crop to result"): a label, not a sentence.
LABEL_WORDS = 3

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
                         r"\s*:\s+\S")
_PARTICIPLE_LEAD = re.compile(r"^\W*[A-Z][a-z]+ed (?:by|from|in|on|for|with|to|as)\b")
_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"))


def incomplete_reason(text: str, finite_verb: bool | None = None) -> str | None:
    """The reason a sentence is a fragment, or None when it reads as complete. `finite_verb`
    (from the parse; None: not parsed) says whether it has a clause of its own: a line with
    neither a finite verb nor a sentence end is a heading or a caption ("Managing the XMPP
    server"), a sentence without one that opens with a participle a phrase ("Referenced by
    parse().")."""
    stripped = text.strip()
    if not stripped:
        return None
    ends_sentence = bool(_SENTENCE_END.search(stripped))
    if _MARKDOWN_HEADING.match(stripped):
        return HEADING
    if stripped.rstrip(_CLOSERS + " ").endswith(":"):
        return ENDS_IN_COLON
    if _unbalanced(stripped):
        return UNBALANCED
    if stripped.endswith((",", ";")) or (not ends_sentence and (
            _DEFINITION.match(stripped) or (_LIST_MARKER.match(stripped)
                                            and len(stripped.split()) <= LIST_STUB_WORDS))):
        return LIST_STUB
    if not ends_sentence and (_title_case(stripped) or _LABEL.match(stripped)
                              or (finite_verb is False and not _instruction(stripped))
                              or len(stripped.split()) <= LABEL_WORDS):
        return HEADING
    last = stripped.split()[-1].rstrip(".!?…" + _CLOSERS).lower()
    if last in ALWAYS_DANGLING or (last in OPEN_DANGLING and not ends_sentence):
        return DANGLING_WORD
    # The parse's tags are unreliable on technical prose ("prints", "Returns" tagged as
    # nouns), so a sentence without a finite verb is a fragment only when it opens with a
    # participle phrase: "Referenced by parse().", "(Contributed by Larry Hastings.)"
    if finite_verb is False and _PARTICIPLE_LEAD.match(stripped):
        return NO_FINITE_VERB
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


def _instruction(text: str) -> bool:
    """A step that opens with an imperative verb ("Install the selected services")."""
    words = _WORD.findall(_LIST_MARKER.sub("", text, count=1))
    return len(words) >= 2 and words[0].lower() in IMPERATIVE_VERBS


def _title_case(text: str) -> bool:
    """Every word but the minor ones capitalised, and at least two words that count."""
    words = _WORD.findall(text)
    major = [w for w in words if w.lower() not in TITLE_MINOR or w == words[0]]
    return len(words) >= 2 and len(major) >= 2 and all(w[0].isupper() for w in major)

