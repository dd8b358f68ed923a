//! The published contract, generated from the code: JSON Schemas of every command, event and
//! state, and Mermaid diagrams of every transition table.
//!
//! Nothing here writes files: callers (a test that keeps `docs/` current, the CLI's `schema` and
//! `diagram` commands) decide where the text goes.

use crate::calendar::CalendarSpec;
use crate::change::{Change, ChangeCommand, ChangeEvent};
use crate::error::DomainError;
use crate::incident::{Incident, IncidentCommand, IncidentEvent};
use crate::knowledge::{Article, ArticleCommand, ArticleEvent};
use crate::kpi::{KpiQuery, KpiReport};
use crate::policy::Policy;
use crate::problem::{Problem, ProblemCommand, ProblemEvent};
use crate::service::{ImpactReport, Item, ModelCommand, ModelEvent, ServiceModel};
use crate::sla::{
    ExplainSpan, SlaCommand, SlaEvent, SlaInstance, SlaRecord, SlaStatus, WhatIfReport,
};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

/// One generated document: a file name (relative to its docs folder) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// File name, for example `incident.mmd` or `incident_command.schema.json`.
    pub file_name: String,
    /// Full text, ending with a newline.
    pub text: String,
}

/// A JSON Schema (draft-07) of `T`, with its definitions under `definitions`.
pub fn schema_for<T: JsonSchema>() -> Schema {
    SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>()
}

fn schema_document<T: JsonSchema>(name: &str) -> Document {
    let schema = schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{e}"));
    text.push('\n');
    Document {
        file_name: format!("{name}.schema.json"),
        text,
    }
}

/// JSON Schemas of the commands, events and states of every lifecycle, the policy and errors.
pub fn schemas() -> Vec<Document> {
    vec![
        schema_document::<IncidentCommand>("incident_command"),
        schema_document::<IncidentEvent>("incident_event"),
        schema_document::<Incident>("incident_state"),
        schema_document::<ProblemCommand>("problem_command"),
        schema_document::<ProblemEvent>("problem_event"),
        schema_document::<Problem>("problem_state"),
        schema_document::<ChangeCommand>("change_command"),
        schema_document::<ChangeEvent>("change_event"),
        schema_document::<Change>("change_state"),
        schema_document::<ModelCommand>("service_model_command"),
        schema_document::<ModelEvent>("service_model_event"),
        schema_document::<Item>("service_model_item"),
        schema_document::<ImpactReport>("service_model_impact"),
        schema_document::<ArticleCommand>("article_command"),
        schema_document::<ArticleEvent>("article_event"),
        schema_document::<Article>("article_state"),
        schema_document::<SlaCommand>("sla_command"),
        schema_document::<SlaEvent>("sla_event"),
        schema_document::<SlaRecord>("sla_state"),
        schema_document::<SlaStatus>("sla_status"),
        schema_document::<Vec<ExplainSpan>>("sla_explanation"),
        schema_document::<WhatIfReport>("sla_what_if"),
        schema_document::<KpiQuery>("kpi_query"),
        schema_document::<KpiReport>("kpi_report"),
        schema_document::<Policy>("policy"),
        schema_document::<CalendarSpec>("calendar"),
        schema_document::<DomainError>("domain_error"),
    ]
}

fn diagram_document(name: &str, title: &str, mermaid: String, table: String) -> Document {
    Document {
        file_name: format!("{name}.md"),
        text: format!(
            "# {title}\n\nGenerated from the transition table in code; do not edit by hand.\n\n```mermaid\n{mermaid}```\n\n## Transitions\n\n{table}"
        ),
    }
}

/// Mermaid state diagrams (with the table beside each) of every lifecycle.
pub fn diagrams() -> Vec<Document> {
    let incident = Incident::transitions();
    let major = Incident::major_transitions();
    let problem = Problem::transitions();
    let change = Change::transitions();
    let sla = SlaInstance::transitions();
    let item = ServiceModel::transitions();
    let article = Article::transitions();
    vec![
        diagram_document(
            "incident",
            "Incident lifecycle",
            incident.to_mermaid(),
            incident.to_markdown(),
        ),
        diagram_document(
            "incident_major",
            "Major-incident overlay",
            major.to_mermaid(),
            major.to_markdown(),
        ),
        diagram_document(
            "problem",
            "Problem lifecycle",
            problem.to_mermaid(),
            problem.to_markdown(),
        ),
        diagram_document(
            "change",
            "Change lifecycle",
            change.to_mermaid(),
            change.to_markdown(),
        ),
        diagram_document(
            "service_model_item",
            "Service and configuration item lifecycle",
            item.to_mermaid(),
            item.to_markdown(),
        ),
        diagram_document(
            "article",
            "Knowledge article and runbook lifecycle",
            article.to_mermaid(),
            article.to_markdown(),
        ),
        diagram_document(
            "sla_instance",
            "SLA instance",
            sla.to_mermaid(),
            sla.to_markdown(),
        ),
    ]
}
