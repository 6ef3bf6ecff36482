"""French: gender and number agreement, adjectives before (grand, petit, nouveau, vieux, beau) or after
the noun, elision (l', j', d', n', qu'), contractions (au, aux, du, des), cet/bel/nouvel/vieil before a
vowel, partitive articles (du pain, de l'eau), ne ... pas, est-ce que questions, "il y a"."""
from __future__ import annotations

from part.data.embedded import concepts as C
from part.data.embedded.lang.base import Realiser, capitalise, words

NOUNS = {  # id -> (gender, singular, plural); mass nouns have no plural
    "dog": ("m", "chien", "chiens"), "cat": ("m", "chat", "chats"), "bird": ("m", "oiseau", "oiseaux"),
    "horse": ("m", "cheval", "chevaux"), "fish": ("m", "poisson", "poissons"), "rabbit": ("m", "lapin", "lapins"),
    "cow": ("f", "vache", "vaches"), "mouse": ("f", "souris", "souris"),
    "apple": ("f", "pomme", "pommes"), "banana": ("f", "banane", "bananes"), "egg": ("m", "œuf", "œufs"),
    "orange": ("f", "orange", "oranges"), "tomato": ("f", "tomate", "tomates"), "cake": ("m", "gâteau", "gâteaux"),
    "bread": ("m", "pain", None), "rice": ("m", "riz", None), "cheese": ("m", "fromage", None),
    "soup": ("f", "soupe", None), "water": ("f", "eau", None), "milk": ("m", "lait", None),
    "coffee": ("m", "café", None), "tea": ("m", "thé", None), "juice": ("m", "jus", None),
    "book": ("m", "livre", "livres"), "newspaper": ("m", "journal", "journaux"), "letter": ("f", "lettre", "lettres"),
    "key": ("f", "clé", "clés"), "bag": ("m", "sac", "sacs"), "umbrella": ("m", "parapluie", "parapluies"),
    "ball": ("m", "ballon", "ballons"), "box": ("f", "boîte", "boîtes"), "cup": ("f", "tasse", "tasses"),
    "bottle": ("f", "bouteille", "bouteilles"), "pencil": ("m", "crayon", "crayons"),
    "lamp": ("f", "lampe", "lampes"), "computer": ("m", "ordinateur", "ordinateurs"),
    "clock": ("f", "horloge", "horloges"), "photo": ("f", "photo", "photos"), "ticket": ("m", "billet", "billets"),
    "plate": ("f", "assiette", "assiettes"),
    "shirt": ("f", "chemise", "chemises"), "hat": ("m", "chapeau", "chapeaux"), "jacket": ("f", "veste", "vestes"),
    "dress": ("f", "robe", "robes"),
    "car": ("f", "voiture", "voitures"), "bicycle": ("m", "vélo", "vélos"), "bus": ("m", "bus", "bus"),
    "boat": ("m", "bateau", "bateaux"),
    "table": ("f", "table", "tables"), "chair": ("f", "chaise", "chaises"), "bed": ("m", "lit", "lits"),
    "sofa": ("m", "canapé", "canapés"), "door": ("f", "porte", "portes"), "window": ("f", "fenêtre", "fenêtres"),
    "flower": ("f", "fleur", "fleurs"), "tree": ("m", "arbre", "arbres"),
    "child": ("m", "enfant", "enfants"), "student": ("m", "étudiant", "étudiants"),
    "tourist": ("m", "touriste", "touristes"), "teacher": ("m", "professeur", "professeurs"),
}


def _forms(spec: str):
    """"grand grande grands grandes" -> (m sg, f sg, m pl, f pl); one word means invariable."""
    parts = tuple(spec.split())
    return parts * 4 if len(parts) == 1 else parts


