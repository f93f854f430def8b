//! Seeing a running program: the thread dump.
//!
//! [`dump()`] is what `jstack` is to the JVM: every live heddle thread, its state
//! (running, waiting, sleeping), the object it waits on (kind, creation site, the call
//! that waits, with a timeout or not) and the locks it holds, with where each was
//! taken. `Display` prints it in jstack's layout. Deadlock reports (a lock cycle, every
//! thread asleep) end with the dump of the threads involved; a program can print it on
//! a signal with [`dump_on_signal`]; `heddle demo` draws its live view from it.
//!
//! # Where the facts come from, and what they cost
//!
//! Nothing on a fast path records anything for the dump. The facts are those the wait
//! seam and the deadlock detector keep anyway, read when a dump is asked for:
//!
//! * the threads: heddle's registry (`thread::enumerate`), plus any other thread that
//!   is in a heddle wait;
//! * what a thread waits for: a thread about to sleep on a lock registers with the
//!   cycle detector (lock, call site, timed or not, the lock's holder from the lock
//!   word); any other wait (condition, semaphore, queue, event, barrier, join, sleep)
//!   is recorded on the thread's parker by the seam's slow path;
//! * what a thread holds: the holder of every lock someone waits for (the lock word
//!   names it, with where it took it), and the `RwLock` read holds a blocked thread
//!   published. For *every* lock of every thread, turn on [`track_holds`]: like
//!   lock-order mode, it sends acquisitions down the instrumented path while on.
//!
//! The dump is a snapshot taken without stopping the threads: a thread may move on
//! while it is read, so two threads can briefly disagree (a lock shown free that its
//! waiter still waits for).
//!
//! ```
//! use heddle::debug::{self, ThreadState};
//! use heddle::sync::Lock;
//! use heddle::thread::Thread;
//! use std::sync::Arc;
//!
//! let lock = Arc::new(Lock::new(0));
//! let held = lock.lock();
//! let l = Arc::clone(&lock);
//! let t = Thread::new(move || *l.lock() += 1).name("blocked").start();
//! // Wait until the thread is asleep on the lock.
//! let dump = loop {
//!     let dump = debug::dump();
//!     if dump.thread("blocked").is_some_and(|t| t.state == ThreadState::Waiting) {
//!         break dump;
//!     }
//!     std::thread::yield_now();
//! };
//! let waiting = dump.thread("blocked").unwrap().waiting.as_ref().unwrap();
//! assert_eq!((waiting.operation, waiting.kind), ("lock", "Lock"));
//! println!("{dump}");
//! drop(held);
//! t.join().unwrap();
//! ```

mod holds;
mod signal;

use std::collections::BTreeMap;
use std::fmt;
use std::panic::Location;

pub(crate) use holds::{held, released};
pub(crate) use signal::signal_threads;
pub use signal::{dump_on_signal, DumpSignal};

use crate::deadlock::cycle;
use crate::wait::parker::Parker;
use crate::wait::{observe, short, Object};

/// What a thread is doing.
///
/// ```
/// use heddle::debug::ThreadState;
/// assert_eq!(ThreadState::Waiting.to_string(), "WAITING");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadState {
    /// Not in a heddle wait (it may be computing, or blocked outside heddle).
    Running,
    /// In a heddle wait: for a lock, a condition, a permit, an item, an event, a
    /// barrier, a join (see [`ThreadDump::waiting`]).
    Waiting,
    /// In [`heddle::thread::sleep`](crate::thread::sleep).
    Sleeping,
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadState::Running => "RUNNING",
            ThreadState::Waiting => "WAITING",
            ThreadState::Sleeping => "SLEEPING",
        })
    }
}

/// What a waiting thread waits for.
///
/// ```
/// # fn show(w: &heddle::debug::Waiting) {
/// println!("{} on {} at {}{}", w.operation, w.kind, w.at, if w.timed { " (timed)" } else { "" });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The operation: `lock`, `read lock`, `wait`, `acquire`, `get`, `put`, `join`,
    /// `sleep`…
    pub operation: &'static str,
    /// The object's kind: `Lock`, `RLock`, `RwLock`, `Condition`, `Semaphore`, `Queue`…
    pub kind: &'static str,
    /// Where the object was created, if known.
    pub created: Option<&'static Location<'static>>,
    /// The object's address: two waits with equal addresses wait on one object.
    pub address: usize,
    /// The call that waits.
    pub at: &'static Location<'static>,
    /// Whether the wait has a timeout.
    pub timed: bool,
    /// For a lock wait: the idents of the threads holding the lock (empty if it was
    /// just released, or for waits without an owner).
    pub held_by: Vec<u64>,
}

