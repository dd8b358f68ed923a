//! A consistent copy of a live database with SQLite's online backup API.

use std::path::Path;
use std::time::{Duration, Instant};

use opsledger_store::StoreError;
use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags};

use crate::db::{Db, sql_error};
use crate::storage::DATABASE_FILE;

/// Copies the database behind `db` into a new data directory `to` (which must not exist):
/// into `<to>.partial` first, renamed to `to` once complete and synced, so a copy that was
/// interrupted is never mistaken for a good one.
pub(crate) fn backup(db: &Db, to: &Path) -> Result<(), StoreError> {
    // `out/` and `out` are the same target (a trailing separator would put the copy inside).
    let to: std::path::PathBuf = to.components().collect();
    let to = to.as_path();
    if to.as_os_str().is_empty() {
        return Err(StoreError::InvalidInput(
            "a backup needs a target directory".into(),
        ));
    }
    if to.exists() {
        return Err(StoreError::InvalidInput(format!(
            "{} exists already; a backup goes to a new directory",
            to.display()
        )));
    }
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    if partial.exists() {
        // Never deleted here: it may be another backup in progress, or someone's directory.
        return Err(StoreError::InvalidInput(format!(
            "{} exists (an interrupted or running backup?); remove it, or choose another target",
            partial.display()
        )));
    }
    std::fs::create_dir_all(&partial)?;
    let result = copy(db, &partial.join(DATABASE_FILE)).and_then(|()| {
        std::fs::rename(&partial, to)?;
        if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}

fn copy(db: &Db, target: &Path) -> Result<(), StoreError> {
    // A connection of its own: the copy reads one snapshot of the database while the writer
    // goes on.
    let source = Connection::open_with_flags(
        &db.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_error)?;
    let mut destination = Connection::open(target).map_err(sql_error)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut destination).map_err(sql_error)?;
        // Every page in one step (`-1`; `run_to_completion` refuses it with a panic): the copy
        // is one read transaction, so one snapshot. A step that finds the source locked by
        // another process is retried for as long as the busy timeout allows.
        let deadline = Instant::now() + db.options.busy_timeout;
        loop {
            match backup.step(-1).map_err(sql_error)? {
                StepResult::Done => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    return Err(StoreError::Backend(format!(
                        "{} stayed locked by another connection; the backup gave up",
                        db.path.display()
                    )));
                }
            }
        }
    }
    destination
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(sql_error)?;
    destination
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(sql_error)?;
    drop(destination);
    std::fs::File::open(target)?.sync_all()?;
    Ok(())
}
