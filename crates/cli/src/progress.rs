//! Progress bars on stderr, shown only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A bar counting `total` events, labelled `what`; hidden when stderr is not a terminal (pipes,
/// CI, tests), so scripted runs print nothing but their results.
pub fn events(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {human_pos}/{human_len} events ({rate}, {eta} left)",
    )
    .map(|s| s.progress_chars("=> ").with_key("rate", rate))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// A spinner for a step without a count; hidden when stderr is not a terminal.
pub fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    // The default style is a bar with a count, which a step without one would draw as `0/0`.
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Events per second as a whole number with its unit: `1057 events/s`.
fn rate(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{}", rate_text(state.per_sec()));
}

fn rate_text(per_sec: f64) -> String {
    if per_sec.is_finite() && per_sec >= 0.0 {
        // A whole number of events per second, rounded.
        let whole = per_sec.round() as u64;
        format!("{whole} events/s")
    } else {
        "- events/s".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::rate_text;

    #[test]
    fn rates_are_whole_numbers_with_their_unit() {
        assert_eq!(rate_text(1_057.698_6), "1058 events/s");
        assert_eq!(rate_text(0.2), "0 events/s");
        assert_eq!(rate_text(f64::NAN), "- events/s");
        assert_eq!(rate_text(f64::INFINITY), "- events/s");
    }
}
