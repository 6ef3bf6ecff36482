"""English: a/an, irregular plurals, third-person -s, do-support in negation and questions."""
from __future__ import annotations

from part.data.embedded import concepts as C
from part.data.embedded.lang.base import Realiser, capitalise, words

NOUNS = {  # id -> (singular, plural); mass nouns have no plural
    "dog": ("dog", "dogs"), "cat": ("cat", "cats"), "bird": ("bird", "birds"), "horse": ("horse", "horses"),
    "fish": ("fish", "fish"), "rabbit": ("rabbit", "rabbits"), "cow": ("cow", "cows"), "mouse": ("mouse", "mice"),
    "apple": ("apple", "apples"), "banana": ("banana", "bananas"), "egg": ("egg", "eggs"),
    "orange": ("orange", "oranges"), "tomato": ("tomato", "tomatoes"), "cake": ("cake", "cakes"),
    "bread": ("bread", None), "rice": ("rice", None), "cheese": ("cheese", None), "soup": ("soup", None),
    "water": ("water", None), "milk": ("milk", None), "coffee": ("coffee", None), "tea": ("tea", None),
    "juice": ("juice", None),
    "book": ("book", "books"), "newspaper": ("newspaper", "newspapers"), "letter": ("letter", "letters"),
    "key": ("key", "keys"), "bag": ("bag", "bags"), "umbrella": ("umbrella", "umbrellas"),
    "ball": ("ball", "balls"), "box": ("box", "boxes"), "cup": ("cup", "cups"), "bottle": ("bottle", "bottles"),
    "pencil": ("pencil", "pencils"), "lamp": ("lamp", "lamps"), "computer": ("computer", "computers"),
    "clock": ("clock", "clocks"), "photo": ("photo", "photos"), "ticket": ("ticket", "tickets"),
    "plate": ("plate", "plates"),
    "shirt": ("shirt", "shirts"), "hat": ("hat", "hats"), "jacket": ("jacket", "jackets"),
    "dress": ("dress", "dresses"),
    "car": ("car", "cars"), "bicycle": ("bicycle", "bicycles"), "bus": ("bus", "buses"), "boat": ("boat", "boats"),
    "table": ("table", "tables"), "chair": ("chair", "chairs"), "bed": ("bed", "beds"), "sofa": ("sofa", "sofas"),
    "door": ("door", "doors"), "window": ("window", "windows"),
    "flower": ("flower", "flowers"), "tree": ("tree", "trees"),
    "child": ("child", "children"), "student": ("student", "students"), "tourist": ("tourist", "tourists"),
    "teacher": ("teacher", "teachers"),
}
ADJECTIVES = {a: a for a in C.ADJECTIVES}
COMPARATIVES = {"big": "bigger", "small": "smaller", "heavy": "heavier", "expensive": "more expensive",
                "cheap": "cheaper", "old": "older", "new": "newer"}
