"""The completeness filter (beyond the paper): fragments that pass the paper's sentence filters
are dropped, each with its own reason, in the funnel and in excluded/ (issue 25, part 3)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.extract.completeness import (
    DANGLING_WORD,
    ENDS_IN_COLON,
    HEADING,
    LIST_STUB,
    NO_FINITE_VERB,
    NOUN_PHRASE,
    SUBORDINATE_CLAUSE,
    UNBALANCED,
    incomplete_reason,
)
from realsyn.extract.stages import ExtractSentencesStage
from realsyn.records import TEXT_SCHEMA, text_id
from realsyn.stage import Context
from realsyn.workspace import Workspace

# Fragments the issue found as text1 or among retrieved texts, and one of each other kind.
FRAGMENTS = {
    "This 3D effect is achieved by": DANGLING_WORD,
    "Select the layer, then click on the": DANGLING_WORD,
    "Drag the slider and.": DANGLING_WORD,
    "We get following image :": ENDS_IN_COLON,
    "The module defines the following constants:": ENDS_IN_COLON,
    "What It Does": HEADING,
    "## Do you like the _Black_ code style?": HEADING,  # Markdown left raw in the HTML
    "GOING FURTHER Protecting against upstream changes": HEADING,
    "Work on copy": HEADING,  # an option's label, text1 of three demo images before
    "You can observe the scene \"": UNBALANCED,
    "The tool (see the options opens a dialog.": UNBALANCED,
    "Debian GIS, which takes care of Geographical Information Systems applications;": LIST_STUB,
    "1. Brush Options": LIST_STUB,
    "Referenced by Json::parseFromStream().": NO_FINITE_VERB,
    # definition-list items: a code-like term, a colon, a description, no sentence end
    "exclude_tags: a set of tag names that should not be serialised": LIST_STUB,
    "'mutex+cond': a lock uses a mutex and a condition variable": LIST_STUB,
    "KERNEL: the name that the kernel assigns to the device": LIST_STUB,
}
COMPLETE = [
    "Our old tabby cat spent the whole afternoon sleeping on the warm windowsill.",
    "The barista poured a double espresso into a small white porcelain cup.",
    "A vintage red convertible was shown at the classic car exhibition.",
    "Tiny beetles such as ladybirds help gardeners by eating aphids on the flowers.",
    "A dog sitting next to a door.",  # the paper's own example: verbless, kept
    "This is the layer the filter is applied to.",  # a stranded preposition ends a sentence
    "Click OK to close the dialog",  # a step without a full stop
    "1. Open the image you want to crop",
    "Install the selected services",  # a step: longer than a label
    "The command runs in the background if it is followed by a “&”.",
    "Most operations can fail for a variety of reasons.)",  # closes an earlier sentence's (
    "You may override this with the setting logging_level (which is set to a level name.)",
    "Use the Clone tool (or the Heal tool) to remove the spot.",
]


@pytest.mark.parametrize(("text", "reason"), FRAGMENTS.items())
def test_fragments_are_dropped_with_their_reason(text, reason):
    finite = reason not in (HEADING, NO_FINITE_VERB)  # what the parse says of them
    assert incomplete_reason(text, finite) == reason


@pytest.mark.parametrize("text", COMPLETE)
def test_complete_sentences_are_kept(text):
    assert incomplete_reason(text, True) is None
    if text.endswith((".", ")")):  # a tagger that misses the verb does not drop a sentence
        assert incomplete_reason(text, False) is None


# Instructions without a full stop whose verb the small parser tags as a noun (it says "no
# finite verb"): a step, not a heading, unless in title case.
INSTRUCTIONS = [
    "Use Futurize (or Modernize) to update your code (e.g. python -m pip install future)",
    "Open files using io.open() and make sure to specify the b mode when appropriate",
    "Continue the process if it is currently stopped",
    "- Select the layer you want to move",
]


@pytest.mark.parametrize("text", INSTRUCTIONS)
def test_an_instruction_the_parser_misreads_is_kept(text):
    assert incomplete_reason(text, False) is None


def test_a_title_or_a_caption_label_is_not_an_instruction_or_a_definition():
    assert incomplete_reason("Use the Clone Tool", False) == HEADING  # title case
    assert incomplete_reason("Managing the XMPP server", False) == HEADING
    # a caption with a capitalised label is not a definition-list item
    assert incomplete_reason("Photo: a red car parked in front of the station", True) is None


# Rules of the fourth round (written on the tuned sets' misses), each with what it must keep.
def test_a_gerund_line_without_a_sentence_end_is_a_heading_or_a_list_item():
    for text in ("Passing a URL to an external resource that should be used in the tests",
                 "Automating those examples to provide quick feedback and regression testing",
                 "- Configuring the proxy for the build machine"):
        for finite in (True, False):  # a relative clause's verb does not make it a sentence
            assert incomplete_reason(text, finite) == HEADING, text
    # a gerund before a comma opens an adverbial; a full stop ends a sentence whose verb the
    # parser may miss; words in -ing that are not gerunds
    for text, finite in (("Depending on the platform, not all files are compiled", True),
                         ("Pressing the Shift key toggles between all components.", False),
                         ("Nothing is copied to the target directory", True),
                         ("During the upgrade the server restarts twice", True),
                         ("Starting or stopping a connection is always possible.", True)):
        assert incomplete_reason(text, finite) is None, text


def test_a_question_without_a_finite_verb_is_a_heading():
    assert incomplete_reason("Developing a library?", False) == HEADING
    assert incomplete_reason("Why not a plain dictionary?", False) == HEADING
    assert incomplete_reason("Does the loop stop when the file is closed?", True) is None
    assert incomplete_reason("When does the event loop stop?", True) is None


def test_a_subordinate_clause_without_its_main_clause():
    alone = ["If logging capture is enabled.", "When the buffer is full",
             "Whether the server accepts compressed requests.",
             "Because the file was renamed during the upgrade."]
    for text in alone:
        assert incomplete_reason(text, True) == SUBORDINATE_CLAUSE, text  # no parse given
        assert incomplete_reason(text, True, True) == SUBORDINATE_CLAUSE, text
        assert incomplete_reason(text, True, False) is None, text  # the parse found a main clause
    # a literal value and a condition: a flag's description, with or without a comma
    assert incomplete_reason("true if numeric object keys are allowed.", True) == (
        SUBORDINATE_CLAUSE)
    assert incomplete_reason("True if the path exists, False otherwise.", True, False) == (
        SUBORDINATE_CLAUSE)
    for text in ("If logging capture is enabled then this attribute holds the captured log.",
                 "If the file exists, it is overwritten.",
                 "If you have many channels this can make them easier to identify.",  # 2 aux
                 "When does the event loop stop?",  # a question
                 "Although rarely needed; the option is kept for compatibility."):
        assert incomplete_reason(text, True, True) is None, text


def test_a_short_clause_is_not_a_label():
    assert incomplete_reason("pip is installed", True) is None  # subject and auxiliary
    assert incomplete_reason("Work on copy", True) == HEADING
    assert incomplete_reason("Crop to result", False) == HEADING


def test_a_stranded_preposition_after_a_wh_word_and_adverbs_at_the_end():
    assert incomplete_reason("identify what type and categories the issue falls under",
                             True) is None
    assert incomplete_reason("resolve option conflicts intelligently (see below)", False) is None
    assert incomplete_reason("the options described above are ignored", True) is None
    # without a wh-word the preposition still dangles, and an auxiliary always does
    assert incomplete_reason("This 3D effect is achieved by", True) == DANGLING_WORD
    assert incomplete_reason("use rpm --version to find out which version you have",
                             True) == DANGLING_WORD
    # "the following" leads in to a list, like a colon
    assert incomplete_reason("Additionally, users can run one of the following", True) == (
        DANGLING_WORD)
    assert incomplete_reason("The changes following the release are listed.", True) is None


def test_a_definition_with_a_dash_and_a_labelled_step():
    assert incomplete_reason("filetypes - a sequence of (label, pattern) tuples", True) == (
        LIST_STUB)
    assert incomplete_reason("timeout – how long to wait for the server", True) == LIST_STUB
    assert incomplete_reason("bpo-7652 - integrate fast native decimal arithmetic.", True) is None
    # a label, a colon and an instruction whose verb the parser misreads is a step
    assert incomplete_reason("Explicit: set detect_types to PARSE_COLNAMES", False) is None
    assert incomplete_reason("Explicit: the detect_types option", False) == HEADING


# Rules of the fifth round (written on the Requests + Sphinx set's misses), each with what it
# must keep.
def test_a_noun_with_a_relative_clause_and_no_main_clause_describes_a_value():
    for text in ("A regular expression that matches a URI.",
                 "The command name to invoke dvipng.",
                 "Language to be used for generating the HTML full-text search index."):
        assert incomplete_reason(text, True, False, False, True) == NOUN_PHRASE, text
    # a comma outside brackets sets off a clause the parse may have missed; an opening
    # imperative is a step; without the parse's fact nothing changes
    for text, relative in (("single acts as a counterpart, and leads to a package that is "
                            "dependent on the architecture.", True),
                           ("Use array.tobytes() to obtain a string that holds the bytes.", True),
                           ("Print list of available compilers (used by the build options).",
                            True),
                           ("A regular expression that matches a URI.", None)):
        assert incomplete_reason(text, True, False, False, relative) is None, text


@pytest.fixture(scope="module")
def parse():
    from realsyn.config import SentenceFilterConfig
    from realsyn.extract.sentences import analyse, load_parser

    nlp = load_parser(SentenceFilterConfig().spacy_model)
    return lambda text: analyse(nlp(text))


def test_the_parse_finds_a_noun_with_a_relative_clause_and_not_a_misread_verb(parse):
    for text in ("The command name to invoke dvipng.", "A regular expression that matches a URI.",
                 "A simple way to update a specific setting."):
        facts = parse(text)
        assert facts.relative_noun and not facts.main_clause, text
    # complete sentences whose verb the tagger misreads: a third-person verb as a plural noun,
    # a verb in a prepositional phrase, an imperative as a noun; and the paper's caption
    for text in ("The Linear Motion Blur filter blurs in a direction that you can set.",
                 "This slider selects which colors will be treated as gray.",
                 "A click on the color button displays the GIMP color selector where you can "
                 "change the mask color.",
                 "Click-and-drag the midpoint line to move it.",
                 "A dog sitting next to a door.",
                 "The filter applies the mask that you chose."):
        assert not parse(text).relative_noun, text
    assert parse("#4664: Reading objects.inv fails again").main_clause
    assert not parse("Passing a URL to an external resource that should be used").main_clause


def test_a_when_clause_alone_is_subordinate_in_the_parse(parse):
    # the parser makes "when" an adverb of the root, not a mark (text1 of a demo image)
    facts = parse("When you activate the first button")
    assert facts.subordinate
    assert incomplete_reason("When you activate the first button", facts.finite_verb,
                             facts.subordinate, facts.main_clause, facts.relative_noun) == (
        SUBORDINATE_CLAUSE)
    # "once" opens a condition the same way ("Once you have selected your subject", text1 of a
    # demo image); with its main clause after a comma it is a sentence
    facts = parse("Once you have selected your subject")
    assert incomplete_reason("Once you have selected your subject", facts.finite_verb,
                             facts.subordinate, facts.main_clause, facts.relative_noun) == (
        SUBORDINATE_CLAUSE)
    for text in ("When you click, the dialog opens.", "When does the event loop stop?",
                 "Once QuickMask has been activated, the image is covered by a red veil.",
                 "Where the file is stored depends on the platform."):
        facts = parse(text)
        assert incomplete_reason(text, facts.finite_verb, facts.subordinate, facts.main_clause,
                                 facts.relative_noun) is None, text


def test_a_main_clause_a_changelog_label_and_a_permalink():
    # a gerund subject of a main clause is a sentence, not a heading
    assert incomplete_reason("#4664: Reading objects.inv fails again", True, False, True) is None
    assert incomplete_reason("Passing a URL to an external resource that should be used", True,
                             False, False) == HEADING
    # a changelog entry: labels before an imperative the parser misreads
    assert incomplete_reason("#6816: linkcheck: Add linkcheck_auth option to provide "
                             "authentication information", False) is None
    assert incomplete_reason("#6816: linkcheck: the linkcheck_auth option", False) == HEADING
    # a permalink sign ends a heading
    assert incomplete_reason("Release 1.5.5 (released Apr 03, 2017)¶", True) == HEADING
    # a definition item without a main clause is one even with a full stop
    text = "stream – (optional) whether to immediately download the response content."
    assert incomplete_reason(text, False, False, False) == LIST_STUB
    assert incomplete_reason("bpo-7652 - integrate fast native decimal arithmetic.", True,
                             False, True) is None


# Rules of the sixth round (written on the Texinfo + MkDocs set's misses), each with what it
# must keep; the facts are the parse's.
def _reason(parse, text: str) -> str | None:
    facts = parse(text)
    return incomplete_reason(text, *facts.completeness_facts)


def test_a_line_that_opens_with_a_comma_is_the_rest_of_a_cut_clause(parse):
    for text in ("—, uses a C# specific message catalog format",
                 ", which the parser reads before the options."):
        assert _reason(parse, text) == LIST_STUB, text
    assert _reason(parse, "— the parser reads the options first.") is None


def test_a_code_like_term_glued_to_its_description_is_a_definition_item(parse):
    assert _reason(parse, "eval_gettext See Invoking the eval_gettext function.") == LIST_STUB
    for text in ("os.path handles the paths of the platform.",
                 "The eval_gettext function is described in Invoking eval_gettext."):
        assert _reason(parse, text) is None, text


def test_a_changelog_entry_that_cites_its_issue_is_not_a_heading(parse):
    for text in ("Bugfix: Include jQuery locally to avoid problems using MkDocs offline. (#143)",
                 "Tweaked logic for handling ConfigOption.default (#2938)",
                 "Fix SubConfig to not leak values across different instances (#2916, #2290)"):
        assert _reason(parse, text) is None, text
    # without its citation the same line is a heading; a citation does not hide a colon
    assert _reason(parse, "Tweaked logic for handling ConfigOption.default") == HEADING
    assert _reason(parse, "The following options were added (#2938):") == ENDS_IN_COLON


def test_a_label_with_an_aside_and_a_definition_that_is_a_step(parse):
    text = "Bugfix (regression in 1.2): Revert livereload file watching to use polling observer"
    assert _reason(parse, text) is None
    assert _reason(parse, "build: Build the MkDocs documentation") is None
    # a description that is not an imperative, or a term that is a verb, is still an item
    for text in ("build: the MkDocs documentation", "set: a set of tag names to exclude"):
        assert _reason(parse, text) == LIST_STUB, text


# Rules of the seventh round (written on the AsciiDoc + groff set's misses, and on what the
# earlier sets still missed), each with what it must keep; the facts are the parse's.
def test_a_list_markers_bracket_and_a_subordinate_clause_before_a_comma(parse):
    for text in ("11) multiply the result by the number of commits in the filtered list to "
                 "get an index into this list",
                 "When creating files, prepend <string> (usually a directory including a "
                 "trailing /)"):
        assert _reason(parse, text) is None, text
    assert _reason(parse, "11) the result (of the filtered list") == UNBALANCED
    assert _reason(parse, "Managing the XMPP server") == HEADING  # a gerund takes no object


def test_a_lead_in_glued_to_its_lists_first_items(parse):
    for text in ("The formats currently understood by the Linux kernel include: AF_UNIX, "
                 "AF_LOCAL",
                 "type indicates the protocol of the header and can be one of: BPF_LWT_ENCAP"):
        assert _reason(parse, text) == ENDS_IN_COLON, text
    # a colon inside brackets, a label before a step and a caption are no lead-in
    for text in ("latex: hint that code-block continues on next page (refs: #3764, #3792)",
                 "Photo: a red car parked in front of the station"):
        assert _reason(parse, text) != ENDS_IN_COLON, text


def test_a_constant_before_a_condition_describes_a_value(parse):
    assert _reason(parse, "-ENOENT if architecture does not support branch records.") == (
        SUBORDINATE_CLAUSE)
    assert _reason(parse, "If the architecture does not support it, ENOENT is returned.") is None


def test_a_command_and_its_summary_is_a_step_when_the_summary_is_a_clause(parse):
    for text in ("git-fetch-pack - Receive missing objects from another repository",
                 "git-hash-object - Compute object ID and optionally creates a blob from a file"):
        assert _reason(parse, text) is None, text
    # a lower-case summary, or one that opens with a function word, is a term's description
    for text in ("path_resolution - how a pathname is resolved to a file",
                 "override – If true, install the node forcedly even if another node is "
                 "already installed as the same name"):
        assert _reason(parse, text) == LIST_STUB, text


def test_a_noun_described_by_a_past_participle_is_a_noun_phrase(parse):
    for text in ("The name of the first branch created in newly initialized repositories.",
                 "Exceptions thrown by JSON_ASSERT/JSON_FAIL macros."):
        assert _reason(parse, text) == NOUN_PHRASE, text
    # a past tense read as a participle, a verb read as a plural noun, a present participle
    for text in ("A woodpecker tapped loudly on the trunk of the dead pine tree.",
                 "Returns the string obtained by replacing the leftmost occurrences of the RE.",
                 "A dog sitting next to a door."):
        assert _reason(parse, text) is None, text



# Rules of the ninth round (written on the gtk-doc + qdoc set's misses and every tuned set's),
# each with the complete sentences it must keep.
def test_the_parse_reads_no_main_clause_in_a_misread_root(parse):
    # a literal value read as a verb, a noun and its infinitive, a plain-form verb whose
    # subject is a singular noun (a tensed verb would agree with it)
    for text in ("the clone if the object implements Cloneable otherwise null",
                 "a GTimeVal to modify",
                 "the source name of a test to run, a reference to a [ source name, display "
                 "name ] array"):
        assert not parse(text).main_clause, text
    # a plural subject agrees; a label before a colon is no subject; without a determiner the
    # first words may be an imperative read as a noun; a tensed auxiliary makes a clause
    for text in ("Only the first call initializes the object; further calls return the result "
                 "of the first call.",
                 "#8245: linkcheck: take source directory into account for local files",
                 "switch color to blue",
                 "Configure builders to create readers and writers.",
                 "the usual gtk_frobber_get_type() function is declared with a return type of "
                 "GType"):
        assert parse(text).main_clause, text


def test_a_noun_and_its_infinitive_is_a_noun_phrase(parse):
    # with a capital and a full stop the fact alone drops it (a relative noun)
    text = "The byte to prepend on the start of the GString."
    assert parse(text).relative_noun and _reason(parse, text) == NOUN_PHRASE
    for text in ("Configure builders to create readers and writers.", "switch color to blue",
                 "Append value to array at the end."):
        assert _reason(parse, text) is None, text



def test_a_misread_noun_compound_and_its_relative_clause_is_a_noun_phrase(parse):
    # "function" read as a verb that disagrees with "step" right before it: the compound's
    # head noun, and the clause hung on it is its relative clause
    text = "The step function the pattern is being attached to."
    assert parse(text).relative_noun and _reason(parse, text) == NOUN_PHRASE
    # a verb that disagrees with its subject in the source, with an object and no clause
    assert _reason(parse, "#904: autodoc: An instance attribute cause a crash of autofunction "
                          "directive") is None

def test_a_line_that_opens_with_a_lower_case_determiner_and_no_main_clause_is_a_value(
        parse):
    for text in ("the value of symbol in the given scope, or NULL if symbol is not bound in the "
                 "given scope.",
                 "a GSocketAddress (owned by the caller), or NULL on error (in which case *error "
                 "will be set) or if there are no more addresses.",
                 "the byte to prepend on the start of the GString",
                 "a GTimeVal to modify",
                 "the clone if the object implements Cloneable otherwise null",
                 "this if the power is one, ONE if the power is zero (even if the fraction "
                 "equals ZERO) or a new fraction instance raised to the appropriate power",
                 "the command that MkDocs was invoked with, e.g. \"serve\" for mkdocs serve.",
                 "the source name of a test to run, a reference to a [ source name, display "
                 "name ] array"):
        assert _reason(parse, text) == NOUN_PHRASE, text
    # a clause cut from its capital, and lines without the parse's facts, are kept
    for text in ("an EAGAIN error occurred",
                 "the usual gtk_frobber_get_type() function is declared with a return type of "
                 "GType",
                 "the tool works on the active layer.",
                 "this fixes an optimistic use of gethostbyname"):
        assert _reason(parse, text) is None, text
    assert incomplete_reason("a GTimeVal to modify", True) is None


def test_a_short_name_a_dash_and_an_article_is_a_definition_item(parse):
    assert _reason(parse, "Bounds-checking integer arithmetic — a set of helpers for "
                          "performing checked integer arithmetic") == LIST_STUB
    # a predicate after the dash, a clause after it, a longer clause before it
    for text in ("The Main Event Loop — manages all available sources of events",
                 "Sunset — the sky turns orange over the harbour.",
                 "Our old tabby cat slept on the sofa — a long nap"):
        assert _reason(parse, text) is None, text


def _context(root, completeness: bool) -> Context:
    config = parse_config({"workspace": str(root), "extract": {"sentences": {
        "perplexity_scorer": "none", "keep_excluded": True, "completeness": completeness}}})
    workspace = Workspace(config.workspace)
    texts = [
        "Our old tabby cat spent the whole afternoon sleeping on the warm windowsill.\n"
        "This 3D effect is achieved by\n"
        "The filter applies the mask to the layers of the image:\n"
        "You can observe the scene \"\n"
        "If logging capture is enabled.\n"
        "Using the Paint Tools",
        "The barista poured a double espresso into a small white porcelain cup.\n"
        "The brush draws soft lines on the canvas,\n"
        "The command name to invoke the external image converter.",
    ]
    rows = [{"text_id": text_id(f"doc-{i}", 0), "doc_id": f"doc-{i}", "position": 0,
             "text": text} for i, text in enumerate(texts)]
    workspace.write_table("texts", "00000", pa.Table.from_pylist(rows, schema=TEXT_SCHEMA))
    return Context(config=config, workspace=workspace)


def test_the_stage_counts_each_reason_and_keeps_the_fragments_in_excluded(tmp_path):
    ctx = _context(tmp_path / "on", True)
    stats = LocalExecutor(workers=1).run(ExtractSentencesStage(), ctx)
    kept = ctx.workspace.read_dataset("sentences_filtered").column("text").to_pylist()
    assert kept == ["Our old tabby cat spent the whole afternoon sleeping on the warm windowsill.",
                    "The barista poured a double espresso into a small white porcelain cup."]
    assert stats[f"dropped_{DANGLING_WORD}"] == 1 and stats[f"dropped_{ENDS_IN_COLON}"] == 1
    assert stats[f"dropped_{UNBALANCED}"] == 1 and stats[f"dropped_{LIST_STUB}"] == 1
    assert stats[f"dropped_{HEADING}"] == 1 and stats[f"dropped_{SUBORDINATE_CLAUSE}"] == 1
    assert stats[f"dropped_{NOUN_PHRASE}"] == 1  # the parse's facts reach the filter
    excluded = ctx.workspace.read_dataset("excluded/extract_sentences").to_pylist()
    reasons = {row["text"]: row["reason"] for row in excluded}
    assert reasons["This 3D effect is achieved by"] == DANGLING_WORD
    assert reasons["The brush draws soft lines on the canvas,"] == LIST_STUB
    assert reasons["Using the Paint Tools"] == HEADING  # "using" + object: an action
    assert reasons["If logging capture is enabled."] == SUBORDINATE_CLAUSE  # the parse agrees


def test_one_switch_gives_the_papers_filters(tmp_path):
    ctx = _context(tmp_path / "off", False)
    stats = LocalExecutor(workers=1).run(ExtractSentencesStage(), ctx)
    kept = ctx.workspace.read_dataset("sentences_filtered").column("text").to_pylist()
    assert "This 3D effect is achieved by" in kept and len(kept) == 9  # every text line
    assert not any(key.startswith(f"dropped_{DANGLING_WORD}") for key in stats)


def test_a_parser_librarys_summary_opens_with_an_imperative(parse):
    """Haddock's function summaries open with "Parse" or "Abort", which the tagger reads as a
    noun or an adjective: a step, not a noun described by its clause (tenth round)."""
    assert _reason(parse, "Parse zero or more tokens for which the supplied predicate "
                          "holds.") is None


def _bench_module():
    """benchmarks/bench_completeness.py, which reads and measures the labelled sets."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module("bench_completeness")


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_completeness.py's reader and measure, and the parser they use."""
    from realsyn.config import SentenceFilterConfig
    from realsyn.extract.sentences import load_parser

    module = _bench_module()
    nlp = load_parser(SentenceFilterConfig().spacy_model)
    return lambda name: module.measure(module.read_set(name), nlp, module.read_kinds(name))


