"""Read the dates partners print on HTML news lists, in English, French and Spanish.

Purpose: "08 April 2013", "17 mars 2017", "1er mars 2017", "17 de marzo de 2017",
"March 17, 2017", "17/03/2017", "févr. 2017", "Friday 17" -> the parts they contain.
Input: the text of a date element (and whether numeric dates put the day first).
Output: a `PartialDate` (whichever of year, month, day and time the text holds), or a
UTC `datetime` once a date is complete.
Failure: None — an unreadable date is a missing date, never an exception.

Locale-independent on purpose: no `setlocale` (process-wide, not thread-safe, and the
locales may not be installed), but one explicit month table for en/fr/es below, with
accents optional and the usual abbreviations. Month words of the three languages never
collide, so the table needs no language setting. python-dateutil reads what the table
does not cover (RFC 822 dates with a zone, "2017-03-17T10:00+01:00"), and only when it
finds a complete date: its habit of filling gaps from today would invent dates.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from dateutil import parser as dateutil_parser

# Month words after accents are removed and letters lower-cased; a trailing "." of an
# abbreviation ("févr.", "sept.", "dic.") is dropped by the tokenizer.
MONTHS: dict[str, int] = {
    # English
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3,
    "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7,
    "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9, "october": 10,
    "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    # French
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3,
    "avril": 4, "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7,
    "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
    # Spanish
    "enero": 1, "ene": 1, "febrero": 2, "marzo": 3, "abril": 4, "abr": 4,
    "mayo": 5, "junio": 6, "julio": 7, "agosto": 8, "ago": 8, "septiembre": 9,
    "setiembre": 9, "set": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "dic": 12,
}  # fmt: skip

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
# 14:30, 14:30:05, 2:30 pm, and the French 14h30.
_TIME = re.compile(
    r"\b(\d{1,2})\s*(?::|h)\s*(\d{2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?(?![\d])",
)
# 17/03/2017, 17.03.2017, 17-03-17, 2017/03/17
_NUMERIC = re.compile(r"(?<![\d])(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})(?![\d])")
# 17/03 (no year; completed from a month heading)
_NUMERIC_SHORT = re.compile(r"(?<![\d])(\d{1,2})[/.](\d{1,2})(?![\d/.])")
# 1er, 1re, 2e, 3ème (fr); 1st, 2nd, 3rd, 4th (en); 1º, 1.º, 1ª (es; º becomes "o")
_ORDINAL = re.compile(r"\b(\d{1,2})\.?\s?(?:er|re|eme|e|st|nd|rd|th|o|a)\b")
_TOKEN = re.compile(r"[a-z]+|\d+")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """What a date text holds; any part may be missing ("17", "mars 2017")."""

    year: int | None = None
    month: int | None = None
    day: int | None = None
    time: tuple[int, int, int] | None = None
    tz: tzinfo | None = None

    @property
    def complete(self) -> bool:
        return self.year is not None and self.month is not None and self.day is not None

    @property
    def empty(self) -> bool:
        return self.year is None and self.month is None and self.day is None


def fold(text: str) -> str:
    """Lower-case, without accents ("Févr." -> "fevr."), whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())


def _year(value: str) -> int:
    number = int(value)
    if len(value) <= 2:  # "17/03/17": this century up to 69, the last one after
        return 2000 + number if number < 70 else 1900 + number
    return number


def _from_datetime(value: datetime) -> PartialDate:
    return PartialDate(
        value.year,
        value.month,
        value.day,
        (value.hour, value.minute, value.second),
        value.tzinfo,
    )


def _take_time(text: str) -> tuple[str, tuple[int, int, int] | None]:
    match = _TIME.search(text)
    if not match:
        return text, None
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3) or 0)
    meridiem = (match.group(4) or "").replace(".", "")
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return text, None
    return text[: match.start()] + " " + text[match.end() :], (hour, minute, second)


def _numeric(text: str, day_first: bool) -> tuple[str, PartialDate | None]:
    match = _NUMERIC.search(text)
    if match:
        first, _, second, third = match.groups()
        if len(first) == 4:
            year, month, day = int(first), int(second), int(third)
        else:
            year = _year(third)
            day, month = (int(first), int(second)) if day_first else (int(second), int(first))
            if month > 12 >= day:  # 03/17/2017 on a day-first page: only one reading works
                day, month = month, day
        rest = text[: match.start()] + " " + text[match.end() :]
        return rest, PartialDate(year, month, day)
    match = _NUMERIC_SHORT.search(text)
    if match:
        first, second = int(match.group(1)), int(match.group(2))
        day, month = (first, second) if day_first else (second, first)
        if month > 12 >= day:
            day, month = month, day
        rest = text[: match.start()] + " " + text[match.end() :]
        return rest, PartialDate(None, month, day)
    return text, None