NUMBERS = dict(zip(range(1, 21), (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty").split()))
PLACES = {  # id -> (noun, "to ...", "in ..." (where things are), "at ..." (where one works / buys))
    "station": ("station", "to the station", "at the station", "at the station"),
    "school": ("school", "to school", "at the school", "at the school"),
    "park": ("park", "to the park", "in the park", "in the park"),
    "market": ("market", "to the market", "at the market", "at the market"),
    "library": ("library", "to the library", "in the library", "at the library"),
    "hospital": ("hospital", "to the hospital", "in the hospital", "at the hospital"),
    "museum": ("museum", "to the museum", "in the museum", "at the museum"),
    "restaurant": ("restaurant", "to the restaurant", "in the restaurant", "at the restaurant"),
    "bank": ("bank", "to the bank", "in the bank", "at the bank"),
    "beach": ("beach", "to the beach", "on the beach", "at the beach"),
    "office": ("office", "to the office", "in the office", "at the office"),
    "cinema": ("cinema", "to the cinema", "in the cinema", "at the cinema"),
    "supermarket": ("supermarket", "to the supermarket", "in the supermarket", "at the supermarket"),
    "bakery": ("bakery", "to the bakery", "in the bakery", "at the bakery"),
    "shop": ("shop", "to the shop", "in the shop", "at the shop"),
    "kitchen": ("kitchen", None, "in the kitchen", None),
    "garden": ("garden", None, "in the garden", None),
    "farm": ("farm", "to the farm", "on the farm", "on the farm"),
}
PREPOSITIONS = {"on": "on", "under": "under", "next_to": "next to", "behind": "behind"}
CITIES = {"berlin": "Berlin", "paris": "Paris", "madrid": "Madrid", "tokyo": "Tokyo", "beijing": "Beijing",
          "london": "London", "rome": "Rome"}
PERIODS = {"morning": "every morning", "evening": "every evening", "day": "every day", "week": "every week"}
STATES = {"tired": "tired", "hungry": "hungry", "thirsty": "thirsty", "sick": "sick", "busy": "busy"}
WEATHER = {"cold": "It is cold in {city} today.", "hot": "It is hot in {city} today.",
           "rain": "It is raining in {city} today.", "snow": "It is snowing in {city} today.",
           "wind": "It is windy in {city} today."}
PRONOUNS = {"I": "I", "he": "he", "she": "she", "we": "we", "they": "they"}
# Verbs: (1sg/plural form, 3sg form).
VERBS = {"be": ("are", "is"), "have": ("have", "has"), "go": ("go", "goes"), "like": ("like", "likes"),
         "do": ("do", "does"), "eat": ("eat", "eats"), "drink": ("drink", "drinks"), "need": ("need", "needs"),
         "want": ("want", "wants"), "buy": ("buy", "buys"), "work": ("work", "works")}


def article(word: str) -> str:
    """a / an by the first letter of the next word (the lexicon has no 'university'/'hour' cases)."""
    return "an" if word[0].lower() in "aeiou" else "a"


class English(Realiser):
    code = "en"

    # ---- helpers ----
    def subj(self, s: str) -> str:
        return s.capitalize() if s in C.NAMES else PRONOUNS[s]

    def verb(self, s: str, v: str) -> str:
        if v == "be" and s == "I":
            return "am"
        return VERBS[v][1] if C.person_of(s) == 1 else VERBS[v][0]

    def np(self, noun: str, num: int = 1, adj=None, det: str = "") -> str:
        """``det`` is "a", "the", "this", "" (bare), or the number word is used when num > 1."""
        sg, pl = NOUNS[noun]
        head = words(ADJECTIVES[adj] if adj else None, sg if num == 1 else pl)
        if num > 1:
            return words(NUMBERS[num], head)
        if det == "a":
            return words(article(head), head)
        return words(det, head)

    def generic(self, noun: str) -> str:
        """Bare plural for count nouns, bare singular for mass nouns ("cats", "coffee")."""
        sg, pl = NOUNS[noun]
        return pl or sg

    def sentence(self, *parts, end: str = ".") -> str:
        return capitalise(words(*parts)) + end

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return self.sentence("there are", self.np(noun, num, adj), PLACES[place][2])

    def frame_have_count(self, subj, noun, num, adj):
        return self.sentence(self.subj(subj), self.verb(subj, "have"), self.np(noun, num, adj))

    def frame_property(self, noun, adj):
        return self.sentence("this", NOUNS[noun][0], "is", ADJECTIVES[adj])

    def frame_location(self, noun, adj, prep, ref):
        return self.sentence(self.np(noun, 1, adj, "the"), "is", PREPOSITIONS[prep], "the", NOUNS[ref][0])

    def frame_go_hour(self, subj, place, hour):
        return self.sentence(self.subj(subj), self.verb(subj, "go"), PLACES[place][1], "at", NUMBERS[hour],
                             "o'clock")

    def frame_go_day(self, subj, place, day):
        return self.sentence("on", day.capitalize(), self.subj(subj), self.verb(subj, "go"), PLACES[place][1])

    def frame_like(self, subj, noun):
        return self.sentence(self.subj(subj), self.verb(subj, "like"), self.generic(noun))

    def frame_dislike(self, subj, noun):
        return self.sentence(self.subj(subj), self.verb(subj, "do"), "not like", self.generic(noun))

    def frame_consume(self, subj, noun, num, period):
        verb = "drink" if C.NOUNS[noun].category == "drink" else "eat"
        obj = NOUNS[noun][0] if num is None else self.np(noun, num)
        return self.sentence(self.subj(subj), self.verb(subj, verb), obj, PERIODS[period])

    def frame_need(self, subj, noun, num, adj):
        return self.sentence(self.subj(subj), self.verb(subj, "need"), self.np(noun, num, adj, "a"))

    def frame_want(self, subj, noun, adj):
        return self.sentence(self.subj(subj), self.verb(subj, "want"), self.np(noun, 1, adj, "a"))

    def frame_buy_at(self, subj, noun, num, place):
        return self.sentence(self.subj(subj), self.verb(subj, "buy"), self.np(noun, num), PLACES[place][3])

    def frame_work_at(self, subj, place):
        return self.sentence(self.subj(subj), self.verb(subj, "work"), PLACES[place][3])

    def frame_where_is(self, noun, adj):
        return self.sentence("where is", self.np(noun, 1, adj, "the"), end="?")

    def frame_how_many(self, noun, place):
        return self.sentence("how many", NOUNS[noun][1], "are there", PLACES[place][2], end="?")

    def frame_have_question(self, subj, noun, adj):
        return self.sentence("does", self.subj(subj), "have", self.np(noun, 1, adj, "a"), end="?")

    def frame_give_me(self, noun, adj):
        return self.sentence("please give me", self.np(noun, 1, adj, "the"))

    def frame_compare(self, noun, noun2, adj):
        return self.sentence("the", NOUNS[noun][0], "is", COMPARATIVES[adj], "than the", NOUNS[noun2][0])

    def frame_state(self, subj, state):
        return self.sentence(self.subj(subj), self.verb(subj, "be"), STATES[state], "today")

    def frame_weather(self, city, weather):
        return WEATHER[weather].format(city=CITIES[city])

    def frame_live(self, subj, subj2, city):
        return self.sentence(self.subj(subj), "and", self.subj(subj2), "live in", CITIES[city])

    def frame_opens(self, place, hour):
        return self.sentence("the", PLACES[place][0], "opens at", NUMBERS[hour], "o'clock")

    def frame_age(self, subj, num):
        return self.sentence(self.subj(subj), "is", NUMBERS[num], "years old")

    def frame_price(self, noun, num):
        return self.sentence("this", NOUNS[noun][0], "costs", NUMBERS[num], "euros")
