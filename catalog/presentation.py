"""Shopper-facing derived values of catalogue data: readable sizes, per-GB prices, plan names,
unlimited-plan policies, region names and locale-aware alphabetical ordering.

Pure functions (no queries) so pages, the API and tests share one definition.
"""

import re
import unicodedata
from functools import lru_cache

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_countries import countries as country_registry
from django_countries.fields import Country as CountryCode

MB_PER_GB = 1000  # eSIM Go data amounts are decimal MB: 1 GB bundle = 1000.

# eSIM Go region names (as they appear on catalogue country objects) in the shopper's language.
REGION_NAMES = {
    "Africa": gettext_lazy("Africa"),
    "Antarctica": gettext_lazy("Antarctica"),
    "Asia": gettext_lazy("Asia"),
    "Caribbean": gettext_lazy("Caribbean"),
    "Central America": gettext_lazy("Central America"),
    "Europe": gettext_lazy("Europe"),
    "Global": gettext_lazy("Global"),
    "LATAM": gettext_lazy("Latin America"),
    "Middle East": gettext_lazy("Middle East"),
    "North America": gettext_lazy("North America"),
    "Oceania": gettext_lazy("Oceania"),
    "South America": gettext_lazy("South America"),
}


def region_display_name(name: str) -> str:
    return str(REGION_NAMES.get(name, name))


