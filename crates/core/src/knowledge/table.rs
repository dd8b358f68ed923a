//! THE article transition table; `decide` checks it first, the diagram is generated from it.

use super::{Article, ArticleCommandKind as C, ArticleStatus as S};
use crate::ids::RecordKind;
use crate::transition::{Transition, TransitionTable};

const fn row(from: Option<S>, command: C, to: S, guard: &'static str) -> Transition<S, C> {
    Transition {
        from,
        command,
        to,
        guard,
    }
}

const DRAFT: Option<S> = Some(S::Draft);
const REVIEW: Option<S> = Some(S::Review);
const PUBLISHED: Option<S> = Some(S::Published);

/// The article lifecycle. Articles are not records: `decide` refuses with `item_transition`
/// naming the article, never with the nominal `kind` below.
pub(crate) static TABLE: TransitionTable<S, C> = TransitionTable {
    kind: RecordKind::Problem,
    name: "article",
    rows: &[
        row(None, C::Draft, S::Draft, "links not empty"),
        row(DRAFT, C::Revise, S::Draft, "links not empty"),
        row(
            PUBLISHED,
            C::Revise,
            S::Draft,
            "links not empty; next version",
        ),
        row(DRAFT, C::Submit, S::Review, ""),
        row(
            REVIEW,
            C::Approve,
            S::Published,
            "approver is not the author",
        ),
        row(REVIEW, C::Reject, S::Draft, ""),
        row(DRAFT, C::Retire, S::Retired, ""),
        row(REVIEW, C::Retire, S::Retired, ""),
        row(PUBLISHED, C::Retire, S::Retired, ""),
        row(PUBLISHED, C::RecordUse, S::Published, ""),
    ],
};

impl Article {
    /// The article lifecycle table.
    pub fn transitions() -> &'static TransitionTable<S, C> {
        &TABLE
    }
}
