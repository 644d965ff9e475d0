"""Every interface string has an English translation (Chinese is the message id)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]


def test_every_message_has_english():
    with open(ROOT / "web/translations/en/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle, locale="en")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    used = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, METHODS, keywords={"_": None, "_l": None, "gettext": None}
        )
    }
    assert used, "no messages found: is the extraction configuration right?"
    assert sorted(used - translated) == []
