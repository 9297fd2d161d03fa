"""HTML sanitising with the standard XSS vectors, mojibake repair, plain text, and the catalogue step."""
from __future__ import annotations

import json

import duckdb
import pytest

from quality.html import plain_text, sanitise_catalogue, sanitise_html, write_plain_text
from warehouse.schema import create_all

XSS_VECTORS = [
    "<script>alert('xss')</script>",
    "<SCRIPT SRC=http://xss.example/xss.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<p onmouseover=\"alert(1)\">hover</p>",
    "<body onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">click</a>",
    "<a href=\" javascript:alert(1)\">click</a>",
    "<a href=\"&#106;avascript:alert(1)\">click</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">click</a>",
    "<a href=\"vbscript:msgbox(1)\">click</a>",
    "<svg onload=alert(1)><circle r=10></circle></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<div style=\"background-image:url(javascript:alert(1))\">styled</div>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<<script>alert(1)//<</script>",
    "<img src=\"x\" onerror=\"&#97;lert(1)\">",
    "<!--<script>alert(1)</script>-->",
]


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_xss_vectors_are_neutralised(vector):
    out = sanitise_html(f"<p>before</p>{vector}<p>after</p>").lower()
    for bad in ("<script", "javascript:", "vbscript:", "data:", "onerror", "onload", "onmouseover", "onfocus", "ontoggle",
                "<svg", "<math", "<iframe", "<object", "<style", "style=", "alert(1)</script", "<img", "<input", "<body"):
        assert bad not in out, (vector, out)
    assert "before" in out and "after" in out


def test_safe_markup_is_kept():
    html = ('<p>Drop in on <strong>Mondays</strong> and <em>Fridays</em></p><ul><li>food</li><li>advice</li></ul>'
            '<a href="https://www.facebook.com/2waystbristol/" target="_blank" data-cke-saved-href="x">Facebook</a>')
    assert sanitise_html(html) == (
        '<p>Drop in on <strong>Mondays</strong> and <em>Fridays</em></p><ul><li>food</li><li>advice</li></ul>'
        '<a href="https://www.facebook.com/2waystbristol/" rel="noopener noreferrer nofollow">Facebook</a>')


def test_only_http_links_survive():
    assert 'href' not in sanitise_html('<a href="ftp://example.org/x">f</a>')
    assert 'href' not in sanitise_html('<a href="/relative/path">r</a>')
    assert 'href="http://example.org/"' in sanitise_html('<a href="http://example.org/">h</a>')


def test_mojibake_is_repaired():
    assert sanitise_html("<p>Â£10 a hour</p>") == "<p>£10 a hour</p>"
    assert plain_text("Itâ€™s free") == "It’s free"


def test_plain_text_version_of_a_description():
    html = "<p>Prices:</p><ul><li>Â£10 an hour</li><li>Â£7&nbsp;for more</li></ul><script>x()</script><p>Call&nbsp;us</p>"
    text = plain_text(html)
    assert [line for line in text.splitlines() if line] == ["Prices:", "- £10 an hour", "- £7 for more", "Call us"]
    assert plain_text(None) is None


def test_bristol_descriptions_sanitise_cleanly(fixtures_dir):
    page = json.loads((fixtures_dir / "oruk/v1/bristol_openplace_v1_services_page1.json").read_text(encoding="utf-8"), strict=False)
    descriptions = [s["description"] for s in page["content"] if s.get("description")]
    assert any("Â£" in d for d in descriptions)
    for d in descriptions:
        clean = sanitise_html(d)
        assert "Â£" not in clean and "data-cke-saved-href" not in clean and "target=" not in clean
        assert "<" not in plain_text(d)


def test_sanitise_catalogue_step():
    con = duckdb.connect()
    create_all(con)
    con.execute("""INSERT INTO catalogue.service (id, name, description, fees) VALUES
        ('s1', 'CafÃ© <b>club</b>', '<p onclick="x()">Hello</p><script>bad()</script>', 'Â£2'),
        ('s2', 'Plain & simple', 'Tea & biscuits', NULL)""")
    out = sanitise_catalogue(con)
    assert out["values_sanitised"] == 3
    assert con.execute("SELECT name, description, fees FROM catalogue.service ORDER BY id").fetchall() == [
        ("Café club", "<p>Hello</p>", "£2"), ("Plain & simple", "Tea & biscuits", None)]
    assert write_plain_text(con) == 2
    assert con.execute("SELECT id, text FROM catalogue.plain_text ORDER BY id").fetchall() == [
        ("s1", "Hello"), ("s2", "Tea & biscuits")]
