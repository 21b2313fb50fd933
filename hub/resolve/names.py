"""Names as matching keys: company names without their legal form, deal names without the
noise a migration adds.

Both sides of a comparison go through the same function, so a rule only has to make
variants of one name equal, never decide which spelling is right. Company names lose case,
accents, markup, punctuation, a leading "The" and trailing legal forms ("Inc.", "L.L.C.",
"Sp. z o.o."), and '&' reads 'and'. A name with nothing left (empty, only a legal form,
only punctuation) has no key and is never matched by name.
"""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^<>]{0,200}>")
# Marks inside abbreviations: removed, so "L.L.C." is "llc" and "O'Brien" is "obrien".
_JOINERS = str.maketrans("", "", ".'’`´")
# Legal forms, as the token sequences _tokens() leaves (dots gone, runs of single letters
# joined): "A/S" -> "as", "S. A." -> "sa", "Sp. z o.o." -> "sp z oo", "L.L.C." -> "llc".
# fmt: off
_LEGAL_WORDS = (
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
    "llp", "lp", "plc", "gmbh", "mbh", "ag", "kg", "ohg", "ug", "gbr", "kgaa", "se", "sa",
    "sas", "sasu", "sarl", "sca", "srl", "spa", "sl", "slu", "bv", "nv", "oy", "oyj", "ab",
    "asa", "as", "aps", "kk", "ltda", "eireli", "pty", "pte", "bhd", "sro", "kft", "zrt",
    "doo",
)
_LEGAL_PHRASES = (
    "sp z oo", "spzoo", "sp zoo", "gmbh and co kg", "gmbh co kg", "pty ltd", "pte ltd",
    "pvt ltd", "private limited", "sdn bhd", "s de rl", "sa de cv", "and co", "und co",
    "et cie",
)
# fmt: on
_LEGAL_FORMS = frozenset(
    [(word,) for word in _LEGAL_WORDS] + [tuple(p.split()) for p in _LEGAL_PHRASES]
)
_LEGAL_PREFIXES = ("株式会社", "有限会社", "合同会社")
_MAX_FORM = max(len(form) for form in _LEGAL_FORMS)
# Words a migration or an import adds to a deal's name in brackets: "(migrated)", "[copy]".
# fmt: off
_DEAL_NOISE = frozenset((
    "migrated", "migration", "import", "imported", "copy", "duplicate", "dup", "legacy",
    "old", "archived", "converted", "sync", "synced",
))
# fmt: on
_BRACKETED = re.compile(r"[(\[{]([^()\[\]{}]*)[)\]}]")


# Letters NFKD does not split into a base letter and a mark.
_LATIN_END = "\u0250"  # Basic Latin to Latin Extended-B
_FOLD = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ı": "i"})


def _plain(text: str) -> str:
    """Lower case text without markup, entities, compatibility forms or the accents of
    Latin letters (marks on other scripts, such as the Japanese handakuten, are kept)."""
    text = html.unescape(_TAG.sub(" ", text))
    kept: list[str] = []
    base = ""
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            if base < _LATIN_END:
                continue
        else:
            base = char
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).casefold().translate(_FOLD)


def _tokens(text: str) -> list[str]:
    """Words of plain text: '&' and '+' read 'and', punctuation separates words, and a run
    of single letters is one word ("a s" -> "as", "j p morgan" -> "jp morgan")."""
    text = text.translate(_JOINERS).replace("&", " and ").replace("+", " and ")
    words = "".join(c if c.isalnum() else " " for c in text).split()
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isascii():
            run.append(word)
            continue
        if run:
            out.append("".join(run) if len(run) > 1 else run[0])
            run = []
        if word:
            out.append(word)
    return out


def words(text: object) -> list[str]:
    """The plain words of any text (see ``_tokens``); none for a non-string."""
    return _tokens(_plain(text)) if isinstance(text, str) else []


def company_name_key(name: object) -> str | None:
    """The matching key of a company name, or ``None`` when nothing distinctive is left.

    >>> company_name_key("Smith, Jones & Partners Ltd.") == company_name_key("SMITH JONES AND PARTNERS")
    True
    """
    if not isinstance(name, str):
        return None
    text = _plain(name)
    for prefix in _LEGAL_PREFIXES:
        text = text.replace(prefix, " ")
    words = _tokens(text)
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    stripped = True
    while stripped and len(words) > 1:
        stripped = False
        for size in range(min(_MAX_FORM, len(words) - 1), 0, -1):
            if tuple(words[-size:]) in _LEGAL_FORMS:
                words = words[:-size]
                stripped = True
                break
    if len(words) == 1 and (words[0],) in _LEGAL_FORMS:
        return None
    key = " ".join(words)
    return key or None


def deal_name_key(name: object, company_words: frozenset[str] = frozenset()) -> str:
    """A deal name for similarity: plain words without migration noise such as
    "(migrated)" or "[copy]" (separators like ' - ' or ': ' are spaces), and without the
    words of its company's names, which every deal of the company shares and which would
    make "Acme Labs - Pilot" look like "Acme Labs - Platform". A name that is nothing but
    company words keeps them."""
    if not isinstance(name, str):
        return ""
    text = _BRACKETED.sub(_drop_noise, _plain(name))
    all_words = _tokens(text)
    distinctive = [w for w in all_words if w not in company_words]
    return " ".join(distinctive or all_words)


def _drop_noise(match: re.Match[str]) -> str:
    inside = match.group(1)
    return " " if set(_tokens(inside)) <= _DEAL_NOISE else f" {inside} "
