"""srcset and <picture> as the HTML standard parses them, and the largest candidate picked."""

from __future__ import annotations

from collections import Counter

import pytest

from linear_time import MAX_RATIO, growth
from realsyn.ingest.html import PageLocation, parse_page
from realsyn.ingest.srcset import Candidate, largest_candidate, parse_srcset

# (srcset, the candidates the standard's algorithm gives)
PARSED = [
    # Commas without spaces separate candidates.
    ("small.jpg 320w,big.jpg 1280w", [Candidate("small.jpg", 320), Candidate("big.jpg", 1280)]),
    ("a.jpg 1x,b.jpg 2x", [Candidate("a.jpg", None, 1.0), Candidate("b.jpg", None, 2.0)]),
    # A comma inside a URL belongs to it; trailing commas end a URL with no descriptors.
    ("img/a,b.jpg 2x, c.jpg", [Candidate("img/a,b.jpg", None, 2.0), Candidate("c.jpg")]),
    ("https://cdn.example/w_320,h_200/x.jpg 320w, https://cdn.example/w_960,h_600/x.jpg 960w",
     [Candidate("https://cdn.example/w_320,h_200/x.jpg", 320),
      Candidate("https://cdn.example/w_960,h_600/x.jpg", 960)]),
    ("a.jpg,b.jpg", [Candidate("a.jpg,b.jpg")]),
    ("a.jpg,, b.jpg 2x", [Candidate("a.jpg"), Candidate("b.jpg", None, 2.0)]),
    # Any ASCII whitespace separates; leading and repeated separators are skipped.
    ("\n ,, a.jpg\t480w ,\r\nb.jpg\f960w,", [Candidate("a.jpg", 480), Candidate("b.jpg", 960)]),
    # Width, density and the future-compatible height; invalid descriptors drop the candidate.
    ("a.jpg 100w 50h, b.jpg 50h, c.jpg 1.5x, d.jpg .5x, e.jpg 1e1x",
     [Candidate("a.jpg", 100), Candidate("c.jpg", None, 1.5), Candidate("d.jpg", None, 0.5),
      Candidate("e.jpg", None, 10.0)]),
    ("a.jpg 0w, b.jpg 1.5w, c.jpg 2x 3x, d.jpg +2x, e.jpg 100w 2x, f.jpg 2y, g.jpg 1.x, "
     "h.jpg -1x, i.jpg 64w", [Candidate("i.jpg", 64)]),
    # A descriptor with parentheses is one token (and unknown: the candidate is dropped).
    ("a.jpg (foo, bar) 2x, b.jpg 3x", [Candidate("b.jpg", None, 3.0)]),
    ("", []), (" , ,", []),
]


@pytest.mark.parametrize(("srcset", "expected"), PARSED)
def test_srcset_is_parsed_as_the_standard_parses_it(srcset, expected):
    assert parse_srcset(srcset) == expected


# (srcset, the largest candidate)
LARGEST = [
    ("small.jpg 320w,big.jpg 1280w", "big.jpg"),
    ("big.jpg 1280w,small.jpg 320w", "big.jpg"),
    ("a.png, b.png 2x, c.png 1.5x", "b.png"),
    ("a.png 1x,b.png 2x,c.png 1.5x", "b.png"),
    ("a.png,b.png 2x", "a.png,b.png"),  # one URL that holds a comma
    ("x.jpg 2x,https://cdn.example/f_auto,w_2000/y.jpg 3x", "https://cdn.example/f_auto,w_2000/y.jpg"),
    ("lo.jpg 0.5x, hi.jpg", "hi.jpg"),  # no descriptor means 1x
    ("bad.jpg 99999y, ok.jpg 2x", "ok.jpg"),  # an invalid candidate is not 1x, it is dropped
    ("a.jpg 2x, b.jpg 2x", "a.jpg"),  # the first among equals
    ("", None),
]


@pytest.mark.parametrize(("srcset", "expected"), LARGEST)
def test_the_largest_candidate_is_picked(srcset, expected):
    best = largest_candidate(parse_srcset(srcset))
    assert (best.url if best is not None else None) == expected


def _image_urls(body: str) -> list[str]:
    items, _ = parse_page(f"<html><body>{body}</body></html>",
                          PageLocation(url="https://site.example/page.html"), Counter())
    return [item["image_url"] for item in items if item["kind"] == "image"]


# (the image element, the URL the image item gets)
ELEMENTS = [
    ('<img src="s.jpg" srcset="small.jpg 320w,big.jpg 1280w">', "big.jpg"),
    # src counts as 1x only when the srcset has neither a 1x nor a width candidate.
    ('<img src="s.jpg" srcset="half.jpg 0.5x">', "s.jpg"),
    ('<img src="s.jpg" srcset="two.jpg 2x">', "two.jpg"),
    ('<img src="s.jpg" srcset="one.jpg 1x">', "one.jpg"),
    ('<img src="s.jpg" srcset="bad.jpg 0w">', "s.jpg"),
    # A lazy loader's data-srcset against a placeholder srcset.
    ('<img srcset="data:image/gif;base64,R0lGOD" data-srcset="a.jpg 400w,b.jpg 800w">',
     "b.jpg"),
    ('<img data-src="lazy.jpg">', "lazy.jpg"),
    # <picture>: the largest candidate of every <source> and of the <img>.
    ('<picture><source media="(min-width: 800px)" srcset="wide.jpg 1600w,mid.jpg 800w">'
     '<source srcset="narrow.jpg 400w"><img src="fallback.jpg"></picture>', "wide.jpg"),
    ('<picture><source srcset="lo.webp 1x,hi.webp 2x"><img src="f.jpg" srcset="f3.jpg 3x">'
     '</picture>', "f3.jpg"),
    ('<picture><source srcset=""><img src="only.jpg"></picture>', "only.jpg"),
]


@pytest.mark.parametrize(("element", "expected"), ELEMENTS)
def test_img_and_picture_take_their_largest_source(element, expected):
    expected = expected if expected.startswith("data:") else f"https://site.example/{expected}"
    assert _image_urls(element) == [expected]


# pattern -> (repeated unit, n): hostile attributes the parser must read in linear time.
HOSTILE = {"candidates": ("a.jpg 1x,", 5_000), "commas": (",", 50_000),
           "open_parens": ("(x ", 20_000), "descriptors": ("1x ", 20_000),
           "url": ("a", 50_000)}


@pytest.mark.parametrize("pattern", sorted(HOSTILE))
def test_srcset_parsing_grows_linearly(pattern):
    unit, n = HOSTILE[pattern]
    assert growth(parse_srcset, lambda count: "a.jpg " + unit * count, n) < MAX_RATIO
