//! What the benchmarks share: the events the engine records for the incidents of a bulk-loaded
//! log.

use chrono::{DateTime, Utc};
use opsledger::core::incident::{CloseCode, IncidentEvent, ResolutionSource};
use opsledger::core::{ActorId, GroupId, Impact, IncidentId, PriorityMatrix, Urgency};

/// The events of bulk incident `n`: every incident opened (impact, urgency, group, service and
/// CI spread over `n`), a quarter assigned and acknowledged, a tenth of those resolved.
pub fn bulk_incident(
    n: u64,
    inc: IncidentId,
    at: DateTime<Utc>,
    by: &ActorId,
    matrix: &PriorityMatrix,
) -> Vec<IncidentEvent> {
    let impacts = [Impact::High, Impact::Medium, Impact::Low];
    let urgencies = [Urgency::High, Urgency::Medium, Urgency::Low];
    let group: GroupId = format!("g{}", n % 50).as_str().into();
    let (impact, urgency) = (impacts[(n % 3) as usize], urgencies[(n / 3 % 3) as usize]);
    let mut events = vec![IncidentEvent::Opened {
        policy_version: Default::default(),
        id: inc,
        title: format!("Incident {n}"),
        description: String::new(),
        caller: "carol".into(),
        impact,
        urgency,
        priority: matrix.priority(impact, urgency),
        service: Some(format!("s{}", n % 20).as_str().into()),
        cis: vec![format!("ci{}", n % 1000).as_str().into()],
        group: Some(group.clone()),
        assignee: None,
        alert: None,
        at,
        by: by.clone(),
    }];
    if n.is_multiple_of(4) {
        let agent: ActorId = format!("agent{}", n % 200).as_str().into();
        events.push(IncidentEvent::Assigned {
            id: inc,
            group: Some(group.clone()),
            assignee: Some(agent),
            previous_group: Some(group),
            previous_assignee: None,
            at,
            by: by.clone(),
        });
        events.push(IncidentEvent::Acknowledged {
            id: inc,
            at,
            by: by.clone(),
        });
        if n.is_multiple_of(40) {
            events.push(IncidentEvent::Resolved {
                id: inc,
                code: CloseCode::SolvedPermanently,
                notes: "fixed".into(),
                source: ResolutionSource::Direct,
                at,
                by: by.clone(),
            });
        }
    }
    events
}
