"""EmailOperator (Airflow path ``flowctl.operators.email``): send one HTML e-mail with the ``[smtp]`` settings.

``to``, ``subject``, ``html_content`` and ``files`` are templated (``html_content`` may name a
``.html`` template file, as in Airflow); addresses are a list or one string with ``,`` or ``;``
between them. Sending is :func:`flowctl.hooks.smtp.send_email`: an SMTP error fails the task
(and so retries it, like any other error); no ``[smtp] smtp_host`` fails it with a message saying so.

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flowctl.core.baseoperator import BaseOperator
from flowctl.hooks.smtp import send_email


class EmailOperator(BaseOperator):
    """Send an e-mail: ``to``, ``subject``, ``html_content`` (templated), attachments ``files``."""

    template_fields: ClassVar[Sequence[str]] = ("to", "subject", "html_content", "files")
    template_fields_renderers: ClassVar[dict[str, str]] = {"html_content": "html"}
    template_ext: ClassVar[Sequence[str]] = (".html",)
    ui_color: ClassVar[str] = "#e6faf9"

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str,
        html_content: str,
        files: Sequence[str] | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        mime_subtype: str = "mixed",
        mime_charset: str = "utf-8",
        conn_id: str | None = None,
        custom_headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.files = list(files or [])
        self.cc = cc
        self.bcc = bcc
        self.mime_subtype = mime_subtype
        self.mime_charset = mime_charset
        self.conn_id = conn_id
        self.custom_headers = custom_headers

    def execute(self, context: Mapping[str, Any]) -> None:
        send_email(self.to, self.subject, self.html_content, files=self.files, cc=self.cc, bcc=self.bcc,
                   mime_subtype=self.mime_subtype, mime_charset=self.mime_charset, conn_id=self.conn_id,
                   custom_headers=self.custom_headers)


__all__ = ["EmailOperator"]
