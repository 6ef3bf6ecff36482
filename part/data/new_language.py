"""A corpus in a language the embedded world does not speak: Italian, in the generic layout, with English.

The embedded corpus (``part/data/embedded``) speaks en de fr es zh ja; its LLM and encoder have never seen
Italian. This module realises the embedded world's sentence frames in Italian (one more
:class:`~part.data.embedded.lang.base.Realiser`, kept outside the embedded corpus so that the corpus and
its fingerprint stay as they are), synthesises them with espeak-ng's ``it`` voice and writes a folder in
the generic layout (``part/data/corpora/generic.py``)::

    <out>/train.tsv dev.tsv test.tsv       id path text lang speaker translation_en
    <out>/wav/<split>/<id>.wav

It is what the new-language test (``tests/test_new_corpus.py``) and benchmark
(``bench/bench_new_language.py``) feed to a recipe made by ``egs/TEMPLATE/setup.sh``, and a worked example
for docs/new_corpus.md.

Held-out sentences: the test and dev sentences are drawn from the held-out tuples of the embedded
corpus of the same seed (its ``test``, ``dev`` and ``lm_dev`` splits), so neither they nor their English
translations were ever seen by the embedded recipe's LLM or encoder; the training sentences come from its
training tuples. No Italian sentence occurs in two splits (two tuples can read the same in Italian).

    python -m part.data.new_language --out /data/italian --num_train 1000 --num_dev 40 --num_test 100
"""
from __future__ import annotations

import argparse
import logging
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from part.data.embedded import concepts as C
from part.data.embedded.corpus import SIZES, ParallelTuple, build_corpus
from part.data.embedded.lang.base import Realiser, Sentence, capitalise
from part.data.embedded.synth import SpeechPlan, check_espeak, plan_utterance, synthesise
from part.fileio import atomic_write_lines

logger = logging.getLogger("part.data.new_language")

LANG = "it"

# id -> (gender, singular, plural[, gender of the plural]): "l'uovo" is masculine, "le uova" feminine.
NOUNS: Dict[str, Tuple[str, ...]] = {
    "dog": ("m", "cane", "cani"), "cat": ("m", "gatto", "gatti"), "rabbit": ("m", "coniglio", "conigli"),
    "mouse": ("m", "topo", "topi"), "bird": ("m", "uccello", "uccelli"), "fish": ("m", "pesce", "pesci"),
    "horse": ("m", "cavallo", "cavalli"), "cow": ("f", "mucca", "mucche"),
    "apple": ("f", "mela", "mele"), "banana": ("f", "banana", "banane"), "egg": ("m", "uovo", "uova", "f"),
    "orange": ("f", "arancia", "arance"), "tomato": ("m", "pomodoro", "pomodori"), "cake": ("f", "torta", "torte"),
    "bread": ("m", "pane", ""), "rice": ("m", "riso", ""), "cheese": ("m", "formaggio", ""),
    "soup": ("f", "zuppa", ""), "water": ("f", "acqua", ""), "milk": ("m", "latte", ""),
    "coffee": ("m", "caffè", ""), "tea": ("m", "tè", ""), "juice": ("m", "succo", ""),
    "book": ("m", "libro", "libri"), "newspaper": ("m", "giornale", "giornali"), "letter": ("f", "lettera", "lettere"),
    "bag": ("f", "borsa", "borse"), "umbrella": ("m", "ombrello", "ombrelli"), "ball": ("f", "palla", "palle"),
    "box": ("f", "scatola", "scatole"), "lamp": ("f", "lampada", "lampade"), "key": ("f", "chiave", "chiavi"),
    "pencil": ("f", "matita", "matite"), "computer": ("m", "computer", "computer"),
    "clock": ("m", "orologio", "orologi"), "photo": ("f", "foto", "foto"), "ticket": ("m", "biglietto", "biglietti"),
    "cup": ("f", "tazza", "tazze"), "bottle": ("f", "bottiglia", "bottiglie"), "plate": ("m", "piatto", "piatti"),
    "shirt": ("f", "camicia", "camicie"), "hat": ("m", "cappello", "cappelli"), "jacket": ("f", "giacca", "giacche"),
    "dress": ("m", "vestito", "vestiti"), "car": ("f", "macchina", "macchine"),
    "bicycle": ("f", "bicicletta", "biciclette"), "bus": ("m", "autobus", "autobus"), "boat": ("f", "barca", "barche"),
    "table": ("m", "tavolo", "tavoli"), "chair": ("f", "sedia", "sedie"), "bed": ("m", "letto", "letti"),
    "sofa": ("m", "divano", "divani"), "door": ("f", "porta", "porte"), "window": ("f", "finestra", "finestre"),
    "flower": ("m", "fiore", "fiori"), "tree": ("m", "albero", "alberi"),
    "child": ("m", "bambino", "bambini"), "student": ("m", "studente", "studenti"),
    "tourist": ("m", "turista", "turisti"), "teacher": ("m", "insegnante", "insegnanti"),
}


