"""Synthetic partner network for benchmarks: many origins, realistic RSS 2.0 and Atom feeds.

Everything is generated from a seed, so two runs with the same arguments serve the same
bytes. The text is invented forced-labour news (ratifications, inspections, supply-chain
reports, court cases); about one entry in ten re-publishes a story from a shared pool
with tracking parameters on its link, so the merge stage has real work to do.

Layout (see benchmarks/RESULTS.md): 1,000 sources over 150 origins, each origin its own
loopback address on one port — 10 large partners with 40 feeds, 40 medium ones with 10
and 100 small ones with 2. Other source counts scale the same pattern.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

# 10 × 40 + 40 × 10 + 100 × 2 = 1,000 feeds on 150 origins.
PATTERN = [40] * 10 + [10] * 40 + [2] * 100
PATTERN_TOTAL = sum(PATTERN)
FIRST_HOST = 10  # origins are 127.0.0.10, 127.0.0.11, …

_ORG_KINDS = [
    "Alliance",
    "Network",
    "Foundation",
    "Trade Union Confederation",
    "Employers' Federation",
    "Research Centre",
    "Legal Aid Society",
    "Migrant Workers' Centre",
    "Observatory",
    "Coalition",
]
_ORG_WORDS = [
    "Northern",
    "Coastal",
    "Global",
    "Regional",
    "Free Labour",
    "Fair Recruitment",
    "Decent Work",
    "Open Supply Chains",
    "Domestic Workers",
    "Seafarers",
    "Garment Workers",
    "Rural Workers",
]
_FEED_TOPICS = [
    "news",
    "press-releases",
    "publications",
    "events",
    "research",
    "statements",
    "campaigns",
    "country-updates",
]
_COUNTRIES = [
    "Qatar",
    "Brazil",
    "India",
    "Malaysia",
    "Thailand",
    "Uzbekistan",
    "Mauritania",
    "Nepal",
    "Peru",
    "Ghana",
    "the Philippines",
    "Bangladesh",
    "Italy",
    "the United Kingdom",
    "Côte d'Ivoire",
    "Paraguay",
]
_SECTORS = [
    "cocoa",
    "cotton",
    "fishing",
    "garment",
    "construction",
    "domestic work",
    "brick kiln",
    "electronics",
    "palm oil",
    "mining",
    "agriculture",
    "seafood processing",
]
_TITLES = [
    "{country} ratifies the 2014 Protocol to the Forced Labour Convention",
    "Labour inspectors free {n} workers from debt bondage in the {sector} sector",
    "New report: {n} cases of forced labour found in {country}'s {sector} supply chains",
    "Court in {country} convicts recruiter for trafficking {n} migrant workers",
    "Brands commit to end recruitment fees for {sector} workers in {country}",
    "Survivors of forced labour in {country} win compensation after {n}-month case",
    "Webinar: due diligence on forced labour risks in {sector} supply chains",
    "Union and employers in {country} sign agreement on fair recruitment",
    "Child and forced labour in {sector}: what the latest figures show",
    "{country} launches national action plan against forced labour",
    "Joint statement on passport retention of {sector} workers in {country}",
    "Ethical recruitment pilot reaches {n} workers in {country}",
]
_SENTENCES = [
    "Workers reported that their passports were held by the employer and that wages were"
    " withheld for months.",
    "The <strong>ILO Protocol of 2014</strong> requires governments to prevent forced labour,"
    " protect victims and give them access to remedies.",
    "Recruitment fees of up to <em>twelve months' wages</em> left many workers in debt"
    " bondage before they started work.",
    "Inspectors found locked dormitories, unpaid overtime and threats of denunciation to the"
    " immigration authorities.",
    'The full report is available on <a href="/publications/report.pdf">our publications'
    " page</a>, with a summary in four languages.",
    "Employers' organisations welcomed the agreement and called for a level playing field"
    " across the sector.",
    "The survivors were supported by a local legal aid clinic and a migrant workers' union.",
    "Researchers interviewed more than two hundred workers in three provinces over a year.",
    "The government promised to publish the names of companies found responsible.",
    "Trade unions will monitor implementation together with the labour inspectorate.",
]


@dataclass(frozen=True, slots=True)
class Feed:
    """One generated feed document, served at http://host:port/path."""

    host: str
    path: str
    body: bytes
    content_type: str
    last_modified: datetime
    entries: int


def origin_sizes(sources: int) -> list[int]:
    """How many feeds each origin serves: PATTERN scaled to `sources`, at most 150 origins."""
    if sources <= 0:
        return []
    sizes: list[int] = []
    remaining = sources
    for size in PATTERN:
        if remaining == 0:
            break
        take = min(remaining, max(1, round(size * sources / PATTERN_TOTAL)))
        sizes.append(take)
        remaining -= take
    index = 0
    while remaining:  # rounding left a few over: spread them round-robin
        sizes[index % len(sizes)] += 1
        remaining -= 1
        index += 1
    return sizes


