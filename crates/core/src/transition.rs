//! Transition tables: each lifecycle's allowed (state, command) -> state moves, kept as data in
//! one place so that `decide`, the tests and the generated diagrams all read the same table.

use crate::error::DomainError;
use crate::ids::RecordKind;
use std::fmt::{self, Write as _};

/// A fieldless enum naming a lifecycle's states or commands.
pub trait Named: Copy + Eq + fmt::Debug + 'static {
    /// Every value, in a stable order.
    const ALL: &'static [Self];
    /// Stable name (`in_progress`, `resolve`).
    fn name(self) -> &'static str;
}

/// One allowed move. `from: None` means "the record does not exist yet" (a creating command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<S: 'static, C: 'static> {
    /// State before, or `None` for a creating command.
    pub from: Option<S>,
    /// Command that moves it.
    pub command: C,
    /// State after (may equal `from` for commands that keep the state).
    pub to: S,
    /// Guard in words, or `""` when unconditional. Several rows for the same `(from, command)`
    /// differ by guard.
    pub guard: &'static str,
}

/// A lifecycle's full table.
#[derive(Debug, Clone, Copy)]
pub struct TransitionTable<S: 'static, C: 'static> {
    /// Which kind of record.
    pub kind: RecordKind,
    /// Name used for headings and file names (`incident`, `incident_major`).
    pub name: &'static str,
    /// Every allowed move.
    pub rows: &'static [Transition<S, C>],
}

impl<S: Named, C: Named> TransitionTable<S, C> {
    /// Whether `cmd` is accepted in `from`.
    pub fn allows(&self, from: Option<S>, cmd: C) -> bool {
        self.rows.iter().any(|t| t.from == from && t.command == cmd)
    }

    /// Every state `cmd` may lead to from `from` (several when guards differ).
    pub fn targets(&self, from: Option<S>, cmd: C) -> impl Iterator<Item = S> + '_ {
        self.rows
            .iter()
            .filter(move |t| t.from == from && t.command == cmd)
            .map(|t| t.to)
    }

    /// `Ok(())` when the table allows `cmd` in `from`, else [`DomainError::InvalidTransition`].
    pub fn check(&self, from: Option<S>, cmd: C) -> Result<(), DomainError> {
        if self.allows(from, cmd) {
            Ok(())
        } else {
            Err(DomainError::InvalidTransition {
                kind: self.kind,
                state: from.map_or("none", Named::name).to_owned(),
                command: cmd.name().to_owned(),
            })
        }
    }

    /// The table as a Mermaid `stateDiagram-v2`. Commands that keep the state are listed in a
    /// note per state instead of as self-loops, which keeps the diagram readable.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "stateDiagram-v2");
        let mut edges: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut keeps: Vec<(S, Vec<String>)> = Vec::new();
        for t in self.rows {
            let label = if t.guard.is_empty() {
                t.command.name().to_owned()
            } else {
                format!("{} [{}]", t.command.name(), t.guard)
            };
            if t.from == Some(t.to) {
                match keeps.iter_mut().find(|(s, _)| *s == t.to) {
                    Some((_, labels)) => push_unique(labels, label),
                    None => keeps.push((t.to, vec![label])),
                }
                continue;
            }
            let from = t.from.map_or("[*]".to_owned(), |s| s.name().to_owned());
            let to = t.to.name().to_owned();
            match edges.iter_mut().find(|(f, x, _)| *f == from && *x == to) {
                Some((_, _, labels)) => push_unique(labels, label),
                None => edges.push((from, to, vec![label])),
            }
        }
        for (from, to, labels) in &edges {
            let _ = writeln!(out, "    {from} --> {to}: {}", labels.join(", "));
        }
        for (state, labels) in &keeps {
            let _ = writeln!(
                out,
                "    note right of {}\n        keeps state: {}\n    end note",
                state.name(),
                labels.join(", ")
            );
        }
        out
    }

    /// The table as a Markdown table (from, command, guard, to).
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| from | command | guard | to |\n|---|---|---|---|\n");
        for t in self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.from.map_or("(none)", Named::name),
                t.command.name(),
                if t.guard.is_empty() { "" } else { t.guard },
                t.to.name()
            );
        }
        out
    }
}

fn push_unique(labels: &mut Vec<String>, label: String) {
    if !labels.contains(&label) {
        labels.push(label);
    }
}
