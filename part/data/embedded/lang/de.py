"""German: three genders, nominative/accusative/dative, weak/mixed/strong adjective endings, verb-second
word order (inversion after a fronted adverbial), "kein" negation, capitalised nouns."""
from __future__ import annotations

from part.data.embedded import concepts as C
from part.data.embedded.lang.base import Realiser, capitalise, words

NOUNS = {  # id -> (gender, singular, plural); mass nouns have no plural
    "dog": ("m", "Hund", "Hunde"), "cat": ("f", "Katze", "Katzen"), "bird": ("m", "Vogel", "Vögel"),
    "horse": ("n", "Pferd", "Pferde"), "fish": ("m", "Fisch", "Fische"),
    "rabbit": ("n", "Kaninchen", "Kaninchen"), "cow": ("f", "Kuh", "Kühe"), "mouse": ("f", "Maus", "Mäuse"),
    "apple": ("m", "Apfel", "Äpfel"), "banana": ("f", "Banane", "Bananen"), "egg": ("n", "Ei", "Eier"),
    "orange": ("f", "Orange", "Orangen"), "tomato": ("f", "Tomate", "Tomaten"), "cake": ("m", "Kuchen", "Kuchen"),
    "bread": ("n", "Brot", None), "rice": ("m", "Reis", None), "cheese": ("m", "Käse", None),
    "soup": ("f", "Suppe", None), "water": ("n", "Wasser", None), "milk": ("f", "Milch", None),
    "coffee": ("m", "Kaffee", None), "tea": ("m", "Tee", None), "juice": ("m", "Saft", None),
    "book": ("n", "Buch", "Bücher"), "newspaper": ("f", "Zeitung", "Zeitungen"), "letter": ("m", "Brief", "Briefe"),
    "key": ("m", "Schlüssel", "Schlüssel"), "bag": ("f", "Tasche", "Taschen"),
    "umbrella": ("m", "Regenschirm", "Regenschirme"), "ball": ("m", "Ball", "Bälle"), "box": ("f", "Kiste", "Kisten"),
    "cup": ("f", "Tasse", "Tassen"), "bottle": ("f", "Flasche", "Flaschen"), "pencil": ("m", "Bleistift", "Bleistifte"),
    "lamp": ("f", "Lampe", "Lampen"), "computer": ("m", "Computer", "Computer"), "clock": ("f", "Uhr", "Uhren"),
    "photo": ("n", "Foto", "Fotos"), "ticket": ("f", "Fahrkarte", "Fahrkarten"), "plate": ("m", "Teller", "Teller"),
    "shirt": ("n", "Hemd", "Hemden"), "hat": ("m", "Hut", "Hüte"), "jacket": ("f", "Jacke", "Jacken"),
    "dress": ("n", "Kleid", "Kleider"),
    "car": ("n", "Auto", "Autos"), "bicycle": ("n", "Fahrrad", "Fahrräder"), "bus": ("m", "Bus", "Busse"),
    "boat": ("n", "Boot", "Boote"),
    "table": ("m", "Tisch", "Tische"), "chair": ("m", "Stuhl", "Stühle"), "bed": ("n", "Bett", "Betten"),
    "sofa": ("n", "Sofa", "Sofas"), "door": ("f", "Tür", "Türen"), "window": ("n", "Fenster", "Fenster"),
    "flower": ("f", "Blume", "Blumen"), "tree": ("m", "Baum", "Bäume"),
    # Student and Tourist are weak nouns (den Studenten); the frames use people in the plural only.
    "child": ("n", "Kind", "Kinder"), "student": ("m", "Student", "Studenten"),
    "tourist": ("m", "Tourist", "Touristen"), "teacher": ("m", "Lehrer", "Lehrer"),
}
ADJECTIVES = {  # id -> (predicative form, stem that takes the endings)
    "red": ("rot", "rot"), "blue": ("blau", "blau"), "green": ("grün", "grün"), "yellow": ("gelb", "gelb"),
    "white": ("weiß", "weiß"), "black": ("schwarz", "schwarz"), "brown": ("braun", "braun"),
    "big": ("groß", "groß"), "small": ("klein", "klein"), "new": ("neu", "neu"), "old": ("alt", "alt"),
    "beautiful": ("schön", "schön"), "cheap": ("billig", "billig"), "expensive": ("teuer", "teur"),
    "heavy": ("schwer", "schwer"),
}
COMPARATIVES = {"big": "größer", "small": "kleiner", "heavy": "schwerer", "expensive": "teurer",
                "cheap": "billiger", "old": "älter", "new": "neuer"}
CASES = ("nom", "acc", "dat")
_G = ("m", "f", "n", "pl")
# Articles and adjective endings by case, then gender (m, f, n, plural).
DEFINITE = {"nom": ("der", "die", "das", "die"), "acc": ("den", "die", "das", "die"),
            "dat": ("dem", "der", "dem", "den")}
INDEFINITE = {"nom": ("ein", "eine", "ein", None), "acc": ("einen", "eine", "ein", None),
              "dat": ("einem", "einer", "einem", None)}