def _words(text: str) -> PartialDate | None:
    """Day, month word and year, in any order; other words (weekdays, "de") are ignored."""
    text = _ORDINAL.sub(r"\1", text)
    months: set[int] = set()
    year = day = None
    for token in _TOKEN.findall(text):
        if token.isdigit():
            if len(token) == 4 and year is None:
                year = int(token)
            elif len(token) <= 2 and 1 <= int(token) <= 31 and day is None:
                day = int(token)
            else:
                return None  # an extra number (a zone offset, a second day): not ours
        elif token in MONTHS:
            months.add(MONTHS[token])
    if len(months) > 1:
        return None
    month = months.pop() if months else None
    if year is None and month is None and day is None:
        return None
    return PartialDate(year, month, day)


def read_date(text: str | None, *, day_first: bool = True) -> PartialDate | None:
    """The date parts in `text`, or None when it holds no date we can read."""
    if not text or not text.strip():
        return None
    raw = text.strip()
    if _ISO.match(raw):
        try:
            return _from_datetime(dateutil_parser.isoparse(raw))
        except (ValueError, OverflowError):
            pass
    folded = fold(raw)
    rest, time = _take_time(folded)
    rest, numeric = _numeric(rest, day_first)
    if numeric is not None:
        found: PartialDate | None = numeric if _no_digits(rest) else None
    else:
        found = _words(rest)
    if found is not None and _valid(found):
        return PartialDate(found.year, found.month, found.day, time, None)
    if time is not None and numeric is None and _no_digits(rest):
        return PartialDate(time=time)  # "14:30" under a day heading
    return _dateutil(raw, day_first)


def _no_digits(text: str) -> bool:
    return not any(c.isdigit() for c in text)


def _valid(date: PartialDate) -> bool:
    if date.month is not None and not 1 <= date.month <= 12:
        return False
    if date.day is not None and not 1 <= date.day <= 31:
        return False
    if date.year is not None and date.month is not None and date.day is not None:
        try:
            datetime(date.year, date.month, date.day)
        except ValueError:
            return False
    return True


_DEFAULT_A = datetime(1904, 1, 1)  # dateutil fills gaps from these
_DEFAULT_B = datetime(1908, 2, 2)


def _dateutil(text: str, day_first: bool) -> PartialDate | None:
    """dateutil's reading, kept only when complete (same result with two defaults)."""
    try:
        first = dateutil_parser.parse(text, dayfirst=day_first, default=_DEFAULT_A)
        second = dateutil_parser.parse(text, dayfirst=day_first, default=_DEFAULT_B)
    except (ValueError, OverflowError):
        return None
    if first.date() != second.date():
        return None
    return _from_datetime(first)


def combine(own: PartialDate | None, heading: PartialDate | None) -> datetime | None:
    """Complete an item's date with the parts its heading gives, as a UTC datetime.

    The item's own parts win; only the larger units it lacks come from the heading:
    a day ("17") takes month and year, a day and month ("17 mars") takes the year, no
    date at all takes the whole heading, which then has to be a full date. Anything
    else ("March 2017" alone, a year without a month) is not a day and gives None.
    """
    own = own or PartialDate()
    heading = heading or PartialDate()
    if own.complete:
        year, month, day = own.year, own.month, own.day
    elif own.year is None and own.month is not None and own.day is not None:
        year, month, day = heading.year, own.month, own.day
    elif own.year is None and own.month is None and own.day is not None:
        year, month, day = heading.year, heading.month, own.day
    elif own.empty:
        year, month, day = heading.year, heading.month, heading.day
    else:
        return None
    if year is None or month is None or day is None:
        return None
    hour, minute, second = own.time or heading.time or (0, 0, 0)
    zone = own.tz if own.time or own.complete else heading.tz
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=zone or UTC)
    except ValueError:
        return None
    return value.astimezone(UTC)


def parse_date(
    text: str | None, *, date_format: str | None = None, day_first: bool = True
) -> datetime | None:
    """A complete date in UTC from `text` (no heading), or None.

    `date_format` (strptime) is tried first; when it does not match, the tolerant
    reader is used. strptime's `%B`/`%b` are English: no locale is ever set.
    """
    if not text or not text.strip():
        return None
    if date_format:
        try:
            parsed = datetime.strptime(text.strip(), date_format)
        except ValueError:
            pass
        else:
            zone = parsed.tzinfo or UTC
            return parsed.replace(tzinfo=zone).astimezone(UTC)
    return combine(read_date(text, day_first=day_first), None)


def describe(value: datetime | None) -> str:
    """A date for operators: "2017-03-17 00:00 UTC"."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
