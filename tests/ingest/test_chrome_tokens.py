"""Page chrome by class and id token, not by substring: a token names chrome when a chrome
word is its head; a chrome word followed by another noun names content about it."""

from __future__ import annotations

from collections import Counter

import pytest

from realsyn.ingest.chrome_tokens import token_reason
from realsyn.ingest.html import PageLocation, parse_page

# (token, reason or None). Chrome tokens as real toolchains and sites write them...
CHROME = [
    ("nav", "boilerplate_nav"), ("navbar", "boilerplate_nav"), ("docnav", "boilerplate_nav"),
    ("navheader", "boilerplate_nav"), ("navfooter", "boilerplate_nav"),
    ("mobile-nav", "boilerplate_nav"), ("nav-item-1", "boilerplate_nav"),
    ("this-page-menu", "boilerplate_nav"), ("menu-wrapper", "boilerplate_nav"),
    ("main-navigation", "boilerplate_nav"), ("nav__item--active", "boilerplate_nav"),
    ("skip-link", "boilerplate_nav"), ("NavBar", "boilerplate_nav"),
    ("breadcrumbs", "boilerplate_breadcrumbs"), ("breadcrumb-list", "boilerplate_breadcrumbs"),
    ("toc", "boilerplate_toc"), ("toctree-wrapper", "boilerplate_toc"),
    ("list-of-tables", "boilerplate_toc"), ("table-of-contents", "boilerplate_toc"),
    ("footer", "boilerplate_footer"), ("site-footer", "boilerplate_footer"),
    ("footer__inner", "boilerplate_footer"), ("footer-links", "boilerplate_footer"),
    ("banner", "boilerplate_banner"), ("cookie-banner", "boilerplate_banner"),
    ("social-share-buttons", "boilerplate_banner"), ("share", "boilerplate_banner"),
    ("ads", "boilerplate_banner"),
]
# ...and content tokens that merely contain a chrome word.
CONTENT = [
    "share-price", "navigation-example", "footer-note", "toc-backref", "cookie-objects",
    "cookie-jar-objects", "editing-and-navigation", "how-do-i-share-global-variables",
    "list-of-shell-programs", "unavailable", "canvas-wrapper", "adsense-policy", "menus",
    "footnote", "bannerman", "social-history", "share-of-votes", "sidebar", "header",
]


@pytest.mark.parametrize(("token", "reason"), CHROME + [(token, None) for token in CONTENT])
def test_a_token_names_chrome_only_when_a_chrome_word_is_its_head(token, reason):
    assert token_reason(token) == reason


def test_prose_in_elements_whose_class_contains_a_chrome_word_is_kept():
    page = """<html><body>
      <nav class="site-nav"><a href="/">Home</a> <a href="/markets">Markets</a></nav>
      <article>
        <h1>Quarterly results</h1>
        <div class="share-price"><p>The share price rose four percent after the results.</p></div>
        <div class="navigation-example"><p>This example shows how ships navigate by stars.</p>
        </div>
        <p>Body prose of the article.</p>
        <footer class="footer-note"><p>Figures are unaudited and may change.</p></footer>
        <div class="social-share"><a href="/s">Share on a network</a></div>
      </article>
      <div id="cookie-banner"><p>We use cookies to improve this site.</p></div>
      <div class="site-footer"><p>Copyright notice words</p></div>
    </body></html>"""
    stats: Counter[str] = Counter()
    items, _ = parse_page(page, PageLocation(url="https://news.example/q3.html"), stats)
    assert [item["text"] for item in items] == [
        "Quarterly results", "The share price rose four percent after the results.",
        "This example shows how ships navigate by stars.", "Body prose of the article.",
        "Figures are unaudited and may change."]
    removed = {key: value for key, value in stats.items() if key.startswith("words_removed_")}
    assert removed == {"words_removed_boilerplate_nav": 2,
                       "words_removed_boilerplate_banner": 4 + 7,
                       "words_removed_boilerplate_footer": 3}
