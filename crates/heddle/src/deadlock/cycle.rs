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
use std::sync::Arc;

use parking_lot::Mutex;

use super::report::{DeadlockKind, DeadlockReport};
use crate::sync::RawLockRef;
use crate::wait::parker::Parker;
use crate::wait::{local, short};

struct Waiting {
    lock: RawLockRef,
    at: &'static Location<'static>,
    timed: bool,
    /// Waits for exclusive access (a `Lock`, an `RLock`, an `RwLock` write); `false` for
    /// an `RwLock` read.
    exclusive: bool,
    /// The `RwLock` read holds of the waiting thread (see `reads`): blocked, it cannot
    /// release them, so a writer waiting for one of those locks waits for this thread.
    reads: Vec<(usize, &'static Location<'static>)>,
    name: String,
    /// The waiting thread's parker: once a notifier has taken it off the lock's queue
    /// (a hand-off, a retry), it is no longer blocked, although it stays registered
    /// until it runs again.
    parker: Arc<Parker>,
    /// Its cycle was already reported and the action did not unwind: no longer an
    /// edge (the cycle is not reported again), but still shown as the untimed wait it
    /// is in thread dumps.
    reported: bool,
}

static WAITS: Mutex<Option<HashMap<u64, Waiting>>> = parking_lot::const_mutex(None);

/// A thread's registration as waiting for a lock; removed on drop.
pub(crate) struct LockWait {
    id: u64,
}

impl LockWait {
    /// Register the calling thread as about to wait for `lock` (from `at`; `exclusive`
    /// unless it is an `RwLock` read); if that closes a cycle, act on the report (by
    /// default: panic, before sleeping).
    pub(crate) fn register(
        lock: &dyn crate::sync::Owned,
        at: &'static Location<'static>,
        timed: bool,
        exclusive: bool,
    ) -> Option<LockWait> {
        Self::register_as(lock, at, timed, exclusive, false)
    }

