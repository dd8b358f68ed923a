//! The core is deterministic: no clock, no randomness, no IO, no threads, and only pure
//! dependencies. These checks read the sources, so a forbidden call fails CI wherever it hides.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).expect("utf-8 source");
            (p, text)
        })
        .collect()
}

#[test]
fn core_sources_never_read_a_clock_draw_randomness_or_do_io() {
    let forbidden = [
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "new_v4",
        "now_v7",
        "new_v7",
        "std::fs",
        "std::net",
        "std::thread",
        "std::process",
        "std::env",
        "std::io",
        "rand::",
        "HashMap",
        "HashSet",
    ];
    let mut hits = Vec::new();
    for (path, text) in sources() {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pat in forbidden {
                if code.contains(pat) {
                    hits.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "forbidden calls in crates/core:\n{}",
        hits.join("\n")
    );
}

#[test]
fn core_depends_only_on_pure_crates() {
    let manifest = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .expect("manifest");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap_or("");
    let allowed = [
        "chrono",
        "chrono-tz",
        "schemars",
        "serde",
        "serde_json",
        // Reads policy documents: text in, values out, no IO.
        "serde_path_to_error",
        "thiserror",
        "toml",
        "uuid",
    ];
    for line in deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        assert!(
            allowed.contains(&name),
            "crates/core depends on {name}, which is not on the pure list"
        );
        if name == "uuid" {
            assert!(
                !line.contains("v4") && !line.contains("v7"),
                "uuid generation features in core: {line}"
            );
        }
        if name == "chrono" {
            assert!(
                !line.contains("clock"),
                "chrono's clock feature in core: {line}"
            );
        }
    }
}

#[test]
fn lifecycle_matches_have_no_wildcard_arms() {
    let mut hits = Vec::new();
    for (path, text) in sources() {
        let p = path.to_string_lossy();
        if !(p.contains("/incident/") || p.contains("/problem/") || p.contains("/change/")) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("").trim_start();
            if code.starts_with("_ =>") || code.starts_with("_ if ") {
                hits.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "wildcard arms in lifecycle code:\n{}",
        hits.join("\n")
    );
}
