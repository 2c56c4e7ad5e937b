"""`srcset` attributes parsed as the HTML standard's "parse a srcset attribute" algorithm does
(https://html.spec.whatwg.org/multipage/images.html#parse-a-srcset-attribute), and the largest
candidate picked.

The standard splits on the whitespace after a URL, not on ", ": `a.jpg 320w,b.jpg 1280w` is two
candidates, `a,b.jpg 2x` is one URL with a comma in it, trailing commas end a URL
(`a.jpg,b.jpg`), and a candidate whose descriptors are invalid (`0w`, `1.5w`, `2x 3x`, `+2x`,
`100h` alone) is dropped rather than read as 1x. Linear in the attribute's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WHITESPACE = " \t\n\f\r"  # ASCII whitespace, as the standard defines it
_SEPARATORS = _WHITESPACE + ","
# The standard's "valid non-negative integer" and "valid floating-point number".
_INTEGER = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class Candidate:
    url: str
    width: int | None = None  # the `w` descriptor: the image's width in pixels
    density: float | None = None  # the `x` descriptor; no descriptor at all means 1x

    @property
    def size_key(self) -> tuple[int, float]:
        """Larger is a larger image: widths rank above densities (a width is the image's own
        pixel count; a density only relates it to the layout, which is unknown here)."""
        if self.width is not None:
            return (1, float(self.width))
        return (0, self.density if self.density is not None else 1.0)


def _skip(text: str, position: int, characters: str) -> int:
    while position < len(text) and text[position] in characters:
        position += 1
    return position


def _tokenize_descriptors(text: str, position: int) -> tuple[list[str], int]:
    """The descriptor tokens after a URL and the position after the candidate's comma."""
    descriptors: list[str] = []
    current: list[str] = []
    state = "in descriptor"
    position = _skip(text, position, _WHITESPACE)
    while position < len(text):
        character = text[position]
        if state == "in descriptor":
            if character in _WHITESPACE:
                if current:
                    descriptors.append("".join(current))
                    current = []
                    state = "after descriptor"
            elif character == ",":
                position += 1
                break
            else:
                current.append(character)
                if character == "(":
                    state = "in parens"
        elif state == "in parens":
            current.append(character)
            if character == ")":
                state = "in descriptor"
        elif character not in _WHITESPACE:  # after descriptor: reconsume in a new one
            state = "in descriptor"
            continue
        position += 1
    if current:
        descriptors.append("".join(current))
    return descriptors, position


def _candidate(url: str, descriptors: list[str]) -> Candidate | None:
    """The candidate, or None when its descriptors are invalid (the standard drops it)."""
    width: int | None = None
    density: float | None = None
    height: int | None = None
    for descriptor in descriptors:
        value, kind = descriptor[:-1], descriptor[-1:]
        if kind == "w" and width is None and density is None and _INTEGER.fullmatch(value):
            width = int(value)
            if width == 0:
                return None
        elif kind == "x" and width is None and density is None and height is None \
                and _FLOAT.fullmatch(value):
            density = float(value)
            if density < 0:
                return None
        elif kind == "h" and height is None and density is None and _INTEGER.fullmatch(value):
            height = int(value)
            if height == 0:
                return None
        else:
            return None
    if height is not None and width is None:
        return None
    return Candidate(url, width, density)


def parse_srcset(srcset: str) -> list[Candidate]:
    """The image candidates of a srcset attribute, in order."""
    candidates: list[Candidate] = []
    position = 0
    while True:
        position = _skip(srcset, position, _SEPARATORS)
        if position >= len(srcset):
            return candidates
        start = position
        while position < len(srcset) and srcset[position] not in _WHITESPACE:
            position += 1
        url = srcset[start:position]
        descriptors: list[str] = []
        if url.endswith(","):
            url = url.rstrip(",")  # a comma right after the URL ends the candidate
        else:
            descriptors, position = _tokenize_descriptors(srcset, position)
        if url and (candidate := _candidate(url, descriptors)) is not None:
            candidates.append(candidate)


def largest_candidate(candidates: list[Candidate]) -> Candidate | None:
    """The candidate naming the largest image; the first one among equals."""
    best: Candidate | None = None
    for candidate in candidates:
        if best is None or candidate.size_key > best.size_key:
            best = candidate
    return best


def image_candidates(srcset: str | None, src: str | None) -> list[Candidate]:
    """An <img>'s source set: its srcset candidates, and its src as 1x unless the srcset already
    has a 1x or a width candidate (the standard's "update the source set")."""
    candidates = parse_srcset(srcset or "")
    src = (src or "").strip()
    if src and not any(c.width is not None or (c.density or 1.0) == 1.0 for c in candidates):
        candidates.append(Candidate(src))
    return candidates
