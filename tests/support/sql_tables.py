"""A directory table generated inside a real database (PostgreSQL, MariaDB or SQLite) for the SQL
source tests and the tabular benchmark: no round trip from Python per row."""

# The directory rows, generated inside each database (no 100k round trips from Python).
FILL = {
    "postgresql": """INSERT INTO {t} SELECT n, 'Service ' || n, 'Org ' || (n % 500),
                     'TW' || (n % 14 + 1) || ' ' || (n % 9 + 1) || 'AB', '020 8' || lpad((n % 1000)::text, 3, '0') || ' 1234',
                     CASE n % 7 WHEN 0 THEN 'Mon' WHEN 1 THEN 'Tue, Thu' ELSE 'Friday' END,
                     make_time(9 + n % 8, 0, 0), DATE '2024-01-01' + (n % 300), (n % 50) * 1.5
                     FROM generate_series(1, {rows}) AS n""",
    "mariadb": """INSERT INTO {t} SELECT seq, CONCAT('Service ', seq), CONCAT('Org ', seq % 500),
                  CONCAT('TW', seq % 14 + 1, ' ', seq % 9 + 1, 'AB'), CONCAT('020 8', LPAD(seq % 1000, 3, '0'), ' 1234'),
                  CASE seq % 7 WHEN 0 THEN 'Mon' WHEN 1 THEN 'Tue, Thu' ELSE 'Friday' END,
                  MAKETIME(9 + seq % 8, 0, 0), DATE_ADD('2024-01-01', INTERVAL seq % 300 DAY), (seq % 50) * 1.5
                  FROM seq_1_to_{rows}""",
    "sqlite": """WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows})
                 INSERT INTO {t} SELECT n, 'Service ' || n, 'Org ' || (n % 500),
                 'TW' || (n % 14 + 1) || ' ' || (n % 9 + 1) || 'AB', '020 8' || substr('000' || (n % 1000), -3) || ' 1234',
                 CASE n % 7 WHEN 0 THEN 'Mon' WHEN 1 THEN 'Tue, Thu' ELSE 'Friday' END,
                 printf('%02d:00:00', 9 + n % 8), date('2024-01-01', '+' || (n % 300) || ' days'), (n % 50) * 1.5
                 FROM s""",
}


CREATE = """CREATE TABLE {t} (ref INTEGER PRIMARY KEY, service_name VARCHAR(200), org_name VARCHAR(200),
            postcode VARCHAR(20), phone VARCHAR(40), meets VARCHAR(40), opens {time}, updated DATE, cost NUMERIC(8,2))"""
