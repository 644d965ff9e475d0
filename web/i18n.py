"""Interface language: Chinese (zh-CN) by default, English on request.

Message ids in templates are the Chinese texts; `translations/en` holds English.
The choice comes from `?lang=`, then the session, then zh-CN (not the browser's
Accept-Language: the office works in Chinese even on English-language machines).
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel

LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"


def select_locale() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return session.get("lang", DEFAULT_LANGUAGE)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    Babel(app, locale_selector=select_locale)

    @app.context_processor
    def _languages() -> dict:
        return {"languages": LANGUAGES, "current_language": select_locale()}
