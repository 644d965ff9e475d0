"""Flask application: thin handlers over `engine` services, for browsers and the API."""

from __future__ import annotations

from flask import Flask, abort, request

from engine.config import Settings
from engine.db import make_engine, make_session_factory
from web import auth, i18n, uploads
from web.api import NUL_MESSAGE, api, error_response
from web.extensions import csrf, login_manager
from web.ui import ui
from web.ui.feedback import public as feedback_pages

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
    app.json.sort_keys = False  # form schemas keep their field order
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
    app.register_blueprint(feedback_pages)  # deputies' feedback links: no login
    app.before_request(_refuse_nul_characters)
    uploads.init_app(app)  # puts its hook first, ahead of CSRF and the NUL check
    return app


def _refuse_nul_characters():
    """PostgreSQL text cannot hold U+0000: refuse it in query strings and forms at the door."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                if request.path.startswith(api.url_prefix + "/"):
                    return error_response(
                        "invalid", f"{name} contains a NUL character", 422, {name: NUL_MESSAGE}
                    )
                abort(400, description="NUL characters are not allowed")
    return None