DEMONSTRATIVE = {"nom": ("dieser", "diese", "dieses", "diese")}
WEAK = {"nom": ("e", "e", "e", "en"), "acc": ("en", "e", "e", "en"), "dat": ("en", "en", "en", "en")}
MIXED = {"nom": ("er", "e", "es", "en"), "acc": ("en", "e", "es", "en"), "dat": ("en", "en", "en", "en")}
STRONG = {"nom": ("er", "e", "es", "e"), "acc": ("en", "e", "es", "e"), "dat": ("em", "er", "em", "en")}
NUMBERS = dict(zip(range(1, 21), (
    "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn "
    "siebzehn achtzehn neunzehn zwanzig").split()))
PLACES = {  # id -> (gender, noun, "to ...", "in/at ..." (dative location))
    "station": ("m", "Bahnhof", "zum Bahnhof", "am Bahnhof"),
    "school": ("f", "Schule", "zur Schule", "in der Schule"),
    "park": ("m", "Park", "in den Park", "im Park"),
    "market": ("m", "Markt", "auf den Markt", "auf dem Markt"),
    "library": ("f", "Bibliothek", "in die Bibliothek", "in der Bibliothek"),
    "hospital": ("n", "Krankenhaus", "ins Krankenhaus", "im Krankenhaus"),
    "museum": ("n", "Museum", "ins Museum", "im Museum"),
    "restaurant": ("n", "Restaurant", "ins Restaurant", "im Restaurant"),
    "bank": ("f", "Bank", "zur Bank", "in der Bank"),
    "beach": ("m", "Strand", "an den Strand", "am Strand"),
    "office": ("n", "Büro", "ins Büro", "im Büro"),
    "cinema": ("n", "Kino", "ins Kino", "im Kino"),
    "supermarket": ("m", "Supermarkt", "in den Supermarkt", "im Supermarkt"),
    "bakery": ("f", "Bäckerei", "zur Bäckerei", "in der Bäckerei"),
    "shop": ("n", "Geschäft", "ins Geschäft", "im Geschäft"),
    "kitchen": ("f", "Küche", "in die Küche", "in der Küche"),
    "garden": ("m", "Garten", "in den Garten", "im Garten"),
    "farm": ("m", "Bauernhof", "auf den Bauernhof", "auf dem Bauernhof"),
}
PREPOSITIONS = {"on": "auf", "under": "unter", "next_to": "neben", "behind": "hinter"}  # + dative
CITIES = {"berlin": "Berlin", "paris": "Paris", "madrid": "Madrid", "tokyo": "Tokio", "beijing": "Peking",
          "london": "London", "rome": "Rom"}
DAYS = {"monday": "Montag", "tuesday": "Dienstag", "wednesday": "Mittwoch", "thursday": "Donnerstag",
        "friday": "Freitag", "saturday": "Samstag", "sunday": "Sonntag"}
PERIODS = {"morning": "jeden Morgen", "evening": "jeden Abend", "day": "jeden Tag", "week": "jede Woche"}
STATES = {"tired": ("sein", "müde"), "hungry": ("haben", "Hunger"), "thirsty": ("haben", "Durst"),
          "sick": ("sein", "krank"), "busy": ("sein", "beschäftigt")}
WEATHER = {"cold": "In {city} ist es heute kalt.", "hot": "In {city} ist es heute heiß.",
           "rain": "In {city} regnet es heute.", "snow": "In {city} schneit es heute.",
           "wind": "In {city} ist es heute windig."}
PRONOUNS = {"I": "ich", "he": "er", "she": "sie", "we": "wir", "they": "sie"}
VERBS = {  # present tense: ich, er/sie/es, wir, sie (plural)
    "sein": "bin ist sind sind", "haben": "habe hat haben haben", "gehen": "gehe geht gehen gehen",
    "mögen": "mag mag mögen mögen", "essen": "esse isst essen essen", "trinken": "trinke trinkt trinken trinken",
    "brauchen": "brauche braucht brauchen brauchen", "möchten": "möchte möchte möchten möchten",
    "kaufen": "kaufe kauft kaufen kaufen", "arbeiten": "arbeite arbeitet arbeiten arbeiten",
}


def _gi(gender: str, num: int) -> int:
    return 3 if num > 1 else _G.index(gender)