    fn register_as(
        lock: &dyn crate::sync::Owned,
        at: &'static Location<'static>,
        timed: bool,
        exclusive: bool,
        reported: bool,
    ) -> Option<LockWait> {
        if crate::check::active() {
            // The checker reports deadlocks of its own executions, with the trace.
            return None;
        }
        let id = local::thread_id();
        let name = crate::thread::current().name().to_string();
        let reads = super::reads::snapshot();
        let parker = Parker::current();
        parker.clear_dequeued();
        let report = {
            let mut guard = WAITS.lock();
            let waits = guard.get_or_insert_with(HashMap::new);
            waits.insert(
                id,
                Waiting {
                    lock: RawLockRef::new(lock),
                    at,
                    timed,
                    exclusive,
                    reads,
                    name,
                    parker,
                    reported,
                },
            );
            if timed || reported {
                None
            } else {
                find_cycle(waits, id)
            }
        };
        let registration = LockWait { id };
        if let Some((mut report, involved)) = report {
            report.set_location(at);
            // The dump of the threads in the cycle (taken outside the mutex, while
            // this thread is still registered as waiting).
            report.append(&crate::debug::dump_of(&involved).to_string());
            drop(registration);
            super::act(report);
            // A non-panicking action: keep waiting, registered again.
            return LockWait::register_as(lock, at, timed, exclusive, true);
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

/// Before `fork()`: hold the table, so that the child gets it whole.
pub(crate) fn fork_prepare() {
    std::mem::forget(WAITS.lock());
}

/// After `fork()`, in the parent: let go of the table.
pub(crate) fn fork_parent() {
    // SAFETY: `fork_prepare` locked it on this thread and forgot the guard.
    unsafe { WAITS.force_unlock() };
}

/// After `fork()`, in the child: the forking thread was running, not waiting, and every
/// other registered waiter is a parent thread the child does not have: empty the table
/// (a lock still held by one of them stays held, but no cycle runs through it).
pub(crate) fn fork_child() {
    // SAFETY: `fork_prepare` locked it on this thread (the one the child continues).
    let waits = unsafe { &mut *WAITS.data_ptr() };
    if let Some(waits) = waits.as_mut() {
        waits.clear();
    }
    // SAFETY: as above.
    unsafe { WAITS.force_unlock() };
}

/// How thread `id`'s lock wait reads in an all-asleep report, if it is registered as
/// waiting for a lock (lock waits carry no `WaitFor` of their own). `name_of` names the
/// holder, who need not be waiting for a lock.
/// Where thread `id` called the lock it is registered as waiting for, if it is.
pub(super) fn waiting_at(id: u64) -> Option<&'static Location<'static>> {
    WAITS.lock().as_ref()?.get(&id).map(|w| w.at)
}

pub(super) fn describe(id: u64, name_of: impl Fn(u64) -> Option<String>) -> Option<String> {
    let guard = WAITS.lock();
    let waits = guard.as_ref()?;
    let w = waits.get(&id)?;
    // SAFETY: as in `find_cycle`: registered, and we hold the mutex.
    let lock = unsafe { w.lock.get() };
    let owner = lock.owner();
    let name = |id: u64| match name_of(id) {
        Some(name) => format!("'{name}' (ident {id})"),
        None => format!("ident {id}"),
    };
    let holder = if owner != 0 {
        format!(
            "held by {}, taken at {}",
            name(owner),
            lock.taken_at().map_or_else(|| "?".to_string(), short)
        )
    } else {
        let readers: Vec<String> = read_holders(waits, lock.object().addr)
            .map(|(r, at)| format!("{} (read at {})", name(r), short(at)))
            .collect();
        if readers.is_empty() {
            "held by nobody (just released)".to_string()
        } else {
            format!("read-held by {}", readers.join(", "))
        }
    };
    Some(format!(
        "{} on {} at {}, {holder}",
        if w.exclusive { "lock" } else { "read lock" },
        lock.object(),
        short(w.at),
    ))
}

/// Why one waiting thread waits for the next in a cycle.
#[derive(Clone, Copy)]
enum Edge {
    /// The next thread holds the lock exclusively.
    Holds,
    /// The next thread holds it for reading (taken there) and this one waits to write.
    ReadHolds(&'static Location<'static>),
    /// This one waits to read; the next is a writer queued for the lock, which the
    /// policy lets in first.
    QueuedWriter,
}

/// Blocked threads that published a read hold on the lock at `addr`, with where they
/// took it.
fn read_holders(
    waits: &HashMap<u64, Waiting>,
    addr: usize,
) -> impl Iterator<Item = (u64, &'static Location<'static>)> + '_ {
    waits.iter().filter_map(move |(&id, w)| {
        w.reads
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|&(_, at)| (id, at))
    })
}

/// The threads `id` waits for: the lock's exclusive holder; else, for a writer, the
/// blocked threads that hold it for reading; else, for a reader held back by waiting
/// writers (policies that prefer them), those writers. A timed wait waits for nobody:
/// it ends on its own.
fn successors(waits: &HashMap<u64, Waiting>, id: u64) -> Vec<(u64, Edge)> {
    let Some(w) = waits.get(&id) else {
        return Vec::new();
    };
    if w.timed || w.reported || w.parker.dequeued() {
        return Vec::new();
    }
    // SAFETY: a registered lock is alive: its waiter borrows it until it deregisters,
    // which needs the mutex our caller holds.
    let lock = unsafe { w.lock.get() };
    let owner = lock.owner();
    if owner != 0 {
        return vec![(owner, Edge::Holds)];
    }
    let addr = lock.object().addr;
    if w.exclusive {
        read_holders(waits, addr)
            .map(|(r, at)| (r, Edge::ReadHolds(at)))
            .collect()
    } else if lock.readers_wait_for_waiting_writers() {
        waits
            .iter()
            .filter(|(_, o)| {
                o.exclusive
                    && !o.timed
                    && !o.reported
                    // SAFETY: as above.
                    && unsafe { o.lock.get() }.object().addr == addr
            })
            .map(|(&o, _)| (o, Edge::QueuedWriter))
            .collect()
    } else {
        Vec::new()
    }
}

/// A cycle of waits through `me`, found by depth-first search: `me` just registered,
/// so any cycle that exists now and did not before goes through it (others were
/// reported by whoever closed them).
fn find_cycle(waits: &HashMap<u64, Waiting>, me: u64) -> Option<(DeadlockReport, Vec<u64>)> {
    let mut path: Vec<(u64, Edge)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<(u64, Vec<(u64, Edge)>)> = vec![(me, successors(waits, me))];
    seen.insert(me);
    while let Some((node, next)) = stack.last_mut() {
        let node = *node;
        let Some((succ, edge)) = next.pop() else {
            stack.pop();
            path.pop();
            continue;
        };
        if succ == me {
            let mut cycle: Vec<(u64, Edge)> = path.clone();
            cycle.push((node, edge));
            let involved = cycle.iter().map(|&(id, _)| id).collect();
            return Some((report(waits, &cycle), involved));
        }
        if seen.insert(succ) {
            path.push((node, edge));
            stack.push((succ, successors(waits, succ)));
        }
    }
    None
}

fn report(waits: &HashMap<u64, Waiting>, cycle: &[(u64, Edge)]) -> DeadlockReport {
    let mut text = if cycle.len() == 1 {
        match cycle[0].1 {
            Edge::ReadHolds(_) => "heddle: DEADLOCK: a thread waits to write an RwLock it holds \
                                   for reading (a read lock cannot be upgraded; release it first):\n"
                .to_string(),
            // A `Lock` is not re-entrant: taking it again in its holder waits for ever.
            _ => "heddle: DEADLOCK: a thread waits for a lock it holds itself (a Lock is not \
                  re-entrant; use an RLock, or release it first):\n"
                .to_string(),
        }
    } else {
        format!(
            "heddle: DEADLOCK: {} threads wait for each other's locks (the cycle just closed):\n",
            cycle.len()
        )
    };
    for (i, &(id, edge)) in cycle.iter().enumerate() {
        let w = &waits[&id];
        // SAFETY: as in `successors`: registered, and we hold the mutex.
        let lock = unsafe { w.lock.get() };
        let next = &waits[&cycle[(i + 1) % cycle.len()].0];
        let _ = match edge {
            Edge::Holds => writeln!(
                text,
                "  '{}' (ident {id}) waits for {} at {}, held by '{}' (taken at {})",
                w.name,
                lock.object(),
                short(w.at),
                next.name,
                lock.taken_at().map_or_else(|| "?".to_string(), short),
            ),
            Edge::ReadHolds(read_at) => writeln!(
                text,
                "  '{}' (ident {id}) waits to write {} at {}, held for reading by '{}' (read at {})",
                w.name,
                lock.object(),
                short(w.at),
                next.name,
                short(read_at),
            ),
            Edge::QueuedWriter => writeln!(
                text,
                "  '{}' (ident {id}) waits to read {} at {}, behind '{}', a writer waiting for it \
                 since {} (the lock's policy lets no new reader in while a writer waits)",
                w.name,
                lock.object(),
                short(w.at),
                next.name,
                short(next.at),
            ),
        };
    }
    text.push_str(if cycle.len() == 1 {
        "  fix: release the lock before taking it again\n"
    } else {
        "  fix: take these locks in one global order (or use try_lock / lock_timeout and back off)\n"
    });
    DeadlockReport::new(DeadlockKind::LockCycle, text)
}

/// A registered lock wait, as the thread dump shows it.
#[derive(Debug, Clone)]
pub(crate) struct LockWaitView {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) object: crate::wait::Object,
    pub(crate) at: &'static Location<'static>,
    pub(crate) timed: bool,
    pub(crate) exclusive: bool,
    /// The lock's exclusive holder (0: none) and where it took it.
    pub(crate) owner: u64,
    pub(crate) owner_taken_at: Option<&'static Location<'static>>,
    /// The waiting thread's published `RwLock` read holds.
    pub(crate) reads: Vec<(usize, &'static Location<'static>)>,
}

/// Every registered lock wait (thread dump hook: one pass under the detector's mutex).
pub(crate) fn snapshot() -> Vec<LockWaitView> {
    let guard = WAITS.lock();
    let Some(waits) = guard.as_ref() else {
        return Vec::new();
    };
    waits
        .iter()
        .map(|(&id, w)| {
            // SAFETY: as in `find_cycle`: registered, and we hold the mutex.
            let lock = unsafe { w.lock.get() };
            let owner = lock.owner();
            LockWaitView {
                id,
                name: w.name.clone(),
                object: lock.object(),
                at: w.at,
                timed: w.timed,
                exclusive: w.exclusive,
                owner,
                owner_taken_at: if owner != 0 { lock.taken_at() } else { None },
                reads: w.reads.clone(),
            }
        })
        .collect()
}
