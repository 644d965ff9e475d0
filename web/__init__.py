"""Flask application: thin handlers over `engine` services, for browsers and the API."""

from __future__ import annotations

from flask import Flask

from engine.config import Settings
from engine.db import make_engine, make_session_factory
from web import auth, i18n
from web.api import api
from web.extensions import csrf, login_manager
from web.ui import ui

MAX_REQUEST_BYTES = 4 * 1024 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    engine = make_engine(settings.database_url)
    app.extensions["liaison"] = {
        "settings": settings,
        "engine": engine,
        "sessions": make_session_factory(engine),
    }
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    app.register_blueprint(api)
    app.register_blueprint(ui)
    return app
