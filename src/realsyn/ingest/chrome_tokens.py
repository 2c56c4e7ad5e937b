"""Page chrome named by class and id tokens, decided per token, not by substring.

A class attribute is a set of whitespace-separated tokens; an id is one token. A token is split
into words at `-` and `_` (BEM's `__` and `--` included), and it names page chrome when a chrome
word is its head: the token is the chrome word (`footer`, `nav`, `docnav`), optionally after at
most two modifiers (`site-footer`, `this-page-menu`, `social-share`) and followed only by
structural words (`nav-item-1`, `menu-wrapper`, `footer__inner`, `share-buttons`). A chrome word
followed by any other word is a thing *about* it, and content: `share-price`,
`navigation-example`, `footer-note`, `cookie-objects`, `toc-backref` (Sphinx's heading link).
Modifiers are not function words: ids that slug a heading (`editing-and-navigation`,
`how-do-i-share-global-variables`) are sections of prose.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# reason -> its chrome words ("nav" also ends or starts a glued word: "docnav", "navheader").
CHROME_WORDS: dict[str, frozenset[str]] = {
    "boilerplate_nav": frozenset({
        "nav", "navbar", "navigation", "navheader", "navfooter", "navmenu", "navlinks", "menu",
        "menubar", "skiplink", "skiplinks"}),
    "boilerplate_breadcrumbs": frozenset({"breadcrumb", "breadcrumbs"}),
    "boilerplate_toc": frozenset({"toc", "toctree"}),
    "boilerplate_footer": frozenset({"footer"}),
    "boilerplate_banner": frozenset({
        "banner", "cookie", "cookies", "share", "sharing", "social", "advert", "adverts",
        "advertisement", "ads"}),
}
# Chrome names of several words (as word tuples), by reason.
CHROME_PHRASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "boilerplate_nav": (("skip", "link"), ("skip", "links"), ("skip", "to", "content")),
    "boilerplate_toc": (("table", "of", "contents"), *(
        ("list", "of", kind) for kind in (
            "figures", "tables", "examples", "equations", "procedures"))),
}
# A glued nav word: "docnav", "topnav", "sidenav" (but not "unavailable": nav must end it).
GLUED_NAV = re.compile(r"[a-z]{1,8}nav")
# Words that name a part, state or position of the chrome element, not a new thing.
STRUCTURAL_WORDS = frozenset({
    "wrapper", "wrap", "container", "content", "contents", "inner", "outer", "item", "items",
    "list", "links", "link", "bar", "area", "box", "block", "region", "section", "widget",
    "menu", "buttons", "button", "icons", "icon", "logo", "title", "top", "bottom", "left",
    "right", "main", "primary", "secondary", "global", "mobile", "desktop", "active",
    "current", "open", "fixed", "sticky", "expanded", "collapsed", "this", "holder", "panel",
    "row", "col", "nav", "footer", "header", "toggle", "bg", "text", "label"})
# Words of a sentence, not of a class name: ids that slug a heading hold them.
FUNCTION_WORDS = frozenset({
    "a", "an", "and", "or", "of", "the", "to", "in", "on", "for", "with", "how", "do", "does",
    "i", "is", "are", "what", "why", "my", "your", "by", "from", "at", "as", "into", "can"})
MAX_MODIFIERS = 2
_WORD_SPLIT = re.compile(r"[-_]+")


def _is_chrome_word(word: str, reason: str) -> bool:
    return word in CHROME_WORDS[reason] or (
        reason == "boilerplate_nav" and GLUED_NAV.fullmatch(word) is not None)


def _head_length(words: list[str], start: int, reason: str) -> int:
    """How many words a chrome name of `reason` starting at `start` spans (0: none)."""
    for phrase in CHROME_PHRASES.get(reason, ()):
        if tuple(words[start:start + len(phrase)]) == phrase:
            return len(phrase)
    return 1 if _is_chrome_word(words[start], reason) else 0


def _words(token: str) -> list[str]:
    return [word for word in _WORD_SPLIT.split(token.lower()) if word]


def _headed_by(words: list[str], head_length: Callable[[int], int]) -> bool:
    """Whether a head (`head_length(start)` words long) comes after at most MAX_MODIFIERS
    modifiers that are no function words, and only structural words follow it."""
    if len(words) > MAX_MODIFIERS + 4:
        return False
    for start in range(min(MAX_MODIFIERS + 1, len(words))):
        if start and words[start - 1] in FUNCTION_WORDS:
            return False
        length = head_length(start)
        if length and all(word in STRUCTURAL_WORDS or word.isdigit()
                          for word in words[start + length:]):
            return True
    return False


def token_reason(token: str) -> str | None:
    """The boilerplate reason a class or id token names, or None when it is no chrome."""
    words = _words(token)
    for reason in CHROME_WORDS:
        if _headed_by(words, lambda start, reason=reason: _head_length(words, start, reason)):
            return reason
    return None


def names_reason(names: str) -> str | None:
    """The boilerplate reason of the first chrome token among whitespace-separated class and
    id tokens, or None."""
    for token in names.split():
        if reason := token_reason(token):
            return reason
    return None


def has_token(names: str, head: str) -> bool:
    """Whether a class attribute has a token headed by the word `head` (`sidebar`,
    `sidebar-left`, `page-sidebar`; not `sidebar-note`)."""
    for token in names.split():
        words = _words(token)
        if _headed_by(words, lambda start, words=words: int(words[start] == head)):
            return True
    return False
