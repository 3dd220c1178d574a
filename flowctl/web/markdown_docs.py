"""DAG and task docs (``doc_md``) rendered as safe HTML with the ``markdown`` package.

Raw HTML in the source is never passed through: the HTML block and inline
HTML processors are removed, so ``<script>`` shows as text. Links and images
keep only http(s), mailto and relative targets (no ``javascript:``). The
result is wrapped in :class:`markupsafe.Markup` for templates.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import re
from html import unescape
from typing import Any
from xml.etree.ElementTree import Element

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

SAFE_SCHEMES = ("http://", "https://", "mailto:", "#", "/", "./", "../")
URL_ATTRIBUTES = ("href", "src")
#: What a browser ignores in a URL (ASCII controls and spaces: it strips them, or tabs and newlines inside).
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")


def safe_url(url: str) -> bool:
    """Whether a link target is harmless: a web or mail address, or a relative path.

    Judged as the browser reads it: the serializer keeps character references such as ``&#58;``
    (``:``) in the attribute, and the browser drops tabs and newlines, so both are undone first."""
    text = _IGNORED_IN_URL.sub("", unescape(url)).lower()
    if text.startswith(SAFE_SCHEMES):
        return True
    return ":" not in text.split("/", 1)[0]


class _LinkGuard(Treeprocessor):
    """Drops unsafe link and image targets."""

    def run(self, root: Element) -> None:
        for element in root.iter():
            for name in URL_ATTRIBUTES:
                value = element.get(name)
                if value is not None and not safe_url(value):
                    element.set(name, "#")
            if element.tag == "a":
                element.set("rel", "nofollow noopener")


class SafeMarkdown(Extension):
    """No raw HTML, only safe URLs."""

    def extendMarkdown(self, md: Any) -> None:  # noqa: N802 (the markdown API's name)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_LinkGuard(md), "flowctl_link_guard", 0)


def render_markdown(text: str | None) -> Markup:
    """``text`` as sanitized HTML (empty Markup for no text)."""
    if not text:
        return Markup("")
    html = markdown.markdown(str(text), extensions=[SafeMarkdown(), "fenced_code", "tables"],
                             output_format="html")
    return Markup(html)  # noqa: S704  raw HTML was escaped by the processors removed above
