"""What shoppers type besides a country's name: cities, Latin spellings of the Mongolian names
("Tailand", "Yapon"), and region names ("Европ", "Asia", "Global").

Plain data and one transliteration function; catalog.selectors builds the search index from it.
"""
import unicodedata

# Common destinations of travellers from Mongolia: city (Latin and Cyrillic) -> ISO country code.
CITY_COUNTRY = {
    "tokyo": "JP", "токио": "JP", "osaka": "JP", "осака": "JP", "kyoto": "JP", "киото": "JP", "sapporo": "JP",
    "seoul": "KR", "сөүл": "KR", "сеул": "KR", "busan": "KR", "пусан": "KR", "бусан": "KR", "jeju": "KR", "жэжү": "KR",
    "incheon": "KR", "инчон": "KR",
    "beijing": "CN", "бээжин": "CN", "shanghai": "CN", "шанхай": "CN", "erlian": "CN", "эрээн": "CN",
    "hohhot": "CN", "хөх хот": "CN", "guangzhou": "CN", "гуанжоу": "CN", "shenzhen": "CN", "харбин": "CN",
    "hong kong": "HK", "хонконг": "HK", "macau": "MO", "макао": "MO", "taipei": "TW", "тайбэй": "TW",
    "bangkok": "TH", "бангкок": "TH", "phuket": "TH", "пхукет": "TH", "пукет": "TH", "pattaya": "TH", "паттая": "TH",
    "chiang mai": "TH",
    "hanoi": "VN", "ханой": "VN", "ho chi minh": "VN", "saigon": "VN", "da nang": "VN", "дананг": "VN",
    "nha trang": "VN", "нячанг": "VN",
    "bali": "ID", "бали": "ID", "jakarta": "ID", "жакарта": "ID",
    "kuala lumpur": "MY", "куала лумпур": "MY", "manila": "PH", "манила": "PH", "boracay": "PH",
    "singapore": "SG", "сингапур": "SG",
    "moscow": "RU", "москва": "RU", "irkutsk": "RU", "эрхүү": "RU", "иркутск": "RU", "ulan ude": "RU", "улаан үд": "RU",
    "новосибирск": "RU", "st petersburg": "RU",
    "astana": "KZ", "астана": "KZ", "almaty": "KZ", "алматы": "KZ",
    "istanbul": "TR", "истанбул": "TR", "стамбул": "TR", "antalya": "TR", "анталья": "TR",
    "dubai": "AE", "дубай": "AE", "abu dhabi": "AE",
    "paris": "FR", "парис": "FR", "париж": "FR", "london": "GB", "лондон": "GB", "berlin": "DE", "берлин": "DE",
    "frankfurt": "DE", "франкфурт": "DE", "rome": "IT", "ром": "IT", "рим": "IT", "milan": "IT", "милан": "IT",
    "prague": "CZ", "прага": "CZ", "vienna": "AT", "вена": "AT", "madrid": "ES", "barcelona": "ES",
    "барселона": "ES", "warsaw": "PL", "варшав": "PL", "budapest": "HU", "будапешт": "HU",
    "amsterdam": "NL", "амстердам": "NL",
    "new york": "US", "нью йорк": "US", "los angeles": "US", "лос анжелес": "US", "san francisco": "US",
    "chicago": "US", "чикаго": "US", "las vegas": "US", "лас вегас": "US", "washington": "US", "вашингтон": "US",
    "toronto": "CA", "торонто": "CA", "vancouver": "CA", "ванкувер": "CA",
    "sydney": "AU", "сидней": "AU", "melbourne": "AU", "мельбурн": "AU",
}

# Names Mongolians use that a transliteration of the catalogue name does not give.
EXTRA_COUNTRY_NAMES = {
    "KR": ["solongos"],
    "US": ["america", "amerik", "usa", "америк"],
    "GB": ["angli", "england", "uk", "англи"],
    "RU": ["oros", "орос"],
    "CN": ["khyatad", "hyatad", "china"],
    "DE": ["germani", "герман"],
}

# eSIM Go region names (catalog.presentation.REGION_NAMES keys) -> extra spellings.
REGION_ALIASES = {
    "Europe": ["europ", "европ", "европ тив", "evrop", "europa"],
    "Asia": ["ази", "azi", "ази тив"],
    "Middle East": ["ойрхи дорнод", "oirkhi dornod"],
    "North America": ["хойд америк"],
    "LATAM": ["латин америк", "latin america", "south america", "өмнөд америк"],
    "Africa": ["африк", "afrik"],
    "Oceania": ["номхон далай", "australia and oceania"],
}
GLOBAL_ALIASES = ["global", "глобал", "дэлхий", "дэлхий даяар", "worldwide", "world", "бүх улс", "олон улс"]
GLOBAL_SLUG = "global"

# Mongolian Cyrillic -> Latin as people type it on a Latin keyboard (the first spelling wins;
# the alternatives give a second key: "Хятад" -> "khyatad" and "hyatad").
_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "j", "з": "z", "и": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ү": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "yu", "я": "ya",
}
_ALTERNATIVES = {"х": "h", "ц": "c", "ө": "u", "ү": "u", "й": "y", "ж": "zh"}


def latin_spellings(text: str) -> set[str]:
    """The Latin spellings of a Cyrillic name ("Тайланд" -> {"tailand"}); empty for Latin text."""
    text = unicodedata.normalize("NFC", text.casefold())
    if not any(ch in _LATIN for ch in text):
        return set()
    main = "".join(_LATIN.get(ch, ch) for ch in text)
    alternative = "".join(_ALTERNATIVES.get(ch, _LATIN.get(ch, ch)) for ch in text)
    return {main, alternative}
