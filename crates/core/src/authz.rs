//! Authorization: a pure function of (actor, permission, policy), called from inside `decide`.
//!
//! Role-to-permission grants are data ([`AuthorizationRules`]) carried by the policy, so a
//! deployment can tighten or loosen them without code. State-dependent rules (the requester of a
//! change may never approve it; a requester may confirm only their own incident's resolution)
//! live in the lifecycle's `decide`, next to the state they read.

use crate::actor::{Actor, Role};
use crate::error::DomainError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Something a command needs permission to do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Open an incident or report an alert.
    IncidentOpen,
    /// Work an incident: acknowledge, assign, hold, resume, resolve, reprioritise, link, add
    /// internal work notes.
    IncidentWork,
    /// Add a comment the caller sees. An actor who may not work incidents (a caller or a
    /// requester) comments only on incidents they are the caller of.
    IncidentComment,
    /// Escalate functionally (to another group or tier).
    IncidentEscalateFunctional,
    /// Escalate hierarchically (to management).
    IncidentEscalateHierarchical,
    /// Cancel an incident (duplicate, not an incident).
    IncidentCancel,
    /// Close a resolved incident (confirm the resolution).
    IncidentClose,
    /// Auto-close a resolved incident once the policy's delay has passed: the engine's timer,
    /// so granted by default to [`Role::System`] only (and, as everything, to admins).
    IncidentAutoClose,
    /// Reopen a resolved incident.
    IncidentReopen,
    /// Propose an incident as a major incident.
    MajorIncidentPropose,
    /// Accept or reject a proposed major incident.
    MajorIncidentDecide,
    /// Publish the post-incident review of a major incident.
    ReviewPublish,
    /// Create a problem.
    ProblemCreate,
    /// Work a problem: assess, analyse, link, start the fix, resolve with a fix.
    ProblemWork,
    /// Record or update a known error (publishes it to the KEDB).
    ProblemKnownError,
    /// Accept the risk of a problem without fixing it.
    ProblemAcceptRisk,
    /// Re-analyse a closed problem (Closed -> Root cause analysis).
    ProblemReanalyze,
    /// Cancel a problem or mark it a duplicate.
    ProblemCancel,
    /// Close a resolved problem.
    ProblemClose,
    /// Raise a change request.
    ChangeRequest,
    /// Work a change: assess, plan, implement, review.
    ChangeWork,
    /// Schedule a change into a window.
    ChangeSchedule,
    /// Approve or reject a change (the approval policy further restricts who counts).
    ChangeApprove,
    /// Cancel a change.
    ChangeCancel,
    /// Revert a change to New.
    ChangeRevert,
    /// Close a change with its outcome.
    ChangeClose,
    /// Run the engine's timer tick on demand (operations; not granted by default: admins).
    EngineTick,
    /// Verify the log and the read models (operations; not granted by default: admins).
    EngineVerify,
    /// Rebuild the read models from the log (operations; not granted by default: admins).
    EngineRebuild,
    /// Copy the whole log and read models to a new directory on the server (operations; not
    /// granted by default: admins). Whoever holds it can read every event and write where the
    /// server may.
    EngineBackup,
    /// Publish a new version of the policy (SLAs, calendars, CAB, windows, catalogue, grants;
    /// not granted by default: admins). Whoever holds it can grant any permission to any role.
    PolicyPublish,
    /// Set the time of a server started with a manual clock (tests and demos; not granted by
    /// default: admins).
    EngineClock,
    /// Create, change and delete webhook subscriptions, read their deliveries and redeliver
    /// (by default: managers and admins). Whoever holds it can have any event sent to any
    /// URL the engine accepts.
    WebhookManage,
    /// Register, change, relate and retire services and configuration items (by default:
    /// managers and change managers).
    ServiceModelManage,
    /// Write knowledge articles and runbooks and submit them for review (by default: agents,
    /// managers and problem managers).
    KnowledgeWrite,
    /// Approve (publish) and retire knowledge articles; never one's own (by default: managers
    /// and problem managers).
    KnowledgeApprove,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 36] = [
        Permission::IncidentOpen,
        Permission::IncidentWork,
        Permission::IncidentComment,
        Permission::IncidentEscalateFunctional,
        Permission::IncidentEscalateHierarchical,
        Permission::IncidentCancel,
        Permission::IncidentClose,
        Permission::IncidentAutoClose,
        Permission::IncidentReopen,
        Permission::MajorIncidentPropose,
        Permission::MajorIncidentDecide,
        Permission::ReviewPublish,
        Permission::ProblemCreate,
        Permission::ProblemWork,
        Permission::ProblemKnownError,
        Permission::ProblemAcceptRisk,
        Permission::ProblemReanalyze,
        Permission::ProblemCancel,
        Permission::ProblemClose,
        Permission::ChangeRequest,
        Permission::ChangeWork,
        Permission::ChangeSchedule,
        Permission::ChangeApprove,
        Permission::ChangeCancel,
        Permission::ChangeRevert,
        Permission::ChangeClose,
        Permission::EngineTick,
        Permission::EngineVerify,
        Permission::EngineRebuild,
        Permission::EngineBackup,
        Permission::PolicyPublish,
        Permission::EngineClock,
        Permission::WebhookManage,
        Permission::ServiceModelManage,
        Permission::KnowledgeWrite,
        Permission::KnowledgeApprove,
    ];

    /// Stable snake_case name, as used in error payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::IncidentOpen => "incident_open",
            Permission::IncidentWork => "incident_work",
            Permission::IncidentComment => "incident_comment",
            Permission::IncidentEscalateFunctional => "incident_escalate_functional",
            Permission::IncidentEscalateHierarchical => "incident_escalate_hierarchical",
            Permission::IncidentCancel => "incident_cancel",
            Permission::IncidentClose => "incident_close",
            Permission::IncidentAutoClose => "incident_auto_close",
            Permission::IncidentReopen => "incident_reopen",
            Permission::MajorIncidentPropose => "major_incident_propose",
            Permission::MajorIncidentDecide => "major_incident_decide",
            Permission::ReviewPublish => "review_publish",
            Permission::ProblemCreate => "problem_create",
            Permission::ProblemWork => "problem_work",
            Permission::ProblemKnownError => "problem_known_error",
            Permission::ProblemAcceptRisk => "problem_accept_risk",
            Permission::ProblemReanalyze => "problem_reanalyze",
            Permission::ProblemCancel => "problem_cancel",
            Permission::ProblemClose => "problem_close",
            Permission::ChangeRequest => "change_request",
            Permission::ChangeWork => "change_work",
            Permission::ChangeSchedule => "change_schedule",
            Permission::ChangeApprove => "change_approve",
            Permission::ChangeCancel => "change_cancel",
            Permission::ChangeRevert => "change_revert",
            Permission::ChangeClose => "change_close",
            Permission::EngineTick => "engine_tick",
            Permission::EngineVerify => "engine_verify",
            Permission::EngineRebuild => "engine_rebuild",
            Permission::EngineBackup => "engine_backup",
            Permission::PolicyPublish => "policy_publish",
            Permission::EngineClock => "engine_clock",
            Permission::WebhookManage => "webhook_manage",
            Permission::ServiceModelManage => "service_model_manage",
            Permission::KnowledgeWrite => "knowledge_write",
            Permission::KnowledgeApprove => "knowledge_approve",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which roles hold which permission. [`Role::Admin`] holds every permission regardless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRules {
    /// Roles granted each permission. A permission missing from the map is granted to admins only.
    pub grants: BTreeMap<Permission, BTreeSet<Role>>,
}

