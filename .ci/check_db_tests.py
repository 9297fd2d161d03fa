"""Fail CI when the PostgreSQL or MariaDB tests did not really run.

`require_service` already fails them under CI when a server is down; this catches the rest: a
marker deselected, an import that skipped the module, a test renamed away. Reads pytest's JUnit
XML and wants, for each database, at least one test that ran and none that was skipped.
"""
import sys
import xml.etree.ElementTree as ET

DATABASES = {"PostgreSQL": ("postgres",), "MariaDB": ("mariadb", "mysql")}


def main(path: str) -> int:
    cases = ET.parse(path).getroot().iter("testcase")
    ran = {db: 0 for db in DATABASES}
    skipped = {db: [] for db in DATABASES}
    for case in cases:
        name = f"{case.get('classname', '')}::{case.get('name', '')}".lower()
        for db, words in DATABASES.items():
            if any(w in name for w in words):
                if case.find("skipped") is not None:
                    skipped[db].append(name)
                else:
                    ran[db] += 1
    bad = False
    for db in DATABASES:
        if skipped[db]:
            print(f"CI: {len(skipped[db])} {db} test(s) were skipped, e.g. {skipped[db][0]}; they must run in CI")
            bad = True
        if not ran[db]:
            print(f"CI: no {db} test ran; the database tests must run in CI")
            bad = True
    if not bad:
        print(f"CI: database tests ran: " + ", ".join(f"{db} {n}" for db, n in ran.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
