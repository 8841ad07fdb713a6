"""Date-range validation of /v1/revenue/daily."""

from datetime import date

import pytest
from serving_api.ranges import RangeProblem, day_count, parse_day, parse_range

pytestmark = pytest.mark.unit


def test_parse_day_accepts_only_calendar_dates() -> None:
    assert parse_day("from", "2024-02-29") == date(2024, 2, 29)
    for bad in ("2024-2-1", "20240201", "2024-W05-1", "2024-02-01T00:00", "", "yesterday", "1700000000"):
        with pytest.raises(RangeProblem, match="YYYY-MM-DD") as exc:
            parse_day("from", bad)
        assert exc.value.param == "from" and exc.value.value == bad


def test_parse_day_rejects_impossible_dates() -> None:
    for bad in ("2023-02-29", "2024-13-01", "2024-04-31", "0000-01-01"):
        with pytest.raises(RangeProblem, match="not a valid date"):
            parse_day("to", bad)


def test_range_is_inclusive() -> None:
    assert day_count(date(2024, 1, 1), date(2024, 1, 1)) == 1
    assert day_count(date(2024, 1, 1), date(2024, 12, 31)) == 366
    assert parse_range("2024-03-01", "2024-03-01", 1) == (date(2024, 3, 1), date(2024, 3, 1))


def test_from_after_to_blames_from() -> None:
    with pytest.raises(RangeProblem, match=r"`from` \(2024-01-02\) is after `to` \(2024-01-01\)") as exc:
        parse_range("2024-01-02", "2024-01-01", 366)
    assert exc.value.param == "from"


def test_longest_range_is_the_limit_and_the_message_names_it() -> None:
    assert parse_range("2024-01-01", "2024-12-31", 366) == (date(2024, 1, 1), date(2024, 12, 31))
    with pytest.raises(RangeProblem, match="covers 367 days; at most 366 days are allowed") as exc:
        parse_range("2024-01-01", "2025-01-01", 366)
    assert exc.value.param == "to"
    with pytest.raises(RangeProblem, match="at most 7 days"):
        parse_range("2024-01-01", "2024-01-08", 7)


def test_bad_to_is_reported_even_with_good_from() -> None:
    with pytest.raises(RangeProblem) as exc:
        parse_range("2024-01-01", "2024-01-32", 366)
    assert exc.value.param == "to"
