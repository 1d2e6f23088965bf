"""Page language: the declared tag, and a stopword count over the visible text."""

from __future__ import annotations

# Short, frequent function words that rarely occur in other languages' running text.
_STOPWORDS: dict[str, str] = {
    "en": "the and of to in is for with that on are our you your we this from",
    "de": "der die das und ist nicht mit für auf den von zu ein eine wir sie unsere",
    "fr": "le la les et des est pour une dans que sur nous vous avec du au",
    "es": "el la los las y es para una en que por con del nuestro su al",
    "it": "il la le e di che per una con del della sono nostro gli al",
    "nl": "de het een en van is voor met op dat zijn wij ons onze u niet",
    "pt": "o a os as e de que para uma com do da em nossa não são",
    "pl": "i w na z się nie do jest dla oraz że to od przez jak",
    "sv": "och att det är för med som på av en ett till vi vår inte",
    "da": "og at det er for med som på af en et til vi vores ikke",
}
_INDEX: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOPWORDS.items():
    for _word in _words.split():
        _INDEX[_word] = (*_INDEX.get(_word, ()), _lang)
_MIN_HITS = 8


def primary_tag(tag: str | None) -> str | None:
    """``de-AT`` -> ``de``; None for empty or malformed tags."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if 2 <= len(primary) <= 3 and primary.isalpha() else None


def detect(text_lower: str, max_chars: int = 6000) -> str | None:
    """The language whose stopwords dominate the start of a lower-cased text, or None."""
    counts = dict.fromkeys(_STOPWORDS, 0)
    index = _INDEX
    for word in text_lower[:max_chars].split():
        langs = index.get(word)
        if langs:
            for lang in langs:
                counts[lang] += 1
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    # Require enough evidence and a clear lead: short or mixed pages stay undetected.
    if top < _MIN_HITS or top < 1.5 * second:
        return None
    return best
