"""Language codes: everything a corpus uses, mapped to ISO 639-3.

Corpora name languages by ISO 639-1 (``de``), locales (``en_US``, ``zh-CN``,
``pt-BR``), English names (``german``, folder names of M-AILABS / MLS) or already
ISO 639-3 (``deu``). :func:`to_iso639_3` maps all of these through one table;
unknown or empty values become ``und`` only when the caller allows it.

Macro-language policy: Chinese ``zh`` maps to Mandarin ``cmn`` (the corpora that
say ``zh`` hold Mandarin; ``zh-HK``/``yue`` map to Cantonese ``yue``); Arabic
``ar`` to ``ara``; Persian ``fa`` to ``fas``; Malay ``ms`` to ``msa``.
"""

from __future__ import annotations

import re

# ISO 639-1 -> ISO 639-3 (individual language where the corpora mean one).
ISO1_TO_ISO3: dict[str, str] = {
    "af": "afr", "am": "amh", "ar": "ara", "as": "asm", "az": "aze", "ba": "bak",
    "be": "bel", "bg": "bul", "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos",
    "ca": "cat", "cs": "ces", "cv": "chv", "cy": "cym", "da": "dan", "de": "deu",
    "dv": "div", "el": "ell", "en": "eng", "eo": "epo", "es": "spa", "et": "est",
    "eu": "eus", "fa": "fas", "fi": "fin", "fo": "fao", "fr": "fra", "fy": "fry",
    "ga": "gle", "gd": "gla", "gl": "glg", "gn": "grn", "gu": "guj", "ha": "hau",
    "he": "heb", "hi": "hin", "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye",
    "ia": "ina", "id": "ind", "ig": "ibo", "is": "isl", "it": "ita", "ja": "jpn",
    "jv": "jav", "ka": "kat", "kk": "kaz", "km": "khm", "kn": "kan", "ko": "kor",
    "ku": "kur", "ky": "kir", "la": "lat", "lb": "ltz", "lg": "lug", "ln": "lin",
    "lo": "lao", "lt": "lit", "lv": "lav", "mg": "mlg", "mi": "mri", "mk": "mkd",
    "ml": "mal", "mn": "mon", "mr": "mar", "ms": "msa", "mt": "mlt", "my": "mya",
    "nb": "nob", "ne": "nep", "nl": "nld", "nn": "nno", "no": "nor", "oc": "oci",
    "or": "ori", "pa": "pan", "pl": "pol", "ps": "pus", "pt": "por", "rm": "roh",
    "ro": "ron", "ru": "rus", "rw": "kin", "sa": "san", "sc": "srd", "sd": "snd",
    "si": "sin", "sk": "slk", "sl": "slv", "sn": "sna", "so": "som", "sq": "sqi",
    "sr": "srp", "su": "sun", "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel",
    "tg": "tgk", "th": "tha", "ti": "tir", "tk": "tuk", "tl": "tgl", "tn": "tsn",
    "tr": "tur", "tt": "tat", "ug": "uig", "uk": "ukr", "ur": "urd", "uz": "uzb",
    "vi": "vie", "wo": "wol", "xh": "xho", "yi": "yid", "yo": "yor", "zh": "cmn",
    "zu": "zul",
}

# ISO 639-1 codes that FLEURS (ff_sn, ny_mw, om_et) and Common Voice (ab, an, os, tw) use.
ISO1_TO_ISO3.update({"ab": "abk", "an": "arg", "ff": "ful", "ny": "nya", "om": "orm",
                     "os": "oss", "tw": "twi"})

# Locales whose language differs from their ISO 639-1 prefix's default.
LOCALE_OVERRIDES: dict[str, str] = {
    "zh-hk": "yue", "zh-yue": "yue", "yue": "yue", "zh-tw": "cmn", "zh-cn": "cmn",
    "nan-tw": "nan", "sv-se": "swe", "ga-ie": "gle", "hy-am": "hye", "pa-in": "pan",
    "ne-np": "nep", "rm-sursilv": "roh", "rm-vallader": "roh", "fy-nl": "fry",
    "cnh": "cnh", "kab": "kab", "mhr": "mhr", "mrj": "mrj", "myv": "myv", "sah": "sah",
    "hsb": "hsb", "vot": "vot", "ckb": "ckb", "kmr": "kmr", "lij": "lij", "ast": "ast",
    "ltg": "ltg", "mdf": "mdf", "tig": "tig", "quy": "quy", "zgh": "zgh", "ady": "ady",
    "bas": "bas", "dyu": "dyu", "tok": "tok", "skr": "skr", "nhi": "nhi", "ibo": "ibo",
}

# English names, as folder names of M-AILABS, MLS, WaveFake sources and others use.
NAME_TO_ISO3: dict[str, str] = {
    "english": "eng", "german": "deu", "french": "fra", "spanish": "spa",
    "italian": "ita", "polish": "pol", "portuguese": "por", "dutch": "nld",
    "russian": "rus", "ukrainian": "ukr", "chinese": "cmn", "mandarin": "cmn",
    "cantonese": "yue", "japanese": "jpn", "korean": "kor", "arabic": "ara",
    "hindi": "hin", "turkish": "tur", "czech": "ces", "swedish": "swe",
    "finnish": "fin", "hungarian": "hun", "greek": "ell", "romanian": "ron",
    "bulgarian": "bul", "danish": "dan", "estonian": "est", "latvian": "lav",
    "lithuanian": "lit", "slovak": "slk", "slovenian": "slv", "croatian": "hrv",
    "serbian": "srp", "catalan": "cat", "basque": "eus", "welsh": "cym",
    "irish": "gle", "persian": "fas", "farsi": "fas", "urdu": "urd",
    "bengali": "ben", "tamil": "tam", "telugu": "tel", "vietnamese": "vie",
    "thai": "tha", "indonesian": "ind", "malay": "msa", "swahili": "swa",
    "hebrew": "heb", "norwegian": "nor", "icelandic": "isl", "maltese": "mlt",
}

ISO3_CODES: frozenset[str] = frozenset(
    set(ISO1_TO_ISO3.values()) | set(LOCALE_OVERRIDES.values()) | set(NAME_TO_ISO3.values())
    | {"und", "mul", "zho", "nan", "wuu", "hak", "fil", "gsw", "bar"}
)

_ISO3_RE = re.compile(r"^[a-z]{3}$")
UNDETERMINED = "und"


def to_iso639_3(value: str | None, *, strict: bool = False) -> str | None:
    """Map a corpus's language label to ISO 639-3.

    Args:
        value: ``de``, ``de_DE``, ``de-DE``, ``deu``, ``German`` ... (case-insensitive).
        strict: when True, an unknown value returns None (the caller reports it);
            otherwise it returns ``und``.

    Returns:
        The three-letter code; ``und`` for empty values.
    """
    if value is None:
        return UNDETERMINED
    text = str(value).strip().lower().replace("_", "-")
    if not text or text in {"und", "unknown", "-", "none", "nan"}:
        return UNDETERMINED
    if text in LOCALE_OVERRIDES:
        return LOCALE_OVERRIDES[text]
    if text in NAME_TO_ISO3:
        return NAME_TO_ISO3[text]
    if text in ISO1_TO_ISO3:
        return ISO1_TO_ISO3[text]
    if text in ISO3_CODES:
        return text
    head = text.split("-", 1)[0]
    if head != text:
        return to_iso639_3(head, strict=strict)
    if _ISO3_RE.match(text):
        # A three-letter code not in our table: trust it (ISO 639-3 has ~7,900).
        return text
    return None if strict else UNDETERMINED
