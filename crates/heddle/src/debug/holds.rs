//! The locks each thread holds, recorded only while [`track_holds`](super::track_holds)
//! is on.
//!
//! A lock word already records its holder (the cycle detector follows it), but not the
//! other way round: which locks a given thread holds. Keeping that for every thread
//! would cost every acquisition a store, so it is opt-in: while on, acquisitions take
//! the instrumented path (the same one byte the fast path reads anyway decides it), mark
//! the word `TRACKED`, and land here; their releases come back through the `TRACKED`
//! bit. Off, nothing here runs, and the dump shows the holds it can see without it:
//! the holders of every lock some thread waits for.

use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::wait::Object;

/// A recorded hold: the lock and where it was taken.
pub(super) type Hold = (Object, &'static Location<'static>);

/// One thread's recorded holds, innermost last.
pub(super) struct Holds {
    pub(super) name: String,
    pub(super) holds: Vec<Hold>,
}

static HOLDS: Mutex<BTreeMap<u64, Holds>> = parking_lot::const_mutex(BTreeMap::new());
/// Holds recorded: a release with nothing recorded returns after one load.
static RECORDED: AtomicUsize = AtomicUsize::new(0);

/// Thread `me` took `object` at `at` (called by an instrumented acquisition).
#[cold]
pub(crate) fn held(me: u64, object: Object, at: &'static Location<'static>) {
    let mut all = HOLDS.lock();
    let entry = all.entry(me).or_insert_with(|| Holds {
        name: crate::thread::current().name().to_string(),
        holds: Vec::new(),
    });
    entry.holds.push((object, at));
    RECORDED.fetch_add(1, Ordering::Relaxed);
}

/// Thread `me` released the lock at `addr` (called by a `TRACKED` release).
#[inline]
pub(crate) fn released(me: u64, addr: usize) {
    if RECORDED.load(Ordering::Relaxed) != 0 {
        forget(me, addr);
    }
}

#[cold]
fn forget(me: u64, addr: usize) {
    let mut all = HOLDS.lock();
    let Some(entry) = all.get_mut(&me) else {
        return;
    };
    if let Some(i) = entry.holds.iter().rposition(|(o, _)| o.addr == addr) {
        entry.holds.remove(i);
        RECORDED.fetch_sub(1, Ordering::Relaxed);
    }
    if entry.holds.is_empty() {
        all.remove(&me);
    }
}

/// Every recorded hold: `(thread id, thread name, holds)`.
pub(super) fn snapshot() -> Vec<(u64, String, Vec<Hold>)> {
    HOLDS
        .lock()
        .iter()
        .map(|(&id, h)| (id, h.name.clone(), h.holds.clone()))
        .collect()
}
