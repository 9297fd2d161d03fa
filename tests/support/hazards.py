"""A generated ORUK v3 feed carrying every publishing hazard a real feed has shown (issue 18).

Each hazard is planted in its own service, so a test can tell which source record each one was
reported against. ``PERSONAL`` are the personal contacts that must never be published (each
must be reported in ``quality.issue``); ``UNSAFE`` are the executable or malformed values that
must never be published either. Values are written here by hand, not taken from the detectors.
"""
from __future__ import annotations

from tests.support.orukfeeds import gen_uuid

# (record key, where, the value as the source wrote it, what must not appear anywhere published)
PERSONAL: list[tuple[str, str, str]] = [
    ("split-email", "service.description", "jo.bloggs@gmail.com"),
    ("staff-email", "service.email", "priya.shah@leeds.gov.uk"),
    ("staff-email-2", "contact.email", "wojciech.nowak@bradford.gov.uk"),
    ("assurer", "service.assurer_email", "olivia.plenty@thecareforum.org.uk"),
    ("mobile-text", "service.description", "07 700 900 111"),
    ("mobile-phone", "phone.number", "07700 900222"),
    ("mobile-notes", "schedule.notes", "+44 7700 900333"),
    ("named-contact", "contact.name", "Janet Oduya"),
    ("named-text", "service.description", "Sam Hughes"),
    ("named-notes", "schedule.notes", "Mrs Patel"),
    ("spaced-email", "service.email", "derek.ambrose@hotmail.co.uk"),
    # A spreadsheet that stored the number as a number dropped its leading 0.
    ("mobile-no-zero", "phone.number", "7700 900444"),
    ("mobile-known", "phone.number", "07700 900555"),
    # Free text the scrubber cannot tell from a reference number, but the same mobile was found in
    # another record (mobile-known): the publish-time residue check withholds this service.
    ("mobile-residue", "service.description", "7700900555"),
]
# The services the residue check must withhold whole (they are not in the published catalogue).
WITHHELD: tuple[str, ...] = ("mobile-residue",)
UNSAFE: list[tuple[str, str, str]] = [
    ("js-url", "service.url", "javascript:alert(document.cookie)"),
    ("data-url", "organization.website", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
    ("script-address", "address.address_1", "<script>alert(1)</script>"),
    ("script-description", "service.description", "<script>steal()</script>"),
]
# What the night must normalise rather than refuse.
SCHEMELESS_URL = "www.hazard-advice.org.uk/drop-in"
ZERO_WIDTH_NAME = "Hazard\u200b Advice\u00a0Drop-in"
NBSP_EMAIL = "\u00a0 info@hazard-advice.org.uk\u200b "


def _org(key: str, **extra) -> dict:
    return {"id": gen_uuid("hazard-org", key), "name": f"Hazard Trust {key}", "description": "A charity.", **extra}


def _service(key: str, name: str, **fields) -> dict:
    sid = gen_uuid("hazard", key)
    svc = {"id": sid, "name": name, "status": "active", "description": f"<p>{name}: advice for everyone.</p>",
           "organization": _org(key), **fields}
    loc = gen_uuid("hazard-loc", key)
    svc.setdefault("service_at_locations", [{"id": gen_uuid("hazard-sal", key), "location": {
        "id": loc, "location_type": "physical", "name": f"{name} venue", "latitude": 53.79, "longitude": -1.54,
        "addresses": [{"id": gen_uuid("hazard-addr", key), "address_1": f"{len(key)} Park Row", "city": "Leeds",
                       "state_province": "West Yorkshire", "postal_code": "LS1 5AB", "country": "GB",
                       "address_type": "physical"}]}}])
    return svc


def hazard_services() -> list[dict]:
    """One service per hazard, plus one clean service."""
    s = [
        _service("split-email", "Split Email Advice",
                 description='<p>Write to <a href="mailto:jo.bloggs@gmail.com">jo.bloggs@gmail.</a>'
                             '<a href="https://example.org/">com</a> for help.</p>'),
        _service("staff-email", "Staff Email Advice", email="priya.shah@leeds.gov.uk"),
        _service("staff-email-2", "Staff Contact Advice", contacts=[{
            "id": gen_uuid("hazard-contact", "staff-email-2"), "name": "Reception", "title": "Front desk",
            "email": "wojciech.nowak@bradford.gov.uk"}]),
        _service("assurer", "Assured Advice", assured_date="2026-10-01",
                 assurer_email="olivia.plenty@thecareforum.org.uk"),
        _service("mobile-text", "Mobile Text Advice",
                 description="<p>Text the coordinator on 07 700 900 111 any weekday.</p>"),
        _service("mobile-phone", "Mobile Phone Advice", phones=[
            {"id": gen_uuid("hazard-phone", "m"), "number": "07700 900222"},
            {"id": gen_uuid("hazard-phone", "l"), "number": "0113 496 0555"}]),
        _service("mobile-notes", "Mobile Notes Advice", schedules=[{
            "id": gen_uuid("hazard-schedule", "mobile-notes"), "freq": "WEEKLY", "byday": "TU",
            "opens_at": "10:00", "closes_at": "12:00", "notes": "Out of hours call +44 7700 900333"}]),
        _service("named-contact", "Named Contact Advice", contacts=[{
            "id": gen_uuid("hazard-contact", "named-contact"), "name": "Janet Oduya, Adviser"}]),
        _service("named-text", "Named Text Advice",
                 description="<p>Ask for Sam Hughes at reception; he runs the Monday session.</p>"),
        _service("named-notes", "Named Notes Advice", schedules=[{
            "id": gen_uuid("hazard-schedule", "named-notes"), "freq": "WEEKLY", "byday": "MO,WE",
            "opens_at": "09:30", "closes_at": "11:00", "notes": "Run by Mrs Patel in the hall"}]),
        _service("spaced-email", "Spaced Email Advice", email=" derek.ambrose@hotmail.co.uk\u00a0"),
        _service("js-url", "Script Link Advice", url="javascript:alert(document.cookie)"),
        _service("data-url", "Data Link Advice", organization=_org(
            "data-url", website="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==")),
        _service("script-address", "Script Address Advice", service_at_locations=[{
            "id": gen_uuid("hazard-sal", "script-address"), "location": {
                "id": gen_uuid("hazard-loc", "script-address"), "location_type": "physical", "name": "Hall",
                "addresses": [{"id": gen_uuid("hazard-addr", "script-address"),
                               "address_1": "<script>alert(1)</script>2 Park Row", "city": "Leeds",
                               "state_province": "West Yorkshire", "postal_code": "LS1 5AB", "country": "GB",
                               "address_type": "physical"}]}}]),
        _service("script-description", "Script Description Advice",
                 description='<p>Help.</p><script>steal()</script><img src=x onerror="steal()">'),
        _service("mobile-no-zero", "Mobile Number Advice", phones=[
            {"id": gen_uuid("hazard-phone", "nz"), "number": "7700 900444"}]),
        _service("mobile-known", "Mobile Known Advice", phones=[
            {"id": gen_uuid("hazard-phone", "k"), "number": "07700 900555"}]),
        _service("mobile-residue", "Mobile Residue Advice",
                 description="<p>Ask at the desk, quoting 7700900555.</p>"),
        _service("normalise", ZERO_WIDTH_NAME, url=SCHEMELESS_URL, email=NBSP_EMAIL),
        _service("clean", "Clean Advice", url="https://clean-advice.example.org/", email="info@clean-advice.example.org"),
    ]
    return s


def record_id(key: str) -> str:
    return gen_uuid("hazard", key)
