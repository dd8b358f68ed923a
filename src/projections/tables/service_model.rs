//! The service model as SQL tables: `service_items` (one row per service or CI, its lifecycle
//! state and attributes) and `service_relations` (one row per recorded relation), written
//! from the `service-model` stream's events as idempotent upserts and deletes.

use super::schema::Model;
use super::{Tables, instant, opt_text, text};
use crate::error::{EngineError, Result};
use opsledger_core::service::{ItemRef, ModelEvent};
use opsledger_store::{SqlStatement, SqlValue, StoredEvent};

/// The service model's tables.
pub(crate) const SERVICE_MODEL: Model = Model {
    name: "service_model",
    version: 1,
    create: "
CREATE TABLE IF NOT EXISTS service_items(
    item_kind     TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    class         TEXT,
    status        TEXT NOT NULL,
    owner_group   TEXT,
    support_hours TEXT,
    criticality   TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (item_kind, id)
);
CREATE INDEX IF NOT EXISTS service_items_by_group ON service_items(owner_group, item_kind);
CREATE TABLE IF NOT EXISTS service_relations(
    from_kind TEXT NOT NULL,
    from_id   TEXT NOT NULL,
    relation  TEXT NOT NULL,
    to_kind   TEXT NOT NULL,
    to_id     TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (from_kind, from_id, relation, to_kind, to_id)
);
CREATE INDEX IF NOT EXISTS service_relations_by_to
    ON service_relations(to_kind, to_id, relation, from_kind, from_id);",
    create_postgres: "
CREATE TABLE IF NOT EXISTS service_items(
    item_kind     TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    class         TEXT,
    status        TEXT NOT NULL,
    owner_group   TEXT,
    support_hours TEXT,
    criticality   TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    position      BIGINT NOT NULL,
    PRIMARY KEY (item_kind, id)
);
CREATE INDEX IF NOT EXISTS service_items_by_group ON service_items(owner_group, item_kind);
CREATE TABLE IF NOT EXISTS service_relations(
    from_kind TEXT NOT NULL,
    from_id   TEXT NOT NULL,
    relation  TEXT NOT NULL,
    to_kind   TEXT NOT NULL,
    to_id     TEXT NOT NULL,
    position  BIGINT NOT NULL,
    PRIMARY KEY (from_kind, from_id, relation, to_kind, to_id)
);
CREATE INDEX IF NOT EXISTS service_relations_by_to
    ON service_relations(to_kind, to_id, relation, from_kind, from_id);",
    tables: &["service_items", "service_relations"],
    views: &[],
};

fn key(item: &ItemRef) -> [SqlValue; 2] {
    [text(item.kind_name()), text(item.id())]
}

impl Tables {
    /// The rows one event of the `service-model` stream writes.
    pub(crate) fn service_model_rows(
        &self,
        e: &StoredEvent,
        out: &mut Vec<SqlStatement>,
    ) -> Result<()> {
        if !self.writes(&SERVICE_MODEL) {
            return Ok(());
        }
        let event: ModelEvent =
            serde_json::from_slice(&e.payload).map_err(|err| EngineError::Decode {
                position: e.position.0,
                reason: err.to_string(),
            })?;
        let position = SqlValue::from(e.position.0);
        match &event {
            ModelEvent::ItemRegistered {
                item,
                attributes,
                at,
                ..
            }
            | ModelEvent::AttributesUpdated {
                item,
                attributes,
                at,
                ..
            } => {
                let [kind, id] = key(item);
                let name = if attributes.name.is_empty() {
                    item.id().to_owned()
                } else {
                    attributes.name.clone()
                };
                out.push(SqlStatement::new(
                    "INSERT INTO service_items(item_kind, id, name, class, status, owner_group,
                         support_hours, criticality, registered_at, updated_at, position)
                     VALUES (?1, ?2, ?3, ?4, 'planned', ?5, ?6, ?7, ?8, ?8, ?9)
                     ON CONFLICT(item_kind, id) DO UPDATE SET name = excluded.name,
                         class = excluded.class, owner_group = excluded.owner_group,
                         support_hours = excluded.support_hours,
                         criticality = excluded.criticality, updated_at = excluded.updated_at,
                         position = excluded.position",
                    vec![
                        kind,
                        id,
                        text(name),
                        opt_text(attributes.class.as_ref()),
                        opt_text(attributes.owner_group.as_ref()),
                        opt_text(attributes.support_hours.as_ref().map(|c| c.id.to_string())),
                        text(attributes.criticality),
                        instant(*at),
                        position,
                    ],
                ));
            }
            ModelEvent::ItemActivated { item, at, .. }
            | ModelEvent::ItemReactivated { item, at, .. }
            | ModelEvent::ItemRetired { item, at, .. } => {
                let status = if matches!(event, ModelEvent::ItemRetired { .. }) {
                    "retired"
                } else {
                    "operational"
                };
                let [kind, id] = key(item);
                if matches!(event, ModelEvent::ItemRetired { .. }) {
                    // A retired item's relations go with it.
                    out.push(SqlStatement::new(
                        "DELETE FROM service_relations
                         WHERE (from_kind = ?1 AND from_id = ?2) OR (to_kind = ?1 AND to_id = ?2)",
                        vec![kind.clone(), id.clone()],
                    ));
                }
                out.push(SqlStatement::new(
                    "UPDATE service_items SET status = ?3, updated_at = ?4, position = ?5
                     WHERE item_kind = ?1 AND id = ?2",
                    vec![kind, id, text(status), instant(*at), position],
                ));
            }
            ModelEvent::RelationAdded { from, kind, to, .. } => {
                let [fk, fi] = key(from);
                let [tk, ti] = key(to);
                out.push(SqlStatement::new(
                    "INSERT INTO service_relations(from_kind, from_id, relation, to_kind, to_id,
                         position)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(from_kind, from_id, relation, to_kind, to_id)
                     DO UPDATE SET position = excluded.position",
                    vec![fk, fi, text(kind.as_str()), tk, ti, position],
                ));
            }
            ModelEvent::RelationRemoved { from, kind, to, .. } => {
                let [fk, fi] = key(from);
                let [tk, ti] = key(to);
                out.push(SqlStatement::new(
                    "DELETE FROM service_relations WHERE from_kind = ?1 AND from_id = ?2
                         AND relation = ?3 AND to_kind = ?4 AND to_id = ?5",
                    vec![fk, fi, text(kind.as_str()), tk, ti],
                ));
            }
        }
        Ok(())
    }
}
