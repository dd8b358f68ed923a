//! Knowledge articles and runbooks: a lifecycle per article over its own stream
//! (`article-<id>`), versioned, approved by someone other than its author, linked to what it
//! is about, and the record of its use.
//!
//! The rules (the table in [`Article::transitions`] is authoritative):
//!
//! 1. **Lifecycle.** `draft` creates version 1 in Draft; `submit` Draft -> Review; `approve`
//!    Review -> Published (records who approved; the author may never approve their own
//!    article: `separation_of_duties`); `reject` Review -> Draft with a reason; `revise`
//!    Draft or Published -> Draft with the next version (a published article stays findable
//!    as its last published version until the new one is approved); `retire` from any state
//!    but Retired -> Retired, for good.
//! 2. **Links.** An article is linked to services, CIs, categories or known errors (problems);
//!    an article linked to nothing is refused (`validation` on `links`).
//! 3. **Use.** `record_use { incident, resolved }` on a published article records that it
//!    was applied to an incident and whether that resolved it (runbook effectiveness).
//! 4. **Permissions.** `draft`, `revise`, `submit`, `record_use`: `knowledge_write`;
//!    `approve`, `reject`, `retire`: `knowledge_approve`.
//! 5. **Limits.** Title and body within the policy's text limits; at most
//!    `policy.limits.max_links` links of each kind.

mod table;

use crate::authz::Permission;
use crate::context::Context;
use crate::decider::{Decider, DomainEvent};
use crate::error::DomainError;
use crate::ids::{ActorId, ArticleId, CiId, IncidentId, ProblemId, ServiceId};
use crate::transition::Named;
use crate::validate;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// What an article is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArticleKind {
    /// Steps to restore service (suggested at triage).
    Runbook,
    /// Knowledge for people (how-to, explanation, FAQ).
    Article,
}

impl fmt::Display for ArticleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArticleKind::Runbook => "runbook",
            ArticleKind::Article => "article",
        })
    }
}

/// What an article is about. At least one list must be non-empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleLinks {
    /// Business services.
    #[serde(default)]
    pub services: BTreeSet<ServiceId>,
    /// Configuration items.
    #[serde(default)]
    pub cis: BTreeSet<CiId>,
    /// Categories (free text: `database`, `network`).
    #[serde(default)]
    pub categories: BTreeSet<String>,
    /// Known errors: the problems whose workaround or fix the article describes.
    #[serde(default)]
    pub known_errors: BTreeSet<ProblemId>,
}

impl ArticleLinks {
    /// Whether the article is linked to nothing.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.cis.is_empty()
            && self.categories.is_empty()
            && self.known_errors.is_empty()
    }

    fn check(&self, ctx: &Context) -> Result<(), DomainError> {
        if self.is_empty() {
            return Err(DomainError::validation(
                "links",
                "an article must be linked to a service, a CI, a category or a known error",
            ));
        }
        let limits = &ctx.policy.limits;
        validate::links("links.services", self.services.len(), limits)?;
        validate::links("links.cis", self.cis.len(), limits)?;
        validate::links("links.categories", self.categories.len(), limits)?;
        validate::links("links.known_errors", self.known_errors.len(), limits)?;
        for c in &self.categories {
            validate::required_text("links.categories", c, limits.max_title_bytes)?;
        }
        Ok(())
    }
}

/// An article's lifecycle state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    /// Being written.
    Draft,
    /// Waiting for approval.
    Review,
    /// Approved: found by search and suggested at triage.
    Published,
    /// Withdrawn for good.
    Retired,
}

impl Named for ArticleStatus {
    const ALL: &'static [Self] = &[
        ArticleStatus::Draft,
        ArticleStatus::Review,
        ArticleStatus::Published,
        ArticleStatus::Retired,
    ];

    fn name(self) -> &'static str {
        match self {
            ArticleStatus::Draft => "draft",
            ArticleStatus::Review => "review",
            ArticleStatus::Published => "published",
            ArticleStatus::Retired => "retired",
        }
    }
}

