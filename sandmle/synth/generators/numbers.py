"""Spoken forms of written tokens in English and Russian (the normalisation conventions).

Pure functions of a token and its class, used by the token-sequence generator to write
answers and embedded (as source) into normalisation reference solutions, so both follow
one convention. Russian uses nominative number words and the standard 1 / 2-4 / 5+ plural
rule for units; there is no case inflection.
"""
from __future__ import annotations

EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
           "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
EN_ORD = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
          "twelve": "twelfth"}
EN_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
             "november", "december"]
RU_ONES = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять",
           "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать", "семнадцать",
           "восемнадцать", "девятнадцать"]
RU_TENS = ["", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят",
           "девяносто"]
RU_HUNDREDS = ["", "сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот",
               "девятьсот"]
RU_ORD = {"ноль": "нулевой", "один": "первый", "два": "второй", "три": "третий", "четыре": "четвертый", "пять": "пятый",
          "шесть": "шестой", "семь": "седьмой", "восемь": "восьмой", "девять": "девятый", "десять": "десятый",
          "одиннадцать": "одиннадцатый", "двенадцать": "двенадцатый", "двадцать": "двадцатый",
          "тридцать": "тридцатый", "сорок": "сороковой", "пятьдесят": "пятидесятый", "сто": "сотый",
          "тысяча": "тысячный"}
RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
             "ноября", "декабря"]
UNITS = {  # symbol: (en singular, en plural, ru one, ru two-four, ru many)
    "kg": ("kilogram", "kilograms", "килограмм", "килограмма", "килограммов"),
    "km": ("kilometer", "kilometers", "километр", "километра", "километров"),
    "m": ("meter", "meters", "метр", "метра", "метров"),
    "g": ("gram", "grams", "грамм", "грамма", "граммов"),
    "%": ("percent", "percent", "процент", "процента", "процентов"),
    "$": ("dollar", "dollars", "доллар", "доллара", "долларов"),
    "€": ("euro", "euros", "евро", "евро", "евро"),
}
LETTER_NAMES_RU = {c: c.lower() for c in "АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯ"}


def cardinal(n: int, lang: str) -> str:
    if lang == "ru":
        return _ru_cardinal(n)
    if n < 20:
        return EN_ONES[n]
    if n < 100:
        return EN_TENS[n // 10] + ("" if n % 10 == 0 else " " + EN_ONES[n % 10])
    if n < 1000:
        return EN_ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + cardinal(n % 100, lang))
    return cardinal(n // 1000, lang) + " thousand" + ("" if n % 1000 == 0 else " " + cardinal(n % 1000, lang))


def _ru_cardinal(n: int) -> str:
    if n < 20:
        return RU_ONES[n]
    if n < 100:
        return RU_TENS[n // 10] + ("" if n % 10 == 0 else " " + RU_ONES[n % 10])
    if n < 1000:
        return RU_HUNDREDS[n // 100] + ("" if n % 100 == 0 else " " + _ru_cardinal(n % 100))
    thousands = n // 1000
    if thousands == 1:
        return "тысяча" + ("" if n % 1000 == 0 else " " + _ru_cardinal(n % 1000))
    head = {1: "одна", 2: "две"}.get(thousands % 10, "") if thousands % 100 not in (11, 12) else ""
    if head and thousands >= 10:
        head = _ru_cardinal(thousands - thousands % 10) + " " + head
    words = (head or _ru_cardinal(thousands)) + " " + plural(thousands, "тысяча", "тысячи", "тысяч")
    return words + ("" if n % 1000 == 0 else " " + _ru_cardinal(n % 1000))


def plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def ordinal(n: int, lang: str) -> str:
    words = cardinal(n, lang).split()
    last = words[-1]
    if lang == "ru":
        words[-1] = RU_ORD.get(last, last[:-1] + "ый" if last.endswith("ь") else last + "ый")
    elif last in EN_ORD:
        words[-1] = EN_ORD[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(n: int, lang: str) -> str:
    if lang == "ru":
        return ordinal(n, lang) + " год"
    if n % 1000 < 10 or 2000 <= n < 2010:
        return cardinal(n, lang)
    hi, lo = divmod(n, 100)
    return cardinal(hi, lang) + " " + ("hundred" if lo == 0 else ("oh " + EN_ONES[lo] if lo < 10 else cardinal(lo, lang)))


def date(token: str, lang: str) -> str:
    day, month, yr = (int(p) for p in token.split("."))
    if lang == "ru":
        return f"{ordinal(day, lang)} {RU_MONTHS[month - 1]} {ordinal(yr, lang)} года"
    return f"the {ordinal(day, lang)} of {EN_MONTHS[month - 1]} {year(yr, lang)}"


def time_of_day(token: str, lang: str) -> str:
    hour, minute = (int(p) for p in token.split(":"))
    if minute == 0:
        return f"{cardinal(hour, lang)} {'часов' if lang == 'ru' else 'o clock'}"
    if minute < 10 and lang != "ru":
        return f"{cardinal(hour, lang)} oh {cardinal(minute, lang)}"
    return f"{cardinal(hour, lang)} {cardinal(minute, lang)}"


def unit_words(n: int, symbol: str, lang: str) -> str:
    en_one, en_many, ru_one, ru_few, ru_many = UNITS[symbol]
    if lang == "ru":
        return plural(n, ru_one, ru_few, ru_many)
    return en_one if n == 1 else en_many


def money(token: str, lang: str) -> str:
    symbol, n = token[0], int(token[1:])
    return f"{cardinal(n, lang)} {unit_words(n, symbol, lang)}"


def measure(token: str, lang: str) -> str:
    digits = "".join(c for c in token if c.isdigit())
    symbol = token[len(digits):]
    return f"{cardinal(int(digits), lang)} {unit_words(int(digits), symbol, lang)}"


def letters(token: str, lang: str) -> str:
    return " ".join(c.lower() for c in token)


def spoken(token: str, cls: str, lang: str) -> str:
    """The spoken form of `token` of class `cls` (PLAIN and PUNCT stay as written)."""
    if cls == "CARDINAL":
        return cardinal(int(token), lang)
    if cls == "ORDINAL":
        return ordinal(int("".join(c for c in token if c.isdigit())), lang)
    if cls == "YEAR":
        return year(int(token), lang)
    if cls == "DATE":
        return date(token, lang)
    if cls == "TIME":
        return time_of_day(token, lang)
    if cls == "MONEY":
        return money(token, lang)
    if cls == "MEASURE":
        return measure(token, lang)
    if cls == "LETTERS":
        return letters(token, lang)
    return token
