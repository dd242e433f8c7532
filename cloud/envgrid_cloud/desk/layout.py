"""The frame of every desk page: a header with the pages, the language switch and sign-out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from envgrid_cloud.api.security import CSRF_COOKIE, CSRF_HEADER
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import LANG_COOKIE, t
from envgrid_cloud.desk.sql import load

# Our own few styles: cards of the case list, the severity colours, phone-sized spacing.
STYLE = """
<style>
.eg-page { width: 100%; max-width: 1200px; margin: 0 auto; padding: 8px; }
.eg-card { width: 100%; padding: 8px 10px; }
.eg-overdue { border-left: 6px solid #c10015; background: #fff5f5; }
.eg-unacked { border-left: 6px solid #f2c037; }
.eg-muted { color: #666; font-size: 0.85em; }
.eg-title { font-weight: 600; overflow-wrap: anywhere; }
.eg-sev-critical { background: #c10015; color: #fff; }
.eg-sev-high { background: #e65100; color: #fff; }
.eg-sev-medium { background: #f2c037; color: #000; }
.eg-sev-low { background: #9e9e9e; color: #fff; }
.eg-thumb { width: 96px; height: 96px; object-fit: cover; border-radius: 4px; }
.eg-snapshot { max-width: 100%; max-height: 360px; border-radius: 4px; }
.q-timeline__title { font-size: 1rem; line-height: 1.4rem; margin-bottom: 2px; }
@keyframes eg-flash { from { background: #b2dfdb; } }
.eg-new { animation: eg-flash 3s ease-out; }
@media (max-width: 599px) { .eg-wide { display: none; } }
</style>
"""

# Sign-out asks the API, with the CSRF token the sign-in left in its cookie, then goes home.
SIGN_OUT_JS = f"""
const csrf = (document.cookie.split('; ').find(c => c.startsWith('{CSRF_COOKIE}=')) || '')
  .split('=')[1] || '';
await fetch('/api/v1/auth/logout', {{method: 'POST', headers: {{'{CSRF_HEADER}': csrf}}}});
window.location.href = '/login';
"""


def other_language(locale: str) -> str:
    """The language the switch turns to."""
    return "en" if locale != "en" else "zh-CN"


def switch_language_js(locale: str) -> str:
    """JavaScript that remembers the other language for this browser and reloads the page."""
    other = other_language(locale)
    year = 365 * 24 * 3600
    return (
        f"document.cookie = '{LANG_COOKIE}={other}; path=/; max-age={year}; samesite=lax';"
        "window.location.reload();"
    )


async def _switch_language(principal: Principal, locale: str) -> None:
    # The user's own choice (their other browsers follow it) and this browser's (the sign-in
    # page, before anyone is known, follows that).
    async with desk().pool.connection() as conn:
        await conn.execute(
            load("desk_user_locale"),
            {"user_id": principal.user_id, "locale": other_language(locale)},
        )
    ui.run_javascript(switch_language_js(locale))


def frame(principal: Principal, locale: str, title: str) -> None:
    """The header of a signed-in page; the page's content follows in a centred column."""
    ui.page_title(f"{title} · {t('app', locale)}")
    ui.add_head_html(STYLE)
    with ui.header(elevated=True).classes("items-center q-px-sm q-py-xs gap-1 bg-teal-9"):
        ui.label(t("app", locale)).classes("text-subtitle1 text-weight-bold eg-wide")
        for key, path, icon in (
            ("cases", "/", "list"),
            ("map", "/map", "map"),
            ("assessment", "/assessment", "leaderboard"),
        ):
            ui.button(t(key, locale), icon=icon, on_click=lambda p=path: ui.navigate.to(p)).props(
                "flat dense no-caps color=white"
            )
        ui.space()
        ui.label(principal.name).classes("eg-wide")
        ui.button(
            t("language", locale),
            on_click=lambda: _switch_language(principal, locale),
        ).props("flat dense no-caps color=white").props("data-testid=language")
        ui.button(icon="logout", on_click=lambda: ui.run_javascript(SIGN_OUT_JS)).props(
            "flat dense round color=white"
        ).tooltip(t("logout", locale)).props("data-testid=logout")


def dialog_buttons(
    locale: str, cancel: Callable[[], object], send: Callable[[], Awaitable[None]], testid: str
) -> None:
    """A dialog's closing row: cancel, and send (``data-testid`` ``testid``)."""
    with ui.row().classes("w-full justify-end"):
        ui.button(t("cancel", locale), on_click=cancel).props("flat no-caps")
        ui.button(t("send", locale), on_click=send).props(
            f"unelevated color=teal-9 no-caps data-testid={testid}"
        )
