"""``/login``: sign in. The browser posts to the API itself, so the session cookie is set there.

The password goes from the page straight to ``/api/v1/auth/login`` (throttled, audited as every
sign-in is); it never passes through the desk's own connection.
"""

from __future__ import annotations

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from envgrid_cloud.desk.i18n import locale_of, t
from envgrid_cloud.desk.layout import STYLE, switch_language_js
from envgrid_cloud.desk.signin import safe_next
from envgrid_cloud.desk.visit import visit_of


def _sign_in_js(login_id: str, password_id: str, error_id: str, target: str, locale: str) -> str:
    words = orjson.dumps(
        {"wrong": t("wrong_login", locale), "throttled": t("throttled", locale, wait="{wait}")}
    ).decode()
    return f"""() => {{
  const value = id => {{
    const found = document.getElementById(id);
    return (found.tagName === 'INPUT' ? found : found.querySelector('input')).value;
  }};
  const say = text => {{ document.getElementById('{error_id}').textContent = text; }};
  const words = {words};
  fetch('/api/v1/auth/login', {{
    method: 'POST', headers: {{'Content-Type': 'application/json'}},
    body: JSON.stringify({{login: value('{login_id}'), password: value('{password_id}')}}),
  }}).then(async r => {{
    if (r.ok) {{ window.location.href = {orjson.dumps(target).decode()}; return; }}
    if (r.status === 429) {{
      say(words.throttled.replace('{{wait}}', r.headers.get('Retry-After') || '60')); return;
    }}
    if (r.status === 401) {{ say(words.wrong); return; }}
    const body = await r.json().catch(() => ({{}}));
    say(typeof body.detail === 'string' ? body.detail : words.wrong);
  }}).catch(e => say(String(e)));
}}"""


@ui.page("/login")
async def login_page(request: Request, next: str | None = None) -> RedirectResponse | None:
    """The sign-in form; someone already signed in goes on to where they were headed."""
    target = safe_next(next)
    if await visit_of(request) is not None:
        return RedirectResponse(target, status_code=303)
    locale = locale_of(request)
    ui.page_title(f"{t('login', locale)} · {t('app', locale)}")
    ui.add_head_html(STYLE)
    with (
        ui.column().classes("absolute-center items-stretch gap-3").style("width: min(92vw, 360px)")
    ):
        ui.label(t("app", locale)).classes("text-h6 text-center text-teal-9")
        login = ui.input(t("login_name", locale)).props(
            "outlined autofocus autocomplete=username data-testid=login-name"
        )
        password = ui.input(t("password", locale), password=True).props(
            "outlined autocomplete=current-password data-testid=password"
        )
        error = ui.label().classes("text-negative").props("data-testid=login-error")
        button = ui.button(t("login", locale)).props(
            "unelevated color=teal-9 no-caps data-testid=sign-in"
        )
        ui.button(
            t("language", locale), on_click=lambda: ui.run_javascript(switch_language_js(locale))
        ).props("flat dense no-caps color=teal-9")
    sign_in = _sign_in_js(login.html_id, password.html_id, error.html_id, target, locale)
    button.on("click", js_handler=sign_in)
    password.on("keydown.enter", js_handler=sign_in)
    login.on("keydown.enter", js_handler=sign_in)
    return None
