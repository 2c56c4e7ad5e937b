"""What counts as text: the charsets a page may declare, and bytes that only pretend to be text.

A declared charset is a label chosen by whoever wrote the page, so it is looked up in an
allow-list of the encodings web pages really use (the WHATWG Encoding Standard's, as Python
codecs): `punycode`, `rot13`, `base64`, `utf-7` and other Python codecs are no web charsets,
and some of them are slow enough on a crafted page to stall a worker. Decoded text with many
control characters (or replacement characters) is binary data read as text: a JPEG decoded
as windows-1252 would otherwise become "sentences".
"""

from __future__ import annotations

import codecs
import re

_WEB_CHARSETS = (
    "utf-8", "utf-16-le", "utf-16-be", "utf-16", "ibm866", "iso-8859-2", "iso-8859-3",
    "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7", "iso-8859-8", "iso-8859-10",
    "iso-8859-13", "iso-8859-14", "iso-8859-15", "iso-8859-16", "koi8-r", "koi8-u",
    "mac-roman", "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254",
    "cp1255", "cp1256", "cp1257", "cp1258", "gbk", "gb2312", "gb18030", "big5", "big5hkscs",
    "euc-jp", "iso-2022-jp", "shift_jis", "cp932", "euc-kr", "cp949", "latin-1", "ascii")
ALLOWED_CODECS = frozenset(codecs.lookup(name).name for name in _WEB_CHARSETS)

# Control characters other than tab, line feed, form feed and carriage return, and U+FFFD.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
MAX_NOT_TEXT_SHARE = 0.01


def web_codec(label: str) -> str | None:
    """The Python codec of a declared charset, or None when it is not a web charset."""
    try:
        name = codecs.lookup(label.strip()).name
    except (LookupError, ValueError):
        return None
    return name if name in ALLOWED_CODECS else None


def looks_like_text(text: str) -> bool:
    """False for decoded bytes that are binary: any NUL, or more than 1% control or
    replacement characters."""
    if "\x00" in text:
        return False
    bad = len(_NOT_TEXT.findall(text))
    return bad <= MAX_NOT_TEXT_SHARE * len(text)