def origin_host(index: int) -> str:
    """Loopback address of origin `index`; all of 127.0.0.0/8 is loopback on Linux."""
    number = FIRST_HOST + index
    return f"127.0.{number // 256}.{number % 256}"


def generate(
    sources: int,
    *,
    entries: int | None = None,
    port: int = 80,
    seed: int = 4,
    now: datetime | None = None,
) -> list[Feed]:
    """`sources` feeds over origin_sizes(sources) origins; `entries` per feed or 20–50.

    `port` is where the server listens, for the feeds' self links.
    """
    rng = random.Random(seed)  # reproducible text, not security
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    base = now - timedelta(days=1)  # every date is in the past: nothing is clamped
    pool = [_story(rng, n) for n in range(300)]  # stories several partners re-publish
    feeds: list[Feed] = []
    for origin, size in enumerate(origin_sizes(sources)):
        org = f"{rng.choice(_ORG_WORDS)} {rng.choice(_ORG_KINDS)}"
        slug = f"partner-{origin:03d}"
        host = origin_host(origin)
        for number in range(size):
            topic = _FEED_TOPICS[number % len(_FEED_TOPICS)]
            count = entries if entries is not None else rng.randint(20, 50)
            spacing = timedelta(hours=rng.randint(6, 72))
            items = []
            for index in range(count):
                published = base - spacing * index - timedelta(minutes=rng.randint(0, 59))
                if rng.random() < 0.1:
                    title, link, key = rng.choice(pool)
                    link += f"?utm_source={slug}&utm_medium=rss&utm_campaign={topic}"
                    key = f"{slug}-{key}"
                else:
                    title, link, key = _story(rng, index, f"{slug}.example.org/{topic}-{number}")
                summary = " ".join(rng.sample(_SENTENCES, rng.randint(2, 4)))
                items.append((key, title, link, published, summary, rng.choice(_SECTORS)))
            atom = number % 3 == 2
            name = f"{org}: {topic.replace('-', ' ')}"
            path = f"/{slug}/{topic}-{number}.{'atom' if atom else 'rss'}"
            url = f"http://{host}:{port}{path}"
            render = _atom if atom else _rss
            feeds.append(
                Feed(
                    host=host,
                    path=path,
                    body=render(name, f"https://{slug}.example.org/", url, base, items),
                    content_type=(
                        "application/atom+xml; charset=utf-8"
                        if atom
                        else "application/rss+xml; charset=utf-8"
                    ),
                    last_modified=base,
                    entries=count,
                )
            )
    return feeds


def _story(rng: random.Random, number: int, site: str = "news.example.org") -> tuple[str, str, str]:
    template = rng.choice(_TITLES)
    title = template.format(
        country=rng.choice(_COUNTRIES), sector=rng.choice(_SECTORS), n=rng.randint(3, 900)
    )
    words = "".join(c if c.isalnum() else "-" for c in title.lower()).split("-")
    slug = "-".join(w for w in words if w)[:60]
    key = f"{number:04d}-{rng.getrandbits(32):08x}"
    return title, f"https://{site}/{key}/{slug}", key


Item = tuple[str, str, str, datetime, str, str]


def _rss(name: str, home: str, url: str, built: datetime, items: list[Item]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>{escape(name)}</title>\n<link>{escape(home)}</link>\n"
        f"<description>{escape(name)} — synthetic benchmark feed</description>\n"
        f"<language>en</language>\n<lastBuildDate>{format_datetime(built)}</lastBuildDate>\n"
        f'<atom:link rel="self" type="application/rss+xml" href="{escape(url)}"/>\n'
    ]
    for key, title, link, published, summary, sector in items:
        parts.append(
            f"<item>\n<title>{escape(title)}</title>\n<link>{escape(link)}</link>\n"
            f'<guid isPermaLink="false">{escape(key)}</guid>\n'
            f"<pubDate>{format_datetime(published)}</pubDate>\n"
            f"<category>Forced labour</category>\n<category>{escape(sector)}</category>\n"
            f"<description>{escape(f'<p>{summary}</p>')}</description>\n</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode()


def _atom(name: str, home: str, url: str, built: datetime, items: list[Item]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>{escape(name)}</title>\n<id>{escape(url)}</id>\n"
        f'<link rel="alternate" href="{escape(home)}"/>\n<link rel="self" href="{escape(url)}"/>\n'
        f"<updated>{built.isoformat()}</updated>\n<author><name>{escape(name)}</name></author>\n"
    ]
    for key, title, link, published, summary, sector in items:
        parts.append(
            f"<entry>\n<title>{escape(title)}</title>\n"
            f'<link rel="alternate" href="{escape(link)}"/>\n'
            f"<id>tag:{escape(home[8:-1])},2026:{escape(key)}</id>\n"
            f"<published>{published.isoformat()}</published>\n"
            f"<updated>{published.isoformat()}</updated>\n"
            f'<category term="forced-labour"/>\n<category term="{escape(sector)}"/>\n'
            f'<summary type="html">{escape(f"<p>{summary}</p>")}</summary>\n</entry>\n'
        )
    parts.append("</feed>\n")
    return "".join(parts).encode()