ADJECTIVES = {  # id -> (m sg, f sg, m pl, f pl)
    "red": _forms("rouge rouge rouges rouges"), "blue": _forms("bleu bleue bleus bleues"),
    "green": _forms("vert verte verts vertes"), "yellow": _forms("jaune jaune jaunes jaunes"),
    "white": _forms("blanc blanche blancs blanches"), "black": _forms("noir noire noirs noires"),
    "brown": _forms("marron"),  # invariable
    "big": _forms("grand grande grands grandes"), "small": _forms("petit petite petits petites"),
    "new": _forms("nouveau nouvelle nouveaux nouvelles"), "old": _forms("vieux vieille vieux vieilles"),
    "beautiful": _forms("beau belle beaux belles"), "cheap": ("bon marché",) * 4,  # invariable
    "expensive": _forms("cher chère chers chères"), "heavy": _forms("lourd lourde lourds lourdes"),
}
PRENOMINAL = {"big", "small", "new", "old", "beautiful"}
BEFORE_VOWEL = {"new": "nouvel", "old": "vieil", "beautiful": "bel"}  # masculine singular before a vowel
RECENT = ("récent", "récente", "récents", "récentes")
COMPARATIVES = {"big": ("plus", "big"), "small": ("plus", "small"), "heavy": ("plus", "heavy"),
                "expensive": ("plus", "expensive"), "cheap": ("moins", "expensive"), "old": ("plus", "old"),
                "new": ("plus", "recent")}
NUMBERS = dict(zip(range(1, 21), (
    "un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept "
    "dix-huit dix-neuf vingt").split()))
PLACES = {  # id -> (gender, noun, "to ...", "in ..." (where things are), "at ..." (work, buy))
    "station": ("f", "gare", "à la gare", "à la gare", "à la gare"),
    "school": ("f", "école", "à l'école", "à l'école", "à l'école"),
    "park": ("m", "parc", "au parc", "dans le parc", "au parc"),
    "market": ("m", "marché", "au marché", "au marché", "au marché"),
    "library": ("f", "bibliothèque", "à la bibliothèque", "à la bibliothèque", "à la bibliothèque"),
    "hospital": ("m", "hôpital", "à l'hôpital", "à l'hôpital", "à l'hôpital"),
    "museum": ("m", "musée", "au musée", "au musée", "au musée"),
    "restaurant": ("m", "restaurant", "au restaurant", "au restaurant", "au restaurant"),
    "bank": ("f", "banque", "à la banque", "à la banque", "à la banque"),
    "beach": ("f", "plage", "à la plage", "sur la plage", "à la plage"),
    "office": ("m", "bureau", "au bureau", "au bureau", "au bureau"),
    "cinema": ("m", "cinéma", "au cinéma", "au cinéma", "au cinéma"),
    "supermarket": ("m", "supermarché", "au supermarché", "au supermarché", "au supermarché"),
    "bakery": ("f", "boulangerie", "à la boulangerie", "à la boulangerie", "à la boulangerie"),
    "shop": ("m", "magasin", "au magasin", "dans le magasin", "au magasin"),
    "kitchen": ("f", "cuisine", None, "dans la cuisine", None),
    "garden": ("m", "jardin", None, "dans le jardin", None),
    "farm": ("f", "ferme", "à la ferme", "à la ferme", "à la ferme"),
}
PREPOSITIONS = {"on": "sur", "under": "sous", "next_to": "à côté de", "behind": "derrière"}
CITIES = {"berlin": "Berlin", "paris": "Paris", "madrid": "Madrid", "tokyo": "Tokyo", "beijing": "Pékin",
          "london": "Londres", "rome": "Rome"}
DAYS = {"monday": "lundi", "tuesday": "mardi", "wednesday": "mercredi", "thursday": "jeudi",
        "friday": "vendredi", "saturday": "samedi", "sunday": "dimanche"}
PERIODS = {"morning": "chaque matin", "evening": "chaque soir", "day": "chaque jour", "week": "chaque semaine"}
STATES = {"tired": ("être", _forms("fatigué fatiguée fatigués fatiguées")), "hungry": ("avoir", "faim"),
          "thirsty": ("avoir", "soif"), "sick": ("être", _forms("malade malade malades malades")),
          "busy": ("être", _forms("occupé occupée occupés occupées"))}
WEATHER = {"cold": "il fait froid", "hot": "il fait chaud", "rain": "il pleut", "snow": "il neige",
           "wind": "il y a du vent"}