/// What callers ask of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum ArticleCommand {
    /// Writes version 1 (Draft).
    Draft {
        /// New id (chosen by the caller).
        id: ArticleId,
        /// Runbook or article.
        kind: ArticleKind,
        /// Its title.
        title: String,
        /// Its text (the steps of a runbook).
        body: String,
        /// What it is about (at least one link).
        links: ArticleLinks,
    },
    /// Starts the next version (from Draft or Published).
    Revise {
        /// The article.
        id: ArticleId,
        /// The new title.
        title: String,
        /// The new text.
        body: String,
        /// The new links (at least one).
        links: ArticleLinks,
    },
    /// Asks for approval (Draft -> Review).
    Submit {
        /// The article.
        id: ArticleId,
    },
    /// Approves and publishes (Review -> Published); never by the author.
    Approve {
        /// The article.
        id: ArticleId,
    },
    /// Sends back to the author (Review -> Draft).
    Reject {
        /// The article.
        id: ArticleId,
        /// Why.
        reason: String,
    },
    /// Withdraws it for good.
    Retire {
        /// The article.
        id: ArticleId,
        /// Why.
        reason: String,
    },
    /// Records that the article was applied to an incident, and whether that resolved it.
    RecordUse {
        /// The article.
        id: ArticleId,
        /// The incident it was applied to.
        incident: IncidentId,
        /// Whether applying it resolved the incident.
        resolved: bool,
    },
}

/// [`ArticleCommand`] without data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArticleCommandKind {
    /// See [`ArticleCommand::Draft`].
    Draft,
    /// See [`ArticleCommand::Revise`].
    Revise,
    /// See [`ArticleCommand::Submit`].
    Submit,
    /// See [`ArticleCommand::Approve`].
    Approve,
    /// See [`ArticleCommand::Reject`].
    Reject,
    /// See [`ArticleCommand::Retire`].
    Retire,
    /// See [`ArticleCommand::RecordUse`].
    RecordUse,
}

impl Named for ArticleCommandKind {
    const ALL: &'static [Self] = &[
        ArticleCommandKind::Draft,
        ArticleCommandKind::Revise,
        ArticleCommandKind::Submit,
        ArticleCommandKind::Approve,
        ArticleCommandKind::Reject,
        ArticleCommandKind::Retire,
        ArticleCommandKind::RecordUse,
    ];

    fn name(self) -> &'static str {
        match self {
            ArticleCommandKind::Draft => "draft",
            ArticleCommandKind::Revise => "revise",
            ArticleCommandKind::Submit => "submit",
            ArticleCommandKind::Approve => "approve",
            ArticleCommandKind::Reject => "reject",
            ArticleCommandKind::Retire => "retire",
            ArticleCommandKind::RecordUse => "record_use",
        }
    }
}

impl ArticleCommand {
    /// The command without its data.
    pub const fn kind(&self) -> ArticleCommandKind {
        match self {
            ArticleCommand::Draft { .. } => ArticleCommandKind::Draft,
            ArticleCommand::Revise { .. } => ArticleCommandKind::Revise,
            ArticleCommand::Submit { .. } => ArticleCommandKind::Submit,
            ArticleCommand::Approve { .. } => ArticleCommandKind::Approve,
            ArticleCommand::Reject { .. } => ArticleCommandKind::Reject,
            ArticleCommand::Retire { .. } => ArticleCommandKind::Retire,
            ArticleCommand::RecordUse { .. } => ArticleCommandKind::RecordUse,
        }
    }

    /// The article the command is about.
    pub const fn id(&self) -> ArticleId {
        match self {
            ArticleCommand::Draft { id, .. }
            | ArticleCommand::Revise { id, .. }
            | ArticleCommand::Submit { id }
            | ArticleCommand::Approve { id }
            | ArticleCommand::Reject { id, .. }
            | ArticleCommand::Retire { id, .. }
            | ArticleCommand::RecordUse { id, .. } => *id,
        }
    }
}

