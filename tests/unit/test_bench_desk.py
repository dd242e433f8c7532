"""bench/desk.py: its command line, how a live list reads its page and its updates, its report."""

from __future__ import annotations

import pytest

from bench.desk import QUERY_RE, Probe, _ListClient, parse_args, push_lines


def test_defaults_are_the_issues_sizes_and_quick_is_small() -> None:
    args = parse_args([])
    assert (args.sites, args.cases, args.days, args.clients) == (100, 10_000, 365, 200)
    quick = parse_args(["--quick"])
    assert quick.sites * quick.days * 288 < 10_000  # seeds in a second
    assert quick.clients < 10
    assert quick.probes < 5


def test_nonsense_is_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--clients", "0"])


@pytest.mark.parametrize(
    "page",
    [
        'query: {"client_id": "3f2a-9c", "next_message_id": 4, "implicit_handshake": true},',
        "query: {'client_id': '3f2a-9c', 'next_message_id': 4, 'implicit_handshake': True},",
    ],
)
def test_the_pages_client_id_is_found(page: str) -> None:
    found = QUERY_RE.search(page)
    assert found is not None
    assert (found[1], found[2]) == ("3f2a-9c", "4")


def test_a_list_notes_when_each_card_first_came_and_what_to_acknowledge() -> None:
    client = _ListClient("cookie")
    client.on_update({"_id": 7, "12": {"props": {"data-case": "42"}}, "13": None})
    first = client.cards[42]
    client.on_update({"_id": 8, "12": {"props": {"data-case": "42"}}, "14": {"props": {}}})
    assert client.cards == {42: first}  # redrawn later: still the first arrival
    assert client.next_id == 9


def test_push_report_without_the_many_lists_says_so() -> None:
    lines = push_lines([Probe([0.07], 0.07, 0.03)], [], 200)
    assert lines[0].startswith("baseline, 1 live list, publish → its card: p50 70 ms")
    assert lines[-1] == "200 live lists: not measured"
