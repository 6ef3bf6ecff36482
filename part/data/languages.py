"""The language registry: one place that knows each language's code, name, script and voice.

Every other module asks this registry instead of keeping its own lists, so adding a language is one
``Language(...)`` line here (plus templates for the embedded corpus, if it should be synthesised).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 where one exists, else ISO 639-3 (yue)
    name: str  # English name, used in prompts ("Transcribe the audio in German.")
    cjk: bool = False  # scored by CER, with CJK characters split and Latin words kept whole
    espeak_voice: Optional[str] = None  # espeak-ng voice for the embedded corpus


LANGUAGES: Dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language("en", "English", espeak_voice="en"),
        Language("de", "German", espeak_voice="de"),
        Language("fr", "French", espeak_voice="fr"),
        Language("es", "Spanish", espeak_voice="es"),
        Language("it", "Italian", espeak_voice="it"),
        Language("ru", "Russian", espeak_voice="ru"),
        Language("pt", "Portuguese", espeak_voice="pt"),
        Language("nl", "Dutch", espeak_voice="nl"),
        Language("pl", "Polish", espeak_voice="pl"),
        Language("tr", "Turkish", espeak_voice="tr"),
        Language("ar", "Arabic", espeak_voice="ar"),
        Language("fa", "Persian", espeak_voice="fa"),
        Language("sv", "Swedish", espeak_voice="sv"),
        Language("ca", "Catalan", espeak_voice="ca"),
        Language("id", "Indonesian", espeak_voice="id"),
        Language("hi", "Hindi", espeak_voice="hi"),
        Language("vi", "Vietnamese", espeak_voice="vi"),
        Language("et", "Estonian", espeak_voice="et"),
        Language("mn", "Mongolian"),
        Language("cy", "Welsh", espeak_voice="cy"),
        Language("sl", "Slovenian", espeak_voice="sl"),
        Language("lv", "Latvian", espeak_voice="lv"),
        Language("ta", "Tamil", espeak_voice="ta"),
        Language("th", "Thai", cjk=True),
        # Mandarin: espeak-ng reads pinyin with tone digits through cmn-latn-pinyin.
        Language("zh", "Chinese", cjk=True, espeak_voice="cmn-latn-pinyin"),
        # Japanese: espeak-ng's ja voice reads kana only (kanji are converted first).
        Language("ja", "Japanese", cjk=True, espeak_voice="ja"),
        Language("ko", "Korean", cjk=True, espeak_voice="ko"),
        Language("yue", "Cantonese", cjk=True, espeak_voice="yue"),
    ]
}

# Common aliases found in corpus releases (CommonVoice locales, FLEURS codes) -> registry code.
ALIASES = {
    "zh-CN": "zh", "zh-TW": "zh", "zh-HK": "yue", "cmn": "zh", "cmn_hans_cn": "zh", "yue_hant_hk": "yue",
    "ja_jp": "ja", "ko_kr": "ko", "en_us": "en", "de_de": "de", "fr_fr": "fr", "es_419": "es",
    "it_it": "it", "ru_ru": "ru", "pt_br": "pt", "nl_nl": "nl", "pl_pl": "pl", "tr_tr": "tr",
    "ar_eg": "ar", "fa_ir": "fa", "sv_se": "sv", "ca_es": "ca", "id_id": "id", "hi_in": "hi",
    "vi_vn": "vi", "et_ee": "et", "mn_mn": "mn", "cy_gb": "cy", "sl_si": "sl", "lv_lv": "lv",
    "ta_in": "ta", "th_th": "th", "sv-SE": "sv", "pt-BR": "pt", "pt-PT": "pt", "es-ES": "es",
    "ja-JP": "ja", "ko-KR": "ko", "en-US": "en", "en-GB": "en",
}


def canonical_code(code: str) -> str:
    """Map a corpus' language tag to a registry code, or raise ``KeyError`` with the known codes."""
    if code in LANGUAGES:
        return code
    if code in ALIASES:
        return ALIASES[code]
    lowered = code.lower()
    if lowered in LANGUAGES:
        return lowered
    if lowered in ALIASES:
        return ALIASES[lowered]
    raise KeyError(
        f"unknown language code '{code}'; known codes: {' '.join(sorted(LANGUAGES))}. "
        "Add it to part/data/languages.py."
    )


def get_language(code: str) -> Language:
    return LANGUAGES[canonical_code(code)]


def is_cjk(code: str) -> bool:
    """True for languages scored by character error rate (zh, ja, ko, yue, th)."""
    return get_language(code).cjk
