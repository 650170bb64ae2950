"""Pure-logic tests of the site catalogue generator (no servers)."""

from collections import Counter

import pytest

from gameday.site import catalog


def test_same_seed_gives_identical_output():
    assert list(catalog.generate(300, seed=7)) == list(catalog.generate(300, seed=7))
    assert list(catalog.generate()) == list(catalog.generate(2000, seed=20261124))


def test_different_seed_gives_different_output():
    assert list(catalog.generate(100, seed=1)) != list(catalog.generate(100, seed=2))


def test_default_count_ids_and_version():
    rows = list(catalog.generate())
    assert len(rows) == 2000
    assert [r["id"] for r in rows] == list(range(1, 2001))
    assert {r["version"] for r in rows} == {1}


def test_kinds_are_about_sixty_forty():
    kinds = Counter(r["kind"] for r in catalog.generate())
    assert set(kinds) == {"guidance", "monograph"}
    assert 0.55 <= kinds["guidance"] / 2000 <= 0.65


def test_slugs_unique_and_url_safe():
    rows = list(catalog.generate())
    slugs = [r["slug"] for r in rows]
    assert len(set(slugs)) == len(slugs)
    assert all(s and all(c.isalnum() or c == "-" for c in s) and s == s.lower() for s in slugs)


def test_slugs_stay_unique_beyond_the_title_pool():
    rows = list(catalog.generate(6000))
    assert len({r["slug"] for r in rows}) == 6000


def test_fields_are_complete_and_categories_known():
    for row in catalog.generate(500):
        assert set(row) == {"id", "kind", "slug", "title", "category", "summary", "body", "version"}
        assert row["category"] in catalog.CATEGORIES
        assert row["title"] and row["summary"]
        assert row["body"].count("\n\n") >= 2  # a few paragraphs


def test_monographs_are_named_after_real_medicines():
    assert len(catalog.MEDICINES) >= 150
    assert len(set(catalog.MEDICINES)) == len(catalog.MEDICINES)
    for name in ("apixaban", "metformin", "sertraline", "amoxicillin", "methotrexate"):
        assert name in catalog.MEDICINES
    for row in catalog.generate(400):
        if row["kind"] == "monograph":
            assert any(row["title"].lower().startswith(m) for m in catalog.MEDICINES)


def test_search_term_lists():
    for terms in (catalog.POPULAR_TERMS, catalog.LONG_TAIL_TERMS, catalog.MISSPELLINGS, catalog.EMPTY_RESULT_TERMS):
        assert len(terms) >= 5
        assert all(isinstance(t, str) and t.strip() for t in terms)
    for typo in ("paracetamoll", "amoxicilin", "sertaline"):
        assert typo in catalog.MISSPELLINGS
    assert not set(catalog.MISSPELLINGS) & set(catalog.MEDICINES)
    text = " ".join(f"{r['title']} {r['summary']} {r['body']}".lower() for r in catalog.generate())
    for term in catalog.EMPTY_RESULT_TERMS:
        assert all(word not in text for word in term.split())


def test_slugify_and_category_slug():
    assert catalog.slugify("Using apixaban in renal impairment") == "using-apixaban-in-renal-impairment"
    assert catalog.slugify("Medicines in pregnancy: sertraline") == "medicines-in-pregnancy-sertraline"
    assert catalog.category_slug("Care homes") == "care-homes"


def test_negative_n_rejected():
    with pytest.raises(ValueError):
        list(catalog.generate(-1))
