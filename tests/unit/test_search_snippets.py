"""Snippets are escaped before they are highlighted: the database's markers become <mark>, nothing in
the text ever becomes markup; and a subject match is found whatever the word's ending."""

from __future__ import annotations

from helpline.domains.tickets.queries._ranked import marked, subject_share

A, B = "\ue000", "\ue001"


def test_text_is_escaped_and_only_markers_become_mark() -> None:
    html = str(marked(f"<img src=x onerror=alert(1)> {A}refund{B} & <b>{A}now{B}</b>"))
    assert html == (
        "&lt;img src=x onerror=alert(1)&gt; <mark>refund</mark> &amp; &lt;b&gt;<mark>now</mark>&lt;/b&gt;"
    )


def test_unpaired_or_nested_markers_are_dropped() -> None:
    assert str(marked(f"{A}open {A}inner{B} tail{B} {B}")) == "open <mark>inner</mark> tail "
    assert str(marked(f"{A}<script>")) == "&lt;script&gt;"


def test_subject_share_compares_word_endings() -> None:
    assert subject_share("Refund request", ["refund"]) == 1.0
    assert subject_share("Refunds pending", ["refunded", "order"]) == 0.5
    assert subject_share("Refusal", ["refund"]) == 0.0