/// A lock a thread holds.
///
/// ```
/// # fn show(h: &heddle::debug::Held) {
/// println!("{} taken at {:?}", h.kind, h.taken_at);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Held {
    /// `Lock`, `RLock`, `RwLock`…
    pub kind: &'static str,
    /// Where the lock was created, if known.
    pub created: Option<&'static Location<'static>>,
    /// The lock's address.
    pub address: usize,
    /// Where it was taken, if known.
    pub taken_at: Option<&'static Location<'static>>,
    /// Held for reading (an `RwLock` read hold), not exclusively.
    pub read: bool,
}

/// One thread in a [`Dump`].
///
/// ```
/// let dump = heddle::debug::dump();
/// let me = &dump.threads()[0];
/// assert_eq!(me.name, "MainThread");
/// ```
#[derive(Debug, Clone)]
pub struct ThreadDump {
    /// The thread's name (`"MainThread"`, the name given to `Thread::name`, …).
    pub name: String,
    /// heddle's thread id (`ThreadInfo::ident`, the id lock words record).
    pub ident: u64,
    /// The OS thread id, for threads heddle lists (0 if unknown).
    pub native_id: u64,
    /// Whether it is a daemon thread.
    pub daemon: bool,
    /// Running, waiting or sleeping.
    pub state: ThreadState,
    /// What it waits for, when waiting or sleeping.
    pub waiting: Option<Waiting>,
    /// The locks it holds, oldest first: every lock while [`track_holds`] is on,
    /// otherwise those some thread waits for.
    pub holds: Vec<Held>,
}

/// Every live heddle thread: see the [module docs](self).
///
/// ```
/// let dump = heddle::debug::dump();
/// assert!(dump.to_string().starts_with("heddle thread dump"));
/// ```
#[derive(Debug, Clone)]
pub struct Dump {
    threads: Vec<ThreadDump>,
    holds_tracked: bool,
}

impl Dump {
    /// The threads: the main thread and heddle's threads in start order, then any
    /// other thread seen in a heddle wait.
    ///
    /// ```
    /// assert!(!heddle::debug::dump().threads().is_empty());
    /// ```
    pub fn threads(&self) -> &[ThreadDump] {
        &self.threads
    }

    /// The first thread called `name`.
    ///
    /// ```
    /// assert!(heddle::debug::dump().thread("MainThread").is_some());
    /// ```
    pub fn thread(&self, name: &str) -> Option<&ThreadDump> {
        self.threads.iter().find(|t| t.name == name)
    }

    /// The thread whose ident is `ident`.
    ///
    /// ```
    /// let main = heddle::thread::main_thread();
    /// assert_eq!(heddle::debug::dump().by_ident(main.ident()).unwrap().name, "MainThread");
    /// ```
    pub fn by_ident(&self, ident: u64) -> Option<&ThreadDump> {
        self.threads.iter().find(|t| t.ident == ident)
    }

    fn name_of(&self, ident: u64) -> String {
        match self.by_ident(ident) {
            Some(t) => format!("\"{}\" #{ident}", t.name),
            None => format!("#{ident}"),
        }
    }
}

/// Take a thread dump now. See the [module docs](self) for what it shows and how.
///
/// ```
/// let dump = heddle::debug::dump();
/// println!("{dump}");
/// ```
pub fn dump() -> Dump {
    build(None)
}

/// The dump of the threads in `idents` only (deadlock reports).
pub(crate) fn dump_of(idents: &[u64]) -> Dump {
    build(Some(idents))
}