def _forms(spec: str) -> Tuple[str, ...]:
    """"rosso rossa rossi rosse" -> (m sg, f sg, m pl, f pl)."""
    parts = tuple(spec.split())
    assert len(parts) == 4, spec
    return parts


ADJECTIVES = {
    "red": _forms("rosso rossa rossi rosse"), "blue": _forms("blu blu blu blu"),
    "green": _forms("verde verde verdi verdi"), "yellow": _forms("giallo gialla gialli gialle"),
    "white": _forms("bianco bianca bianchi bianche"), "black": _forms("nero nera neri nere"),
    "brown": _forms("marrone marrone marroni marroni"),
    "big": _forms("grande grande grandi grandi"), "small": _forms("piccolo piccola piccoli piccole"),
    "new": _forms("nuovo nuova nuovi nuove"), "old": _forms("vecchio vecchia vecchi vecchie"),
    "beautiful": _forms("bello bella belli belle"), "cheap": _forms("economico economica economici economiche"),
    "expensive": _forms("caro cara cari care"), "heavy": _forms("pesante pesante pesanti pesanti"),
}
NUMBERS = dict(zip(range(1, 21), (
    "uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici quindici sedici "
    "diciassette diciotto diciannove venti").split()))
# id -> (gender, noun, where: the phrase for both "to" and "at/in", as Italian uses one for both).
PLACES = {
    "station": ("f", "stazione", "alla stazione"), "school": ("f", "scuola", "a scuola"),
    "park": ("m", "parco", "al parco"), "market": ("m", "mercato", "al mercato"),
    "library": ("f", "biblioteca", "in biblioteca"), "hospital": ("m", "ospedale", "in ospedale"),
    "museum": ("m", "museo", "al museo"), "restaurant": ("m", "ristorante", "al ristorante"),
    "bank": ("f", "banca", "in banca"), "beach": ("f", "spiaggia", "in spiaggia"),
    "office": ("m", "ufficio", "in ufficio"), "cinema": ("m", "cinema", "al cinema"),
    "supermarket": ("m", "supermercato", "al supermercato"), "bakery": ("f", "panetteria", "in panetteria"),
    "shop": ("m", "negozio", "al negozio"), "kitchen": ("f", "cucina", "in cucina"),
    "garden": ("m", "giardino", "in giardino"), "farm": ("f", "fattoria", "in fattoria"),
}
PREPOSITIONS = {"on": "su", "under": "sotto", "next_to": "accanto a", "behind": "dietro"}
CITIES = {"berlin": "Berlino", "paris": "Parigi", "madrid": "Madrid", "tokyo": "Tokyo", "beijing": "Pechino",
          "london": "Londra", "rome": "Roma"}
DAYS = {"monday": "lunedì", "tuesday": "martedì", "wednesday": "mercoledì", "thursday": "giovedì",
        "friday": "venerdì", "saturday": "sabato", "sunday": "domenica"}
PERIODS = {"morning": "ogni mattina", "evening": "ogni sera", "day": "ogni giorno", "week": "ogni settimana"}
STATES = {"tired": ("essere", _forms("stanco stanca stanchi stanche")), "hungry": ("avere", "fame"),
          "thirsty": ("avere", "sete"), "sick": ("essere", _forms("malato malata malati malate")),
          "busy": ("essere", _forms("occupato occupata occupati occupate"))}