PRONOUNS = {"I": "je", "he": "il", "she": "elle", "we": "nous", "they": "ils"}
VERBS = {  # je, il/elle, nous, ils
    "être": "suis est sommes sont", "avoir": "ai a avons ont", "aller": "vais va allons vont",
    "aimer": "aime aime aimons aiment", "manger": "mange mange mangeons mangent", "boire": "bois boit buvons boivent",
    "vouloir": "veux veut voulons veulent", "acheter": "achète achète achetons achètent",
    "travailler": "travaille travaille travaillons travaillent",
}
_VOWELS = "aeiouyàâäéèêëîïôöûùüœæh"  # every h-word of the lexicon (hôpital, horloge) has a mute h


def vowel_initial(word: str) -> bool:
    return bool(word) and word[0].lower() in _VOWELS


def elide(word: str, following: str) -> str:
    """``le``/``la``/``je``/``de``/``ne``/``que`` + a vowel-initial word -> ``l'...`` etc."""
    if word in ("le", "la", "je", "de", "ne", "que") and vowel_initial(following):
        return word[:-1] + "'" + following
    return word + " " + following


def with_preposition(prep: str, phrase: str, elision: bool = True) -> str:
    """à/de + a noun phrase, contracted (au, aux, du, des) or elided (d'un)."""
    if prep in ("à", "de"):
        for article, contracted in (("le ", {"à": "au ", "de": "du "}), ("les ", {"à": "aux ", "de": "des "})):
            if phrase.startswith(article):
                return contracted[prep] + phrase[len(article):]
    if prep == "de" and elision:
        return elide("de", phrase)
    if prep.endswith(" de"):  # à côté de
        return prep[:-3] + " " + with_preposition("de", phrase)
    return prep + " " + phrase


def _index(gender: str, plural: bool) -> int:
    return (2 if plural else 0) + (1 if gender == "f" else 0)


