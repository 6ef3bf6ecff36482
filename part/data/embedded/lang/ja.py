"""Japanese (kanji and kana as normally written): verb-final order, particles は/が/を/に/で/へ, counters
with their sound changes (三本 さんぼん, 六匹 ろっぴき, 二十歳 はたち), いる for animate and ある for
inanimate existence, i- and na-adjectives, 欲しい (first person) vs. 欲しがっている (third), polite
です/ます style.

Every segment with kanji carries its reading ("公園|こうえん"); particles carry their pronunciation
(は -> わ, へ -> え), which is what espeak-ng's kana-only Japanese voice is given.
"""
from __future__ import annotations

from part.data.embedded import concepts as C
from part.data.embedded.lang.base import Realiser, W, segs

# Counters: the readings of 1..10 (sound changes included); 11-19 are じゅう + the reading of 1-9 and
# 20 is に + the reading of 10 (exceptions below).
COUNTERS = {
    "匹": "いっぴき にひき さんびき よんひき ごひき ろっぴき ななひき はっぴき きゅうひき じゅっぴき",
    "頭": "いっとう にとう さんとう よんとう ごとう ろくとう ななとう はっとう きゅうとう じゅっとう",
    "羽": "いちわ にわ さんわ よんわ ごわ ろくわ ななわ はちわ きゅうわ じゅうわ",
    "個": "いっこ にこ さんこ よんこ ごこ ろっこ ななこ はっこ きゅうこ じゅっこ",
    "本": "いっぽん にほん さんぼん よんほん ごほん ろっぽん ななほん はっぽん きゅうほん じゅっぽん",
    "冊": "いっさつ にさつ さんさつ よんさつ ごさつ ろくさつ ななさつ はっさつ きゅうさつ じゅっさつ",
    "部": "いちぶ にぶ さんぶ よんぶ ごぶ ろくぶ ななぶ はちぶ きゅうぶ じゅうぶ",
    "通": "いっつう につう さんつう よんつう ごつう ろくつう ななつう はっつう きゅうつう じゅっつう",
    "枚": "いちまい にまい さんまい よんまい ごまい ろくまい ななまい はちまい きゅうまい じゅうまい",
    "着": "いっちゃく にちゃく さんちゃく よんちゃく ごちゃく ろくちゃく ななちゃく はっちゃく きゅうちゃく "
         "じゅっちゃく",
    "台": "いちだい にだい さんだい よんだい ごだい ろくだい ななだい はちだい きゅうだい じゅうだい",
    "脚": "いっきゃく にきゃく さんきゃく よんきゃく ごきゃく ろっきゃく ななきゃく はっきゃく きゅうきゃく "
         "じゅっきゃく",
    "隻": "いっせき にせき さんせき よんせき ごせき ろくせき ななせき はっせき きゅうせき じゅっせき",
    "人": "ひとり ふたり さんにん よにん ごにん ろくにん ななにん はちにん きゅうにん じゅうにん",
    "歳": "いっさい にさい さんさい よんさい ごさい ろくさい ななさい はっさい きゅうさい じゅっさい",
    "時": "いちじ にじ さんじ よじ ごじ ろくじ しちじ はちじ くじ じゅうじ",
    "": "いち に さん よん ご ろく なな はち きゅう じゅう",  # plain numbers (ユーロ)
}
# Readings of 11-20 that do not follow the rule.
COUNTER_EXCEPTIONS = {("人", 11): "じゅういちにん", ("人", 12): "じゅうににん", ("歳", 20): "はたち",
                      ("時", 11): "じゅういちじ", ("時", 12): "じゅうにじ"}
QUESTION_COUNTERS = {  # 何 + counter
    "匹": "なんびき", "頭": "なんとう", "羽": "なんわ", "個": "なんこ", "本": "なんぼん", "冊": "なんさつ",
    "部": "なんぶ", "通": "なんつう", "枚": "なんまい", "着": "なんちゃく", "台": "なんだい", "脚": "なんきゃく",
    "隻": "なんせき", "人": "なんにん",
}
KANJI_DIGITS = dict(zip(range(1, 11), "一二三四五六七八九十"))