WEATHER = {"cold": "fa freddo", "hot": "fa caldo", "rain": "piove", "snow": "nevica", "wind": "c'è vento"}
# Subject pronouns: dropped for io and noi (the verb ending says who), kept for the third person.
PRONOUNS = {"I": None, "he": "lui", "she": "lei", "we": None, "they": "loro"}
# Indirect objects of piacere: clitics for io/noi, "a" + pronoun for the third person.
PIACERE = {"I": "mi", "he": "a lui", "she": "a lei", "we": "ci", "they": "a loro"}
VERBS = {  # io, lui/lei, noi, loro
    "essere": "sono è siamo sono", "avere": "ho ha abbiamo hanno", "andare": "vado va andiamo vanno",
    "mangiare": "mangio mangia mangiamo mangiano", "bere": "bevo beve beviamo bevono",
    "volere": "voglio vuole vogliamo vogliono", "comprare": "compro compra compriamo comprano",
    "lavorare": "lavoro lavora lavoriamo lavorano",
}
_VOWELS = "aeiouàèéìòù"


def _lo_form(word: str) -> bool:
    """Words that take lo/gli/uno: s + consonant, z, gn, ps, x, y."""
    w = word.lower()
    return (w.startswith("s") and len(w) > 1 and w[1] not in _VOWELS) or w.startswith(("z", "gn", "ps", "x", "y"))


def article(gender: str, plural: bool, word: str, definite: bool = True) -> str:
    """The article before ``word`` (il lo l' la i gli le; un uno una un')."""
    vowel = word[:1].lower() in _VOWELS
    if definite:
        if plural:
            return "le" if gender == "f" else ("gli" if vowel or _lo_form(word) else "i")
        if vowel:
            return "l'"
        return "la" if gender == "f" else ("lo" if _lo_form(word) else "il")
    if gender == "f":
        return "un'" if vowel else "una"
    return "uno" if _lo_form(word) else "un"


def join(*parts: Optional[str]) -> str:
    """Like ``words``, with an elided article or preposition (l', un', all') glued to the next word."""
    out = ""
    for part in parts:
        if not part:
            continue
        out += part if not out or out.endswith("'") else " " + part
    return out


# Prepositions fused with the definite article (a + il = al, di + gli = degli, su + l' = sull', ...).
_FUSED_STEM = {"a": "a", "di": "de", "in": "ne", "su": "su", "da": "da"}
_FUSED_END = {"il": "l", "lo": "llo", "l'": "ll'", "la": "lla", "i": "i", "gli": "gli", "le": "lle"}


def with_article(prep: str, phrase: str) -> str:
    """``prep`` before a phrase that starts with a definite article: "a" + "il tavolo" -> "al tavolo";
    multi-word prepositions fuse their last word ("accanto a" + "la porta" -> "accanto alla porta")."""
    head, _, last = prep.rpartition(" ")
    art = "l'" if phrase.startswith("l'") else phrase.split(" ", 1)[0]
    if last in _FUSED_STEM and art in _FUSED_END:
        rest = phrase[len(art):].lstrip(" ")
        return join(head or None, _FUSED_STEM[last] + _FUSED_END[art], rest)
    return join(prep, phrase)


