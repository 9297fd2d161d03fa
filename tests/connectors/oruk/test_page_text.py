"""A page parsed once, each item's served text kept: checked against json.loads as the oracle."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.oruk.page_text import parse_page_text

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
items = st.dictionaries(st.text(max_size=6), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4)
separators = st.sampled_from([(",", ":"), (", ", ": "), (" ,\n ", " :\t")])


@settings(max_examples=150, derandomize=True)
@given(st.lists(items, max_size=5), st.sampled_from(["contents", "content"]), separators,
       st.dictionaries(st.sampled_from(["total_items", "page_number", "first_page"]), scalars, max_size=3))
def test_the_page_and_each_items_text_are_what_the_server_sent(page_items, key, sep, other):
    text = json.dumps({**other, key: page_items}, separators=sep)
    doc, texts = parse_page_text(text)
    assert doc == json.loads(text)
    assert len(texts) == len(page_items)
    for item, item_text in zip(page_items, texts):
        if item_text is not None:  # None only where the text cannot be stored as served
            assert json.loads(item_text) == item
            assert item_text in text


def test_an_item_with_nan_is_parsed_but_its_text_is_not_kept():
    doc, texts = parse_page_text('{"contents": [{"id": "a", "x": NaN}, {"id": "b"}]}')
    assert [i["id"] for i in doc["contents"]] == ["a", "b"]
    assert texts == [None, '{"id": "b"}']


def test_pages_without_an_item_list_or_with_an_empty_one():
    assert parse_page_text('{"contents": []}') == ({"contents": []}, [])
    assert parse_page_text("{}") == ({}, None)
    assert parse_page_text('[{"id": "a"}]') == ([{"id": "a"}], None)
    assert parse_page_text('{"contents": "not a list"}') == ({"contents": "not a list"}, None)


@pytest.mark.parametrize("text", ['{"contents": [{"id": "a"}]} trailing', '{"contents": [{"id": "a"} {"id": "b"}]}',
                                  '{"contents" [1]}', '{"contents": [1],}'])
def test_anything_but_plain_json_is_refused_for_the_lenient_parser(text):
    with pytest.raises(ValueError):
        parse_page_text(text)
