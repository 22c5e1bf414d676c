"""Go's strconv and time.Duration texts (skopeo.golang), by table."""

from __future__ import annotations

import pytest

from skopeo.golang.duration import DurationError, format_duration, parse_duration
from skopeo.golang.strconv import NumError, atoi, parse_bool, parse_int


@pytest.mark.parametrize(("text", "unsigned", "value"), [
    ("10", False, 10), ("-3", False, -3), ("0x1f", False, 31), ("0o17", False, 15), ("017", False, 15),
    ("1_000", False, 1000), ("+7", False, 7), ("7", True, 7),
])
def test_parse_int(text: str, unsigned: bool, value: int) -> None:
    assert parse_int(text, unsigned) == value


@pytest.mark.parametrize(("text", "unsigned", "message"), [
    ("abc", False, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    (" 1", False, 'strconv.ParseInt: parsing " 1": invalid syntax'),
    ("١", False, 'strconv.ParseInt: parsing "١": invalid syntax'),
    ("-1", True, 'strconv.ParseUint: parsing "-1": invalid syntax'),
    ("+1", True, 'strconv.ParseUint: parsing "+1": invalid syntax'),
])
def test_parse_int_errors(text: str, unsigned: bool, message: str) -> None:
    with pytest.raises(NumError) as e:
        parse_int(text, unsigned)
    assert str(e.value) == message


@pytest.mark.parametrize(("text", "value"), [("1", True), ("t", True), ("TRUE", True), ("0", False), ("False", False)])
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_parse_bool_error() -> None:
    with pytest.raises(NumError, match=r'^strconv.ParseBool: parsing "yes": invalid syntax$'):
        parse_bool("yes")


@pytest.mark.parametrize(("text", "result"), [
    ("12", 12), ("-2", -2), ("+0", 0),
    ("1.5", 'strconv.Atoi: parsing "1.5": invalid syntax'),
    ("", 'strconv.Atoi: parsing "": invalid syntax'),
    ("99999999999999999999", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
])
def test_atoi(text: str, result: int | str) -> None:
    if isinstance(result, int):
        assert atoi(text) == result
    else:
        with pytest.raises(NumError) as e:
            atoi(text)
        assert str(e.value) == result


@pytest.mark.parametrize(("text", "result"), [
    ("0", 0.0), ("1.5s", 1.5), ("1h2m", 3720.0), ("-250ms", -0.25), ("3us", 3e-6),
    ("", 'time: invalid duration ""'), ("5", 'time: missing unit in duration "5"'),
    ("5sx", 'time: unknown unit "sx" in duration "5sx"'), (".s", 'time: invalid duration ".s"'),
])
def test_parse_duration(text: str, result: float | str) -> None:
    if isinstance(result, float):
        assert parse_duration(text) == pytest.approx(result)
    else:
        with pytest.raises(DurationError) as e:
            parse_duration(text)
        assert str(e.value) == result


@pytest.mark.parametrize(("seconds", "text"), [(0.5, "500ms"), (2.0, "2s"), (61.5, "1m1.5s"), (3723.0, "1h2m3s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
