"""The private paho names netloop touches are all listed in one place, and all exist."""

from __future__ import annotations

import ast
from pathlib import Path

import paho.mqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from envgrid_common import netloop
from envgrid_common.netloop import paho_private
from envgrid_common.netloop.paho_private import PAHO_MESSAGE_PRIVATE, PAHO_PRIVATE

SOURCES = sorted(Path(netloop.__file__).parent.glob("*.py"))
CLIENT = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
MESSAGE = mqtt.MQTTMessage(0, b"t")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _base_names(node: ast.ClassDef) -> set[str]:
    return {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}


def _receiver_is_a_client(value: ast.expr) -> bool:
    """``client._x``, ``conn.client._x``, ``self._client._x``: a paho client's attribute."""
    text = ast.unparse(value)
    return text.rsplit(".", 1)[-1].lstrip("_") == "client"


def used_on_paho(sources: list[str] | None = None) -> tuple[set[str], set[str]]:
    """Private names used on paho clients and messages in netloop's sources, paho's only.

    On a paho client: ``self._x`` and ``super()._x`` inside a Client subclass, methods such a
    class defines, and ``<...>client._x`` anywhere. On a message: ``self._x`` inside an
    MQTTMessage subclass. Kept: the names that paho's classes have (ours, like
    ``_prepared``, are not paho's).
    """
    client_names: set[str] = set()
    message_names: set[str] = set()
    for source in sources if sources is not None else [p.read_text() for p in SOURCES]:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and _receiver_is_a_client(node.value)
            ):
                client_names.add(node.attr)
            if not isinstance(node, ast.ClassDef):
                continue
            bases = _base_names(node)
            into = (
                client_names
                if bases & {"Client", "LoopClient"}
                else message_names
                if "MQTTMessage" in bases
                else None
            )
            if into is None:
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef) and _private(inner.name):
                    into.add(inner.name)
                if (
                    isinstance(inner, ast.Attribute)
                    and _private(inner.attr)
                    and ast.unparse(inner.value) in ("self", "super()")
                ):
                    into.add(inner.attr)
    return (
        {name for name in client_names if hasattr(CLIENT, name)},
        {name for name in message_names if hasattr(MESSAGE, name)},
    )


def test_every_private_paho_name_netloop_uses_is_listed() -> None:
    client_names, message_names = used_on_paho()
    assert "_packet_handle" in client_names  # the scan sees the overrides
    assert client_names - set(PAHO_PRIVATE) == set(), "add these to PAHO_PRIVATE"
    assert message_names - set(PAHO_MESSAGE_PRIVATE) == set(), "add to PAHO_MESSAGE_PRIVATE"


def test_nothing_is_listed_that_netloop_no_longer_uses() -> None:
    client_names, message_names = used_on_paho()
    assert set(PAHO_PRIVATE) - client_names == set()
    assert set(PAHO_MESSAGE_PRIVATE) - message_names == set()
    assert len(set(PAHO_PRIVATE)) == len(PAHO_PRIVATE)


def test_every_listed_name_exists_on_pahos_classes() -> None:
    assert paho_private.missing() == []
    for name in PAHO_PRIVATE:
        assert hasattr(CLIENT, name), name
    for name in PAHO_MESSAGE_PRIVATE:
        assert hasattr(MESSAGE, name), name
    # Methods are still methods, state is still state.
    for name in ("_create_socket", "_packet_read", "_packet_handle", "_send_puback"):
        assert callable(getattr(mqtt.Client, name)), name
    assert {"command", "packet"} <= set(CLIENT._in_packet)


def test_the_installed_paho_is_one_the_names_were_checked_against() -> None:
    major_minor = ".".join(paho.mqtt.__version__.split(".")[:2])
    assert major_minor in paho_private.TESTED_PAHO, "review PAHO_PRIVATE, then add the version"


def test_a_missing_name_fails_the_import_check_naming_the_paho_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paho_private, "PAHO_PRIVATE", (*PAHO_PRIVATE, "_gone_in_a_new_paho"))
    with pytest.raises(ImportError) as raised:
        paho_private.check()
    message = str(raised.value)
    assert "Client._gone_in_a_new_paho" in message
    assert f"paho-mqtt {paho.mqtt.__version__}" in message


def test_the_scan_would_notice_a_new_private_use() -> None:
    source = (
        "class X(mqtt.Client):\n"
        "    def _on_our_own(self):\n"
        "        return self._keepalive, super()._handle_pingresp(), self._ours\n"
        "class M(mqtt.MQTTMessage):\n"
        "    def f(self):\n"
        "        self._topic = b''\n"
        "def g(conn):\n"
        "    conn.client._ping_t = 0\n"
        "    conn._client_state = 0\n"
    )
    client_names, message_names = used_on_paho([source])
    assert client_names == {"_keepalive", "_handle_pingresp", "_ping_t"}
    assert message_names == {"_topic"}