def test_the_goal_holds_on_held_out_docbook_sentences(bench):
    """On labelled sentences of The Debian Administrator's Handbook (DocBook) drawn after the
    rules were written: >= 95% of fragments dropped, <= 2% of complete sentences (issue 25's
    goal; the Sphinx and Doxygen figures, which miss it, are in docs/stages/extract.md)."""
    figures = bench("docbook_heldout")
    assert figures["F"]["count"] >= 30 and figures["C"]["count"] >= 40
    assert figures["F"]["rate"] >= 0.95 and figures["C"]["rate"] <= 0.02


def _together(bench, names: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """(fragments dropped, fragments) and (complete dropped, complete) over several sets."""
    figures = [bench(name) for name in names]
    return tuple([sum(f[label][key] for f in figures) for key in ("dropped", "count")]
                 for label in "FC")


def test_the_asciidoc_and_groff_sets_figures_since_they_were_tuned_on(bench):
    """The AsciiDoc + groff set was held out until the sixth round's measurement (67/82 =
    81.7% of fragments and 7/124 = 5.6% of complete sentences dropped, issue 25's goal not
    met); the seventh round was written on its misses, so these are tuned figures: 73/82 and
    2/124, each set at most 2% of complete sentences dropped."""
    fragments, complete = _together(bench, ("asciidoc", "groff"))
    assert fragments[1] == 82 and complete[1] == 124
    assert fragments[0] >= 73 and complete[0] <= 2


def test_the_pod_and_javadoc_sets_figures_since_they_were_tuned_on(bench):
    """The Perl POD + Javadoc set was held out until the seventh round's measurement (46/58 =
    79.3% of fragments and 2/120 = 1.7% of complete sentences dropped with two Javadoc labels
    corrected, issue 25's goal not met for fragments); the eighth round was written on its
    misses, so these are tuned figures: 52/58 and 1/120."""
    fragments, complete = _together(bench, ("pod", "javadoc"))
    assert fragments[1] == 58 and complete[1] == 120
    assert fragments[0] >= 52 and complete[0] <= 1


def test_the_gtkdoc_and_qdoc_sets_figures_since_they_were_tuned_on(bench):
    """The gtk-doc + qdoc set was held out until the eighth round's measurement (38/50 = 76.0%
    of fragments and 0/125 = 0.0% of complete sentences dropped, issue 25's goal not met for
    fragments); the ninth round was written on its misses, so these are tuned figures: 43/50
    and 0/125."""
    fragments, complete = _together(bench, ("gtkdoc", "qdoc"))
    assert fragments[1] == 50 and complete[1] == 125
    assert fragments[0] >= 43 and complete[0] <= 0


def test_the_haddock_and_gidocgen_sets_figures_since_they_were_tuned_on(bench):
    """The Haddock + gi-docgen set was held out until the ninth round's measurement (49/69 =
    71.0% of fragments and 2/134 = 1.5% of complete sentences dropped, issue 25's goal not met
    for fragments); the tenth round was written on it, so these are tuned figures: 49/69 and
    1/134."""
    fragments, complete = _together(bench, ("haddock", "gidocgen"))
    assert fragments[1] == 69 and complete[1] == 134
    assert fragments[0] >= 49 and complete[0] <= 1


def _listed_kinds_together(bench, names: tuple[str, ...]) -> list[int]:
    """[dropped, count] of the fragments of the kinds issue 25 lists, over several sets."""
    listed_and_phrases = _bench_module().listed_and_phrases
    pairs = [listed_and_phrases(bench(name)["F"]["kinds"])[0] for name in names]
    return [sum(pair[i] for pair in pairs) for i in (0, 1)]


@pytest.mark.xfail(strict=True, reason="measured once on the rustdoc + YARD held-out set after "
                   "the tenth round: 48/72 = 66.7% of fragments (28/37 = 75.7% of the kinds the "
                   "issue lists) and 4/194 = 2.1% of complete sentences dropped (rustdoc 16/21 "
                   "and 0/73, YARD 32/51 and 4/121)")
def test_the_goal_holds_on_the_rustdoc_and_yard_held_out_sets(bench):
    """Issue 25's goal (>= 95% of fragments dropped, <= 2% of complete sentences) on the set
    of two toolchains none of the rules was written on: the Rust standard library's reference
    (rustdoc) and the API documentation of Mocha and Cri (YARD), drawn, labelled and committed,
    and their fragments' kinds labelled and committed, before the tenth round ran on them. It
    fails on all fragments and on the kinds the issue lists alike."""
    fragments, complete = _together(bench, ("rustdoc", "yard"))
    listed = _listed_kinds_together(bench, ("rustdoc", "yard"))
    assert fragments[1] >= 60 and complete[1] >= 120 and listed[1] >= 30
    assert complete[0] / complete[1] <= 0.02
    assert listed[0] / listed[1] >= 0.95 or fragments[0] / fragments[1] >= 0.95


def test_every_fragment_of_every_set_has_one_kind():
    """The kinds file joins the sets on (set, sentence): one kind of the six for each F row,
    and no line for a sentence that is not an F row of its set."""
    module = _bench_module()
    lines = module.read_kind_rows()
    assert all(kind in (*module.LISTED_KINDS, module.PHRASE) for _, kind, _ in lines)
    labelled = {(name, sentence) for name, _, sentence in lines}
    assert len(labelled) == len(lines)
    fragments = {(name, text) for name in module.SETS for label, text in module.read_set(name)
                 if label == "F"}
    assert labelled == fragments


# Every labelled set's figures today (docs/stages/extract.md's table): (fragments dropped,
# fragments, complete sentences dropped, complete sentences). A rule that drops fewer
# fragments or more complete sentences on any set fails here.
FIGURES = {
    "docbook": (49, 50, 0, 61),
    "sphinx": (44, 46, 0, 59),
    "doxygen": (12, 14, 0, 27),
    "docbook_heldout": (35, 35, 0, 41),
    "sphinx_heldout": (27, 27, 0, 43),
    "doxygen_heldout": (15, 18, 0, 14),
    "sphinx_other": (35, 37, 0, 48),
    "sphinx_third": (35, 37, 0, 50),
    # drawn and labelled after the fourth round of rules, measured once (29/42 and 5/124),
    # then tuned on in the fifth round
    "sphinx_fourth": (40, 42, 2, 124),
    # two toolchains never used before, drawn and labelled after the fifth round and
    # measured once (issue 25's goal is not met on them: 40/46 and 0/58, 37/39 and 4/71),
    # then tuned on in the sixth round
    "texinfo": (43, 46, 0, 58),
    "mkdocs": (38, 39, 0, 71),
    # two more toolchains never used before, drawn and labelled (and committed) before the
    # sixth round ran on them, measured once after it (34/38 and 6/69, 33/44 and 1/55), then
    # tuned on in the seventh round
    "asciidoc": (35, 38, 1, 69),
    "groff": (38, 44, 1, 55),
    # two more toolchains never used before, drawn and labelled (and committed) before the
    # seventh round ran on them, measured once after it (25/29 and 1/64, 21/29 and 1/56 with
    # two Javadoc labels corrected), then tuned on in the eighth round
    "pod": (29, 29, 1, 64),
    "javadoc": (26, 29, 0, 56),
    # two more toolchains never used before, drawn and labelled (and committed) before the
    # eighth round ran on them, measured once after it (27/36 and 0/61, 11/14 and 0/64), then
    # tuned on in the ninth round
    "gtkdoc": (32, 36, 0, 61),
    "qdoc": (11, 14, 0, 64),
    # two more toolchains never used before, drawn and labelled (and committed) while the
    # ninth round was written on another branch, measured once after it (21/34 and 2/66,
    # 28/35 and 0/68), then tuned on in the tenth round
    "haddock": (21, 34, 1, 66),
    "gidocgen": (28, 35, 0, 68),
    # held out: two more toolchains never used before, drawn and labelled (and committed, with
    # their fragments' kinds) before the tenth round ran on them, measured once after it
    "rustdoc": (16, 21, 0, 73),
    "yard": (32, 51, 4, 121),
}


@pytest.mark.parametrize(("name", "expected"), FIGURES.items())
def test_the_figures_of_each_labelled_set_do_not_regress(bench, name, expected):
    fragments_dropped, fragments, complete_dropped, complete = expected
    figures = bench(name)
    assert (figures["F"]["count"], figures["C"]["count"]) == (fragments, complete)
    assert figures["F"]["dropped"] >= fragments_dropped, figures["F"]
    assert figures["C"]["dropped"] <= complete_dropped, figures["C"]


# Pathological lines for each pattern the rules scan: a label and a colon, a definition's dashes,
# a subordinate clause, a gerund, brackets and quotes, list markers.
LINEAR_PATTERNS = {"words": "a ", "colon": "a: ", "dash": "x - ", "quote": "'a' ", "dot": "a.",
                   "brackets": "( ", "wh": "what about ", "caps": "ABC ", "term": "a_",
                   "cite": "(#1, "}
LINEAR_LEADS = ("If ", "Explicit: set ", "Passing ", "- ", "x_")


@pytest.mark.parametrize("pattern", sorted(LINEAR_PATTERNS))
def test_the_rules_take_linear_time(pattern):
    from linear_time import MAX_RATIO, growth

    unit = LINEAR_PATTERNS[pattern]
    ratios = {lead: growth(lambda text: (incomplete_reason(text, True, True),
                                         incomplete_reason(text, False, None)),
                           lambda n, lead=lead: lead + unit * n + " end", 2_000)
              for lead in LINEAR_LEADS}
    assert max(ratios.values()) < MAX_RATIO, ratios