/// Record every lock every thread holds, for [`dump()`], while `on` (off by default).
///
/// While on, every `Lock` and `RLock` acquisition takes the instrumented path (as in
/// lock-order mode) and records the hold in a table under a mutex: fine for a
/// debugging session or `heddle demo`, too slow to leave on in production. Off, the
/// fast paths are untouched, and a dump shows the holds it can see without it (the
/// holders of locks some thread waits for). Holds taken before it was turned on are
/// not known. `RwLock` holds are shown from what the detector sees (write holders
/// some thread waits for, read holds of blocked threads).
///
/// ```
/// use heddle::sync::Lock;
/// heddle::debug::track_holds(true);
/// let a = Lock::new(());
/// let _held = a.lock();
/// let dump = heddle::debug::dump();
/// assert_eq!(dump.threads()[0].holds.len(), 1);
/// heddle::debug::track_holds(false);
/// ```
pub fn track_holds(on: bool) {
    observe::set_tracking_holds(on);
}

/// Whether [`track_holds`] is on.
///
/// ```
/// assert!(!heddle::debug::tracking_holds());
/// ```
pub fn tracking_holds() -> bool {
    observe::tracking_holds()
}

/// A hold as recorded, before it becomes a public [`Held`].
fn held_from(object: Object, taken_at: Option<&'static Location<'static>>, read: bool) -> Held {
    Held {
        kind: object.kind,
        created: object.site,
        address: object.addr,
        taken_at,
        read,
    }
}

fn waiting_from(w: &crate::wait::WaitFor, timed: bool) -> Waiting {
    Waiting {
        operation: w.what,
        kind: w.object.kind,
        created: w.object.site,
        address: w.object.addr,
        at: w.at,
        timed,
        held_by: Vec::new(),
    }
}

fn build(only: Option<&[u64]>) -> Dump {
    let lock_waits = cycle::snapshot();
    let parkers = Parker::views();
    let tracked = holds::snapshot();
    // Threads: heddle's list first, then anyone else the seam or the detector knows.
    let mut threads: Vec<ThreadDump> = crate::thread::enumerate()
        .into_iter()
        .filter(|t| t.is_alive())
        .map(|t| ThreadDump {
            name: t.name().to_string(),
            ident: t.ident(),
            native_id: t.native_id(),
            daemon: t.is_daemon(),
            state: ThreadState::Running,
            waiting: None,
            holds: Vec::new(),
        })
        .collect();
    let mut extra: BTreeMap<u64, String> = BTreeMap::new();
    for w in &lock_waits {
        extra.insert(w.id, w.name.clone());
    }
    for p in parkers.iter().filter(|p| p.in_wait) {
        extra.entry(p.id).or_insert_with(|| p.name.clone());
    }
    for (id, name, _) in &tracked {
        extra.entry(*id).or_insert_with(|| name.clone());
    }
    for w in &lock_waits {
        if w.owner != 0 {
            let name = parkers
                .iter()
                .find(|p| p.id == w.owner)
                .map_or_else(|| "?".to_string(), |p| p.name.clone());
            extra.entry(w.owner).or_insert(name);
        }
    }
    for (id, name) in extra {
        // Checked coroutines' ids have the checker's bit; a dump shows OS threads.
        if id & crate::check::CHECKED != 0 || threads.iter().any(|t| t.ident == id) {
            continue;
        }
        threads.push(ThreadDump {
            name,
            ident: id,
            native_id: 0,
            daemon: true,
            state: ThreadState::Running,
            waiting: None,
            holds: Vec::new(),
        });
    }
    for t in &mut threads {
        // What it waits for: a lock wait first (registered before it sleeps), else
        // what its parker says.
        if let Some(w) = lock_waits.iter().find(|w| w.id == t.ident) {
            let mut held_by = Vec::new();
            if w.owner != 0 {
                held_by.push(w.owner);
            } else {
                held_by.extend(
                    lock_waits
                        .iter()
                        .filter(|o| o.reads.iter().any(|(a, _)| *a == w.object.addr))
                        .map(|o| o.id),
                );
            }
            t.state = ThreadState::Waiting;
            t.waiting = Some(Waiting {
                operation: if w.exclusive { "lock" } else { "read lock" },
                kind: w.object.kind,
                created: w.object.site,
                address: w.object.addr,
                at: w.at,
                timed: w.timed,
                held_by,
            });
        } else if let Some(p) = parkers.iter().find(|p| p.id == t.ident && p.in_wait) {
            if let Some(w) = &p.untimed {
                t.state = ThreadState::Waiting;
                t.waiting = Some(waiting_from(w, false));
            } else if let Some(w) = &p.timed {
                t.state = if w.what == "sleep" {
                    ThreadState::Sleeping
                } else {
                    ThreadState::Waiting
                };
                t.waiting = Some(waiting_from(w, true));
            } else {
                t.state = ThreadState::Waiting;
            }
        }
        // What it holds: the recorded holds, then what waiters show.
        if let Some((_, _, list)) = tracked.iter().find(|(id, _, _)| *id == t.ident) {
            t.holds
                .extend(list.iter().map(|&(o, at)| held_from(o, Some(at), false)));
        }
        for w in lock_waits.iter().filter(|w| w.owner == t.ident) {
            if !t.holds.iter().any(|h| h.address == w.object.addr) {
                t.holds.push(held_from(w.object, w.owner_taken_at, false));
            }
        }
        if let Some(me) = lock_waits.iter().find(|w| w.id == t.ident) {
            for &(addr, at) in &me.reads {
                if !t.holds.iter().any(|h| h.address == addr) {
                    // The kind and site are known if some thread waits for that lock.
                    let object = lock_waits.iter().find(|w| w.object.addr == addr).map_or(
                        Object {
                            kind: "RwLock",
                            addr,
                            site: None,
                            instance: 0,
                        },
                        |w| w.object,
                    );
                    t.holds.push(held_from(object, Some(at), true));
                }
            }
        }
    }
    if let Some(only) = only {
        threads.retain(|t| only.contains(&t.ident));
    }
    Dump {
        threads,
        holds_tracked: observe::tracking_holds(),
    }
}

