//! The SQL read models' tables, views and versions, in SQLite's dialect and in PostgreSQL's. docs/READ_MODELS.md
//! documents every table and column; the tables marked stable there keep their columns across
//! releases (new columns may be added; a removed or renamed one is a new version).

/// One read model: its name, its version, the statements that create it and the tables and
/// views it owns (dropped when its version changes, then rebuilt from the log alone).
pub(crate) struct Model {
    pub(crate) name: &'static str,
    pub(crate) version: u32,
    pub(crate) create: &'static str,
    /// The same tables in PostgreSQL's dialect (64-bit integers, no `WITHOUT ROWID`, a
    /// `tsvector` column with a GIN index where SQLite has FTS5, views with PostgreSQL's date
    /// functions).
    pub(crate) create_postgres: &'static str,
    pub(crate) tables: &'static [&'static str],
    pub(crate) views: &'static [&'static str],
}

/// The bookkeeping table: which version of each model the database holds.
pub(crate) const READ_MODELS: &str = "
CREATE TABLE IF NOT EXISTS read_models(
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);";

pub(crate) const RECORDS: Model = Model {
    name: "records",
    version: 2,
    create: "
CREATE TABLE IF NOT EXISTS records(
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    number           TEXT,
    title            TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_code      INTEGER NOT NULL,
    is_open          INTEGER NOT NULL,
    priority         TEXT,
    priority_rank    INTEGER,
    queue_rank       INTEGER NOT NULL,
    assignment_group TEXT,
    assignee         TEXT,
    service          TEXT,
    caller           TEXT,
    requester        TEXT,
    hold_reason      TEXT,
    awaiting_problem TEXT,
    major            TEXT,
    change_type      TEXT,
    risk             TEXT,
    reassignments    INTEGER,
    reopens          INTEGER,
    opened_at        TEXT NOT NULL,
    opened_us        INTEGER NOT NULL,
    updated_at       TEXT NOT NULL,
    version          INTEGER NOT NULL,
    position         INTEGER NOT NULL,
    view             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_number ON records(number);
CREATE INDEX IF NOT EXISTS records_queue
    ON records(kind, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_group
    ON records(kind, assignment_group, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_assignee
    ON records(kind, assignee, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_service
    ON records(kind, service, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_caller ON records(caller, opened_at) WHERE caller IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_awaiting ON records(awaiting_problem, id)
    WHERE awaiting_problem IS NOT NULL;
CREATE TABLE IF NOT EXISTS record_cis(
    record TEXT NOT NULL,
    ci     TEXT NOT NULL,
    PRIMARY KEY(record, ci)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_cis_by_ci ON record_cis(ci, record);
CREATE TABLE IF NOT EXISTS record_links(
    record   TEXT NOT NULL,
    relation TEXT NOT NULL,
    other    TEXT NOT NULL,
    PRIMARY KEY(record, relation, other)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_links_by_other ON record_links(other, relation);
CREATE VIEW IF NOT EXISTS incidents AS
    SELECT id, number, title, status, is_open, priority, assignment_group, assignee, service,
           caller, hold_reason, major, reassignments, reopens, opened_at, updated_at
    FROM records WHERE kind = 'incident';
CREATE VIEW IF NOT EXISTS problems AS
    SELECT id, number, title, status, is_open, priority, assignment_group, assignee, service,
           opened_at, updated_at
    FROM records WHERE kind = 'problem';
CREATE VIEW IF NOT EXISTS changes AS
    SELECT id, number, title, status, is_open, change_type, risk, requester, assignee,
           opened_at AS requested_at, updated_at
    FROM records WHERE kind = 'change';
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS records(
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    number           TEXT,
    title            TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_code      BIGINT NOT NULL,
    is_open          BIGINT NOT NULL,
    priority         TEXT,
    priority_rank    BIGINT,
    queue_rank       BIGINT NOT NULL,
    assignment_group TEXT,
    assignee         TEXT,
    service          TEXT,
    caller           TEXT,
    requester        TEXT,
    hold_reason      TEXT,
    awaiting_problem TEXT,
    major            TEXT,
    change_type      TEXT,
    risk             TEXT,
    reassignments    BIGINT,
    reopens          BIGINT,
    opened_at        TEXT NOT NULL,
    opened_us        BIGINT NOT NULL,
    updated_at       TEXT NOT NULL,
    version          BIGINT NOT NULL,
    position         BIGINT NOT NULL,
    view             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_number ON records(number);
CREATE INDEX IF NOT EXISTS records_queue
    ON records(kind, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_group
    ON records(kind, assignment_group, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_assignee
    ON records(kind, assignee, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_service
    ON records(kind, service, is_open, queue_rank, opened_us, id, status_code);
CREATE INDEX IF NOT EXISTS records_by_caller ON records(caller, opened_at) WHERE caller IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_awaiting ON records(awaiting_problem, id)
    WHERE awaiting_problem IS NOT NULL;
CREATE TABLE IF NOT EXISTS record_cis(
    record TEXT NOT NULL,
    ci     TEXT NOT NULL,
    PRIMARY KEY(record, ci)
);
CREATE INDEX IF NOT EXISTS record_cis_by_ci ON record_cis(ci, record);
CREATE TABLE IF NOT EXISTS record_links(
    record   TEXT NOT NULL,
    relation TEXT NOT NULL,
    other    TEXT NOT NULL,
    PRIMARY KEY(record, relation, other)
);
CREATE INDEX IF NOT EXISTS record_links_by_other ON record_links(other, relation);
CREATE OR REPLACE VIEW incidents AS
    SELECT id, number, title, status, is_open, priority, assignment_group, assignee, service,
           caller, hold_reason, major, reassignments, reopens, opened_at, updated_at
    FROM records WHERE kind = 'incident';
CREATE OR REPLACE VIEW problems AS
    SELECT id, number, title, status, is_open, priority, assignment_group, assignee, service,
           opened_at, updated_at
    FROM records WHERE kind = 'problem';
CREATE OR REPLACE VIEW changes AS
    SELECT id, number, title, status, is_open, change_type, risk, requester, assignee,
           opened_at AS requested_at, updated_at
    FROM records WHERE kind = 'change';
",
    tables: &["records", "record_cis", "record_links"],
    views: &["incidents", "problems", "changes"],
};

/// Keyed by `(record, version)` (what a record's trail is read by) and, on SQLite, without
/// rowid: an event's row is one B-tree insert. `position` is a plain column (version 2 was a
/// rowid table keyed by position with a unique `(record, version)` index beside it).
pub(crate) const TIMELINE: Model = Model {
    name: "timeline",
    version: 3,
    create: "
CREATE TABLE IF NOT EXISTS timeline(
    position    INTEGER NOT NULL,
    record      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    number      TEXT,
    version     INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    what        TEXT NOT NULL,
    why         TEXT,
    actor       TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    visibility  TEXT NOT NULL,
    caused_by   TEXT,
    PRIMARY KEY(record, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timeline_effects(
    cause      TEXT NOT NULL,
    position   INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    record     TEXT,
    kind       TEXT,
    event_type TEXT NOT NULL,
    PRIMARY KEY(cause, position)
) WITHOUT ROWID;
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS timeline(
    position    BIGINT NOT NULL,
    record      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    number      TEXT,
    version     BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    what        TEXT NOT NULL,
    why         TEXT,
    actor       TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    visibility  TEXT NOT NULL,
    caused_by   TEXT,
    PRIMARY KEY(record, version)
);
CREATE TABLE IF NOT EXISTS timeline_effects(
    cause      TEXT NOT NULL,
    position   BIGINT NOT NULL,
    event_id   TEXT NOT NULL,
    record     TEXT,
    kind       TEXT,
    event_type TEXT NOT NULL,
    PRIMARY KEY(cause, position)
);
",
    tables: &["timeline", "timeline_effects"],
    views: &[],
};

pub(crate) const KNOWN_ERRORS: Model = Model {
    name: "known_errors",
    version: 2,
    create: "
CREATE TABLE IF NOT EXISTS known_errors(
    id            INTEGER PRIMARY KEY,
    problem       TEXT NOT NULL UNIQUE,
    number        TEXT,
    number_value  INTEGER,
    title         TEXT NOT NULL,
    status        TEXT NOT NULL,
    priority      TEXT,
    priority_rank INTEGER,
    service       TEXT,
    symptom       TEXT NOT NULL,
    root_cause    TEXT NOT NULL,
    workaround    TEXT,
    revision      INTEGER NOT NULL,
    published_at  TEXT NOT NULL,
    revised_at    TEXT NOT NULL,
    entry         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS known_errors_order ON known_errors(priority_rank, number_value, problem);
CREATE INDEX IF NOT EXISTS known_errors_by_row ON known_errors(id, priority_rank, number_value, problem);
CREATE TABLE IF NOT EXISTS known_error_cis(
    problem TEXT NOT NULL,
    ci      TEXT NOT NULL,
    PRIMARY KEY(problem, ci)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS known_error_cis_by_ci ON known_error_cis(ci, problem);
CREATE VIRTUAL TABLE IF NOT EXISTS known_errors_fts USING fts5(
    title, symptom, root_cause, workaround,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS known_errors(
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    problem       TEXT NOT NULL UNIQUE,
    number        TEXT,
    number_value  BIGINT,
    title         TEXT NOT NULL,
    status        TEXT NOT NULL,
    priority      TEXT,
    priority_rank BIGINT,
    service       TEXT,
    symptom       TEXT NOT NULL,
    root_cause    TEXT NOT NULL,
    workaround    TEXT,
    revision      BIGINT NOT NULL,
    published_at  TEXT NOT NULL,
    revised_at    TEXT NOT NULL,
    entry         TEXT NOT NULL,
    search        tsvector GENERATED ALWAYS AS (to_tsvector('english',
        title || ' ' || symptom || ' ' || root_cause || ' ' || coalesce(workaround, ''))) STORED,
    symptom_search tsvector GENERATED ALWAYS AS (to_tsvector('english', symptom)) STORED
);
CREATE INDEX IF NOT EXISTS known_errors_order ON known_errors(priority_rank, number_value, problem);
CREATE TABLE IF NOT EXISTS known_error_cis(
    problem TEXT NOT NULL,
    ci      TEXT NOT NULL,
    PRIMARY KEY(problem, ci)
);
CREATE INDEX IF NOT EXISTS known_error_cis_by_ci ON known_error_cis(ci, problem);
CREATE INDEX IF NOT EXISTS known_errors_search ON known_errors USING GIN (search);
CREATE INDEX IF NOT EXISTS known_errors_symptom_search ON known_errors USING GIN (symptom_search);
",
    tables: &["known_errors", "known_error_cis", "known_errors_fts"],
    views: &[],
};

pub(crate) const CHANGE_CALENDAR: Model = Model {
    name: "change_calendar",
    version: 1,
    create: "
CREATE TABLE IF NOT EXISTS change_calendar(
    change       TEXT PRIMARY KEY,
    number       TEXT,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL,
    booked       INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_calendar_by_start ON change_calendar(window_start, change);
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS change_calendar(
    change       TEXT PRIMARY KEY,
    number       TEXT,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL,
    booked       BIGINT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_calendar_by_start ON change_calendar(window_start, change);
",
    tables: &["change_calendar"],
    views: &[],
};

pub(crate) const OPEN_ALERTS: Model = Model {
    name: "open_alerts",
    version: 1,
    create: "
CREATE TABLE IF NOT EXISTS open_alerts(
    dedup_key   TEXT NOT NULL,
    incident    TEXT NOT NULL,
    number      TEXT,
    alert_count INTEGER NOT NULL,
    PRIMARY KEY(dedup_key, incident)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS open_alerts_by_incident ON open_alerts(incident);
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS open_alerts(
    dedup_key   TEXT NOT NULL,
    incident    TEXT NOT NULL,
    number      TEXT,
    alert_count BIGINT NOT NULL,
    PRIMARY KEY(dedup_key, incident)
);
CREATE INDEX IF NOT EXISTS open_alerts_by_incident ON open_alerts(incident);
",
    tables: &["open_alerts"],
    views: &[],
};

pub(crate) const KPI: Model = Model {
    name: "kpi",
    version: 5,
    create: "
CREATE TABLE IF NOT EXISTS kpi_incidents(
    incident               TEXT PRIMARY KEY,
    number                 TEXT,
    opened_at              TEXT NOT NULL,
    opened_us              INTEGER NOT NULL,
    priority               TEXT NOT NULL,
    assignment_group       TEXT,
    service                TEXT,
    is_open                INTEGER NOT NULL,
    acknowledged_at        TEXT,
    acknowledged_us        INTEGER,
    ack_priority           TEXT,
    ack_group              TEXT,
    ack_service            TEXT,
    resolved_at            TEXT,
    resolved_us            INTEGER,
    resolved_priority      TEXT,
    resolved_group         TEXT,
    resolved_service       TEXT,
    resolution_source      TEXT,
    resolved_reassignments INTEGER,
    held_to_resolve_us     INTEGER,
    reassignments          INTEGER NOT NULL,
    reopens                INTEGER NOT NULL,
    held_us                INTEGER NOT NULL,
    on_hold_since          TEXT,
    on_hold_since_us       INTEGER,
    major                  INTEGER NOT NULL,
    first_review_at        TEXT,
    first_review_us        INTEGER,
    detected_at            TEXT,
    detected_us            INTEGER,
    mttd_ms                INTEGER,
    mttd_priority          TEXT,
    mttd_group             TEXT,
    mttd_service           TEXT,
    facts                  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kpi_incidents_by_ack ON kpi_incidents(
    acknowledged_us, opened_us, ack_priority, ack_group, ack_service)
    WHERE acknowledged_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_incidents_by_resolution ON kpi_incidents(
    resolved_us, opened_us, resolved_priority, resolved_group, resolved_service,
    held_to_resolve_us, resolved_reassignments, reopens, resolution_source, major,
    first_review_us)
    WHERE resolved_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_incidents_open ON kpi_incidents(is_open, opened_us);
CREATE INDEX IF NOT EXISTS kpi_incidents_by_detection ON kpi_incidents(detected_us)
    WHERE detected_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_resolutions(
    incident         TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    resolved_at      TEXT NOT NULL,
    resolved_us      INTEGER NOT NULL,
    reopened_us      INTEGER,
    priority         TEXT NOT NULL,
    assignment_group TEXT,
    service          TEXT,
    PRIMARY KEY(incident, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kpi_resolutions_by_time ON kpi_resolutions(
    resolved_us, reopened_us, priority, assignment_group, service);
CREATE TABLE IF NOT EXISTS kpi_open_spans(
    incident TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    from_us  INTEGER NOT NULL,
    to_us    INTEGER,
    PRIMARY KEY(incident, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kpi_open_spans_by_end ON kpi_open_spans(to_us, from_us);
CREATE TABLE IF NOT EXISTS kpi_daily(
    dimension     TEXT NOT NULL,
    day           INTEGER NOT NULL,
    figure        TEXT NOT NULL,
    value         TEXT NOT NULL,
    valued        INTEGER NOT NULL,
    source        TEXT NOT NULL,
    reassigned    INTEGER NOT NULL,
    reopened      INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    total_ms      INTEGER NOT NULL,
    net_ms        INTEGER NOT NULL,
    reassignments INTEGER NOT NULL,
    PRIMARY KEY(dimension, day, figure, value, valued, source, reassigned, reopened)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kpi_incidents_major ON kpi_incidents(
    resolved_us, opened_us, resolved_priority, resolved_group, resolved_service,
    held_to_resolve_us, resolved_reassignments, reopens, resolution_source, first_review_us)
    WHERE major = 1 AND resolved_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_resolutions_reopened ON kpi_resolutions(
    resolved_us, reopened_us, priority, assignment_group, service)
    WHERE reopened_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_daily_sla(
    dimension        TEXT NOT NULL,
    day              INTEGER NOT NULL,
    value            TEXT NOT NULL,
    valued           INTEGER NOT NULL,
    metric           TEXT NOT NULL,
    priority         TEXT NOT NULL,
    met              INTEGER NOT NULL,
    breached_stopped INTEGER NOT NULL,
    breached_running INTEGER NOT NULL,
    overrun_ms       INTEGER NOT NULL,
    PRIMARY KEY(dimension, day, value, valued, metric, priority)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kpi_changes(
    change          TEXT PRIMARY KEY,
    number          TEXT,
    change_type     TEXT NOT NULL,
    requested_at    TEXT NOT NULL,
    requested_us    INTEGER NOT NULL,
    implemented_at  TEXT,
    implemented_us  INTEGER,
    unauthorized    INTEGER,
    closed_at       TEXT,
    closed_us       INTEGER,
    outcome         TEXT,
    caused_incident INTEGER NOT NULL,
    facts           TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kpi_changes_by_request ON kpi_changes(requested_us, change_type);
CREATE INDEX IF NOT EXISTS kpi_changes_by_implementation ON kpi_changes(implemented_us, unauthorized)
    WHERE implemented_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_changes_by_close ON kpi_changes(closed_us, outcome, caused_incident)
    WHERE closed_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS sla_clocks(
    incident      TEXT NOT NULL,
    number        TEXT,
    definition    TEXT NOT NULL,
    cycle         INTEGER NOT NULL,
    metric        TEXT NOT NULL,
    priority      TEXT NOT NULL,
    held_by_group TEXT,
    service       TEXT,
    state         TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    target_ms     INTEGER NOT NULL,
    breached_at   TEXT,
    breached_us   INTEGER,
    stopped_at    TEXT,
    stopped_us    INTEGER,
    elapsed_ms    INTEGER,
    canceled_at   TEXT,
    incident_live INTEGER NOT NULL,
    PRIMARY KEY(incident, definition, cycle)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sla_clocks_by_stop ON sla_clocks(stopped_us);
CREATE INDEX IF NOT EXISTS sla_clocks_by_breach ON sla_clocks(breached_us);
CREATE INDEX IF NOT EXISTS sla_clocks_live ON sla_clocks(incident_live, incident);
CREATE VIEW IF NOT EXISTS v_incident_kpis AS
    SELECT strftime('%Y-%W', resolved_at) AS week, resolved_priority AS priority,
           count(*) AS resolved,
           avg(resolved_us - opened_us) / 60000000.0 AS mttr_minutes
    FROM kpi_incidents WHERE resolved_us IS NOT NULL
    GROUP BY 1, 2;
CREATE VIEW IF NOT EXISTS v_sla_compliance AS
    SELECT held_by_group AS assignment_group, metric, priority,
           sum(breached_us IS NULL) AS met,
           count(*) AS decided
    FROM sla_clocks
    WHERE canceled_at IS NULL AND stopped_us IS NOT NULL
    GROUP BY held_by_group, metric, priority;
CREATE VIEW IF NOT EXISTS v_backlog AS
    SELECT incident, number, priority, assignment_group, service, opened_at,
           (CAST(strftime('%s', 'now') AS INTEGER) * 1000000 - opened_us) / 1000 AS age_ms
    FROM kpi_incidents WHERE is_open = 1;
CREATE VIEW IF NOT EXISTS v_change_success AS
    SELECT strftime('%Y-%m', closed_at) AS month, count(*) AS closed,
           sum(outcome IN ('successful', 'successful_with_issues')) AS successful,
           sum(caused_incident) AS caused_incidents
    FROM kpi_changes WHERE closed_us IS NOT NULL
    GROUP BY month;
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS kpi_incidents(
    incident               TEXT PRIMARY KEY,
    number                 TEXT,
    opened_at              TEXT NOT NULL,
    opened_us              BIGINT NOT NULL,
    priority               TEXT NOT NULL,
    assignment_group       TEXT,
    service                TEXT,
    is_open                BIGINT NOT NULL,
    acknowledged_at        TEXT,
    acknowledged_us        BIGINT,
    ack_priority           TEXT,
    ack_group              TEXT,
    ack_service            TEXT,
    resolved_at            TEXT,
    resolved_us            BIGINT,
    resolved_priority      TEXT,
    resolved_group         TEXT,
    resolved_service       TEXT,
    resolution_source      TEXT,
    resolved_reassignments BIGINT,
    held_to_resolve_us     BIGINT,
    reassignments          BIGINT NOT NULL,
    reopens                BIGINT NOT NULL,
    held_us                BIGINT NOT NULL,
    on_hold_since          TEXT,
    on_hold_since_us       BIGINT,
    major                  BIGINT NOT NULL,
    first_review_at        TEXT,
    first_review_us        BIGINT,
    detected_at            TEXT,
    detected_us            BIGINT,
    mttd_ms                BIGINT,
    mttd_priority          TEXT,
    mttd_group             TEXT,
    mttd_service           TEXT,
    facts                  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kpi_incidents_by_ack ON kpi_incidents(
    acknowledged_us, opened_us, ack_priority, ack_group, ack_service)
    WHERE acknowledged_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_incidents_by_resolution ON kpi_incidents(
    resolved_us, opened_us, resolved_priority, resolved_group, resolved_service,
    held_to_resolve_us, resolved_reassignments, reopens, resolution_source, major,
    first_review_us)
    WHERE resolved_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_incidents_open ON kpi_incidents(is_open, opened_us);
CREATE INDEX IF NOT EXISTS kpi_incidents_by_detection ON kpi_incidents(detected_us)
    WHERE detected_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_resolutions(
    incident         TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    resolved_at      TEXT NOT NULL,
    resolved_us      BIGINT NOT NULL,
    reopened_us      BIGINT,
    priority         TEXT NOT NULL,
    assignment_group TEXT,
    service          TEXT,
    PRIMARY KEY(incident, seq)
);
CREATE INDEX IF NOT EXISTS kpi_resolutions_by_time ON kpi_resolutions(
    resolved_us, reopened_us, priority, assignment_group, service);
CREATE TABLE IF NOT EXISTS kpi_open_spans(
    incident TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    from_us  BIGINT NOT NULL,
    to_us    BIGINT,
    PRIMARY KEY(incident, seq)
);
CREATE INDEX IF NOT EXISTS kpi_open_spans_by_end ON kpi_open_spans(to_us, from_us);
CREATE TABLE IF NOT EXISTS kpi_daily(
    dimension     TEXT NOT NULL,
    day           BIGINT NOT NULL,
    figure        TEXT NOT NULL,
    value         TEXT NOT NULL,
    valued        BIGINT NOT NULL,
    source        TEXT NOT NULL,
    reassigned    BIGINT NOT NULL,
    reopened      BIGINT NOT NULL,
    n             BIGINT NOT NULL,
    total_ms      BIGINT NOT NULL,
    net_ms        BIGINT NOT NULL,
    reassignments BIGINT NOT NULL,
    PRIMARY KEY(dimension, day, figure, value, valued, source, reassigned, reopened)
);
CREATE INDEX IF NOT EXISTS kpi_incidents_major ON kpi_incidents(
    resolved_us, opened_us, resolved_priority, resolved_group, resolved_service,
    held_to_resolve_us, resolved_reassignments, reopens, resolution_source, first_review_us)
    WHERE major = 1 AND resolved_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_resolutions_reopened ON kpi_resolutions(
    resolved_us, reopened_us, priority, assignment_group, service)
    WHERE reopened_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_daily_sla(
    dimension        TEXT NOT NULL,
    day              BIGINT NOT NULL,
    value            TEXT NOT NULL,
    valued           BIGINT NOT NULL,
    metric           TEXT NOT NULL,
    priority         TEXT NOT NULL,
    met              BIGINT NOT NULL,
    breached_stopped BIGINT NOT NULL,
    breached_running BIGINT NOT NULL,
    overrun_ms       BIGINT NOT NULL,
    PRIMARY KEY(dimension, day, value, valued, metric, priority)
);
CREATE TABLE IF NOT EXISTS kpi_changes(
    change          TEXT PRIMARY KEY,
    number          TEXT,
    change_type     TEXT NOT NULL,
    requested_at    TEXT NOT NULL,
    requested_us    BIGINT NOT NULL,
    implemented_at  TEXT,
    implemented_us  BIGINT,
    unauthorized    BIGINT,
    closed_at       TEXT,
    closed_us       BIGINT,
    outcome         TEXT,
    caused_incident BIGINT NOT NULL,
    facts           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kpi_changes_by_request ON kpi_changes(requested_us, change_type);
CREATE INDEX IF NOT EXISTS kpi_changes_by_implementation ON kpi_changes(implemented_us, unauthorized)
    WHERE implemented_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_changes_by_close ON kpi_changes(closed_us, outcome, caused_incident)
    WHERE closed_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS sla_clocks(
    incident      TEXT NOT NULL,
    number        TEXT,
    definition    TEXT NOT NULL,
    cycle         BIGINT NOT NULL,
    metric        TEXT NOT NULL,
    priority      TEXT NOT NULL,
    held_by_group TEXT,
    service       TEXT,
    state         TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    target_ms     BIGINT NOT NULL,
    breached_at   TEXT,
    breached_us   BIGINT,
    stopped_at    TEXT,
    stopped_us    BIGINT,
    elapsed_ms    BIGINT,
    canceled_at   TEXT,
    incident_live BIGINT NOT NULL,
    PRIMARY KEY(incident, definition, cycle)
);
CREATE INDEX IF NOT EXISTS sla_clocks_by_stop ON sla_clocks(stopped_us);
CREATE INDEX IF NOT EXISTS sla_clocks_by_breach ON sla_clocks(breached_us);
CREATE INDEX IF NOT EXISTS sla_clocks_live ON sla_clocks(incident_live, incident);
CREATE OR REPLACE VIEW v_incident_kpis AS
    SELECT to_char(CAST(resolved_at AS timestamptz) AT TIME ZONE 'UTC', 'IYYY-IW') AS week,
           resolved_priority AS priority,
           count(*) AS resolved,
           avg(resolved_us - opened_us) / 60000000.0 AS mttr_minutes
    FROM kpi_incidents WHERE resolved_us IS NOT NULL
    GROUP BY 1, 2;
CREATE OR REPLACE VIEW v_sla_compliance AS
    SELECT held_by_group AS assignment_group, metric, priority,
           sum(CASE WHEN breached_us IS NULL THEN 1 ELSE 0 END) AS met,
           count(*) AS decided
    FROM sla_clocks
    WHERE canceled_at IS NULL AND stopped_us IS NOT NULL
    GROUP BY held_by_group, metric, priority;
CREATE OR REPLACE VIEW v_backlog AS
    SELECT incident, number, priority, assignment_group, service, opened_at,
           (CAST(extract(epoch FROM now()) AS BIGINT) * 1000000 - opened_us) / 1000 AS age_ms
    FROM kpi_incidents WHERE is_open = 1;
CREATE OR REPLACE VIEW v_change_success AS
    SELECT to_char(CAST(closed_at AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
           count(*) AS closed,
           sum(CASE WHEN outcome IN ('successful', 'successful_with_issues') THEN 1 ELSE 0 END)
               AS successful,
           sum(caused_incident) AS caused_incidents
    FROM kpi_changes WHERE closed_us IS NOT NULL
    GROUP BY month;
",
    tables: &[
        "kpi_incidents",
        "kpi_resolutions",
        "kpi_open_spans",
        "kpi_daily",
        "kpi_daily_sla",
        "kpi_changes",
        "sla_clocks",
    ],
    views: &[
        "v_incident_kpis",
        "v_sla_compliance",
        "v_backlog",
        "v_change_success",
    ],
};

pub(crate) const DUE: Model = Model {
    name: "sla_due",
    version: 2,
    create: "
CREATE TABLE IF NOT EXISTS sla_due(
    record TEXT PRIMARY KEY,
    kind   TEXT NOT NULL,
    due_at TEXT NOT NULL,
    due_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sla_due_by_time ON sla_due(due_us);
",
    create_postgres: "
CREATE TABLE IF NOT EXISTS sla_due(
    record TEXT PRIMARY KEY,
    kind   TEXT NOT NULL,
    due_at TEXT NOT NULL,
    due_us BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sla_due_by_time ON sla_due(due_us);
",
    tables: &["sla_due"],
    views: &[],
};

/// Tables that exist in SQLite's dialect only (PostgreSQL searches columns of `known_errors`).
pub(crate) const SQLITE_ONLY_TABLES: [&str; 1] = ["known_errors_fts"];

/// What PostgreSQL lacks of SQLite's SQL that the read models' queries use, created with
/// the read models (in their schema): the scalar `max(a, b)` and `sum` over booleans (a
/// count of the true ones, as SQLite sums comparisons).
pub(crate) const POSTGRES_FUNCTIONS: &str = "
CREATE OR REPLACE FUNCTION max(a BIGINT, b BIGINT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT AS 'SELECT CASE WHEN a >= b THEN a ELSE b END';
CREATE OR REPLACE FUNCTION opsledger_count_true(total BIGINT, item BOOLEAN) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS 'SELECT total + CASE WHEN item THEN 1 ELSE 0 END';
DO $$ BEGIN
    CREATE AGGREGATE sum(BOOLEAN) (SFUNC = opsledger_count_true, STYPE = BIGINT, INITCOND = '0');
EXCEPTION WHEN duplicate_function THEN NULL;
END $$;
";

/// Every SQL read model, in creation order.
pub(crate) const MODELS: [&Model; 9] = [
    &RECORDS,
    &TIMELINE,
    &KNOWN_ERRORS,
    &CHANGE_CALENDAR,
    &OPEN_ALERTS,
    &KPI,
    &DUE,
    &super::service_model::SERVICE_MODEL,
    &super::knowledge::KNOWLEDGE,
];
