"""SecretsMasker and should_mask: what logs and the UI show instead of secrets."""
from __future__ import annotations

import pytest

from flowctl.core.masking import REDACTED, SecretsMasker, should_mask


@pytest.mark.parametrize("key", ["password", "db_PASSWORD", "secret_key", "api_key", "x_token", "passwd",
                                 "private_key", "gcp_credentials", "Authorization"])
def test_keys_that_name_a_secret_are_masked(key: str) -> None:
    assert should_mask(key)


@pytest.mark.parametrize("key", ["host", "login", "schema", "port", "", None])
def test_ordinary_keys_are_not_masked(key: str | None) -> None:
    assert not should_mask(key)


def test_extra_key_parts_extend_the_list() -> None:
    assert should_mask("my_pin_code", extra_parts=["pin"])


def test_a_collected_secret_is_redacted_everywhere_in_text() -> None:
    masker = SecretsMasker()
    masker.add_mask("hunter2hunter2")
    assert masker.redact_text("pw=hunter2hunter2; again hunter2hunter2") == f"pw={REDACTED}; again {REDACTED}"


def test_text_without_secrets_is_returned_unchanged() -> None:
    masker = SecretsMasker()
    assert masker.redact_text("nothing to hide") == "nothing to hide"
    masker.add_mask("topsecret")
    assert masker.redact_text("nothing to hide") == "nothing to hide"


def test_short_values_are_not_collected_so_logs_stay_readable() -> None:
    masker = SecretsMasker()
    masker.add_mask("abc")
    assert len(masker) == 0
    assert masker.redact_text("abc abc") == "abc abc"


def test_the_longest_secret_wins_when_one_contains_another() -> None:
    masker = SecretsMasker()
    masker.add_mask("secret")
    masker.add_mask("secret-and-more")
    assert masker.redact_text("x secret-and-more y") == f"x {REDACTED} y"


def test_each_line_and_the_url_quoted_form_of_a_secret_are_redacted() -> None:
    masker = SecretsMasker()
    masker.add_mask("first-line\nsecond-line")
    masker.add_mask("p@ss word!")
    assert masker.redact_text("got second-line") == f"got {REDACTED}"
    assert masker.redact_text("postgres://u:p%40ss%20word%21@h") == f"postgres://u:{REDACTED}@h"


def test_a_mapping_adds_only_the_values_under_sensitive_keys() -> None:
    masker = SecretsMasker()
    masker.add_mask({"host": "db.example.com", "password": "s3cr3t-pw", "nested": {"api_key": "k-123456"}})
    assert masker.redact_text("db.example.com s3cr3t-pw") == f"db.example.com {REDACTED}"
    assert len(masker) == 1  # nested dicts under non-sensitive keys are left alone


def test_redact_masks_values_under_sensitive_keys_and_secrets_inside_strings() -> None:
    masker = SecretsMasker()
    masker.add_mask("tokentoken")
    item = {"password": "anything", "cmd": "curl -H tokentoken", "list": ["tokentoken", 3], "n": 1}
    assert masker.redact(item) == {"password": REDACTED, "cmd": f"curl -H {REDACTED}",
                                   "list": [REDACTED, 3], "n": 1}


def test_redact_leaves_empty_sensitive_values_alone() -> None:
    assert SecretsMasker().redact({"password": "", "token": None}) == {"password": "", "token": None}


def test_mask_secret_adds_to_the_process_masker() -> None:
    from flowctl.core.masking import mask_secret, process_masker

    mask_secret("process-wide-secret")
    assert process_masker().redact_text("x process-wide-secret") == f"x {REDACTED}"


def test_a_try_masker_redacts_its_own_secrets_and_the_process_ones_registered_before_or_after_it() -> None:
    from flowctl.core.masking import mask_secret, process_masker, try_masker

    mask_secret("registered-before-4242")
    masker, other = try_masker(), try_masker()
    assert masker.redact_text("a registered-before-4242") == f"a {REDACTED}"
    masker.add_mask("only-this-try-4242")
    mask_secret("registered-after-4242")
    assert masker.redact_text("only-this-try-4242 registered-after-4242") == f"{REDACTED} {REDACTED}"
    assert other.redact_text("only-this-try-4242") == "only-this-try-4242"
    assert process_masker().redact_text("only-this-try-4242") == "only-this-try-4242"
