"""Spanish: gender and number agreement, adjectives after the noun, contractions (al, del), "el agua",
subject pronouns dropped for yo/nosotros, ser vs. estar, tener hambre, "gustar" with indirect objects,
inverted question marks."""
from __future__ import annotations

from part.data.embedded import concepts as C
from part.data.embedded.lang.base import Realiser, capitalise, words

NOUNS = {  # id -> (gender, singular, plural); mass nouns have no plural
    "dog": ("m", "perro", "perros"), "cat": ("m", "gato", "gatos"), "bird": ("m", "pájaro", "pájaros"),
    "horse": ("m", "caballo", "caballos"), "fish": ("m", "pez", "peces"), "rabbit": ("m", "conejo", "conejos"),
    "cow": ("f", "vaca", "vacas"), "mouse": ("m", "ratón", "ratones"),
    "apple": ("f", "manzana", "manzanas"), "banana": ("m", "plátano", "plátanos"), "egg": ("m", "huevo", "huevos"),
    "orange": ("f", "naranja", "naranjas"), "tomato": ("m", "tomate", "tomates"), "cake": ("m", "pastel", "pasteles"),
    "bread": ("m", "pan", None), "rice": ("m", "arroz", None), "cheese": ("m", "queso", None),
    "soup": ("f", "sopa", None), "water": ("f", "agua", None), "milk": ("f", "leche", None),
    "coffee": ("m", "café", None), "tea": ("m", "té", None), "juice": ("m", "zumo", None),
    "book": ("m", "libro", "libros"), "newspaper": ("m", "periódico", "periódicos"),
    "letter": ("f", "carta", "cartas"), "key": ("f", "llave", "llaves"), "bag": ("m", "bolso", "bolsos"),
    "umbrella": ("m", "paraguas", "paraguas"), "ball": ("f", "pelota", "pelotas"), "box": ("f", "caja", "cajas"),
    "cup": ("f", "taza", "tazas"), "bottle": ("f", "botella", "botellas"), "pencil": ("m", "lápiz", "lápices"),
    "lamp": ("f", "lámpara", "lámparas"), "computer": ("m", "ordenador", "ordenadores"),
    "clock": ("m", "reloj", "relojes"), "photo": ("f", "foto", "fotos"), "ticket": ("m", "billete", "billetes"),
    "plate": ("m", "plato", "platos"),
    "shirt": ("f", "camisa", "camisas"), "hat": ("m", "sombrero", "sombreros"),
    "jacket": ("f", "chaqueta", "chaquetas"), "dress": ("m", "vestido", "vestidos"),
    "car": ("m", "coche", "coches"), "bicycle": ("f", "bicicleta", "bicicletas"),
    "bus": ("m", "autobús", "autobuses"), "boat": ("m", "barco", "barcos"),
    "table": ("f", "mesa", "mesas"), "chair": ("f", "silla", "sillas"), "bed": ("f", "cama", "camas"),
    "sofa": ("m", "sofá", "sofás"), "door": ("f", "puerta", "puertas"), "window": ("f", "ventana", "ventanas"),
    "flower": ("f", "flor", "flores"), "tree": ("m", "árbol", "árboles"),
    "child": ("m", "niño", "niños"), "student": ("m", "estudiante", "estudiantes"),
    "tourist": ("m", "turista", "turistas"), "teacher": ("m", "profesor", "profesores"),
}
# Feminine nouns with a stressed initial a take "el" in the singular.
EL_FEMININE = {"water"}


def _forms(spec: str):
    """"rojo roja rojos rojas" -> (m sg, f sg, m pl, f pl)."""
    parts = tuple(spec.split())
    assert len(parts) == 4, spec
    return parts


ADJECTIVES = {
    "red": _forms("rojo roja rojos rojas"), "blue": _forms("azul azul azules azules"),
    "green": _forms("verde verde verdes verdes"), "yellow": _forms("amarillo amarilla amarillos amarillas"),
    "white": _forms("blanco blanca blancos blancas"), "black": _forms("negro negra negros negras"),
    "brown": _forms("marrón marrón marrones marrones"),
    "big": _forms("grande grande grandes grandes"), "small": _forms("pequeño pequeña pequeños pequeñas"),
    "new": _forms("nuevo nueva nuevos nuevas"), "old": _forms("viejo vieja viejos viejas"),
    "beautiful": _forms("bonito bonita bonitos bonitas"), "cheap": _forms("barato barata baratos baratas"),
    "expensive": _forms("caro cara caros caras"), "heavy": _forms("pesado pesada pesados pesadas"),
}
NUMBERS = dict(zip(range(1, 21), (
    "uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis diecisiete "
    "dieciocho diecinueve veinte").split()))