def kanji_number(n: int) -> str:
    if n <= 10:
        return KANJI_DIGITS[n]
    tens, units = divmod(n, 10)
    return (KANJI_DIGITS[tens] if tens > 1 else "") + "十" + (KANJI_DIGITS[units] if units else "")


def counted(n: int, counter: str) -> W:
    """``n`` + counter in kanji with its reading: counted(3, "本") -> W("三本", "さんぼん")."""
    readings = COUNTERS[counter].split()
    if (counter, n) in COUNTER_EXCEPTIONS:
        say = COUNTER_EXCEPTIONS[(counter, n)]
    elif n <= 10:
        say = readings[n - 1]
    elif n < 20:
        say = "じゅう" + readings[n - 11]
    elif n == 20:
        say = "に" + readings[9]
    else:
        raise ValueError(f"numbers up to 20 only, not {n}")
    return W(kanji_number(n) + counter, say)


NOUNS = {  # id -> (word|reading, counter); mass nouns have no counter
    "dog": ("犬|いぬ", "匹"), "cat": ("猫|ねこ", "匹"), "bird": ("鳥|とり", "羽"), "horse": ("馬|うま", "頭"),
    "fish": ("魚|さかな", "匹"), "rabbit": ("うさぎ", "匹"), "cow": ("牛|うし", "頭"), "mouse": ("ねずみ", "匹"),
    "apple": ("りんご", "個"), "banana": ("バナナ", "本"), "egg": ("卵|たまご", "個"), "orange": ("オレンジ", "個"),
    "tomato": ("トマト", "個"), "cake": ("ケーキ", "個"),
    "bread": ("パン", None), "rice": ("ご飯|ごはん", None), "cheese": ("チーズ", None), "soup": ("スープ", None),
    "water": ("水|みず", None), "milk": ("牛乳|ぎゅうにゅう", None), "coffee": ("コーヒー", None),
    "tea": ("お茶|おちゃ", None), "juice": ("ジュース", None),
    "book": ("本|ほん", "冊"), "newspaper": ("新聞|しんぶん", "部"), "letter": ("手紙|てがみ", "通"),
    "key": ("鍵|かぎ", "本"), "bag": ("かばん", "個"), "umbrella": ("傘|かさ", "本"), "ball": ("ボール", "個"),
    "box": ("箱|はこ", "個"), "cup": ("カップ", "個"), "bottle": ("瓶|びん", "本"), "pencil": ("鉛筆|えんぴつ", "本"),
    "lamp": ("ランプ", "個"), "computer": ("パソコン", "台"), "clock": ("時計|とけい", "個"),
    "photo": ("写真|しゃしん", "枚"), "ticket": ("切符|きっぷ", "枚"), "plate": ("皿|さら", "枚"),
    "shirt": ("シャツ", "枚"), "hat": ("帽子|ぼうし", "個"), "jacket": ("ジャケット", "着"),
    "dress": ("ワンピース", "着"),
    "car": ("車|くるま", "台"), "bicycle": ("自転車|じてんしゃ", "台"), "bus": ("バス", "台"), "boat": ("船|ふね", "隻"),
    "table": ("テーブル", "台"), "chair": ("椅子|いす", "脚"), "bed": ("ベッド", "台"), "sofa": ("ソファー", "台"),
    "door": ("ドア", None), "window": ("窓|まど", None),
    "flower": ("花|はな", "本"), "tree": ("木|き", "本"),
    "child": ("子供|こども", "人"), "student": ("学生|がくせい", "人"), "tourist": ("観光客|かんこうきゃく", "人"),
    "teacher": ("先生|せんせい", "人"),
}
ADJECTIVES = {  # id -> (attributive, predicative before です)
    "red": ("赤い|あかい", "赤い|あかい"), "blue": ("青い|あおい", "青い|あおい"), "green": ("緑の|みどりの", "緑|みどり"),
    "yellow": ("黄色い|きいろい", "黄色い|きいろい"), "white": ("白い|しろい", "白い|しろい"),
    "black": ("黒い|くろい", "黒い|くろい"), "brown": ("茶色い|ちゃいろい", "茶色い|ちゃいろい"),
    "big": ("大きい|おおきい", "大きい|おおきい"), "small": ("小さい|ちいさい", "小さい|ちいさい"),
    "new": ("新しい|あたらしい", "新しい|あたらしい"), "old": ("古い|ふるい", "古い|ふるい"),
    "beautiful": ("きれいな", "きれい"), "cheap": ("安い|やすい", "安い|やすい"),
    "expensive": ("高い|たかい", "高い|たかい"), "heavy": ("重い|おもい", "重い|おもい"),
}
PLACES = {
    "station": "駅|えき", "school": "学校|がっこう", "park": "公園|こうえん", "market": "市場|いちば",
    "library": "図書館|としょかん", "hospital": "病院|びょういん", "museum": "博物館|はくぶつかん",
    "restaurant": "レストラン", "bank": "銀行|ぎんこう", "beach": "ビーチ", "office": "オフィス",
    "cinema": "映画館|えいがかん", "supermarket": "スーパー", "bakery": "パン屋|パンや", "shop": "店|みせ",
    "kitchen": "台所|だいどころ", "garden": "庭|にわ", "farm": "農場|のうじょう",
}
PREPOSITIONS = {"on": "上|うえ", "under": "下|した", "next_to": "横|よこ", "behind": "後ろ|うしろ"}
NAMES = {"anna": "アンナ", "laura": "ラウラ", "emma": "エマ", "lisa": "リサ", "nina": "ニーナ", "clara": "クララ",
         "daniel": "ダニエル", "david": "デビッド", "leo": "レオ", "marco": "マルコ", "max": "マックス", "tom": "トム"}
