"""Web domains as company keys.

A company is known by its registrable domain: ``eu.acme.com``, ``shop.acme.com`` and
``acme.com`` are one company, and ``acme.co.uk`` keeps its three labels because ``co.uk``
is a public suffix. Hosts anyone can have an address or a page on (mail providers, social
networks, link shorteners) say nothing about the company and are no key at all; on hosting
platforms (``github.io``, ``myshopify.com``) the company is the label under the platform.

The suffix rule is a small heuristic, not the Public Suffix List: under a two-letter country
code a second level such as ``co``, ``com`` or ``org`` is part of the suffix.
"""

from __future__ import annotations

from connectors.values import web_domain

# fmt: off
# Mail, social and link hosts: a record pointing there tells nothing about its company.
PUBLIC_HOSTS = frozenset((
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
    "ymail.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "outlook.com",
    "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "gmx.com", "gmx.de",
    "gmx.net", "web.de", "t-online.de", "freenet.de", "mail.com", "mail.ru", "yandex.ru",
    "yandex.com", "proton.me", "protonmail.com", "qq.com", "163.com", "126.com", "naver.com",
    "orange.fr", "free.fr", "laposte.net", "wanadoo.fr", "libero.it", "btinternet.com",
    "comcast.net", "linkedin.com", "facebook.com", "fb.com", "instagram.com", "twitter.com",
    "x.com", "youtube.com", "tiktok.com", "xing.com", "crunchbase.com", "google.com",
    "goo.gl", "bit.ly", "linktr.ee", "wikipedia.org", "yelp.com", "glassdoor.com",
    "indeed.com", "angel.co", "wellfound.com", "medium.com", "substack.com",
))
# Platforms that give each customer a host of its own: the label under them is the company.
HOSTING_PLATFORMS = frozenset((
    "github.io", "gitlab.io", "wixsite.com", "wordpress.com", "blogspot.com",
    "myshopify.com", "squarespace.com", "webflow.io", "netlify.app", "vercel.app",
    "herokuapp.com", "notion.site", "carrd.co", "weebly.com", "sharepoint.com",
    "business.site", "godaddysites.com", "mystrikingly.com", "jimdosite.com",
))
# Second levels that belong to the suffix under a two-letter country code (co.uk, com.br).
_SECOND_LEVELS = frozenset((
    "co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc", "ne", "or", "go", "gob",
    "nic", "mil", "biz",
))
# fmt: on


def registrable(host: str) -> str:
    """``a.b.acme.co.uk`` -> ``acme.co.uk``; ``eu.acme.com`` -> ``acme.com``."""
    labels = host.split(".")
    keep = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS:
        keep = 3
    return ".".join(labels[-keep:])


def company_domain(domain: object) -> str | None:
    """The key a record's ``Account.domain`` (or any website) gives its company, or ``None``
    when it gives none (empty, not a host name, a public host, a bare platform)."""
    host = web_domain(domain)
    if host is None or host.replace(".", "").isdigit():
        return None
    base = registrable(host)
    if base in PUBLIC_HOSTS or host in PUBLIC_HOSTS:
        return None
    if base in HOSTING_PLATFORMS:
        labels = host.split(".")
        under = len(base.split("."))
        return ".".join(labels[-under - 1 :]) if len(labels) > under else None
    return base
