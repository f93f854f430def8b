//! Always-on wait-for cycle detection for locks with an owner.
//!
//! A thread about to sleep on a lock registers "I wait for this lock" in one global
//! table and, under the same mutex, follows owner → what the owner waits for → its
//! owner … The table is only touched on the slow path (a thread that is about to park
//! anyway), and since every registration and every walk hold the mutex, of two threads
//! closing a cycle at the same moment the second to walk always sees the first: the
//! cycle is reported the moment it closes, by the thread that closed it.
//!
//! Timed waits are not edges: they will end on their own.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::Location;

use parking_lot::Mutex;

use super::report::{DeadlockKind, DeadlockReport};
use crate::sync::RawLockRef;
use crate::wait::{local, short};

struct Waiting {
    lock: RawLockRef,
    at: &'static Location<'static>,
    timed: bool,
    name: String,
}

static WAITS: Mutex<Option<HashMap<u64, Waiting>>> = parking_lot::const_mutex(None);

/// A thread's registration as waiting for a lock; removed on drop.
pub(crate) struct LockWait {
    id: u64,
}

impl LockWait {
    /// Register the calling thread as about to wait for `lock` (from `at`); if that
    /// closes a cycle, act on the report (by default: panic, before sleeping).
    pub(crate) fn register(
        lock: &dyn crate::sync::Owned,
        at: &'static Location<'static>,
        timed: bool,
    ) -> Option<LockWait> {
        if crate::check::active() {
            // The checker reports deadlocks of its own executions, with the trace.
            return None;
        }
        let id = local::thread_id();
        let name = crate::thread::current().name().to_string();
        let report = {
            let mut guard = WAITS.lock();
            let waits = guard.get_or_insert_with(HashMap::new);
            waits.insert(
                id,
                Waiting {
                    lock: RawLockRef::new(lock),
                    at,
                    timed,
                    name,
                },
            );
            if timed {
                None
            } else {
                find_cycle(waits, id)
            }
        };
        let registration = LockWait { id };
        if let Some(report) = report {
            drop(registration);
            super::act(report);
            // A non-panicking action: keep waiting, registered again.
            return LockWait::register(lock, at, true);
        }
        Some(registration)
    }
}

impl Drop for LockWait {
    fn drop(&mut self) {
        if let Some(waits) = WAITS.lock().as_mut() {
            waits.remove(&self.id);
        }
    }
}

/// How thread `id`'s lock wait reads in an all-asleep report, if it is registered as
/// waiting for a lock (lock waits carry no `WaitFor` of their own). `name_of` names the
/// holder, who need not be waiting for a lock.
pub(super) fn describe(id: u64, name_of: impl Fn(u64) -> Option<String>) -> Option<String> {
    let guard = WAITS.lock();
    let w = guard.as_ref()?.get(&id)?;
    // SAFETY: as in `find_cycle`: registered, and we hold the mutex.
    let lock = unsafe { w.lock.get() };
    let owner = lock.owner();
    let holder = match name_of(owner) {
        Some(name) => format!("'{name}' (ident {owner})"),
        None if owner == 0 => "nobody (just released)".to_string(),
        None => format!("ident {owner}"),
    };
    Some(format!(
        "lock on {} at {}, held by {holder}, taken at {}",
        lock.object(),
        short(w.at),
        lock.taken_at().map_or_else(|| "?".to_string(), short),
    ))
}

fn find_cycle(waits: &HashMap<u64, Waiting>, me: u64) -> Option<DeadlockReport> {
    let mut path = vec![me];
    let mut current = &waits[&me];
    loop {
        // SAFETY: a registered lock is alive: its waiter borrows it until it
        // deregisters, which needs the mutex we hold.
        let owner = unsafe { current.lock.get() }.owner();
        if owner == 0 || current.timed {
            return None;
        }
        if owner == me {
            return Some(report(waits, &path));
        }
        if path.contains(&owner) {
            return None; // a cycle that does not go through us: its closer reports it
        }
        current = waits.get(&owner)?;
        path.push(owner);
    }
}

fn report(waits: &HashMap<u64, Waiting>, path: &[u64]) -> DeadlockReport {
    let mut text = if path.len() == 1 {
        // A `Lock` is not re-entrant: taking it again in its holder waits for ever.
        "heddle: DEADLOCK: a thread waits for a lock it holds itself (a Lock is not \
         re-entrant; use an RLock, or release it first):\n"
            .to_string()
    } else {
        format!(
            "heddle: DEADLOCK: {} threads wait for each other's locks (the cycle just closed):\n",
            path.len()
        )
    };
    for (i, id) in path.iter().enumerate() {
        let w = &waits[id];
        // SAFETY: as in `find_cycle`: registered, and we hold the mutex.
        let lock = unsafe { w.lock.get() };
        let holder = &waits[&path[(i + 1) % path.len()]];
        let _ = writeln!(
            text,
            "  '{}' (ident {id}) waits for {} at {}, held by '{}' (taken at {})",
            w.name,
            lock.object(),
            short(w.at),
            holder.name,
            lock.taken_at().map_or_else(|| "?".to_string(), short),
        );
    }
    text.push_str(if path.len() == 1 {
        "  fix: release the lock before taking it again\n"
    } else {
        "  fix: take these locks in one global order (or use try_lock / lock_timeout and back off)\n"
    });
    DeadlockReport::new(DeadlockKind::LockCycle, text)
}