CITIES = {"berlin": "ベルリン", "paris": "パリ", "madrid": "マドリード", "tokyo": "東京|とうきょう",
          "beijing": "北京|ペキン", "london": "ロンドン", "rome": "ローマ"}
DAYS = {"monday": "月曜日|げつようび", "tuesday": "火曜日|かようび", "wednesday": "水曜日|すいようび",
        "thursday": "木曜日|もくようび", "friday": "金曜日|きんようび", "saturday": "土曜日|どようび",
        "sunday": "日曜日|にちようび"}
PERIODS = {"morning": "毎朝|まいあさ", "evening": "毎晩|まいばん", "day": "毎日|まいにち", "week": "毎週|まいしゅう"}
STATES = {"tired": "疲れています|つかれています", "hungry": "お腹が空いています|おなかがすいています",
          "thirsty": "喉が渇いています|のどがかわいています", "sick": "病気です|びょうきです",
          "busy": "忙しいです|いそがしいです"}
WEATHER = {"cold": "寒いです|さむいです", "hot": "暑いです|あついです", "rain": "雨が降っています|あめがふっています",
           "snow": "雪が降っています|ゆきがふっています", "wind": "風が強いです|かぜがつよいです"}
PRONOUNS = {"I": "私|わたし", "he": "彼|かれ", "she": "彼女|かのじょ", "we": "私たち|わたしたち", "they": "彼ら|かれら"}
TOPIC = "は|わ"  # the topic particle is written は and said わ
TO = "へ|え"  # the direction particle is written へ and said え
END = "。"


def exists(noun: str) -> str:
    """います for people and animals, あります for things."""
    return "います" if C.NOUNS[noun].animate else "あります"


