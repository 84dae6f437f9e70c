"""Classification cost against the parse stage, on 50,000 synthetic entries in one run.

Run: `python -m benchmarks.classify_speed` (`--entries N` for another size).
It writes (in memory, with a fixed seed) 2,500 RSS 2.0 feeds of 20 items in
English, French and Spanish: titles and HTML summaries from word banks (forced
labour news and general news mixed), a `content:encoded` body on a third of the
items, a declared `<language>` on three feeds in four (region variants such as
"en-GB"), none on the rest, so the detector runs for a quarter of the entries.
Then, in this process, feed after feed (the stages alternate, so both see the
same load on a shared machine):

1. parse: `aggregator.parse.parse` on the body (feedparser, our decoder) -> RawEntry;
2. normalize (not timed; it makes the `Entry` values classify takes);
3. classify: `aggregator.classify.classify_entry` on every entry with the feed's
   declared language and a `filter = "topic"` source.

It prints the time of each stage, the ratio classify / parse (issue #6: at most
20 %), and the one-time start-up cost (lexicon load, language model load), which is
paid once per process, not per entry, and so is reported apart.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from html import escape

from aggregator.config import Source

TARGET = 0.20
PER_FEED = 20

_SUBJECTS = {
    "en": [
        "forced labour", "child labour", "human trafficking", "debt bondage", "modern slavery",
        "migrant workers", "domestic workers", "supply chains", "the minimum wage",
        "the labour market", "pension reform", "a heatwave", "the national football team",
        "interest rates", "press freedom", "drug trafficking", "recruitment fees",
    ],
    "fr": [
        "le travail forcé", "le travail des enfants", "la traite des êtres humains",
        "la servitude pour dettes", "l'esclavage moderne", "les travailleurs migrants",
        "les travailleuses domestiques", "le marché du travail", "la réforme des retraites",
        "la canicule", "l'équipe de France", "les taux d'intérêt", "le trafic de drogue",
    ],
    "es": [
        "el trabajo forzoso", "el trabajo infantil", "la trata de personas",
        "la servidumbre por deudas", "la esclavitud moderna", "los trabajadores migrantes",
        "las trabajadoras del hogar", "el mercado laboral", "la reforma de pensiones",
        "la ola de calor", "la selección de fútbol", "los tipos de interés", "el narcotráfico",
    ],
}  # fmt: skip
_PLACES = {
    "en": ["Brazil", "India", "Nepal", "Qatar", "Malaysia", "Ghana", "Peru", "the United Kingdom"],
    "fr": ["Brésil", "Côte d'Ivoire", "Niger", "Sénégal", "Madagascar", "Haïti", "France"],
    "es": ["Perú", "Bolivia", "México", "Colombia", "Argentina", "Guatemala", "España"],
}
_TEMPLATES = {
    "en": [
        "New report on {s} in {p}",
        "Webinar: tackling {s} in {p}",
        "{P}: government announces measures on {s}",
        "Workers speak out about {s} in {p}",
    ],
    "fr": [
        "Nouveau rapport sur {s} au {p}",
        "Webinaire : lutter contre {s} en {p}",
        "{P} : le gouvernement annonce des mesures contre {s}",
    ],
    "es": [
        "Nuevo informe sobre {s} en {p}",
        "Seminario web: combatir {s} en {p}",
        "{P}: el gobierno anuncia medidas contra {s}",
    ],
}
_FILLER = {
    "en": "The organisation said that the findings, based on interviews with workers, employers"
    " and officials over two years, show where action is needed and what has worked so far.",
    "fr": "L'organisation indique que les résultats, fondés sur des entretiens avec des"
    " travailleurs, des employeurs et des responsables, montrent où agir en priorité.",
    "es": "La organización señaló que los resultados, basados en entrevistas con trabajadores,"
    " empleadores y autoridades, muestran dónde es necesario actuar y qué ha funcionado.",
}
_DECLARED = {"en": ["en", "en-GB", "en-US"], "fr": ["fr", "fr-FR"], "es": ["es", "es-419", "es-ES"]}


def _text(rng: random.Random, language: str) -> tuple[str, str]:
    subject = rng.choice(_SUBJECTS[language])
    place = rng.choice(_PLACES[language])
    title = rng.choice(_TEMPLATES[language]).format(s=subject, p=place, P=place)
    other = rng.choice(_SUBJECTS[language])
    summary = (
        f"<p>{escape(title)}. {escape(_FILLER[language])} "
        f"<a href='https://partner.example/more'>More</a> on {escape(other)}.</p>"
    )
    return title, summary


def feeds(entries: int, seed: int = 6) -> list[bytes]:
    """RSS bodies holding `entries` items in all."""
    rng = random.Random(seed)
    bodies = []
    for number in range((entries + PER_FEED - 1) // PER_FEED):
        language = ("en", "fr", "es")[number % 3]
        declared = rng.choice(_DECLARED[language]) if number % 4 else None
        items = []
        for n in range(min(PER_FEED, entries - number * PER_FEED)):
            title, summary = _text(rng, language)
            content = ""
            if n % 3 == 0:
                paragraphs = "".join(f"<p>{escape(_FILLER[language])}</p>" for _ in range(12))
                content = f"<content:encoded><![CDATA[{summary}{paragraphs}]]></content:encoded>"
            items.append(
                f"<item><title>{escape(title)}</title>"
                f"<link>https://partner{number}.example/news/{n}</link>"
                f"<guid>https://partner{number}.example/news/{n}</guid>"
                f"<pubDate>Mon, 0{1 + n % 9} Jun 2026 10:00:00 GMT</pubDate>"
                f"<description>{escape(summary)}</description>{content}</item>"
            )
        language_element = f"<language>{declared}</language>" if declared else ""
        bodies.append(
            (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
                f"<channel><title>Partner {number}</title><link>https://partner{number}.example/</link>"
                f"<description>News</description>{language_element}{''.join(items)}</channel></rss>"
            ).encode()
        )
    return bodies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    args = parser.parse_args(argv)

    from aggregator.classify import classify_entry
    from aggregator.lexicon import Lexicon
    from aggregator.normalize import normalize_entry
    from aggregator.parse import parse

    bodies = feeds(args.entries)
    source = Source(id="bench", name="Bench", url="https://partner.example/feed")

    started = time.perf_counter()
    lexicon = Lexicon.load()
    classify_entry(
        normalize_entry(parse(bodies[0], None, source.url, source).entries[0], "b", source.url),
        source,
        lexicon,
    )  # the model of the language detector loads on first use
    from aggregator.classify import _detect

    _detect({"title": "warm up", "summary": ""}, lexicon)
    startup = time.perf_counter() - started

    # Stages alternate feed by feed, so both see the same load on a shared machine.
    parse_time = classify_time = 0.0
    count = relevant = 0
    for body in bodies:
        started = time.perf_counter()
        feed = parse(body, "application/rss+xml", source.url, source)
        parse_time += time.perf_counter() - started
        entries = [normalize_entry(raw, source.id, source.url) for raw in feed.entries]
        started = time.perf_counter()
        for entry in entries:
            relevant += classify_entry(entry, source, lexicon, feed_language=feed.language).relevant
        classify_time += time.perf_counter() - started
        count += len(entries)

    ratio = classify_time / parse_time
    print(f"entries: {count} in {len(bodies)} feeds ({relevant} relevant)")
    print(f"parse:    {parse_time:7.2f} s  ({parse_time / count * 1e6:6.1f} µs/entry)")
    print(f"classify: {classify_time:7.2f} s  ({classify_time / count * 1e6:6.1f} µs/entry)")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"classify / parse = {ratio:.1%} (target <= {TARGET:.0%}): {verdict}")
    print(f"one-time start-up (lexicon + language model): {startup:.2f} s")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