PLACES = {  # id -> (gender, noun); "a" + article for "to", "en" + article for "in"/"at"
    "station": ("f", "estación"), "school": ("f", "escuela"), "park": ("m", "parque"), "market": ("m", "mercado"),
    "library": ("f", "biblioteca"), "hospital": ("m", "hospital"), "museum": ("m", "museo"),
    "restaurant": ("m", "restaurante"), "bank": ("m", "banco"), "beach": ("f", "playa"), "office": ("f", "oficina"),
    "cinema": ("m", "cine"), "supermarket": ("m", "supermercado"), "bakery": ("f", "panadería"),
    "shop": ("f", "tienda"), "kitchen": ("f", "cocina"), "garden": ("m", "jardín"), "farm": ("f", "granja"),
}
PREPOSITIONS = {"on": "sobre", "under": "debajo de", "next_to": "al lado de", "behind": "detrás de"}
CITIES = {"berlin": "Berlín", "paris": "París", "madrid": "Madrid", "tokyo": "Tokio", "beijing": "Pekín",
          "london": "Londres", "rome": "Roma"}
DAYS = {"monday": "lunes", "tuesday": "martes", "wednesday": "miércoles", "thursday": "jueves",
        "friday": "viernes", "saturday": "sábado", "sunday": "domingo"}
PERIODS = {"morning": "cada mañana", "evening": "cada noche", "day": "cada día", "week": "cada semana"}
STATES = {"tired": ("estar", _forms("cansado cansada cansados cansadas")), "hungry": ("tener", "hambre"),
          "thirsty": ("tener", "sed"), "sick": ("estar", _forms("enfermo enferma enfermos enfermas")),
          "busy": ("estar", _forms("ocupado ocupada ocupados ocupadas"))}
WEATHER = {"cold": "hace frío", "hot": "hace calor", "rain": "llueve", "snow": "nieva", "wind": "hace viento"}
# Subject pronouns: dropped for yo and nosotros (the verb ending says who), kept for the third person.
PRONOUNS = {"I": None, "he": "él", "she": "ella", "we": None, "they": "ellos"}
# Indirect objects for gustar: (a-phrase, clitic).
GUSTAR = {"I": (None, "me"), "he": ("a él", "le"), "she": ("a ella", "le"), "we": (None, "nos"),
          "they": ("a ellos", "les")}
VERBS = {  # yo, él/ella, nosotros, ellos
    "ser": "soy es somos son", "estar": "estoy está estamos están", "tener": "tengo tiene tenemos tienen",
    "ir": "voy va vamos van", "comer": "como come comemos comen", "beber": "bebo bebe bebemos beben",
    "necesitar": "necesito necesita necesitamos necesitan", "querer": "quiero quiere queremos quieren",
    "comprar": "compro compra compramos compran", "trabajar": "trabajo trabaja trabajamos trabajan",
}


def _index(gender: str, plural: bool) -> int:
    return (2 if plural else 0) + (1 if gender == "f" else 0)


def with_preposition(prep: str, phrase: str) -> str:
    """a/de + el -> al/del (also at the end of "debajo de", "al lado de")."""
    if phrase.startswith("el ") and (prep in ("a", "de") or prep.endswith(" de")):
        contracted = "al" if prep == "a" else prep[:-2] + "del"
        return contracted + " " + phrase[3:]
    return prep + " " + phrase


