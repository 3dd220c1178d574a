"""FernetBox: encryption at rest and key rotation (no database needed)."""
from __future__ import annotations

import pytest

from flowctl.db.secrets import FernetBox, FernetKeyError, generate_key, optional_box


def test_a_value_encrypts_to_a_token_that_decrypts_back() -> None:
    box = FernetBox(generate_key())
    token = box.encrypt("pässword")
    assert "pässword" not in token
    assert box.decrypt(token) == "pässword"


def test_an_empty_key_says_how_to_get_one() -> None:
    with pytest.raises(FernetKeyError, match="flowctl db init"):
        FernetBox("")
    assert optional_box("") is None


def test_a_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(FernetKeyError, match="not a valid Fernet key"):
        FernetBox("not-a-key")


def test_with_new_and_old_keys_old_tokens_still_decrypt_and_rotate_to_the_new_key() -> None:
    old, new = generate_key(), generate_key()
    token = FernetBox(old).encrypt("s3cret")
    both = FernetBox(f"{new},{old}")
    assert both.decrypt(token) == "s3cret"
    assert FernetBox(new).decrypt(both.rotate(token)) == "s3cret"


def test_a_token_from_another_key_is_a_clear_error() -> None:
    token = FernetBox(generate_key()).encrypt("x")
    with pytest.raises(FernetKeyError, match="cannot be decrypted"):
        FernetBox(generate_key()).decrypt(token)
