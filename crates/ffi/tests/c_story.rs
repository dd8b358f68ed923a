//! Compiles `tests/c/story.c` with the system C compiler (`cc`, or `$CC`) against the committed
//! header and the static library cargo built next to this test binary, and runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The profile directory (`target/<profile>`) this test binary was built into.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/c_story-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

#[test]
fn the_c_story_compiles_links_and_passes() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `cargo test` leaves the static library it built for this run in `deps/` (only
    // `cargo build` copies it up to the profile directory).
    let lib = ["deps/libopsledger_ffi.a", "libopsledger_ffi.a"]
        .iter()
        .map(|p| profile_dir().join(p))
        .find(|p| p.exists())
        .expect("libopsledger_ffi.a next to the test binary");
    let work = tempfile::tempdir().unwrap();
    let exe = work.path().join("story");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut build = Command::new(&cc);
    build
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("tests/c/story.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .arg("-o")
        .arg(&exe);
    if cfg!(debug_assertions) {
        // The library was built with debug assertions too: its debug functions exist.
        build.arg("-DOPSLEDGER_DEBUG");
    }
    let out = build.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = work.path().join("data");
    let run = Command::new(&exe).arg(&data).output().expect("run story");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "story failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
