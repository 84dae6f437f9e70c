"""Classify stage (#6): relevance with its reasons, themes, kind, countries, language.

Each rule of the issue has a test here that fails when the rule is taken out;
the labelled set (tests/data/classify) holds the quality floor.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aggregator.classify import Classification, Match, classify, classify_entry
from aggregator.config import LexiconSettings, Source, loads
from aggregator.errors import ConfigError
from aggregator.lexicon import Lexicon, canonical, country_names, default_lexicon
from aggregator.models import Entry
from aggregator.similarity import fold
from benchmarks.classify_eval import (
    LANGUAGES,
    PRECISION_TARGET,
    RECALL_TARGET,
    load_items,
    run,
    score,
)

from .conftest import REPO

MINIMAL = '[aggregator]\ntitle = "t"\npublic_url = "https://news.example.org/fl/"\n'


def terms(result: Classification) -> set[str]:
    return {m.term for m in result.matches}


# --- folding and word boundaries ---


@pytest.mark.parametrize(
    "text",
    ["Côte d’Ivoire: TRAVAIL FORCÉ", "Straße", "niños, niñas; Perú", "İstanbul ﬁn"],
)
def test_canonical_agrees_with_similarity_fold_on_letters(text: str) -> None:
    assert canonical(text) == " ".join(re.sub(r"[^0-9a-z]+", " ", fold(text)).split())


def test_canonical_spells_out_letters_without_accents() -> None:
    assert canonical("main-d'œuvre forcée, Ærø") == "main d oeuvre forcee aero"


def test_matching_is_on_whole_words() -> None:
    assert classify("Unforced labours of love: a gardener's year").matches == ()
    assert not classify("Unforced labours of love: a gardener's year").relevant
    freed = classify("Forced labourers freed from a brick kiln")
    assert freed.relevant and "forced labourers" in terms(freed)


@pytest.mark.parametrize("title", ["Travail force : une enquete", "TRAVAIL FORCÉ : UNE ENQUÊTE"])
def test_accents_and_case_are_folded(title: str) -> None:
    result = classify(title)
    assert result.relevant
    assert [m.term for m in result.matches] == ["travail forcé"]


def test_british_and_us_spellings_both_match() -> None:
    assert terms(classify("Forced labor in fishing")) == {"forced labor"}
    assert classify("Forced labor in fishing").themes == ("forced-labour",)


# --- negative contexts ---


def test_labour_market_alone_is_a_negative_context_not_relevance() -> None:
    result = classify("Labour market reforms aim to cut youth unemployment")
    assert not result.relevant
    assert result.matches == ()
    assert [m.term for m in result.negatives] == ["labour market reforms"]
    assert result.score < 0


def test_forced_labour_and_the_labour_market_is_relevant() -> None:
    result = classify("Forced labour and the labour market: why enforcement matters")
    assert result.relevant
    assert "forced labour" in terms(result)
    assert [m.term for m in result.negatives] == ["labour market"]
    assert result.score == pytest.approx(6.0 - 2.0)  # both in the title (factor 2)


@pytest.mark.parametrize(
    "title",
    [
        "Record seizure in drug trafficking operation",
        "Pangolin scales seized: the trafficking of wildlife grows",
        "Trafic de drogue : saisie record au port",
        "Narcotráfico: incautan cinco toneladas",
    ],
)
def test_a_negative_context_cancels_the_term_inside_it(title: str) -> None:
    result = classify(title)
    assert not result.relevant
    assert not result.matches
    assert result.negatives


def test_a_negative_context_cancels_a_term_it_only_overlaps() -> None:
    # "víctimas de la trata" (a term) overlaps "trata transatlántica" (history).
    result = classify(
        "Conmemoración de la abolición",
        "Historiadores recuerdan a las víctimas de la trata transatlántica.",
    )
    assert not result.relevant
    assert "víctimas de la trata" not in terms(result)
    assert "trata transatlántica" in {m.term for m in result.negatives}


@pytest.mark.parametrize(
    ("title", "relevant"),
    [
        ("Se trata de una reforma necesaria", False),  # "it is about"
        ("El ministro trata de calmar a los mercados", False),  # "tries to"
        ("Juicio por trata: menores obligados a cometer robos", True),
        ("Le traité sur la haute mer entre en vigueur", False),  # "traité" folds to "traite"
        ("La police démantèle un réseau présumé de traite", True),
        ("La traite robotisée séduit les éleveurs laitiers", False),  # milking
    ],
)
def test_neutral_phrases_take_away_homonyms(title: str, relevant: bool) -> None:
    assert classify(title).relevant is relevant


def test_historical_slavery_is_not_modern_slavery() -> None:
    assert not classify("Slavery reparations debate returns to parliament").relevant
    assert not classify("La traite des Noirs au cœur d'une exposition").relevant
    assert classify("Modern Slavery Act: new statutory guidance").relevant


# --- weights, fields, threshold ---


def test_title_matches_weigh_more_than_summary_and_fields_are_recorded() -> None:
    in_title = classify("Debt bondage in rice mills", "Workers were freed.")
    in_summary = classify("Workers freed", "They were held in debt bondage.")
    assert in_title.matches == (Match("debt bondage", ("forced-labour",), "title", 6.0),)
    assert in_summary.matches == (Match("debt bondage", ("forced-labour",), "summary", 3.0),)
    assert in_title.score == 2 * in_summary.score


def test_a_weak_term_needs_the_title_or_a_second_signal() -> None:
    # "trafficking" weighs 1: 2 in a title reaches the threshold, 1 in a summary does not.
    assert classify("Trafficking cases rise at the border").relevant
    assert not classify("Border news", "Trafficking cases rose this year.").relevant
    assert classify("Border news", "Trafficking and exploitation rose.").score == 1.5


def test_each_phrase_counts_once_per_field() -> None:
    once = classify("News", "Forced labour.")
    thrice = classify("News", "Forced labour. Forced labour. Forced labour.")
    assert thrice.score == once.score and len(thrice.matches) == 1


def test_content_is_read_only_when_title_and_summary_are_not_enough() -> None:
    weak = classify("Monitoring report", "From the harvest.", "<p>Forced labour found.</p>")
    assert [(m.term, m.field, m.weight) for m in weak.matches] == [
        ("forced labour", "content", 1.5)
    ]
    strong = classify("Forced labour found", "In the harvest.", "<p>Debt bondage too.</p>")
    assert {m.field for m in strong.matches} == {"title"}


def test_markup_and_entities_are_not_text() -> None:
    result = classify("News", '<p class="forced labour">Child&nbsp;labour &amp; school</p>')
    assert terms(result) == {"child labour"}


def test_the_threshold_decides() -> None:
    strict = Lexicon.load(overrides=LexiconSettings(threshold=2.5))
    assert classify("Trafficking cases rise at the border").score == 2.0
    assert not classify("Trafficking cases rise at the border", lexicon=strict).relevant


def test_filter_all_keeps_everything_but_still_records_why() -> None:
    topic = classify("Minimum wage to rise in April", "Trafficking was not discussed.")
    everything = classify(
        "Minimum wage to rise in April", "Trafficking was not discussed.", source_filter="all"
    )
    assert not topic.relevant and everything.relevant
    assert everything.score == topic.score == 1.0
    assert everything.matches == topic.matches and terms(everything) == {"trafficking"}


# --- overrides from feeds.toml ---


def _lexicon(toml: str, tmp_path: Path | None = None) -> Lexicon:
    path = (tmp_path / "feeds.toml") if tmp_path else Path("feeds.toml")
    return Lexicon.load(overrides=loads(MINIMAL + toml, path).lexicon)


def test_config_terms_extend_the_lexicon_with_a_weight_or_as_a_list() -> None:
    lexicon = _lexicon(
        '[lexicon]\nterms = { forced-labour = ["peonage"],'
        ' fisheries = { "crew abandonment" = 2.0 } }\n'
    )
    assert not classify("Peonage on ranches").relevant
    result = classify("Peonage on ranches", lexicon=lexicon)
    assert result.relevant and result.themes == ("forced-labour",)
    abandoned = classify("Crew abandonment at sea", lexicon=lexicon)
    assert abandoned.relevant and abandoned.themes == ("fisheries",)
    assert "fisheries" in abandoned.tags


def test_config_terms_re_weight_and_remove_built_in_phrases() -> None:
    lexicon = _lexicon(
        '[lexicon]\nterms = { trafficking = { "trafficking" = 3.0 } }\nremove = ["slavery"]\n'
    )
    assert classify("Border news", "Trafficking cases rose.", lexicon=lexicon).relevant
    assert classify("Slavery still exists").relevant
    assert not classify("Slavery still exists", lexicon=lexicon).relevant


def test_config_negative_contexts_and_threshold() -> None:
    lexicon = _lexicon('[lexicon]\nnegative = { "trafficking figures" = 3.0 }\nthreshold = 1.0\n')
    result = classify("Trafficking figures for the port", lexicon=lexicon)
    assert not result.relevant and result.negatives[0].weight == -6.0
    assert classify("News", "Trafficking cases rose.", lexicon=lexicon).relevant  # 1 >= 1


def test_config_file_replaces_the_built_in_lexicon(tmp_path: Path) -> None:
    built_in = (REPO / "aggregator" / "lexicon.toml").read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(
        built_in.replace('"forced labour" = 3.0', '"forced labour" = 0.5'), encoding="utf-8"
    )
    lexicon = _lexicon('[lexicon]\nfile = "mine.toml"\n', tmp_path)
    assert not classify("News", "Forced labour.", lexicon=lexicon).relevant
    assert classify("News", "Forced labour.").relevant


def test_bad_lexicon_overrides_are_config_problems_with_fixes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        loads(
            MINIMAL + '[lexicon]\nremove = ["slavry"]\nterms = { news = ["x"] }\n'
            'negative = { "y" = 0 }\nthreshold = -1\nsynonyms = []\n',
            tmp_path / "feeds.toml",
        )
    problems = {p.key: p for p in info.value.problems}
    assert set(problems) == {
        "lexicon.negative",
        "lexicon.threshold",
        "lexicon.synonyms",
        "lexicon.remove",
        "lexicon.terms.news",
    }, problems  # all reported at once
    assert "did you mean 'slavery'" in problems["lexicon.remove"].hint
    assert problems["lexicon.remove"].line == 5
    assert "not a usable theme slug" in problems["lexicon.terms.news"].message


def test_a_broken_lexicon_file_is_reported_under_lexicon_file(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        'version = 1\n[themes.forced-labour.en]\n"forced labour" = "high"\n[colours]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        loads(MINIMAL + '[lexicon]\nfile = "bad.toml"\n', tmp_path / "feeds.toml")
    messages = [p.message for p in info.value.problems if p.key == "lexicon.file"]
    assert any("themes.forced-labour.en.'forced labour'" in m for m in messages), messages
    assert any("colours: unknown key" in m for m in messages), messages


def test_filter_is_validated_and_defaults_to_topic() -> None:
    config = loads(MINIMAL + '[[sources]]\nid = "a"\nurl = "https://a.example/f"\n')
    assert config.sources[0].filter == "topic"
    with pytest.raises(ConfigError) as info:
        loads(MINIMAL + '[[sources]]\nid = "a"\nurl = "https://a.example/f"\nfilter = "some"\n')
    (problem,) = info.value.problems
    assert problem.key == "sources[0] (a).filter" and '"all"' in problem.hint


def test_the_shipped_feeds_toml_keeps_dedicated_partners_whole() -> None:
    from aggregator.config import load

    filters = {s.id: s.filter for s in load(REPO / "feeds.toml").sources}
    assert filters["ilo-forced-labour"] == "all" and filters["anti-slavery-international"] == "all"
    assert filters["iom"] == "topic" and filters["bhrrc"] == "topic"


# --- themes and kind ---


def test_themes_are_tagged_heaviest_first() -> None:
    result = classify(
        "Child labour in cocoa supply chains",
        "Companies must trace their supply chains to end child labour.",
    )
    assert result.themes == ("child-labour", "supply-chains")


def test_a_hint_alone_tags_no_theme_and_is_not_relevant() -> None:
    result = classify("Logistics news", "Suppliers shipped more goods.")
    assert result.themes == () and not result.relevant


@pytest.mark.parametrize(
    ("title", "summary", "link", "kind"),
    [
        ("Webinar: fair recruitment", "Join us on 14 May.", None, "event"),
        ("Atelier de formation", "Il se tiendra à Dakar, à 14 h 30.", None, "event"),
        ("Seminario web sobre trabajo infantil", "Inscríbase.", None, "event"),
        ("Policy brief: non-punishment", "This brief explains the principle.", None, "publication"),
        ("Rapport : la traite des mineurs", "Le rapport compte 300 cas.", None, "publication"),
        ("Guía para empleadores", "Este manual ayuda a las empresas.", None, "publication"),
        ("Forced labour on farms", "Workers are trapped, report says.", None, "news"),
        ("Forced labour on farms", "Workers freed.", "https://x.example/events/2024/a", "event"),
        ("Forced labour on farms", "", "https://x.example/en/publications/x", "publication"),
        ("Workers locked in a garment workshop", "Police freed them.", None, "news"),
    ],
)  # fmt: skip
def test_kind(title: str, summary: str, link: str | None, kind: str) -> None:
    assert classify(title, summary, link=link).kind == kind


# --- countries ---


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Côte d'Ivoire : les coopératives de cacao", ("CI",)),
        ("Ivory Coast cocoa", ("CI",)),
        ("Brésil : 200 travailleurs libérés", ("BR",)),
        ("Perú: campaña contra el trabajo infantil", ("PE",)),
        ("Peru and Bolivia sign an agreement", ("PE", "BO")),
        ("Niger et Nigéria : coopération", ("NE", "NG")),
        ("Papua New Guinea adopts a plan", ("PG",)),
        ("Guinea and Guinea-Bissau sign", ("GN", "GW")),
        ("Oil theft in the Niger Delta", ("NG",)),
        ("New Jersey governor signs a wage bill", ()),
        ("Georgia lawmakers meet in Atlanta", ()),
        ("Georgia and Turkey agree to cooperate", ("GE", "TR")),
        ("Michael Jordan's sneakers sold", ()),
        ("Garment workers in Jordan", ("JO",)),
        ("Maurice Dupont nommé directeur", ()),
        ("Île Maurice : une unité spéciale", ("MU",)),
        ("La réunion du conseil reportée", ()),
        ("US Customs blocks imports", ("US",)),
        ("Let us end forced labour", ()),
        ("Tour de France : victoire d'étape", ()),
        ("Congo: a river journey", ()),
        ("République démocratique du Congo : mines", ("CD",)),
    ],
)
def test_countries_from_names_in_three_languages_without_false_friends(
    text: str, codes: tuple[str, ...]
) -> None:
    assert classify(text).countries == codes


def test_countries_come_from_title_and_summary_only() -> None:
    result = classify("Forced labour", "In Brazil.", "<p>Also in Peru.</p>", source_filter="all")
    assert result.countries == ("BR",)


def test_country_names_are_every_iso_3166_country() -> None:
    codes = set(country_names().values())
    assert len(codes) == 249  # every ISO 3166-1 alpha-2 code
    assert {"BR", "CI", "PE", "SS", "TL"} <= codes and not codes & {"EU", "XK", "ZZ"}


# --- language ---


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("en-GB", "en"), ("EN_us", "en"), ("fr-FR", "fr"), ("es-419", "es"), ("x", None)],
)
def test_declared_language_primary_subtag(declared: str, expected: str | None) -> None:
    result = classify("Webinar", declared_language=declared)
    assert result.language == expected


def test_language_is_detected_without_a_declaration() -> None:
    assert classify("Le travail des enfants recule dans les plantations").language == "fr"
    assert classify("El trabajo infantil baja en las plantaciones de café").language == "es"
    assert classify("Child labour falls in the cocoa plantations").language == "en"
    assert classify("Webinar").language is None  # too short to say
    assert classify("العمل القسري في المزارع", "تقرير جديد عن العمل القسري").language == "ar"


def test_a_declaration_the_words_clearly_contradict_is_corrected() -> None:
    # A multilingual partner feed declares "en" for its French items.
    french = classify(
        "Travail forcé : un nouveau guide pour les inspecteurs",
        "Le guide explique comment repérer les indicateurs du travail forcé lors des visites.",
        declared_language="en",
    )
    assert french.language == "fr"
    english = classify(
        "Forced labour: a guide", "The guide explains the indicators.", declared_language="en"
    )
    assert english.language == "en"


# --- tags and the entry API ---


def test_tags_are_stable_slugs_then_source_tags() -> None:
    result = classify(
        "Webinaire : le travail des enfants en Côte d'Ivoire",
        "Inscription gratuite.",
        declared_language="fr-FR",
        source_tags=("un", "child-labour"),
    )
    assert result.tags == ("child-labour", "event", "fr", "country-ci", "un")


def test_classify_entry_uses_the_source_filter_tags_and_link() -> None:
    entry = Entry(
        source_id="s",
        key="k",
        guid=None,
        link="https://ngo.example/events/webinar-1",
        canonical_url=None,
        title="Minimum wage rises",
        summary_html="<p>Pay news.</p>",
        content_html="",
        author=None,
        tags=(),
        published=None,
        updated=None,
        content_hash="h1:x",
    )
    source = Source(id="s", name="S", url="https://ngo.example/feed", tags=("ngo",), filter="all")
    result = classify_entry(entry, source, feed_language="en-US")
    assert result.relevant and result.kind == "event"
    assert result.tags == ("event", "en", "ngo")


# --- the lexicon file itself ---


def test_the_built_in_lexicon_loads_and_every_phrase_folds() -> None:
    lexicon = default_lexicon()
    assert lexicon.themes[:7] == (
        "forced-labour",
        "child-labour",
        "trafficking",
        "modern-slavery",
        "supply-chains",
        "migrant-workers",
        "domestic-work",
    )
    assert all(phrase and phrase == canonical(phrase) for phrase in lexicon.phrases)
    assert "forced labor" in lexicon.phrases and "explotacion laboral" in lexicon.phrases
    assert "explotacion laboural" not in lexicon.phrases  # no labour/labor games in Spanish


def test_a_bad_lexicon_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        Lexicon.load(REPO / "tests" / "data" / "classify" / "does-not-exist.toml")
    assert info.value.problems[0].key == "(file)"


# --- the labelled set: the quality floor of issue #6 ---


@pytest.mark.parametrize("name", ["eval.json", "holdout.json"])
def test_labelled_files_are_well_formed(name: str) -> None:
    items = load_items(REPO / "tests" / "data" / "classify" / name)
    codes = set(country_names().values())
    themes = set(default_lexicon().themes)
    assert len({item.id for item in items}) == len(items)
    assert len({item.title for item in items}) == len(items)
    for item in items:
        assert item.language in LANGUAGES and item.kind in ("news", "event", "publication")
        assert item.countries <= codes and item.themes <= themes, item.id
        assert item.relevant == bool(item.themes), item.id  # themes only on relevant items


def test_eval_set_meets_the_relevance_targets_in_each_language() -> None:
    items = load_items()
    assert len(items) >= 450
    for language in LANGUAGES:
        assert sum(item.language == language for item in items) >= 120, language
    table = score(items, [run(item) for item in items])
    for language in LANGUAGES:
        relevance = table[language].relevance
        assert relevance.precision >= PRECISION_TARGET, (language, relevance)
        assert relevance.recall >= RECALL_TARGET, (language, relevance)
    assert table["all"].kind / table["all"].items >= 0.9
    assert table["all"].language / table["all"].items >= 0.97
    assert table["all"].countries.f1 >= 0.9
