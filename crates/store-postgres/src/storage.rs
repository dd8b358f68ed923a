//! The shared backend as the engine sees it: the log, the derived spaces and the read-model
//! tables in one PostgreSQL schema, and units of work that are one PostgreSQL transaction.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use opsledger_store::{
    EventStore, IoStats, Kv, Space, SqlTables, Storage, StoreConfig, StoreError, Unit, UnitOfWork,
};
use parking_lot::ReentrantMutexGuard;

use crate::db::{Db, Writer, thread_token};
use crate::lease::Leases;
use crate::{PgKv, PgOptions, PgStore, PgTables};

/// The log, the derived spaces and the SQL tables in one PostgreSQL schema (see the crate
/// documentation).
pub struct PgStorage {
    store: PgStore,
    spaces: [Arc<PgKv>; 3],
    tables: Arc<PgTables>,
    leases: Leases,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl PgStorage {
    /// Connects to the database at `url` and opens (creating if needed) the backend in the
    /// schema of `options`.
    pub fn open(url: &str, config: StoreConfig, options: PgOptions) -> Result<Self, StoreError> {
        let db = Db::open(url, config, options)?;
        let space = |s| Arc::new(PgKv::new(db.clone(), s));
        Ok(Self {
            spaces: [
                space(Space::Views),
                space(Space::Meta),
                space(Space::Snapshots),
            ],
            tables: Arc::new(PgTables::new(db.clone())),
            store: PgStore { db },
            leases: Leases::default(),
        })
    }

    /// The log.
    pub fn store(&self) -> &PgStore {
        &self.store
    }
}

fn index(space: Space) -> usize {
    match space {
        Space::Views => 0,
        Space::Meta => 1,
        Space::Snapshots => 2,
    }
}

/// A unit of work: the writer locked for this thread, a transaction open on it.
struct PgUnit<'a> {
    db: &'a Db,
    guard: ReentrantMutexGuard<'a, std::cell::RefCell<Writer>>,
}

impl PgUnit<'_> {
    /// Leaves one level of nesting; true when this was the outermost.
    fn leave(&self) -> bool {
        let mut writer = self.guard.borrow_mut();
        writer.depth -= 1;
        writer.depth == 0
    }
}

impl UnitOfWork for PgUnit<'_> {
    fn commit(self: Box<Self>, rolled_back: &mut dyn FnMut()) -> Result<(), StoreError> {
        if !self.leave() {
            return if self.guard.borrow().aborted {
                rolled_back();
                Err(StoreError::RolledBack)
            } else {
                Ok(())
            };
        }
        let db = self.db;
        let appended = {
            let mut writer = self.guard.borrow_mut();
            db.owner.store(0, Ordering::Release);
            if std::mem::take(&mut writer.aborted) {
                writer.rollback();
                rolled_back();
                return Err(StoreError::RolledBack);
            }
            match writer.commit() {
                Ok(appended) => appended,
                Err(e) => {
                    rolled_back();
                    return Err(e);
                }
            }
        };
        drop(self.guard);
        if let Some(head) = appended {
            db.acknowledge(head);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) {
        let outermost = self.leave();
        let mut writer = self.guard.borrow_mut();
        if outermost {
            self.db.owner.store(0, Ordering::Release);
            writer.aborted = false;
            writer.rollback();
        } else {
            writer.aborted = true;
        }
    }
}

impl Storage for PgStorage {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn io_stats(&self) -> IoStats {
        self.store.db.io_stats()
    }

    fn log(&self) -> &dyn EventStore {
        &self.store
    }

    fn space(&self, space: Space) -> Arc<dyn Kv> {
        self.spaces[index(space)].clone()
    }

    fn tables(&self) -> Option<Arc<dyn SqlTables>> {
        Some(self.tables.clone())
    }

    fn begin_unit(&self) -> Result<Unit<'_>, StoreError> {
        let db = &*self.store.db;
        db.check_writable()?;
        let guard = db.lock_writer();
        {
            let mut writer = guard.borrow_mut();
            if writer.depth == 0 {
                writer.begin(db)?;
                writer.aborted = false;
                db.owner.store(thread_token(), Ordering::Release);
            }
            writer.depth += 1;
        }
        Ok(Unit::new(Box::new(PgUnit { db, guard })))
    }

    fn transactional_units(&self) -> bool {
        true
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.db.flush()
    }

    fn shared(&self) -> bool {
        true
    }

    fn exclusive(&self, name: &str) -> Result<opsledger_store::Exclusive<'_>, StoreError> {
        self.leases.exclusive(&self.store.db, name)
    }

    fn lease(&self, name: &str) -> Result<bool, StoreError> {
        self.leases.lease(&self.store.db, name)
    }

    fn close(self: Box<Self>, _events_projected: u64) -> Result<(), StoreError> {
        self.leases.release_all();
        self.store.db.close()
    }
}