class French(Realiser):
    code = "fr"

    def subj(self, s: str) -> str:
        return s.capitalize() if s in C.NAMES else PRONOUNS[s]

    def verb(self, s: str, v: str) -> str:
        return VERBS[v].split()[C.person_of(s)]

    def clause(self, s: str, v: str, rest: str = "", negative: bool = False) -> str:
        """Subject + verb (+ ne ... pas) + the rest, with je/ne elided before vowels."""
        verb = self.verb(s, v)
        if negative:
            verb = elide("ne", verb) + " pas"
        subject = self.subj(s)
        head = elide(subject, verb) if subject == "je" else subject + " " + verb
        return words(head, rest)

    def adjective(self, adj: str, gender: str, plural: bool) -> str:
        return ADJECTIVES[adj][_index(gender, plural)]

    def np(self, noun: str, det: str = "def", num: int = 1, adj=None) -> str:
        """Noun phrase; ``det`` is "def" (le), "indef" (un), "dem" (ce) or "none"; num > 1 uses a number."""
        gender, sg, pl = NOUNS[noun]
        plural = num > 1
        head = pl if plural else sg
        body = [head]
        if adj:
            form = self.adjective(adj, gender, plural)
            if adj in PRENOMINAL:
                if gender == "m" and not plural and adj in BEFORE_VOWEL and vowel_initial(head):
                    form = BEFORE_VOWEL[adj]
                body = [form, head]
            else:
                body = [head, form]
        phrase = " ".join(body)
        if plural:
            return words({"def": "les", "dem": "ces"}.get(det), NUMBERS[num], phrase)
        if det == "def":
            return elide("la" if gender == "f" else "le", phrase)
        if det == "indef":
            return words("une" if gender == "f" else "un", phrase)
        if det == "dem":
            if gender == "f":
                return "cette " + phrase
            return ("cet " if vowel_initial(phrase) else "ce ") + phrase
        return phrase

    def generic(self, noun: str) -> str:
        """Definite generic: les chats, le café, l'eau."""
        gender, sg, pl = NOUNS[noun]
        return "les " + pl if pl else elide("la" if gender == "f" else "le", sg)

    def sentence(self, *parts, end: str = ".") -> str:
        text = capitalise(words(*parts))
        return text + (" " + end if end in "?!" else end)

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return self.sentence("il y a", self.np(noun, "none", num, adj), PLACES[place][3])

    def frame_have_count(self, subj, noun, num, adj):
        return self.sentence(self.clause(subj, "avoir", self.np(noun, "none", num, adj)))

    def frame_property(self, noun, adj):
        gender = NOUNS[noun][0]
        return self.sentence(self.np(noun, "dem"), "est", self.adjective(adj, gender, False))

    def frame_location(self, noun, adj, prep, ref):
        return self.sentence(self.np(noun, "def", 1, adj), "est", with_preposition(PREPOSITIONS[prep], self.np(ref)))

    @staticmethod
    def hour(h: int) -> str:
        return "une heure" if h == 1 else NUMBERS[h] + " heures"

    def frame_go_hour(self, subj, place, hour):
        return self.sentence(self.clause(subj, "aller", PLACES[place][2]), "à", self.hour(hour))

    def frame_go_day(self, subj, place, day):
        return self.sentence(DAYS[day] + ",", self.clause(subj, "aller", PLACES[place][2]))

    def frame_like(self, subj, noun):
        return self.sentence(self.clause(subj, "aimer", self.generic(noun)))

    def frame_dislike(self, subj, noun):
        return self.sentence(self.clause(subj, "aimer", self.generic(noun), negative=True))

    def frame_consume(self, subj, noun, num, period):
        verb = "boire" if C.NOUNS[noun].category == "drink" else "manger"
        obj = with_preposition("de", self.np(noun)) if num is None else self.np(noun, "none", num)
        return self.sentence(self.clause(subj, verb, obj), PERIODS[period])

    def frame_need(self, subj, noun, num, adj):
        if num == 1:
            obj = with_preposition("de", self.np(noun, "indef", 1, adj))
        else:  # no elision before a number: de onze, de huit
            obj = "de " + self.np(noun, "none", num, adj)
        return self.sentence(self.clause(subj, "avoir", "besoin " + obj))

    def frame_want(self, subj, noun, adj):
        return self.sentence(self.clause(subj, "vouloir", self.np(noun, "indef", 1, adj)))

    def frame_buy_at(self, subj, noun, num, place):
        return self.sentence(self.clause(subj, "acheter", self.np(noun, "none", num)), PLACES[place][4])

    def frame_work_at(self, subj, place):
        return self.sentence(self.clause(subj, "travailler", PLACES[place][4]))

    def frame_where_is(self, noun, adj):
        return self.sentence("où est", self.np(noun, "def", 1, adj), end="?")

    def frame_how_many(self, noun, place):
        return self.sentence("combien", with_preposition("de", NOUNS[noun][2]), "y a-t-il", PLACES[place][3],
                             end="?")

    def frame_have_question(self, subj, noun, adj):
        return self.sentence("est-ce", elide("que", self.subj(subj)), "a", self.np(noun, "indef", 1, adj), end="?")

    def frame_give_me(self, noun, adj):
        return self.sentence("donne-moi", self.np(noun, "def", 1, adj) + ",", "s'il te plaît")

    def frame_compare(self, noun, noun2, adj):
        gender = NOUNS[noun][0]
        more, base = COMPARATIVES[adj]
        form = RECENT[_index(gender, False)] if base == "recent" else self.adjective(base, gender, False)
        return self.sentence(self.np(noun), "est", more, form, elide("que", self.np(noun2)))

    def frame_state(self, subj, state):
        verb, complement = STATES[state]
        if isinstance(complement, tuple):
            complement = complement[_index(C.gender_of(subj), C.is_plural(subj))]
        return self.sentence(self.clause(subj, verb, complement), "aujourd'hui")

    def frame_weather(self, city, weather):
        return self.sentence("aujourd'hui,", WEATHER[weather], "à", CITIES[city])

    def frame_live(self, subj, subj2, city):
        return self.sentence(self.subj(subj), "et", self.subj(subj2), "habitent à", CITIES[city])

    def frame_opens(self, place, hour):
        gender, noun = PLACES[place][:2]
        return self.sentence(elide("la" if gender == "f" else "le", noun), "ouvre à", self.hour(hour))

    def frame_age(self, subj, num):
        return self.sentence(self.clause(subj, "avoir", NUMBERS[num] + " ans"))

    def frame_price(self, noun, num):
        return self.sentence(self.np(noun, "dem"), "coûte", NUMBERS[num], "euros")
