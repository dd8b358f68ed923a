//! Opening, closing and reopening a data directory.

use crate::support::*;
use opsledger_ffi::OpsledgerStatus;
use serde_json::json;

#[test]
fn a_data_directory_is_released_by_close_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"data_dir": dir.path(), "durability": "buffered"});
    let first = open(config.clone());
    // sled locks the directory: a second engine on it cannot open while the first is open.
    let (st, message) = open_raw(config.to_string().as_bytes())
        .err()
        .expect("the directory is in use");
    assert_eq!(st, OpsledgerStatus::OpenFailed, "{message}");
    assert_eq!(first.close(), OpsledgerStatus::Ok);
    let again = open(config);
    assert_eq!(again.close(), OpsledgerStatus::Ok);
}

#[test]
fn every_durability_mode_opens() {
    for mode in ["buffered", "per_commit", "group_commit"] {
        let dir = tempfile::tempdir().unwrap();
        let h = open(json!({"data_dir": dir.path(), "durability": mode}));
        assert_eq!(h.close(), OpsledgerStatus::Ok, "{mode}");
    }
}