class Italian(Realiser):
    code = LANG

    def subj(self, s: str) -> Optional[str]:
        return s.capitalize() if s in C.NAMES else PRONOUNS[s]

    def verb(self, s: str, v: str) -> str:
        return VERBS[v].split()[C.person_of(s)]

    def clause(self, s: str, v: str, *rest) -> str:
        return join(self.subj(s), self.verb(s, v), *rest)

    @staticmethod
    def _noun(noun: str, plural: bool) -> Tuple[str, str]:
        """(gender, form) of a noun in the singular or plural."""
        entry = NOUNS[noun]
        gender = entry[3] if plural and len(entry) > 3 else entry[0]
        return gender, (entry[2] if plural else entry[1])

    def np(self, noun: str, det: str = "def", num: int = 1, adj: Optional[str] = None) -> str:
        """``det``: "def" (il), "indef" (un), "dem" (questo) or "none"; num > 1 puts the number first."""
        plural = num > 1
        gender, form = self._noun(noun, plural)
        head = join(form, ADJECTIVES[adj][(2 if plural else 0) + (gender == "f")] if adj else None)
        if plural:
            return join(NUMBERS[num], head)
        if det == "def":
            return join(article(gender, False, form), head)
        if det == "indef":
            return join(article(gender, False, form, definite=False), head)
        if det == "dem":
            return join("questa" if gender == "f" else "questo", head)
        return head

    def generic(self, noun: str) -> str:
        """Plural with its article for count nouns, singular for mass nouns ("i gatti", "il caffè")."""
        plural = bool(NOUNS[noun][2])
        gender, form = self._noun(noun, plural)
        return join(article(gender, plural, form), form)

    def place(self, place: str) -> str:
        gender, noun, _ = PLACES[place]
        return join(article(gender, False, noun), noun)

    @staticmethod
    def hour(h: int) -> str:
        return "all'una" if h == 1 else "alle " + NUMBERS[h]

    @staticmethod
    def sentence(*parts, question: bool = False) -> str:
        return capitalise(join(*parts)) + ("?" if question else ".")

    @staticmethod
    def _adj(noun: str, adj: str, plural: bool = False) -> str:
        gender = NOUNS[noun][0]
        return ADJECTIVES[adj][(2 if plural else 0) + (gender == "f")]

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return self.sentence("ci sono", self.np(noun, "none", num, adj), PLACES[place][2])

    def frame_have_count(self, subj, noun, num, adj):
        return self.sentence(self.clause(subj, "avere", self.np(noun, "none", num, adj)))

    def frame_property(self, noun, adj):
        return self.sentence(self.np(noun, "dem"), "è", self._adj(noun, adj))

    def frame_location(self, noun, adj, prep, ref):
        return self.sentence(self.np(noun, "def", 1, adj), "è", with_article(PREPOSITIONS[prep], self.np(ref)))

    def frame_go_hour(self, subj, place, hour):
        return self.sentence(self.clause(subj, "andare", PLACES[place][2]), self.hour(hour))

    def frame_go_day(self, subj, place, day):
        return self.sentence(DAYS[day], self.clause(subj, "andare", PLACES[place][2]))

    def _piacere(self, subj, noun, negative: bool) -> str:
        if subj in C.NAMES:
            name = subj.capitalize()
            who = ("ad " if name.startswith("A") else "a ") + name
        else:
            who = PIACERE[subj]
        verb = "piacciono" if NOUNS[noun][2] else "piace"
        if who in ("mi", "ci"):
            return self.sentence("non" if negative else None, who, verb, self.generic(noun))
        return self.sentence(who, "non" if negative else None, verb, self.generic(noun))

    def frame_like(self, subj, noun):
        return self._piacere(subj, noun, False)

    def frame_dislike(self, subj, noun):
        return self._piacere(subj, noun, True)

    def frame_consume(self, subj, noun, num, period):
        verb = "bere" if C.NOUNS[noun].category == "drink" else "mangiare"
        obj = self.np(noun, "def") if num is None else self.np(noun, "none", num)
        return self.sentence(self.clause(subj, verb, obj, PERIODS[period]))

    def frame_need(self, subj, noun, num, adj):
        return self.sentence(self.clause(subj, "avere", "bisogno di",
                                         self.np(noun, "indef" if num == 1 else "none", num, adj)))

    def frame_want(self, subj, noun, adj):
        return self.sentence(self.clause(subj, "volere", self.np(noun, "indef", 1, adj)))

    def frame_buy_at(self, subj, noun, num, place):
        return self.sentence(self.clause(subj, "comprare", self.np(noun, "none", num), PLACES[place][2]))

    def frame_work_at(self, subj, place):
        return self.sentence(self.clause(subj, "lavorare", PLACES[place][2]))

    def frame_where_is(self, noun, adj):
        return self.sentence("dov'è", self.np(noun, "def", 1, adj), question=True)

    def frame_how_many(self, noun, place):
        gender, plural = self._noun(noun, True)
        return self.sentence("quante" if gender == "f" else "quanti", plural, "ci sono", PLACES[place][2],
                             question=True)

    def frame_have_question(self, subj, noun, adj):
        return self.sentence(self.clause(subj, "avere", self.np(noun, "indef", 1, adj)), question=True)

    def frame_give_me(self, noun, adj):
        return self.sentence("dammi", self.np(noun, "def", 1, adj) + ",", "per favore")

    def frame_compare(self, noun, noun2, adj):
        return self.sentence(self.np(noun), "è più", self._adj(noun, adj), with_article("di", self.np(noun2)))

    def frame_state(self, subj, state):
        verb, complement = STATES[state]
        if isinstance(complement, tuple):
            complement = complement[(2 if C.is_plural(subj) else 0) + (C.gender_of(subj) == "f")]
        return self.sentence(self.clause(subj, verb, complement, "oggi"))

    def frame_weather(self, city, weather):
        return self.sentence("oggi", WEATHER[weather], "a", CITIES[city])

    def frame_live(self, subj, subj2, city):
        return self.sentence(self.subj(subj), "e", self.subj(subj2), "vivono a", CITIES[city])

    def frame_opens(self, place, hour):
        return self.sentence(self.place(place), "apre", self.hour(hour))

    def frame_age(self, subj, num):
        return self.sentence(self.clause(subj, "avere", NUMBERS[num], "anni"))

    def frame_price(self, noun, num):
        return self.sentence(self.np(noun, "dem"), "costa", NUMBERS[num], "euro")