impl Default for AuthorizationRules {
    fn default() -> Self {
        use Permission as P;
        use Role::*;
        // `System` is the engine: it holds what its timers and process managers send (the
        // cross-record commands are ordinary work commands on the other record), nothing more.
        let rows: [(Permission, &[Role]); 30] = [
            (P::IncidentOpen, &[Requester, Agent, Manager]),
            (P::IncidentWork, &[Agent, Manager, System]),
            // Callers and requesters on their own incidents (`decide` checks); workers on any.
            (P::IncidentComment, &[Requester, Caller, Agent, Manager]),
            // The system escalates at breach when an SLA definition asks it to.
            (P::IncidentEscalateFunctional, &[Agent, Manager, System]),
            (P::IncidentEscalateHierarchical, &[Agent, Manager, System]),
            // The system cancels an open incident recorded as another's duplicate.
            (P::IncidentCancel, &[Agent, Manager, System]),
            // A caller confirms the resolution of their own incident; `decide` checks ownership.
            (P::IncidentClose, &[Requester, Caller, Agent, Manager]),
            (P::IncidentAutoClose, &[System]),
            // Reopening children with their parent is a process manager's work.
            // A caller rejects a resolution of their own incident within the policy's window.
            (
                P::IncidentReopen,
                &[Requester, Caller, Agent, Manager, System],
            ),
            (P::MajorIncidentPropose, &[Agent, Manager]),
            (P::MajorIncidentDecide, &[Manager]),
            (P::ReviewPublish, &[Manager, ProblemManager]),
            (P::ProblemCreate, &[Agent, Manager, ProblemManager]),
            (P::ProblemWork, &[Agent, ProblemManager, System]),
            (P::ProblemKnownError, &[Agent, ProblemManager]),
            (P::ProblemAcceptRisk, &[ProblemManager]),
            (P::ProblemReanalyze, &[ProblemManager]),
            (P::ProblemCancel, &[ProblemManager]),
            (P::ProblemClose, &[ProblemManager]),
            (P::ChangeRequest, &[Requester, Agent, ChangeManager]),
            (P::ChangeWork, &[Agent, ChangeManager, System]),
            (P::ChangeSchedule, &[ChangeManager]),
            (P::ChangeApprove, &[CabMember, ChangeManager]),
            (P::ChangeCancel, &[ChangeManager]),
            (P::ChangeRevert, &[ChangeManager]),
            (P::ChangeClose, &[Agent, ChangeManager]),
            (P::WebhookManage, &[Manager]),
            (P::ServiceModelManage, &[Manager, ChangeManager]),
            (P::KnowledgeWrite, &[Agent, Manager, ProblemManager]),
            (P::KnowledgeApprove, &[Manager, ProblemManager]),
        ];
        Self {
            grants: rows
                .into_iter()
                .map(|(p, roles)| (p, roles.iter().copied().collect()))
                .collect(),
        }
    }
}

impl AuthorizationRules {
    /// Whether `actor` holds `permission` under these rules.
    pub fn allows(&self, actor: &Actor, permission: Permission) -> bool {
        if actor.has_role(Role::Admin) {
            return true;
        }
        self.grants
            .get(&permission)
            .is_some_and(|roles| roles.iter().any(|r| actor.has_role(*r)))
    }

    /// `Ok(())` when allowed, otherwise [`DomainError::Forbidden`] naming the missing permission.
    pub fn require(&self, actor: &Actor, permission: Permission) -> Result<(), DomainError> {
        if self.allows(actor, permission) {
            Ok(())
        } else {
            Err(DomainError::Forbidden {
                actor: actor.id.clone(),
                permission,
            })
        }
    }
}
