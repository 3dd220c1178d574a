"""Airflow-compatible path ``flowctl.utils.log.secrets_masker``: ``mask_secret``, ``redact``,
``should_hide_value_for_key`` (core/masking.py).

``mask_secret(value)`` hides ``value`` in the log of the try running in this process from then on
(and in every later line this process logs to a try); ``redact(value)`` is a copy of ``value`` with the
secrets known so far replaced by ``***``. Airflow's ``SecretsMasker`` class is not supported: importing
it says so and names the flowctl way.
"""
from __future__ import annotations

from flowctl.core.airflow_names import SECRETS_MASKER_WAY, module_getattr
from flowctl.core.masking import mask_secret, redact
from flowctl.core.masking import should_mask as should_hide_value_for_key

__all__ = ["mask_secret", "redact", "should_hide_value_for_key"]

__getattr__ = module_getattr(__name__, {"SecretsMasker": SECRETS_MASKER_WAY, "RedactedIO": SECRETS_MASKER_WAY})
