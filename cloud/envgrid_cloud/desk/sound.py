"""A sound and a vibration for a new critical case, if this browser asked for them.

The choice is kept in the browser (``localStorage``): it is about this phone or PC, not the
person. Browsers play sound only after a tap on the page, which switching it on is.
"""

from __future__ import annotations

from nicegui import ui

from envgrid_cloud.desk.i18n import t

KEY = "envgrid.sound"

# Two short tones from the browser's own synthesiser (no audio file to load), and a buzz.
ALERT_JS = f"""
if (localStorage.getItem('{KEY}') === '1') {{
  try {{
    window.egAudio = window.egAudio || new AudioContext();
    const ctx = window.egAudio;
    [0, 0.25].forEach(start => {{
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(ctx.currentTime + start); osc.stop(ctx.currentTime + start + 0.15);
    }});
  }} catch (e) {{}}
  if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
}}
"""


def sound_switch(locale: str) -> ui.switch:
    """The switch for sound on new critical cases, showing this browser's choice."""
    switch = ui.switch(t("sound", locale)).props("dense color=teal-9").props("data-testid=sound")
    switch.on_value_change(
        lambda e: ui.run_javascript(
            f"localStorage.setItem('{KEY}', '{'1' if e.value else '0'}');"
            "window.egAudio = window.egAudio || new AudioContext(); window.egAudio.resume();"
        )
    )

    async def show_choice() -> None:
        shown = switch.value
        chosen = await ui.run_javascript(f"localStorage.getItem('{KEY}') === '1'", timeout=5)
        if switch.value == shown:  # a tap while the browser answered is the newer choice: it stays
            switch.set_value(bool(chosen))

    ui.context.client.on_connect(show_choice)
    return switch