/// What happened to an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ArticleEvent {
    /// A version was written (version 1: the article was created).
    #[serde(rename = "article.drafted")]
    Drafted {
        /// The article.
        id: ArticleId,
        /// Runbook or article.
        kind: ArticleKind,
        /// Which version.
        version: u32,
        /// Its title.
        title: String,
        /// Its text.
        body: String,
        /// What it is about.
        links: ArticleLinks,
        /// When.
        at: DateTime<Utc>,
        /// By whom (the version's author).
        by: ActorId,
    },
    /// Submitted for approval.
    #[serde(rename = "article.submitted")]
    Submitted {
        /// The article.
        id: ArticleId,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// Approved and published.
    #[serde(rename = "article.published")]
    Published {
        /// The article.
        id: ArticleId,
        /// The version published.
        version: u32,
        /// When.
        at: DateTime<Utc>,
        /// Who approved.
        by: ActorId,
    },
    /// Sent back to the author.
    #[serde(rename = "article.rejected")]
    Rejected {
        /// The article.
        id: ArticleId,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// Withdrawn for good.
    #[serde(rename = "article.retired")]
    Retired {
        /// The article.
        id: ArticleId,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
    /// Applied to an incident.
    #[serde(rename = "article.used")]
    Used {
        /// The article.
        id: ArticleId,
        /// The incident.
        incident: IncidentId,
        /// Whether it resolved the incident.
        resolved: bool,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: ActorId,
    },
}

impl DomainEvent for ArticleEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ArticleEvent::Drafted { .. } => "article.drafted",
            ArticleEvent::Submitted { .. } => "article.submitted",
            ArticleEvent::Published { .. } => "article.published",
            ArticleEvent::Rejected { .. } => "article.rejected",
            ArticleEvent::Retired { .. } => "article.retired",
            ArticleEvent::Used { .. } => "article.used",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}

/// One article, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Article {
    /// Its id.
    pub id: ArticleId,
    /// Runbook or article.
    pub kind: ArticleKind,
    /// Where it is in its lifecycle.
    pub status: ArticleStatus,
    /// The current version (the one being written, reviewed or published).
    pub version: u32,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// What it is about.
    pub links: ArticleLinks,
    /// Who wrote the current version.
    pub author: ActorId,
    /// The last version published, if any.
    pub published_version: Option<u32>,
    /// Who approved the last published version.
    pub approved_by: Option<ActorId>,
    /// When it was last published.
    pub published_at: Option<DateTime<Utc>>,
    /// How often it was applied to an incident.
    pub uses: u32,
    /// How often applying it resolved the incident.
    pub resolutions: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The article decider.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArticleDecider;

fn check_text(title: &str, body: &str, ctx: &Context) -> Result<(), DomainError> {
    validate::title("title", title, &ctx.policy.limits)?;
    validate::required_text("body", body, ctx.policy.limits.max_text_bytes)
}

impl Decider for ArticleDecider {
    type State = Option<Article>;
    type Command = ArticleCommand;
    type Event = ArticleEvent;

    fn decide(
        state: &Option<Article>,
        cmd: &ArticleCommand,
        ctx: &Context,
    ) -> Result<Vec<ArticleEvent>, DomainError> {
        let permission = match cmd.kind() {
            ArticleCommandKind::Draft
            | ArticleCommandKind::Revise
            | ArticleCommandKind::Submit
            | ArticleCommandKind::RecordUse => Permission::KnowledgeWrite,
            ArticleCommandKind::Approve
            | ArticleCommandKind::Reject
            | ArticleCommandKind::Retire => Permission::KnowledgeApprove,
        };
        ctx.policy.authorization.require(&ctx.actor, permission)?;
        if let Some(a) = state
            && a.id != cmd.id()
        {
            return Err(DomainError::validation(
                "id",
                format!("the command names {} but the state is {}", cmd.id(), a.id),
            ));
        }
        let from = state.as_ref().map(|a| a.status);
        if !Article::transitions().allows(from, cmd.kind()) {
            return Err(match from {
                None => DomainError::UnknownReference {
                    path: "id".into(),
                    item: format!("article {}", cmd.id()),
                },
                Some(status) => DomainError::ItemTransition {
                    item: format!("article {}", cmd.id()),
                    state: status.name().to_owned(),
                    command: cmd.kind().name().to_owned(),
                },
            });
        }
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        let id = cmd.id();
        match (state, cmd) {
            (
                None,
                ArticleCommand::Draft {
                    kind,
                    title,
                    body,
                    links,
                    ..
                },
            ) => {
                check_text(title, body, ctx)?;
                links.check(ctx)?;
                Ok(vec![ArticleEvent::Drafted {
                    id,
                    kind: *kind,
                    version: 1,
                    title: title.clone(),
                    body: body.clone(),
                    links: links.clone(),
                    at,
                    by,
                }])
            }
            (
                Some(a),
                ArticleCommand::Revise {
                    title, body, links, ..
                },
            ) => {
                check_text(title, body, ctx)?;
                links.check(ctx)?;
                let version = if a.status == ArticleStatus::Published {
                    a.version + 1
                } else {
                    a.version
                };
                Ok(vec![ArticleEvent::Drafted {
                    id,
                    kind: a.kind,
                    version,
                    title: title.clone(),
                    body: body.clone(),
                    links: links.clone(),
                    at,
                    by,
                }])
            }
            (Some(_), ArticleCommand::Submit { .. }) => {
                Ok(vec![ArticleEvent::Submitted { id, at, by }])
            }
            (Some(a), ArticleCommand::Approve { .. }) => {
                if a.author == ctx.actor.id {
                    return Err(DomainError::SeparationOfDuties {
                        actor: ctx.actor.id.clone(),
                    });
                }
                Ok(vec![ArticleEvent::Published {
                    id,
                    version: a.version,
                    at,
                    by,
                }])
            }
            (Some(_), ArticleCommand::Reject { reason, .. }) => {
                validate::required_text("reason", reason, ctx.policy.limits.max_text_bytes)?;
                Ok(vec![ArticleEvent::Rejected {
                    id,
                    reason: reason.clone(),
                    at,
                    by,
                }])
            }
            (Some(_), ArticleCommand::Retire { reason, .. }) => {
                validate::required_text("reason", reason, ctx.policy.limits.max_text_bytes)?;
                Ok(vec![ArticleEvent::Retired {
                    id,
                    reason: reason.clone(),
                    at,
                    by,
                }])
            }
            (
                Some(_),
                ArticleCommand::RecordUse {
                    incident, resolved, ..
                },
            ) => Ok(vec![ArticleEvent::Used {
                id,
                incident: *incident,
                resolved: *resolved,
                at,
                by,
            }]),
            // The table refused these above; kept explicit so a new command is a compile
            // error here.
            (Some(_), ArticleCommand::Draft { .. })
            | (
                None,
                ArticleCommand::Revise { .. }
                | ArticleCommand::Submit { .. }
                | ArticleCommand::Approve { .. }
                | ArticleCommand::Reject { .. }
                | ArticleCommand::Retire { .. }
                | ArticleCommand::RecordUse { .. },
            ) => Err(DomainError::validation("command", "not allowed here")),
        }
    }

    fn evolve(state: Option<Article>, event: &ArticleEvent) -> Option<Article> {
        match (state, event) {
            (
                None,
                ArticleEvent::Drafted {
                    id,
                    kind,
                    version,
                    title,
                    body,
                    links,
                    at,
                    by,
                },
            ) => Some(Article {
                id: *id,
                kind: *kind,
                status: ArticleStatus::Draft,
                version: *version,
                title: title.clone(),
                body: body.clone(),
                links: links.clone(),
                author: by.clone(),
                published_version: None,
                approved_by: None,
                published_at: None,
                uses: 0,
                resolutions: 0,
                created_at: *at,
                updated_at: *at,
            }),
            (None, _) => None,
            (Some(mut a), e) => {
                match e {
                    ArticleEvent::Drafted {
                        version,
                        title,
                        body,
                        links,
                        at,
                        by,
                        ..
                    } => {
                        a.status = ArticleStatus::Draft;
                        a.version = *version;
                        a.title = title.clone();
                        a.body = body.clone();
                        a.links = links.clone();
                        a.author = by.clone();
                        a.updated_at = *at;
                    }
                    ArticleEvent::Submitted { at, .. } => {
                        a.status = ArticleStatus::Review;
                        a.updated_at = *at;
                    }
                    ArticleEvent::Published {
                        version, at, by, ..
                    } => {
                        a.status = ArticleStatus::Published;
                        a.published_version = Some(*version);
                        a.approved_by = Some(by.clone());
                        a.published_at = Some(*at);
                        a.updated_at = *at;
                    }
                    ArticleEvent::Rejected { at, .. } => {
                        a.status = ArticleStatus::Draft;
                        a.updated_at = *at;
                    }
                    ArticleEvent::Retired { at, .. } => {
                        a.status = ArticleStatus::Retired;
                        a.updated_at = *at;
                    }
                    ArticleEvent::Used { resolved, at, .. } => {
                        a.uses = a.uses.saturating_add(1);
                        if *resolved {
                            a.resolutions = a.resolutions.saturating_add(1);
                        }
                        a.updated_at = *at;
                    }
                }
                Some(a)
            }
        }
    }
}
