//! The durable-head mark: a tiny file beside sled's, recording a position known durable.
//!
//! Why: when sled 0.34 meets a damaged message while replaying its log at open, it treats it
//! as the end of the log and truncates there, silently dropping everything after it. The store
//! cannot see that from inside sled, so it keeps its own witness outside sled's log: on open,
//! a log shorter than the mark means durable events were lost, and the open fails with a typed
//! error instead of serving a silently shortened history. The mark is written atomically
//! (temp file, fsync, rename, fsync of the directory) at open, at close and about once a second
//! while appends become durable, so the loss it can miss is bounded to about a second of
//! appends before the damage.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use opsledger_store::StoreError;

pub(super) const MARK_FILE: &str = "opsledger.mark";
const MAGIC: &[u8; 8] = b"OPSLMARK";

/// The recorded durable head, if a mark exists.
pub(super) fn read(dir: &Path) -> Result<Option<u64>, StoreError> {
    let bytes = match std::fs::read(dir.join(MARK_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let damaged = || StoreError::Corrupt {
        position: None,
        reason: format!("{MARK_FILE} is damaged"),
    };
    if bytes.len() != 20 || &bytes[..8] != MAGIC {
        return Err(damaged());
    }
    let crc = u32::from_le_bytes(bytes[16..20].try_into().map_err(|_| damaged())?);
    if crc32fast::hash(&bytes[..16]) != crc {
        return Err(damaged());
    }
    Ok(Some(u64::from_le_bytes(
        bytes[8..16].try_into().map_err(|_| damaged())?,
    )))
}

/// Atomically replaces the mark with `position`.
pub(super) fn write(dir: &Path, position: u64) -> Result<(), StoreError> {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&position.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(format!("{MARK_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(MARK_FILE))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}
