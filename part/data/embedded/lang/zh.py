"""Mandarin Chinese (simplified Hanzi): measure words, 两 before a measure word, 的 with longer
attributes, 很 with predicative adjectives and 是……的 with colours, 把 in requests, 比 comparisons,
place words with 里/上, topic-comment time expressions, 吗 questions.

Segments carry pinyin where the generic converter would guess wrong (measure words such as 只 zhi1,
numbers such as 两 liang3); everything else is converted with pypinyin when the audio is made.
"""
from __future__ import annotations

from part.data.embedded import concepts as C
from part.data.embedded.lang.base import Realiser, W, segs, w

MEASURE = {  # measure word -> pinyin
    "个": "ge4", "只": "zhi1", "条": "tiao2", "匹": "pi3", "头": "tou2", "根": "gen1", "块": "kuai4", "本": "ben3",
    "份": "fen4", "封": "feng1", "把": "ba3", "张": "zhang1", "件": "jian4", "顶": "ding3", "辆": "liang4",
    "台": "tai2", "盏": "zhan3", "朵": "duo3", "棵": "ke1", "位": "wei4", "支": "zhi1",
}
NOUNS = {  # id -> (word, measure word); mass nouns have none
    "dog": ("狗", "只"), "cat": ("猫", "只"), "bird": ("鸟", "只"), "horse": ("马", "匹"), "fish": ("鱼", "条"),
    "rabbit": ("兔子", "只"), "cow": ("牛", "头"), "mouse": ("老鼠", "只"),
    "apple": ("苹果", "个"), "banana": ("香蕉", "根"), "egg": ("鸡蛋", "个"), "orange": ("橙子", "个"),
    "tomato": ("西红柿", "个"), "cake": ("蛋糕", "块"),
    "bread": ("面包", None), "rice": ("米饭", None), "cheese": ("奶酪", None), "soup": ("汤", None),
    "water": ("水", None), "milk": ("牛奶", None), "coffee": ("咖啡", None), "tea": ("茶", None),
    "juice": ("果汁", None),
    "book": ("书", "本"), "newspaper": ("报纸", "份"), "letter": ("信", "封"), "key": ("钥匙", "把"),
    "bag": ("包", "个"), "umbrella": ("伞", "把"), "ball": ("球", "个"), "box": ("盒子", "个"), "cup": ("杯子", "个"),
    "bottle": ("瓶子", "个"), "pencil": ("铅笔", "支"), "lamp": ("灯", "盏"), "computer": ("电脑", "台"),
    "clock": ("钟", "个"), "photo": ("照片", "张"), "ticket": ("票", "张"), "plate": ("盘子", "个"),
    "shirt": ("衬衫", "件"), "hat": ("帽子", "顶"), "jacket": ("夹克|jia1 ke4", "件"), "dress": ("连衣裙", "条"),
    "car": ("汽车", "辆"), "bicycle": ("自行车", "辆"), "bus": ("公共汽车", "辆"), "boat": ("船", "条"),
    "table": ("桌子", "张"), "chair": ("椅子", "把"), "bed": ("床", "张"), "sofa": ("沙发", "张"),
    "door": ("门", None), "window": ("窗户", None),
    "flower": ("花", "朵"), "tree": ("树", "棵"),
    "child": ("孩子", "个"), "student": ("学生", "个"), "tourist": ("游客", "个"), "teacher": ("老师", "位"),
}
ADJECTIVES = {  # id -> (attributive, predicative)
    "red": ("红色的", "是红色的"), "blue": ("蓝色的", "是蓝色的"), "green": ("绿色的", "是绿色的"),
    "yellow": ("黄色的", "是黄色的"), "white": ("白色的", "是白色的"), "black": ("黑色的", "是黑色的"),
    "brown": ("棕色的", "是棕色的"),
    "big": ("大", "很大"), "small": ("小", "很小"), "new": ("新", "是新的"), "old": ("旧", "很旧"),
    "beautiful": ("漂亮的", "很漂亮"), "cheap": ("便宜的|pian2 yi5 de5", "很便宜|hen3 pian2 yi5"), "expensive": ("很贵的", "很贵"),
    "heavy": ("很重的", "很重"),
}
COMPARATIVES = {"big": "大", "small": "小", "heavy": "重", "expensive": "贵", "cheap": "便宜|pian2 yi5", "old": "旧",
                "new": "新"}
DIGITS = dict(zip(range(1, 11), "一二三四五六七八九十"))
DIGIT_PINYIN = dict(zip(range(1, 11), "yi1 er4 san1 si4 wu3 liu4 qi1 ba1 jiu3 shi2".split()))
PLACES = {  # id -> (name, where things are: name + 里/上)
    "station": ("车站", "车站里"), "school": ("学校", "学校里"), "park": ("公园", "公园里"),
    "market": ("市场", "市场上"), "library": ("图书馆", "图书馆里"), "hospital": ("医院", "医院里"),
    "museum": ("博物馆", "博物馆里"), "restaurant": ("餐厅", "餐厅里"), "bank": ("银行", "银行里"),
    "beach": ("海滩", "海滩上"), "office": ("办公室", "办公室里"), "cinema": ("电影院", "电影院里"),
    "supermarket": ("超市", "超市里"), "bakery": ("面包店", "面包店里"), "shop": ("商店", "商店里"),
    "kitchen": ("厨房", "厨房里"), "garden": ("花园", "花园里"), "farm": ("农场", "农场上"),
}
PREPOSITIONS = {"on": "上", "under": "下面", "next_to": "旁边", "behind": "后面"}
NAMES = {"anna": "安娜", "laura": "劳拉", "emma": "艾玛", "lisa": "丽莎", "nina": "妮娜", "clara": "克拉拉",
         "daniel": "丹尼尔", "david": "大卫", "leo": "利奥", "marco": "马可", "max": "马克斯", "tom": "汤姆"}