def format_mnt(value) -> str:
    """12500 -> '12,500₮'. Non-numbers give '' (templates never crash on bad data)."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    return f"{amount:,}₮"


def format_data_amount(data_amount_mb: int, unlimited: bool = False) -> str:
    if unlimited or data_amount_mb is None or data_amount_mb < 0:
        return _("Unlimited")
    if data_amount_mb >= MB_PER_GB:
        gigabytes = data_amount_mb / MB_PER_GB
        shown = f"{gigabytes:.0f}" if data_amount_mb % MB_PER_GB == 0 else f"{gigabytes:.1f}".rstrip("0").rstrip(".")
        return _("%(amount)s GB") % {"amount": shown}
    return _("%(amount)s MB") % {"amount": data_amount_mb}


def format_days(days: int) -> str:
    return ngettext("%(count)s day", "%(count)s days", days) % {"count": days}


def price_per_gb_mnt(price_mnt: int, data_amount_mb: int, unlimited: bool) -> int | None:
    """Retail MNT per GB, rounded to the nearest tugrik (integer arithmetic); None when unlimited."""
    if unlimited or data_amount_mb is None or data_amount_mb <= 0:
        return None
    return (price_mnt * MB_PER_GB + data_amount_mb // 2) // data_amount_mb


def format_speed(speed) -> str:
    if isinstance(speed, str):
        return speed
    return " / ".join(str(s) for s in speed or [])


# Daily high-speed allowance of eSIM Go unlimited tiers, keyed by the tier in the bundle name
# (esim_UL_1D_TR_V2, esim_ULE_..., esim_ULP_...); see docs/providers/esimgo.md, Catalogue.
_UNLIMITED_TIER = re.compile(r"(?:^|_)(ULE|ULP|UL)(?:_|$)")


def unlimited_policy(bundle_name: str, unlimited: bool) -> str:
    if not unlimited:
        return ""
    match = _UNLIMITED_TIER.search(bundle_name)
    tier = match.group(1) if match else None
    if tier == "UL":
        return _("Unlimited Lite: the first 1 GB every 24 hours at full speed, then up to 512 kbps until the next day.")
    if tier == "ULE":
        return _(
            "Unlimited Essential: the first 1 GB every 24 hours at full speed, then up to 1.25 Mbps until the next day."
        )
    if tier == "ULP":
        return _("Unlimited Plus: the first 2 GB every 24 hours at full speed, then up to 2 Mbps until the next day.")
    return _("Unlimited data; after heavy daily use the speed may be reduced until the next day.")


def unlimited_tier_label(bundle_name: str, unlimited: bool) -> str:
    """Short card text telling the unlimited tiers apart: the tier and its speed after the daily limit."""
    if not unlimited:
        return ""
    match = _UNLIMITED_TIER.search(bundle_name)
    tier = match.group(1) if match else None
    if tier == "UL":
        return _("Lite: 1 GB a day at full speed, then 512 kbps")
    if tier == "ULE":
        return _("Essential: 1 GB a day at full speed, then 1.25 Mbps")
    if tier == "ULP":
        return _("Plus: 2 GB a day at full speed, then 2 Mbps")
    return ""


# Where a plan works, as cards and tabs name it: one country, a region, or the world.
LOCAL, REGIONAL, GLOBAL = "local", "regional", "global"
GLOBAL_MIN_REGIONS = 3


def plan_scope(covers_count: int, regions_count: int) -> str:
    if covers_count <= 1:
        return LOCAL
    return GLOBAL if regions_count >= GLOBAL_MIN_REGIONS else REGIONAL


def scope_label(scope: str, covers_count: int) -> str:
    if scope == LOCAL:
        return _("This country only")
    if scope == GLOBAL:
        return ngettext("Global · %(counter)s country", "Global · %(counter)s countries", covers_count) % {
            "counter": covers_count
        }
    return ngettext("Regional · %(counter)s country", "Regional · %(counter)s countries", covers_count) % {
        "counter": covers_count
    }


def autostart_explanation(autostart: bool) -> str:
    if autostart:
        return _(
            "Starts by itself: the validity period begins when your phone first connects to a network "
            "in a covered country, not when you buy or install the eSIM."
        )
    return _(
        "Does not wait for your arrival: the validity period may begin as soon as the plan is added "
        "to your eSIM, so buy it shortly before your trip."
    )


@lru_cache(maxsize=8)
def country_names(language: str) -> dict[str, str]:
    """ISO code -> django-countries name in `language` (static per process; lists look names up a lot)."""
    with translation.override(language):
        return {code: str(name) for code, name in country_registry}


@lru_cache(maxsize=8)
def country_order(language: str) -> dict[str, tuple[int, str, str]]:
    """ISO code -> (rank, name, index letter) of every country in `language`'s alphabetical order.

    Country names are static (django-countries), so the collation sort of ~250 names runs once
    per language and process; lists then sort sellable countries by rank, which is trivial.
    """
    names = country_names(language)
    ordered = sorted(names, key=lambda iso: collation_key(names[iso], language))
    return {iso: (rank, names[iso], index_letter(names[iso], language)) for rank, iso in enumerate(ordered)}


def country_name(iso: str) -> str:
    return country_names(translation.get_language() or "mn").get(iso) or CountryCode(code=iso).name or iso


def country_flag(iso: str) -> str:
    """Emoji flag (a pair of regional indicator symbols); no remote images."""
    if len(iso) != 2 or not iso.isascii() or not iso.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in iso.upper())


def coverage_label(countries: list[tuple[str, str]]) -> str:
    """What a plan covers, for its readable name.

    countries: [(iso, region name)] of every covered country (base and roaming).
    """
    if len(countries) == 1:
        return country_name(countries[0][0])
    regions = {region for _iso, region in countries if region}
    count = len(countries)
    if len(regions) == 1:
        return ngettext("%(region)s (%(count)s country)", "%(region)s (%(count)s countries)", count) % {
            "region": region_display_name(regions.pop()),
            "count": count,
        }
    return ngettext("Multi-country (%(count)s country)", "Multi-country (%(count)s countries)", count) % {
        "count": count
    }


def plan_name(label: str, data_amount_mb: int, unlimited: bool, duration_days: int) -> str:
    """'Mongolia 1 GB · 7 days'."""
    return f"{label} {format_data_amount(data_amount_mb, unlimited)} · {format_days(duration_days)}"


# --- Alphabetical order and index letters ------------------------------------------------
# Python's code-point order puts Ё before А and Ө, Ү after Я; Mongolian dictionaries put
# Ё after Е, Ө after О and Ү after У. Latin names ignore accents (Åland sorts under A).
_ALPHABETS = {
    "mn": "АБВГДЕЁЖЗИЙКЛМНОӨПРСТУҮФХЦЧШЩЪЫЬЭЮЯ",
    "en": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
}
_OTHER_SCRIPT_OFFSET = 100
_UNKNOWN_OFFSET = 1000


def _alphabet(language: str) -> str:
    return _ALPHABETS.get((language or "en").split("-")[0], _ALPHABETS["en"])


def _letter(char: str, alphabet: str) -> str | None:
    """The alphabet letter a character files under (É -> E; Й stays Й in Cyrillic)."""
    upper = char.upper()
    if upper in alphabet:
        return upper
    base = unicodedata.normalize("NFD", upper)[0]
    return base if base in alphabet else None


def collation_key(text: str, language: str) -> tuple:
    own = _alphabet(language)
    other = _ALPHABETS["mn"] if own == _ALPHABETS["en"] else _ALPHABETS["en"]
    key = []
    for char in text:
        letter = _letter(char, own)
        if letter:
            key.append(own.index(letter) + 1)
            continue
        letter = _letter(char, other)
        if letter:
            key.append(_OTHER_SCRIPT_OFFSET + other.index(letter))
        elif char.isspace():
            key.append(0)
        elif char.isalnum():
            key.append(_UNKNOWN_OFFSET + ord(char))
        # punctuation (apostrophes, brackets, dots) does not affect the order
    return tuple(key)


def index_letter(text: str, language: str) -> str:
    """The A–Z heading a name files under: first letter without accents, or '#'."""
    for char in text:
        if char.isalpha():
            return (
                _letter(char, _alphabet(language))
                or _letter(char, _ALPHABETS["en"])
                or _letter(char, _ALPHABETS["mn"])
                or char.upper()
            )
    return "#"