ITALIAN = Italian()
SPLITS = ("train", "dev", "test")
HEADER = ("id", "path", "text", "lang", "speaker", "translation_en")


def sentence_pairs(num_train: int, num_dev: int, num_test: int, seed: int = 1) -> Dict[str, List[ParallelTuple]]:
    """The tuples of each split (see the module doc), none of whose Italian sentences occurs twice."""
    spec = SIZES["default"]
    corpus = build_corpus(seed, ["en"], spec)
    held_out = corpus.test + corpus.dev + corpus.lm_dev
    random.Random(f"new-language-{seed}").shuffle(held_out)
    seen: set = set()

    def take(pool: Sequence[ParallelTuple], n: int, what: str) -> List[ParallelTuple]:
        out = []
        for t in pool:
            if len(out) == n:
                break
            text = ITALIAN.realise(t.frame, t.slots).text
            if text not in seen:
                seen.add(text)
                out.append(t)
        if len(out) < n:
            raise ValueError(f"only {len(out)} distinct {what} sentences available; ask for fewer")
        return out

    test = take(held_out, num_test, "held-out")
    dev = take(held_out, num_dev, "held-out")
    return {"train": take(corpus.lm_train, num_train, "training"), "dev": dev, "test": test}


def write_corpus(out: Path, rows: Dict[str, List[Tuple[str, str, str]]], seed: int = 1, nj: int = 2,
                 progress: bool = False) -> Dict[str, int]:
    """Synthesise ``rows`` (``{split: [(key, Italian, English), ...]}``; the key names the utterance) with
    espeak-ng and write the generic layout below ``out``; returns the rows of each split. WAVs that exist
    with the same synthesis settings are kept (:mod:`part.data.embedded.synth`)."""
    out = Path(out)
    check_espeak([LANG])
    plans: Dict[str, List[Tuple[SpeechPlan, str]]] = {}
    for split, items in rows.items():
        plans[split] = []
        for key, text, english in items:
            plan = plan_utterance(Sentence(LANG, text), split, key, seed)
            plans[split].append((replace(plan, wav=f"wav/{split}/{plan.utt}.wav"), english))
    synthesise([p for items in plans.values() for p, _ in items], out, nj=nj, desc="speech", progress=progress)
    for split, items in plans.items():
        lines = ["\t".join(HEADER)]
        lines += ["\t".join((plan.utt, plan.wav, plan.text, LANG, plan.spk, english)) for plan, english in items]
        atomic_write_lines(out / f"{split}.tsv", lines)
    return {split: len(items) for split, items in plans.items()}


def make_corpus(out: Path, num_train: int, num_dev: int, num_test: int, seed: int = 1, nj: int = 2,
                progress: bool = False) -> Dict[str, int]:
    """The corpus of ``num_*`` utterances per split, drawn as the module doc says, written by :func:`write_corpus`."""
    splits = sentence_pairs(num_train, num_dev, num_test, seed)
    rows = {split: [(t.id, ITALIAN.realise(t.frame, t.slots).text, t.text("en")) for t in tuples]
            for split, tuples in splits.items()}
    return write_corpus(out, rows, seed, nj, progress)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m part.data.new_language", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write the TSVs and wav/ into")
    parser.add_argument("--num_train", type=int, default=1000)
    parser.add_argument("--num_dev", type=int, default=40)
    parser.add_argument("--num_test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1, help="seed of the sentences and voices")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (new_language) %(levelname)s: %(message)s")
    counts = make_corpus(Path(args.out), args.num_train, args.num_dev, args.num_test, args.seed, args.nj,
                         progress=True)
    logger.info("wrote %s: %s", args.out, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
