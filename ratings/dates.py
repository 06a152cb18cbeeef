"""Which dates a rating may carry: from the first films (1874) to tomorrow (time zones).

Imports check their dates against this range; the statistics page draws its timeline only from
ratings inside it, so a date from year 1 or 9999 can never stretch it.
"""

import datetime as dt

EARLIEST_RATING_DATE = dt.date(1874, 1, 1)


def latest_rating_date() -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)


def plausible_rating_dates() -> tuple[dt.date, dt.date]:
    return EARLIEST_RATING_DATE, latest_rating_date()