CITIES = {"berlin": "柏林", "paris": "巴黎", "madrid": "马德里", "tokyo": "东京", "beijing": "北京",
          "london": "伦敦", "rome": "罗马"}
DAYS = {"monday": "星期一", "tuesday": "星期二", "wednesday": "星期三", "thursday": "星期四",
        "friday": "星期五", "saturday": "星期六", "sunday": "星期天"}
PERIODS = {"morning": "每天早上", "evening": "每天晚上", "day": "每天", "week": "每个星期"}
STATES = {"tired": "很累", "hungry": "很饿", "thirsty": "很渴", "sick": "生病了|sheng1 bing4 le5", "busy": "很忙"}
WEATHER = {"cold": "很冷", "hot": "很热", "rain": "下雨", "snow": "下雪", "wind": "风很大"}
PRONOUNS = {"I": "我", "he": "他", "she": "她", "we": "我们", "they": "他们"}


def number(n: int, before_measure: bool = True):
    """A number 1-20 in Hanzi with its pinyin; 2 before a measure word is 两."""
    if n == 2 and before_measure:
        return W("两", "liang3")
    if n <= 10:
        return W(DIGITS[n], DIGIT_PINYIN[n])
    tens, units = divmod(n, 10)
    text = (DIGITS[tens] if tens > 1 else "") + "十" + (DIGITS[units] if units else "")
    say = " ".join(([DIGIT_PINYIN[tens]] if tens > 1 else []) + ["shi2"] + ([DIGIT_PINYIN[units]] if units else []))
    return W(text, say)


def measure(noun: str) -> W:
    mw = NOUNS[noun][1]
    return W(mw, MEASURE[mw])


class Chinese(Realiser):
    code = "zh"

    def subj(self, s: str) -> str:
        return NAMES[s] if s in C.NAMES else PRONOUNS[s]

    def np(self, noun: str, num=None, adj=None):
        """[number + measure word] [attribute] noun."""
        quantity = [number(num), measure(noun)] if num else []
        return segs(quantity, ADJECTIVES[adj][0] if adj else None, NOUNS[noun][0])

    # ---- frames ----
    def frame_exist_count(self, place, noun, num, adj):
        return segs(PLACES[place][1], "有", self.np(noun, num, adj), "。")

    def frame_have_count(self, subj, noun, num, adj):
        return segs(self.subj(subj), "有", self.np(noun, num, adj), "。")

    def frame_property(self, noun, adj):
        return segs("这", measure(noun), NOUNS[noun][0], ADJECTIVES[adj][1], "。")

    def frame_location(self, noun, adj, prep, ref):
        return segs(self.np(noun, None, adj), "在", NOUNS[ref][0], PREPOSITIONS[prep], "。")

    def frame_go_hour(self, subj, place, hour):
        return segs(self.subj(subj), number(hour), "点", "去", PLACES[place][0], "。")

    def frame_go_day(self, subj, place, day):
        return segs(DAYS[day], self.subj(subj), "去", PLACES[place][0], "。")

    def frame_like(self, subj, noun):
        return segs(self.subj(subj), "喜欢", NOUNS[noun][0], "。")

    def frame_dislike(self, subj, noun):
        return segs(self.subj(subj), "不喜欢|bu4 xi3 huan5", NOUNS[noun][0], "。")

    def frame_consume(self, subj, noun, num, period):
        verb = "喝" if C.NOUNS[noun].category == "drink" or noun == "soup" else "吃"
        return segs(self.subj(subj), PERIODS[period], verb, self.np(noun, num), "。")

    def frame_need(self, subj, noun, num, adj):
        return segs(self.subj(subj), "需要", self.np(noun, num, adj), "。")

    def frame_want(self, subj, noun, adj):
        return segs(self.subj(subj), "想要", self.np(noun, 1, adj), "。")

    def frame_buy_at(self, subj, noun, num, place):
        return segs(self.subj(subj), "在", PLACES[place][0], "买", self.np(noun, num), "。")

    def frame_work_at(self, subj, place):
        return segs(self.subj(subj), "在", PLACES[place][0], "工作", "。")

    def frame_where_is(self, noun, adj):
        return segs(self.np(noun, None, adj), "在哪里", "？")

    def frame_how_many(self, noun, place):
        return segs(PLACES[place][1], "有多少", measure(noun), NOUNS[noun][0], "？")

    def frame_have_question(self, subj, noun, adj):
        return segs(self.subj(subj), "有", self.np(noun, 1, adj), "吗|ma5", "？")

    def frame_give_me(self, noun, adj):
        return segs("请", "把|ba3", self.np(noun, None, adj), "给我|gei3 wo3", "。")

    def frame_compare(self, noun, noun2, adj):
        return segs(NOUNS[noun][0], "比", NOUNS[noun2][0], COMPARATIVES[adj], "。")

    def frame_state(self, subj, state):
        return segs(self.subj(subj), "今天", w(STATES[state]), "。")

    def frame_weather(self, city, weather):
        return segs("今天", CITIES[city], WEATHER[weather], "。")

    def frame_live(self, subj, subj2, city):
        return segs(self.subj(subj), "和", self.subj(subj2), "住在", CITIES[city], "。")

    def frame_opens(self, place, hour):
        return segs(PLACES[place][0], number(hour), "点", "开门", "。")

    def frame_age(self, subj, num):
        return segs(self.subj(subj), number(num), "岁", "。")

    def frame_price(self, noun, num):
        return segs("这", measure(noun), NOUNS[noun][0], number(num), "欧元", "。")