class Spanish(Realiser):
    code = "es"

    def subj(self, s: str):
        return s.capitalize() if s in C.NAMES else PRONOUNS[s]

    def verb(self, s: str, v: str) -> str:
        return VERBS[v].split()[C.person_of(s)]

    def clause(self, s: str, v: str, *rest) -> str:
        return words(self.subj(s), self.verb(s, v), *rest)

    def article(self, noun_or_gender: str, definite: bool, plural: bool = False, noun: str = "") -> str:
        gender = noun_or_gender
        if definite:
            if not plural and noun in EL_FEMININE:
                return "el"
            return ("los", "las")[gender == "f"] if plural else ("el", "la")[gender == "f"]
        return ("unos", "unas")[gender == "f"] if plural else ("un", "una")[gender == "f"]

    def np(self, noun: str, det: str = "def", num: int = 1, adj=None) -> str:
        """``det``: "def" (el), "indef" (un), "dem" (este) or "none"; num > 1 puts the number first."""
        gender, sg, pl = NOUNS[noun]
        plural = num > 1
        head = words(pl if plural else sg, ADJECTIVES[adj][_index(gender, plural)] if adj else None)
        if plural:
            return words(NUMBERS[num], head)
        if det == "def":
            return words(self.article(gender, True, False, noun), head)
        if det == "indef":
            return words(self.article(gender, False), head)
        if det == "dem":
            return words("esta" if gender == "f" else "este", head)
        return head

    def generic(self, noun: str) -> str:
        gender, sg, pl = NOUNS[noun]
        return words(self.article(gender, True, bool(pl), noun), pl or sg)

    def place(self, place: str) -> str:
        gender, noun = PLACES[place]
        return words(self.article(gender, True), noun)

    def sentence(self, *parts, question: bool = False) -> str:
        text = capitalise(words(*parts))
        return capitalise("¿" + text + "?") if question else text + "."

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return self.sentence("hay", self.np(noun, "none", num, adj), "en", self.place(place))

    def frame_have_count(self, subj, noun, num, adj):
        return self.sentence(self.clause(subj, "tener", self.np(noun, "none", num, adj)))

    def frame_property(self, noun, adj):
        gender = NOUNS[noun][0]
        return self.sentence(self.np(noun, "dem"), "es", ADJECTIVES[adj][_index(gender, False)])

    def frame_location(self, noun, adj, prep, ref):
        return self.sentence(self.np(noun, "def", 1, adj), "está", with_preposition(PREPOSITIONS[prep], self.np(ref)))

    @staticmethod
    def hour(h: int) -> str:
        return "a la una" if h == 1 else "a las " + NUMBERS[h]

    def frame_go_hour(self, subj, place, hour):
        return self.sentence(self.clause(subj, "ir", with_preposition("a", self.place(place))), self.hour(hour))

    def frame_go_day(self, subj, place, day):
        return self.sentence("el", DAYS[day], self.clause(subj, "ir", with_preposition("a", self.place(place))))

    def _gustar(self, subj, noun, negative: bool) -> str:
        if subj in C.NAMES:
            a_phrase, clitic = "a " + subj.capitalize(), "le"
        else:
            a_phrase, clitic = GUSTAR[subj]
        verb = "gusta" if C.NOUNS[noun].mass else "gustan"
        return self.sentence(a_phrase, "no" if negative else None, clitic, verb, self.generic(noun))

    def frame_like(self, subj, noun):
        return self._gustar(subj, noun, False)

    def frame_dislike(self, subj, noun):
        return self._gustar(subj, noun, True)

    def frame_consume(self, subj, noun, num, period):
        verb = "beber" if C.NOUNS[noun].category == "drink" else "comer"
        obj = NOUNS[noun][1] if num is None else self.np(noun, "none", num)
        return self.sentence(self.clause(subj, verb, obj, PERIODS[period]))

    def frame_need(self, subj, noun, num, adj):
        return self.sentence(self.clause(subj, "necesitar", self.np(noun, "indef" if num == 1 else "none", num, adj)))

    def frame_want(self, subj, noun, adj):
        return self.sentence(self.clause(subj, "querer", self.np(noun, "indef", 1, adj)))

    def frame_buy_at(self, subj, noun, num, place):
        return self.sentence(self.clause(subj, "comprar", self.np(noun, "none", num), "en", self.place(place)))

    def frame_work_at(self, subj, place):
        return self.sentence(self.clause(subj, "trabajar", "en", self.place(place)))

    def frame_where_is(self, noun, adj):
        return self.sentence("dónde está", self.np(noun, "def", 1, adj), question=True)

    def frame_how_many(self, noun, place):
        gender, _, pl = NOUNS[noun]
        return self.sentence("cuántas" if gender == "f" else "cuántos", pl, "hay en", self.place(place),
                             question=True)

    def frame_have_question(self, subj, noun, adj):
        return self.sentence("tiene", self.subj(subj), self.np(noun, "indef", 1, adj), question=True)

    def frame_give_me(self, noun, adj):
        return self.sentence("dame", self.np(noun, "def", 1, adj) + ",", "por favor")

    def frame_compare(self, noun, noun2, adj):
        gender = NOUNS[noun][0]
        return self.sentence(self.np(noun), "es más", ADJECTIVES[adj][_index(gender, False)], "que", self.np(noun2))

    def frame_state(self, subj, state):
        verb, complement = STATES[state]
        if isinstance(complement, tuple):
            complement = complement[_index(C.gender_of(subj), C.is_plural(subj))]
        return self.sentence(self.clause(subj, verb, complement, "hoy"))

    def frame_weather(self, city, weather):
        return self.sentence("hoy", WEATHER[weather], "en", CITIES[city])

    def frame_live(self, subj, subj2, city):
        return self.sentence(self.subj(subj), "y", self.subj(subj2), "viven en", CITIES[city])

    def frame_opens(self, place, hour):
        return self.sentence(self.place(place), "abre", self.hour(hour))

    def frame_age(self, subj, num):
        return self.sentence(self.clause(subj, "tener", NUMBERS[num], "años"))

    def frame_price(self, noun, num):
        return self.sentence(self.np(noun, "dem"), "cuesta", NUMBERS[num], "euros")
