"""The read models as SQL tables, read the way a reporting tool reads them: Python's own
sqlite3 module opens the live database read-only while the server writes to it."""

import sqlite3


def open_incident(server, title, group):
    return server.ok(
        "alice",
        "incident.open",
        {"title": title, "caller": "customer-7", "impact": "medium", "urgency": "high", "group": group},
    )["number"]


def test_a_reporting_tool_reads_the_live_database_read_only(http_server, tmp_path):
    numbers = [open_incident(http_server, f"Checkout down {i}", "web-support") for i in range(4)]
    http_server.ok("alice", "incident.acknowledge", {"id": numbers[1]})
    http_server.ok("alice", "incident.resolve", {"id": numbers[1], "code": "solved_workaround", "notes": "restarted"})

    db = sqlite3.connect(f"file:{tmp_path / 'data' / 'opsledger.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("select number, status from incidents order by number limit 3").fetchall()
        assert rows == [(numbers[0], "new"), (numbers[1], "resolved"), (numbers[2], "new")]
        # A command after the reader opened is visible to its next query.
        http_server.ok("alice", "incident.acknowledge", {"id": numbers[3]})
        status = db.execute("select status from incidents where number = ?", (numbers[3],)).fetchone()
        assert status == ("in_progress",)
        # The timeline in words, and the KPI facts a dashboard aggregates.
        what = db.execute(
            "select what from timeline where number = ? order by position desc limit 1", (numbers[1],)
        ).fetchone()[0]
        assert "resolved" in what
        resolved = db.execute("select count(*) from kpi_incidents where resolved_us is not null").fetchone()
        assert resolved == (1,)
        # Read-only: a reporting tool cannot write.
        try:
            db.execute("delete from records")
            raise AssertionError("a read-only connection wrote")
        except sqlite3.OperationalError as e:
            assert "readonly" in str(e)
    finally:
        db.close()
