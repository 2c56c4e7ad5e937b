"""XHTML served as HTML: a self-closed non-void element (`<iframe ... />`, `<script/>`,
`<title/>`) is no empty element to an HTML parser. Raw-text and RCDATA elements then swallowed
the rest of the page as their text (a Bootstrap site's navbar `<iframe .../>` emptied 64 of its
66 pages); the reader closes them before parsing."""

from __future__ import annotations

from collections import Counter

import pytest

from realsyn.ingest.html import PageLocation, close_self_closed, parse_page

MAIN = "Main prose the reader keeps"
AFTER = "Closing words after main"


def _texts(page: str) -> tuple[list[str], Counter[str]]:
    stats: Counter[str] = Counter()
    items, _ = parse_page(page, PageLocation(url="https://docs.example.org/page.html"), stats)
    return [item["text"] for item in items if item["kind"] == "text"], stats


def _page(head: str = "", navbar: str = "") -> str:
    return (f"<!DOCTYPE html><html><head>{head}</head><body>"
            f"<nav class='navbar'><a href='/'>Home</a>{navbar}</nav>"
            f"<main><p>{MAIN}</p></main><p>{AFTER}</p></body></html>")


# Raw-text (script, style, iframe, noembed, noframes, xmp; noscript with scripting on) and
# escapable raw-text (textarea, title) elements, written self-closed where pages put them.
SELF_CLOSED_CASES = {
    "iframe": _page(navbar='<iframe src="https://github.com/sponsors/x/button" height="35" />'),
    "script_in_body": _page(navbar='<script src="menu.js"/>'),
    "script_in_head": _page(head='<script type="text/javascript" src="jquery.js"/>'),
    "style": _page(head='<style type="text/css"/>'),
    "style_in_body": _page(navbar="<style/>"),
    "textarea": _page(navbar='<textarea name="q" rows="1"/>'),
    "title": _page(head="<title/>"),
    "noscript": _page(navbar="<noscript/>"),
    "noscript_holding_iframe": _page(
        navbar='<noscript><iframe src="https://tags.example.org/ns.html" height="0" /></noscript>'),
    "xmp": _page(navbar="<xmp/>"),
    "noembed": _page(navbar="<noembed/>"),
    "noframes": _page(navbar="<noframes/>"),
    "uppercase_no_space": _page(navbar="<IFRAME SRC=x.html/>"),
}


@pytest.mark.parametrize("case", sorted(SELF_CLOSED_CASES))
def test_self_closed_raw_text_element_keeps_the_page(case):
    texts, stats = _texts(SELF_CLOSED_CASES[case])
    assert texts == [MAIN, AFTER]
    assert stats["pages_self_closed_tags_closed"] == 1


# Other XHTML serialisations: a self-closed element that takes in its following siblings.
XHTML_CASES = {
    # An icon hidden from screen readers (Font Awesome, Bootstrap's navbar-toggler-icon).
    "hidden_icon": f'<p><i class="fa fa-info" aria-hidden="true"/>{MAIN}</p>',
    "nav_class_span": f'<p><span class="nav-icon"/>{MAIN}</p>',
    "button": f'<div><button class="copy"/><p>{MAIN}</p></div>',
}


@pytest.mark.parametrize("case", sorted(XHTML_CASES))
def test_xhtml_self_closed_element_does_not_take_in_its_siblings(case):
    page = ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML '
            '1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n<html xmlns='
            '"http://www.w3.org/1999/xhtml"><head><title>t</title></head><body>'
            f"{XHTML_CASES[case]}<p>{AFTER}</p></body></html>")
    texts, _ = _texts(page)
    assert texts == [MAIN, AFTER]


# close_self_closed itself: input -> (output, closed).
CLOSING = {
    "void_left_alone": ("<br/><img src=a.png /><hr/>", ("<br/><img src=a.png /><hr/>", 0)),
    "closed": ("<iframe src=x />", ("<iframe src=x /></iframe>", 1)),
    "name_case_kept": ("<IFrame/>", ("<IFrame/></IFrame>", 1)),
    "unquoted_slash_kept": ("<a href=/>x", ("<a href=/></a>x", 1)),
    # An end tag already there (spaces between): a second one would close the parent.
    "already_closed": ("<div><p/> </p>x</div>", ("<div><p/> </p>x</div>", 0)),
    "other_end_tag_next": ("<div><p/></div>", ("<div><p/></p></div>", 1)),
    # SVG's self-closing is honoured by parsers; its end tag changes nothing.
    "svg": ('<svg><path d="M0"/></svg>', ('<svg><path d="M0"/></path></svg>', 1)),
    # The text of raw-text elements and comments is no markup.
    "script_text": ('<script>s = "<i/>";</script><b/>',
                    ('<script>s = "<i/>";</script><b/></b>', 1)),
    "script_end_tag_case": ("<SCRIPT>a<i/></Script ><i/>", ("<SCRIPT>a<i/></Script ><i/></i>", 1)),
    "title_text": ("<title>a <b/> c</title><b/>", ("<title>a <b/> c</title><b/></b>", 1)),
    "comment": ("<!-- <i/> --><u/>", ("<!-- <i/> --><u/></u>", 1)),
    "empty_comment": ("<!--><i/>", ("<!--><i/></i>", 1)),
    "unclosed_comment": ("<!-- <i/>", ("<!-- <i/>", 0)),
    "unclosed_raw_text": ("<script>a <i/>", ("<script>a <i/>", 0)),
    "script_prefix_is_no_script": ("<scripts/><i/>", ("<scripts/></scripts><i/></i>", 2)),
    # lexbor parses <noscript> content as markup (scripting off): its iframe must be closed.
    "noscript_content": ("<noscript><iframe/></noscript>",
                         ("<noscript><iframe/></iframe></noscript>", 1)),
    "no_self_closed_tag": ("<p>a</p>", ("<p>a</p>", 0)),
}


@pytest.mark.parametrize("case", sorted(CLOSING))
def test_close_self_closed(case):
    page, expected = CLOSING[case]
    assert close_self_closed(page) == expected