fn site(at: Option<&'static Location<'static>>) -> String {
    at.map_or_else(|| "?".to_string(), short)
}

impl fmt::Display for ThreadDump {
    /// One thread, jstack-style (holder names need the whole dump: see [`Dump`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_thread(f, self, &|id| format!("#{id}"))
    }
}

fn write_thread(
    f: &mut fmt::Formatter<'_>,
    t: &ThreadDump,
    name_of: &dyn Fn(u64) -> String,
) -> fmt::Result {
    write!(f, "\"{}\" #{}", t.name, t.ident)?;
    if t.native_id != 0 {
        write!(f, " tid={}", t.native_id)?;
    }
    if t.daemon {
        f.write_str(" daemon")?;
    }
    writeln!(f, " {}", t.state)?;
    if let Some(w) = &t.waiting {
        let verb = match w.operation {
            "lock" => "waiting to lock".to_string(),
            "read lock" => "waiting to read-lock".to_string(),
            "sleep" => "sleeping".to_string(),
            op => format!("waiting in {op} on"),
        };
        if w.operation == "sleep" {
            write!(f, "    - {verb} at {}", short(w.at))?;
        } else {
            write!(f, "    - {verb} <{}", w.kind)?;
            if let Some(c) = w.created {
                write!(f, " created at {}", short(c))?;
            }
            write!(f, "> at {}", short(w.at))?;
        }
        if w.timed && w.operation != "sleep" {
            f.write_str(" (with a timeout)")?;
        }
        if !w.held_by.is_empty() {
            let names: Vec<String> = w.held_by.iter().map(|&id| name_of(id)).collect();
            write!(f, ", held by {}", names.join(", "))?;
        }
        writeln!(f)?;
    } else if t.state == ThreadState::Waiting {
        writeln!(
            f,
            "    - in a heddle wait with no description (a join, a pool's idle worker?)"
        )?;
    }
    for h in t.holds.iter().rev() {
        write!(
            f,
            "    - {} <{}",
            if h.read { "read-locked" } else { "locked" },
            h.kind
        )?;
        if let Some(c) = h.created {
            write!(f, " created at {}", short(c))?;
        }
        writeln!(f, "> taken at {}", site(h.taken_at))?;
    }
    Ok(())
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "heddle thread dump: {} thread{}{}",
            self.threads.len(),
            if self.threads.len() == 1 { "" } else { "s" },
            if self.holds_tracked {
                " (every hold tracked)"
            } else {
                " (holds shown: locks some thread waits for; debug::track_holds(true) shows all)"
            }
        )?;
        for t in &self.threads {
            writeln!(f)?;
            write_thread(f, t, &|id| self.name_of(id))?;
        }
        Ok(())
    }
}