class German(Realiser):
    code = "de"

    def subj(self, s: str) -> str:
        return s.capitalize() if s in C.NAMES else PRONOUNS[s]

    def verb(self, s: str, v: str) -> str:
        return VERBS[v].split()[C.person_of(s)]

    def np(self, noun: str, case: str, det: str = "def", num: int = 1, adj=None) -> str:
        """Noun phrase with article ``det`` ("def", "indef", "dem", "kein" or "none") in ``case``.

        Adjective endings: weak after der/dieser, mixed after ein/kein, strong without an article
        (also after a number, which does not inflect).
        """
        gender, sg, pl = NOUNS[noun]
        gi = _gi(gender, num)
        if det == "def":
            article, endings = DEFINITE[case][gi], WEAK
        elif det == "dem":
            article, endings = DEMONSTRATIVE[case][gi], WEAK
        elif det == "indef":
            article, endings = INDEFINITE[case][gi], MIXED
        elif det == "kein":
            article, endings = ("k" + INDEFINITE[case][gi]) if num == 1 else "keine", MIXED
        else:
            article, endings = None, STRONG
        adjective = ADJECTIVES[adj][1] + endings[case][gi] if adj else None
        head = sg if num == 1 else pl
        return words(article, NUMBERS[num] if num > 1 else None, adjective, head)

    def sentence(self, *parts, end: str = ".") -> str:
        return capitalise(words(*parts)) + end

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return self.sentence(PLACES[place][3], "gibt es", self.np(noun, "acc", "none", num, adj))

    def frame_have_count(self, subj, noun, num, adj):
        return self.sentence(self.subj(subj), self.verb(subj, "haben"), self.np(noun, "acc", "none", num, adj))

    def frame_property(self, noun, adj):
        return self.sentence(self.np(noun, "nom", "dem"), "ist", ADJECTIVES[adj][0])

    def frame_location(self, noun, adj, prep, ref):
        return self.sentence(self.np(noun, "nom", "def", 1, adj), "ist", PREPOSITIONS[prep], self.np(ref, "dat"))

    def frame_go_hour(self, subj, place, hour):
        hour_word = "ein" if hour == 1 else NUMBERS[hour]
        return self.sentence(self.subj(subj), self.verb(subj, "gehen"), "um", hour_word, "Uhr", PLACES[place][2])

    def frame_go_day(self, subj, place, day):
        # Verb second: the fronted time adverbial pushes the subject behind the verb.
        return self.sentence("am", DAYS[day], self.verb(subj, "gehen"), self.subj(subj), PLACES[place][2])

    def generic(self, noun: str) -> str:
        gender, sg, pl = NOUNS[noun]
        return pl or sg

    def frame_like(self, subj, noun):
        return self.sentence(self.subj(subj), self.verb(subj, "mögen"), self.generic(noun))

    def frame_dislike(self, subj, noun):
        num = 1 if C.NOUNS[noun].mass else 2
        gender, sg, pl = NOUNS[noun]
        kein = ("k" + INDEFINITE["acc"][_G.index(gender)]) if num == 1 else "keine"
        return self.sentence(self.subj(subj), self.verb(subj, "mögen"), kein, self.generic(noun))

    def frame_consume(self, subj, noun, num, period):
        verb = "trinken" if C.NOUNS[noun].category == "drink" else "essen"
        obj = NOUNS[noun][1] if num is None else self.np(noun, "acc", "none", num)
        return self.sentence(self.subj(subj), self.verb(subj, verb), PERIODS[period], obj)

    def frame_need(self, subj, noun, num, adj):
        det = "indef" if num == 1 else "none"
        return self.sentence(self.subj(subj), self.verb(subj, "brauchen"), self.np(noun, "acc", det, num, adj))

    def frame_want(self, subj, noun, adj):
        return self.sentence(self.subj(subj), self.verb(subj, "möchten"), self.np(noun, "acc", "indef", 1, adj))

    def frame_buy_at(self, subj, noun, num, place):
        return self.sentence(self.subj(subj), self.verb(subj, "kaufen"), self.np(noun, "acc", "none", num),
                             PLACES[place][3])

    def frame_work_at(self, subj, place):
        return self.sentence(self.subj(subj), self.verb(subj, "arbeiten"), PLACES[place][3])

    def frame_where_is(self, noun, adj):
        return self.sentence("wo ist", self.np(noun, "nom", "def", 1, adj), end="?")

    def frame_how_many(self, noun, place):
        return self.sentence("wie viele", NOUNS[noun][2], "gibt es", PLACES[place][3], end="?")

    def frame_have_question(self, subj, noun, adj):
        return self.sentence("hat", self.subj(subj), self.np(noun, "acc", "indef", 1, adj), end="?")

    def frame_give_me(self, noun, adj):
        return self.sentence("bitte gib mir", self.np(noun, "acc", "def", 1, adj))

    def frame_compare(self, noun, noun2, adj):
        return self.sentence(self.np(noun, "nom"), "ist", COMPARATIVES[adj], "als", self.np(noun2, "nom"))

    def frame_state(self, subj, state):
        verb, complement = STATES[state]
        return self.sentence(self.subj(subj), self.verb(subj, verb), "heute", complement)

    def frame_weather(self, city, weather):
        return WEATHER[weather].format(city=CITIES[city])

    def frame_live(self, subj, subj2, city):
        return self.sentence(self.subj(subj), "und", self.subj(subj2), "wohnen in", CITIES[city])

    def frame_opens(self, place, hour):
        gender, noun, _, _ = PLACES[place]
        hour_word = "ein" if hour == 1 else NUMBERS[hour]
        return self.sentence(DEFINITE["nom"][_G.index(gender)], noun, "öffnet um", hour_word, "Uhr")

    def frame_age(self, subj, num):
        return self.sentence(self.subj(subj), "ist", NUMBERS[num], "Jahre alt")

    def frame_price(self, noun, num):
        return self.sentence(self.np(noun, "nom", "dem"), "kostet", NUMBERS[num], "Euro")
