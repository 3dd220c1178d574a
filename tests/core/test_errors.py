"""``first_line``: one log line for any error, a database error's driver message without its SQL."""
from __future__ import annotations

from flowctl.core.errors import first_line


class Wrapped(Exception):
    """As SQLAlchemy's errors: the driver's error in ``orig``, the statement and parameters in the text."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(f"({type(orig).__name__}) {orig}\n[SQL: UPDATE x SET password=%(p)s]\n[parameters: ...]")
        self.orig = orig


def test_a_wrapped_database_error_gives_the_drivers_first_line_without_the_statement() -> None:
    assert first_line(Wrapped(ValueError("server closed the connection\n\tunexpectedly"))) == \
        "server closed the connection"


def test_an_error_without_text_gives_its_type_name() -> None:
    assert first_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("  \n  boom  \nmore")) == "boom"
