"""Mongolian first, English second: default language, the remembered switch, complete catalogues, 404s."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django_countries.fields import Country

ROOT = Path(settings.BASE_DIR)
CATALOGUES = {  # message catalogue -> the templates whose strings it must hold
    ROOT / "catalog/locale/mn/LC_MESSAGES/django.po": sorted((ROOT / "catalog/templates").rglob("*.html")),
    ROOT / "locale/mn/LC_MESSAGES/django.po": [ROOT / "templates/base.html", ROOT / "templates/404.html"],
}
CYRILLIC = re.compile(r"[А-Яа-яЁёӨөҮү]")


def parse_po(path):
    """[(msgid, [msgstr...], flags)] of a .po file (enough of the format for these checks)."""
    entries, current, field = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if current and current["msgid"]:
                entries.append(current)
            current, field = None, None
            continue
        current = current or {"msgid": "", "msgstr": {}, "flags": "", "context": None, "plural": False}
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("msgctxt "):
            field = ("context", None)
            current["context"] = eval(line[8:])  # noqa: S307
        elif line.startswith("msgid_plural "):
            field = ("plural", None)
            current["plural"] = True
        elif line.startswith("msgid "):
            field = ("msgid", None)
            current["msgid"] = eval(line[6:])  # noqa: S307 - a quoted .po string literal
        elif line.startswith("msgstr"):
            index = re.match(r"msgstr(?:\[(\d+)\])?", line).group(1) or "0"
            field = ("msgstr", index)
            current["msgstr"][index] = eval(line.split(" ", 1)[1])  # noqa: S307
        elif line.startswith('"') and field:
            if field[0] == "msgid":
                current["msgid"] += eval(line)  # noqa: S307
            elif field[0] == "msgstr":
                current["msgstr"][field[1]] += eval(line)  # noqa: S307
    return entries


@pytest.mark.parametrize("po", list(CATALOGUES), ids=lambda p: str(p.relative_to(ROOT)))
def test_mongolian_catalogue_is_complete_and_really_mongolian(po):
    entries = parse_po(po)
    assert entries
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert entry["msgstr"] and all(entry["msgstr"].values()), f"untranslated: {entry['msgid']!r}"
        for text in entry["msgstr"].values():
            assert CYRILLIC.search(text), f"not Mongolian: {entry['msgid']!r} -> {text!r}"
            for placeholder in re.findall(r"%\(\w+\)s", entry["msgid"]):
                assert placeholder in text, (entry["msgid"], text)


@pytest.mark.parametrize("po", list(CATALOGUES), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_template_translate_string_is_in_its_catalogue(po):
    msgids = {entry["msgid"] for entry in parse_po(po)}
    for template in CATALOGUES[po]:
        for literal in re.findall(
            r"""{%\s*translate\s+(?:"([^"]*)"|'([^']*)')""", template.read_text(encoding="utf-8")
        ):
            text = literal[0] or literal[1]
            assert text in msgids, f"{template.name}: {text!r} missing from {po}"


@pytest.mark.parametrize("po", list(CATALOGUES), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_other_catalogue_shadows_ours(po):
    """Apps listed before ours (admin, django-countries...) win for a shared msgid; use a context then."""
    with translation.override("mn"):
        for entry in parse_po(po):
            if entry["plural"]:
                continue
            if entry["context"]:
                shown = translation.pgettext(entry["context"], entry["msgid"])
            else:
                shown = translation.gettext(entry["msgid"])
            assert shown == entry["msgstr"]["0"], (entry["msgid"], shown)


def test_english_catalogues_exist():
    for po in CATALOGUES:
        assert Path(str(po).replace("/mn/", "/en/")).exists()


@pytest.mark.django_db
def test_mongolian_is_the_default(client):
    response = client.get("/")
    html = response.content.decode()
    assert '<html lang="mn">' in html
    assert "Аялалдаа мобайл дата" in html
    assert "Travel eSIMs" not in html


@pytest.mark.django_db
def test_switcher_remembers_english_in_a_cookie(client):
    page = client.get("/countries/").content.decode()
    assert 'href="/lang/en/?next=/countries/"' in page  # a plain link: the page holds no CSRF token
    response = client.get("/lang/en/", {"next": "/countries/"})
    assert response.status_code == 302 and response["Location"] == "/countries/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en" and int(cookie["max-age"]) >= 30 * 24 * 3600
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html and "Mobile data for your trip" in html
    client.get("/lang/mn/", {"next": "/"})
    assert '<html lang="mn">' in client.get("/").content.decode()


def test_country_names_come_translated_from_django_countries():
    with translation.override("mn"):
        assert Country("JP").name == "Япон"
        assert Country("MN").name == "Монгол Улс"
    with translation.override("en"):
        assert Country("JP").name == "Japan"


@pytest.mark.django_db
@pytest.mark.parametrize("language, text", [("mn", "Хуудас олдсонгүй"), ("en", "Page not found")])
def test_unknown_url_gives_a_friendly_localized_404_with_debug_off(client, settings, language, text):
    settings.DEBUG = False
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert text in html
    assert 'name="q"' in html  # offers the destination search
    assert "Traceback" not in html
