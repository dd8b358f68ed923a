//! `include/opsledger.h` is generated from this crate by the pinned cbindgen and committed.
//! These tests fail when the committed header is stale; run with `OPSLEDGER_BLESS=1` to
//! rewrite it: `OPSLEDGER_BLESS=1 cargo test -p opsledger-ffi --test header`.

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("include/opsledger.h")
}

/// The version macros, from Cargo.toml (the package version is the library's version).
fn version_macros() -> String {
    format!(
        "\n#define OPSLEDGER_VERSION_MAJOR {}\n#define OPSLEDGER_VERSION_MINOR {}\n#define OPSLEDGER_VERSION_PATCH {}\n#define OPSLEDGER_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

fn generate() -> String {
    let dir = crate_dir();
    let mut config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_is_current() {
    let generated = generate();
    let path = header_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("OPSLEDGER_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    panic!(
        "{} is stale; run `OPSLEDGER_BLESS=1 cargo test -p opsledger-ffi --test header`",
        path.display()
    );
}

/// The value of `#define NAME value` in `header`.
fn define(header: &str, name: &str) -> Option<String> {
    header.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("#define ")?;
        let (n, value) = rest.split_once(char::is_whitespace)?;
        (n == name).then(|| value.trim().to_string())
    })
}

#[test]
fn header_versions_match_cargo_and_the_library() {
    let header = std::fs::read_to_string(header_path()).expect("read the committed header");
    let expect = [
        ("OPSLEDGER_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("OPSLEDGER_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("OPSLEDGER_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ];
    for (name, value) in expect {
        assert_eq!(define(&header, name).as_deref(), Some(value), "{name}");
    }
    assert_eq!(
        define(&header, "OPSLEDGER_VERSION_STRING"),
        Some(format!("\"{}\"", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        define(&header, "OPSLEDGER_ABI_VERSION"),
        Some(opsledger_ffi::opsledger_abi_version().to_string())
    );
    // The Cargo.toml this crate inherits its version from says the same.
    let manifest = std::fs::read_to_string(crate_dir().join("../../Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))),
        "workspace version"
    );
}