class Japanese(Realiser):
    code = "ja"

    def subj(self, s: str) -> str:
        return NAMES[s] if s in C.NAMES else PRONOUNS[s]

    def noun(self, noun: str, adj=None):
        return segs(ADJECTIVES[adj][0] if adj else None, NOUNS[noun][0])

    def count(self, noun: str, num: int) -> W:
        return counted(num, NOUNS[noun][1])

    def own(self, noun: str) -> str:
        """Keeping animals is 飼う, owning things 持つ."""
        return "飼って|かって" if C.NOUNS[noun].category in ("pet", "farm") else "持って|もって"

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return segs(PLACES[place], "に", self.noun(noun, adj), "が", self.count(noun, num), exists(noun), END)

    def frame_have_count(self, subj, noun, num, adj):
        return segs(self.subj(subj), TOPIC, self.noun(noun, adj), "を", self.count(noun, num), self.own(noun),
                    "います", END)

    def frame_property(self, noun, adj):
        return segs("この", NOUNS[noun][0], TOPIC, ADJECTIVES[adj][1], "です", END)

    def frame_location(self, noun, adj, prep, ref):
        return segs(self.noun(noun, adj), TOPIC, NOUNS[ref][0], "の", PREPOSITIONS[prep], "に", exists(noun), END)

    def frame_go_hour(self, subj, place, hour):
        return segs(self.subj(subj), TOPIC, counted(hour, "時"), "に", PLACES[place], TO, "行きます|いきます", END)

    def frame_go_day(self, subj, place, day):
        return segs(self.subj(subj), TOPIC, DAYS[day], "に", PLACES[place], TO, "行きます|いきます", END)

    def frame_like(self, subj, noun):
        return segs(self.subj(subj), TOPIC, NOUNS[noun][0], "が", "好きです|すきです", END)

    def frame_dislike(self, subj, noun):
        return segs(self.subj(subj), TOPIC, NOUNS[noun][0], "が", "好きではありません|すきでわありません", END)

    def frame_consume(self, subj, noun, num, period):
        drink = C.NOUNS[noun].category == "drink" or noun == "soup"
        verb = "飲みます|のみます" if drink else "食べます|たべます"
        return segs(self.subj(subj), TOPIC, PERIODS[period], NOUNS[noun][0], "を",
                    self.count(noun, num) if num else None, verb, END)

    def frame_need(self, subj, noun, num, adj):
        return segs(self.subj(subj), TOPIC, self.noun(noun, adj), "が", self.count(noun, num) if num > 1 else None,
                    "必要です|ひつようです", END)

    def frame_want(self, subj, noun, adj):
        if subj in ("I", "we"):  # 欲しい states the speaker's own wish
            return segs(self.subj(subj), TOPIC, self.noun(noun, adj), "が", "欲しいです|ほしいです", END)
        return segs(self.subj(subj), TOPIC, self.noun(noun, adj), "を", "欲しがっています|ほしがっています", END)

    def frame_buy_at(self, subj, noun, num, place):
        return segs(self.subj(subj), TOPIC, PLACES[place], "で", NOUNS[noun][0], "を", self.count(noun, num),
                    "買います|かいます", END)

    def frame_work_at(self, subj, place):
        return segs(self.subj(subj), TOPIC, PLACES[place], "で", "働いています|はたらいています", END)

    def frame_where_is(self, noun, adj):
        return segs(self.noun(noun, adj), TOPIC, "どこに", exists(noun), "か", END)

    def frame_how_many(self, noun, place):
        counter = NOUNS[noun][1]
        return segs(PLACES[place], "に", NOUNS[noun][0], TOPIC, W("何" + counter, QUESTION_COUNTERS[counter]),
                    exists(noun), "か", END)

    def frame_have_question(self, subj, noun, adj):
        return segs(self.subj(subj), TOPIC, self.noun(noun, adj), "を", self.own(noun), "います", "か", END)

    def frame_give_me(self, noun, adj):
        return segs(self.noun(noun, adj), "を", "ください", END)

    def frame_compare(self, noun, noun2, adj):
        return segs(NOUNS[noun][0], TOPIC, NOUNS[noun2][0], "より", ADJECTIVES[adj][1], "です", END)

    def frame_state(self, subj, state):
        return segs(self.subj(subj), TOPIC, "今日|きょう", STATES[state], END)

    def frame_weather(self, city, weather):
        return segs("今日|きょう", CITIES[city], TOPIC, WEATHER[weather], END)

    def frame_live(self, subj, subj2, city):
        return segs(self.subj(subj), "と", self.subj(subj2), TOPIC, CITIES[city], "に", "住んでいます|すんでいます", END)

    def frame_opens(self, place, hour):
        return segs(PLACES[place], TOPIC, counted(hour, "時"), "に", "開きます|あきます", END)

    def frame_age(self, subj, num):
        return segs(self.subj(subj), TOPIC, counted(num, "歳"), "です", END)

    def frame_price(self, noun, num):
        return segs("この", NOUNS[noun][0], TOPIC, counted(num, ""), "ユーロです", END)
