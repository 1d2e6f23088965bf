"""Signals from one HTML page (``parse_page``); ``site_signals`` merges a site's pages.

Everything stored is JSON-serialisable and independent of the ICP, so a result can be
re-scored against another ICP later without refetching. Parsing uses selectolax (lexbor);
the expensive steps each touch the document once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from qualify.qualifiers.web import countries, cues, employees, jsonld, language
from qualify.qualifiers.web.fingerprints import table as fingerprint_table

MAX_TEXT_CHARS = 5000  # main text kept per page for keyword matching when re-scoring
MAX_FOOTER_CHARS = 800
MAX_HEADINGS = 15
MAX_LINKS = 600

# Hosts referenced in the page's asset haystack. The pattern starts with a literal so the
# regex engine can skip ahead; JSON-escaped URLs get a second pass.
_HOST_REF = re.compile(r"//([a-zA-Z0-9][a-zA-Z0-9.-]{0,200}\.[a-zA-Z]{2,24})(?![a-zA-Z0-9-])")
_ESCAPED_HOST_REF = re.compile(
    r"\\/\\/([a-zA-Z0-9][a-zA-Z0-9.-]{0,200}\.[a-zA-Z]{2,24})(?![a-zA-Z0-9-])"
)
MAX_ANALYSED_CHARS = 10_000  # start of the copy searched for cues, hints and sizes
# lexbor's tree building is quadratic in nesting depth (50,000 nested <div>s take seconds),
# so a page with that many tags has its depth measured and is cut where it gets absurd.
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
_VOID = "area base br col embed hr img input link meta param source track wbr"
_SELF_CLOSING = "p li dt dd tr td th option optgroup rt rp"  # closed by the next sibling
_NO_DEPTH = frozenset(f"{_VOID} {_SELF_CLOSING}".split())
MAX_TAGS_UNCHECKED = 20_000
MAX_DEPTH = 2_000
_NOT_TEXT = ["script", "style", "noscript", "svg", "template", "iframe", "object", "canvas"]
_EMPLOYEE_STEMS = (
    "employ", "mitarbeit", "staff", "team ", "people", "collaborat", "salarié", "emplead",
    "dipendent", "medewerk", "beschäftigt", "anställd", "medarbetar", "pracownik",
)  # fmt: skip
_ADDRESS_KINDS = ("legal", "contact", "about")


@dataclass
class PageLinks:
    """What a page links to; used to plan the crawl and spot parking, not stored."""

    nav: dict[str, str] = field(default_factory=dict)  # kind -> absolute same-site URL
    resource_urls: list[str] = field(default_factory=list)  # scripts, frames
    link_urls: list[str] = field(default_factory=list)  # off-site anchors


def _clean(text: str | None, limit: int = 300) -> str:
    return " ".join((text or "").split())[:limit]


def bound_depth(html: str) -> str:
    """``html`` cut before the first tag nested deeper than MAX_DEPTH (usually unchanged)."""
    if html.count("<") <= MAX_TAGS_UNCHECKED:
        return html  # too few tags for the depth to matter
    depth = 0
    for match in _TAG.finditer(html):
        if match.group(1):
            depth = max(0, depth - 1)
        elif match.group(2).lower() not in _NO_DEPTH:
            depth += 1
            if depth > MAX_DEPTH:
                return html[: match.start()]
    return html


def _join(base: str, ref: str) -> str:
    """urljoin that survives hostile markup (an unclosed IPv6 bracket raises ValueError)."""
    try:
        return urljoin(base, ref)
    except ValueError:
        return base


def _host_of(url: str) -> str:
    """Host of an absolute or scheme-relative URL, cheaper than urlsplit for the hot loop."""
    rest = url.split("//", 1)[1] if "//" in url else url
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]", 1)[0][1:].lower()
    return host.split(":", 1)[0].lower()


def _windows(text_lower: str, stems: tuple[str, ...], pad: int = 90) -> list[tuple[int, int]]:
    """Merged spans around occurrences of ``stems`` (at most 12), for targeted regexes."""
    spans: list[tuple[int, int]] = []
    for stem in stems:
        at = text_lower.find(stem)
        while at >= 0 and len(spans) < 12:
            spans.append((max(0, at - pad), min(len(text_lower), at + len(stem) + pad)))
            at = text_lower.find(stem, at + len(stem))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _in_header(node: Any) -> bool:
    """A <nav> inside a <header> is read with the header; do not read it twice."""
    parent = node.parent
    while parent is not None:
        if parent.tag in ("header", "nav"):
            return True
        parent = parent.parent
    return False


def _same_site_host(host: str, page_host: str) -> bool:
    return host == page_host or host.endswith("." + page_host) or page_host.endswith("." + host)


@dataclass
class _Assets:
    ld_blocks: list[str] = field(default_factory=list)
    script_hosts: list[str] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)
    haystack: str = ""


def _read_head(tree: LexborHTMLParser) -> dict[str, Any]:
    root = tree.root
    root_attrs = root.attributes if root is not None else {}
    title_node = tree.css_first("title")
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        key = (attrs.get("property") or attrs.get("name") or "").strip().lower()
        if key and key not in meta and attrs.get("content"):
            meta[key] = attrs["content"] or ""
    og = {k[3:]: _clean(v, 300) for k, v in meta.items() if k.startswith("og:")}
    hreflangs = {h for n in tree.css("link[hreflang]") if (h := n.attributes.get("hreflang"))}
    return {
        "title": _clean(title_node.text() if title_node else "", 200),
        "description": _clean(meta.get("description") or og.get("description"), 400),
        "og": og,
        "lang": (root_attrs.get("lang") or "").strip()[:20] or None,
        "hreflangs": sorted(hreflangs)[:30],
        "generator": _clean(meta.get("generator"), 100) or None,
        "root_attrs": str(root_attrs),
    }


def _read_assets(
    tree: LexborHTMLParser, html: str, url: str, root_attrs: str, links: PageLinks
) -> _Assets:
    """Scripts, frames and asset links: JSON-LD blocks and where technologies show.

    Technology hosts and markers are searched in a compact haystack (the <head>, asset
    URLs, the start of every inline script, <noscript> pixels, <html>/<body> attributes)
    rather than the whole page: loader snippets live there, and it costs a fraction.
    """
    page_host = _host_of(url)
    assets = _Assets()
    haystack = [root_attrs]
    for node in tree.css("script"):
        attrs = node.attributes
        src = attrs.get("src")
        if src:
            absolute = _join(url, src)
            links.resource_urls.append(absolute)
            haystack.append(absolute)
            host = _host_of(absolute)
            if host and host != page_host:
                assets.script_hosts.append(host)
            continue
        script_type = (attrs.get("type") or "").lower()
        if script_type == "application/ld+json":
            assets.ld_blocks.append(node.text())
        else:
            haystack.append(f"{script_type} {attrs.get('id') or ''} {node.text()[:1500]}")
    for node in tree.css("link[href], iframe[src], frame[src]"):
        attrs = node.attributes
        ref = attrs.get("href") or attrs.get("src") or ""
        haystack.append(ref)
        if node.tag != "link":
            links.resource_urls.append(_join(url, ref))
    haystack += [node.html or "" for node in tree.css("noscript")[:20]]
    if tree.body is not None:
        haystack.append(str(tree.body.attributes))
    body_at = html.find("<body", 0, 60_000)
    haystack.append(html[: body_at if body_at > 0 else 60_000])
    assets.haystack = " ".join(haystack)
    assets.referenced = {m.lower() for m in _HOST_REF.findall(assets.haystack)}
    if "\\/\\/" in assets.haystack:
        assets.referenced |= {m.lower() for m in _ESCAPED_HOST_REF.findall(assets.haystack)}
    assets.referenced.discard(page_host)
    return assets


def _read_links(
    tree: LexborHTMLParser, url: str, links: PageLinks
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Navigation (same-site), social profiles, app stores and job boards (off-site)."""
    page_host = _host_of(url)
    fingerprints = fingerprint_table()
    social: dict[str, str] = {}
    found: dict[str, dict[str, str]] = {}
    for node in tree.css("a[href]")[:MAX_LINKS]:
        href = (node.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
            continue
        if href.startswith(("http://", "https://", "//")):
            host = _host_of(href)
            if not _same_site_host(host, page_host):
                absolute = _join(url, href)
                links.link_urls.append(absolute)
                network = cues.social_network(absolute)
                if network and network not in social:
                    social[network] = absolute[:200]
                elif host.endswith(cues.APP_STORE_HOSTS):
                    found.setdefault("consumer_app", _cue(f"link to {host}", url))
                elif "job_board" not in found:
                    fp = fingerprints.host_match(host)
                    ats = fp is not None and fp.category == "ats"
                    if ats or host.endswith(cues.JOB_BOARD_HOSTS):
                        found["job_board"] = _cue(f"link to {host}", url)
                continue
        path = href.split("?", 1)[0].split("#", 1)[0].lower()
        path = path if path.startswith(("/", "http")) else "/" + path
        nav = cues.nav_kind(path, _clean(node.text(), 60).lower())
        if nav and nav not in links.nav:
            links.nav[nav] = _join(url, href).split("#", 1)[0]
    for nav, cue in (("pricing", "pricing_page"), ("careers", "careers_page"), ("cart", "cart")):
        if links.nav.get(nav):
            found.setdefault(cue, _cue(f"link to {links.nav[nav]}", url))
    if social:
        found["social_profiles"] = _cue("profiles: " + ", ".join(sorted(social)), url)
    return social, found


def _read_texts(tree: LexborHTMLParser) -> tuple[str, str, str]:
    """(header and navigation text, main copy, footer text); strips them off the tree."""
    tree.strip_tags(_NOT_TEXT)
    footer_node = tree.css_first("footer") or tree.css_first('[id*="footer"], [class*="footer"]')
    footer = footer_node.text(separator=" ", strip=True) if footer_node is not None else ""
    # Header and navigation text counts for cues ("Book a demo" buttons live there) but not
    # as page copy, so it is read once and then removed along with the footer.
    chrome = " ".join(
        n.text(separator=" ", strip=True) for n in tree.css("header, nav") if not _in_header(n)
    )
    if footer_node is not None:
        footer_node.decompose()
    tree.strip_tags(["header", "nav", "footer"])
    body = tree.body
    main = body.text(separator=" ", strip=True) if body is not None else ""
    return chrome, main, footer


def _cue(evidence: str, url: str) -> dict[str, str]:
    return {"evidence": evidence, "source_url": url}


def _country_hints(
    sample: str, main: str, footer: str, kind: str, label: str, url: str
) -> list[dict[str, Any]]:
    hints = countries.from_phones(sample, label, url)
    footer = _clean(footer, 4000)
    if footer:
        hints += countries.from_legal_forms(footer, "footer", url)
        hints += countries.from_places(footer, "footer", url)
    copyright_at = main.find("©")
    if copyright_at >= 0:
        hints += countries.from_legal_forms(main[copyright_at : copyright_at + 200], label, url)
    if kind in _ADDRESS_KINDS:  # addresses and legal names live on these pages
        hints += countries.from_legal_forms(main[:MAX_ANALYSED_CHARS], label, url)
        hints += countries.from_places(main[:MAX_ANALYSED_CHARS], label, url)
    if kind in ("home", "pricing"):
        hints += countries.from_currency(sample, label, url)
    return hints


def _sizes(sample: str, sample_lower: str, label: str, url: str) -> list[dict[str, Any]]:
    sizes: list[dict[str, Any]] = []
    for lo, hi in _windows(sample_lower, _EMPLOYEE_STEMS):
        sizes += employees.from_text(sample[lo:hi], label, url, limit=3 - len(sizes))
        if len(sizes) >= 3:
            break
    return sizes


def parse_page(
    html: str,
    url: str,
    *,
    kind: str = "home",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    utf8: bytes | None = None,
) -> tuple[dict[str, Any], PageLinks]:
    """Signals of one page (stored) and its links (for crawling).

    ``utf8`` may carry the page's original bytes when they are UTF-8: lexbor parses them
    directly, which saves re-encoding ``html`` (a sizeable share of the parse cost).
    """
    bounded = bound_depth(html)
    if bounded is not html:
        html, utf8 = bounded, None
    tree = LexborHTMLParser(utf8 if utf8 is not None else html)
    label = "home" if kind == "home" else f"{kind} page"
    links = PageLinks()

    head = _read_head(tree)
    assets = _read_assets(tree, html, url, head.pop("root_attrs"), links)
    social, link_cues = _read_links(tree, url, links)
    headings = [_clean(h.text(), 120) for h in tree.css("h1, h2")[: MAX_HEADINGS * 2]]
    headings = [h for h in headings if h][:MAX_HEADINGS]
    chrome, main, footer = _read_texts(tree)
    word_count = (main.count(" ") + 1 if main else 0) + chrome.count(" ") + footer.count(" ")
    # Analysis looks at a bounded sample: the chrome, the start of the copy, the footer.
    sample = " ".join([chrome[:3000], main[:MAX_ANALYSED_CHARS], footer[:3000]])
    sample_lower = sample.lower()

    found = cues.find_phrases(sample, sample_lower, cues.tokens(sample_lower), label, url)
    for cue, value in link_cues.items():
        found.setdefault(cue, value)
    ld = jsonld.parse_blocks(assets.ld_blocks, url)
    if ld["offers"]:
        found["product_offers"] = _cue(f"{label}: {ld['offers']} schema.org Product/Offer", url)
    elif head["og"].get("type", "").lower() == "product":
        found["product_offers"] = _cue(f"{label}: og:type product", url)

    technologies = fingerprint_table().detect(
        script_hosts=assets.script_hosts,
        referenced_hosts=sorted(assets.referenced),
        html_lower=assets.haystack.lower(),
        generator=head["generator"] or "",
        headers=headers or {},
        cookies=cookies or [],
    )
    for tech in technologies:
        tech["source_url"] = url
        if tech["category"] == "ecommerce" and "ecommerce_platform" not in found:
            found["ecommerce_platform"] = _cue(f"{tech['name']} ({tech['evidence']})", url)

    return {
        "url": url,
        "kind": kind,
        **head,
        "headings": headings,
        "text": _clean(main[: MAX_TEXT_CHARS * 2], MAX_TEXT_CHARS),
        "footer": _clean(footer, MAX_FOOTER_CHARS),
        "word_count": word_count,
        "detected_language": language.detect(main[:4000].lower() or sample_lower),
        "organization": ld["organization"],
        "jsonld_types": ld["types"],
        "technologies": technologies,
        "cues": found,
        "country_hints": _country_hints(sample, main, footer, kind, label, url),
        "employees": _sizes(sample, sample_lower, label, url),
        "social": social,
        "nav": dict(links.nav),
    }, links
