//! Lock-order checking (lockdep-style), opt-in.
//!
//! A lock's *class* is where it was created. Each thread keeps the stack of locks it
//! holds; taking a lock while holding others adds an edge `held class → new class` for
//! every lock still held (released locks leave the stack, so they never form edges:
//! the false report of google/sanitizers#814 cannot happen). An edge that closes a cycle
//! in the class graph is a potential deadlock, reported once with both acquisition
//! chains. Locks of the same class are checked per pair of instances.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;

use parking_lot::Mutex;

use super::report::{DeadlockKind, DeadlockReport};
use crate::wait::{local, Object};

/// Classes the graph will hold before it stops growing (with a warning).
const MAX_CLASSES: usize = 4096;
/// Same-class instance pairs remembered.
const MAX_PAIRS: usize = 1 << 16;

#[derive(Debug, Clone, Copy)]
struct Hold {
    object: Object,
    taken_at: &'static Location<'static>,
}

impl Hold {
    fn class(&self) -> usize {
        self.object
            .site
            .map_or(self.object.addr, |s| s as *const Location<'static> as usize)
    }
}

/// How an edge was first seen: the earlier lock still held, then the later one.
#[derive(Debug, Clone)]
struct Witness {
    thread: String,
    first: Hold,
    then: Hold,
}

#[derive(Default)]
struct Graph {
    edges: HashMap<usize, HashMap<usize, Witness>>,
    classes: HashSet<usize>,
    /// Same-class pairs: (lower addr, higher addr) → whether the lower was taken first.
    pairs: HashMap<(usize, usize), (bool, Witness)>,
    reported: HashSet<(usize, usize)>,
    warned_full: bool,
}

static GRAPH: Mutex<Option<Graph>> = parking_lot::const_mutex(None);

/// One lock held by one heddle thread. Holds carry the holder's heddle id because
/// under the checker every checked thread runs on one OS thread (the id switches with
/// the coroutine), so the OS thread's stack of holds is shared between them.
#[derive(Debug, Clone, Copy)]
struct Held {
    thread: u64,
    hold: Hold,
}

/// Edges this thread already added: `(held class, new class)` for locks of different
/// classes, `(held addr, new addr)` (in the order taken) for two of one class. Once an
/// edge is in the global graph (or its inversion was reported), taking it again can
/// change nothing, so the common case never touches the global lock.
#[derive(Default)]
struct Known {
    classes: HashSet<(usize, usize), BuildHasherDefault<AddrHasher>>,
    pairs: HashSet<(usize, usize), BuildHasherDefault<AddrHasher>>,
}

impl Known {
    fn contains(&self, old: &Hold, new: &Hold) -> bool {
        let (a, b) = (old.class(), new.class());
        if a != b {
            self.classes.contains(&(a, b))
        } else {
            self.pairs.contains(&(old.object.addr, new.object.addr))
        }
    }

    fn insert(&mut self, old: &Hold, new: &Hold) {
        let (a, b) = (old.class(), new.class());
        if a != b {
            self.classes.insert((a, b));
        } else {
            self.pairs.insert((old.object.addr, new.object.addr));
        }
    }
}

/// A multiply-rotate hash for keys that are addresses (SipHash's DoS resistance buys
/// nothing here and costs most of a nested acquisition in lock-order mode).
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What one OS thread keeps: the locks held (by each heddle thread running on it) and
/// the edges it already added. One thread-local, so a hook is one TLS access.
#[derive(Default)]
struct PerThread {
    held: Vec<Held>,
    known: Known,
}

thread_local! {
    static THREAD: RefCell<PerThread> = RefCell::new(PerThread::default());
    /// Under the checker, the graph of the running execution alone: what an execution
    /// reports then depends on its own schedule only, so its replay token reproduces it
    /// (the process-wide graph remembers earlier executions and reports a pair once).
    static CHECKED_GRAPH: RefCell<Graph> = RefCell::new(Graph::default());
}

/// About to block on (or take) `object`: add edges from every lock still held and
/// report a potential deadlock if one closes a cycle. Call before acquiring, so a
/// panicking report holds nothing new.
pub(crate) fn on_acquire(object: Object, taken_at: &'static Location<'static>) {
    let new = Hold { object, taken_at };
    let me = local::thread_id();
    // Under the checker every execution starts a graph of its own: what this OS thread
    // has seen before says nothing about it.
    let checked = crate::check::active();
    // The fast path allocates nothing: it only looks for held locks whose edge to the
    // new one this thread has not seen yet.
    let pending: Option<Vec<Hold>> = THREAD.with(|t| {
        let t = t.borrow();
        let mut pending: Option<Vec<Hold>> = None;
        for h in &t.held {
            if h.thread != me || h.hold.object.addr == object.addr {
                continue; // another checked thread's, or re-entry (RLock)
            }
            if checked || !t.known.contains(&h.hold, &new) {
                pending.get_or_insert_with(Vec::new).push(h.hold);
            }
        }
        pending
    });
    let Some(pending) = pending else { return };
    let mut reports = Vec::new();
    for old in pending {
        if let Some(report) = add_edge(old, new) {
            reports.push(report);
        }
        if !checked {
            THREAD.with(|t| t.borrow_mut().known.insert(&old, &new));
        }
    }
    for report in reports {
        super::act(report);
    }
}

/// `object` is now held (after a successful acquisition, including `try_` forms).
pub(crate) fn on_acquired(object: Object, taken_at: &'static Location<'static>) {
    let held = Held {
        thread: local::thread_id(),
        hold: Hold { object, taken_at },
    };
    THREAD.with(|t| t.borrow_mut().held.push(held));
}

/// `object` was released.
pub(crate) fn on_release(addr: usize) {
    // Only its holder can release a lock, and one lock has one holder: the address
    // alone finds the entry.
    THREAD.with(|t| {
        let held = &mut t.borrow_mut().held;
        if let Some(i) = held.iter().rposition(|x| x.hold.object.addr == addr) {
            held.remove(i);
        }
    });
}

/// A checker execution starts on this OS thread: forget the previous one's holds (its
/// threads may have been abandoned holding locks, and their ids are reused) and graph.
pub(crate) fn reset_checked() {
    let _ = THREAD.try_with(|t| {
        t.borrow_mut()
            .held
            .retain(|h| h.thread & crate::check::CHECKED == 0)
    });
    let _ = CHECKED_GRAPH.try_with(|g| *g.borrow_mut() = Graph::default());
}

fn thread_name() -> String {
    crate::thread::current().name().to_string()
}

fn add_edge(old: Hold, new: Hold) -> Option<DeadlockReport> {
    if crate::check::active() {
        return CHECKED_GRAPH.with(|g| add_edge_to(&mut g.borrow_mut(), old, new));
    }
    let mut guard = GRAPH.lock();
    add_edge_to(guard.get_or_insert_with(Graph::default), old, new)
}

fn add_edge_to(graph: &mut Graph, old: Hold, new: Hold) -> Option<DeadlockReport> {
    let (a, b) = (old.class(), new.class());
    if a == b {
        return same_class(graph, old, new);
    }
    for class in [a, b] {
        if !graph.classes.contains(&class) {
            if graph.classes.len() >= MAX_CLASSES {
                if !graph.warned_full {
                    graph.warned_full = true;
                    eprintln!(
                        "heddle: lock-order graph is full ({MAX_CLASSES} lock classes); \
                         locks created at new places are no longer order-checked \
                         (cycle detection still covers real deadlocks)"
                    );
                }
                return None;
            }
            graph.classes.insert(class);
        }
    }
    let witness = Witness {
        thread: thread_name(),
        first: old,
        then: new,
    };
    if graph.edges.get(&a).is_some_and(|m| m.contains_key(&b)) {
        return None;
    }
    // Does b already reach a? Then a → b closes a cycle.
    let path = find_path(graph, b, a);
    graph.edges.entry(a).or_default().insert(b, witness.clone());
    let path = path?;
    let key = (a.min(b), a.max(b));
    if !graph.reported.insert(key) {
        return None;
    }
    let mut text = String::from(
        "heddle: POTENTIAL DEADLOCK (lock order): these locks are taken in both orders; \
         no thread is blocked yet, but a schedule that interleaves these paths deadlocks.\n",
    );
    let _ = writeln!(text, "  now: {}", describe(&witness));
    for w in &path {
        let _ = writeln!(text, "  earlier: {}", describe(w));
    }
    text.push_str("  fix: always take these locks in one global order\n");
    Some(DeadlockReport::new(DeadlockKind::PotentialLockOrder, text))
}

fn same_class(graph: &mut Graph, old: Hold, new: Hold) -> Option<DeadlockReport> {
    let (lo, hi) = (
        old.object.addr.min(new.object.addr),
        old.object.addr.max(new.object.addr),
    );
    let lower_first = old.object.addr == lo;
    let witness = Witness {
        thread: thread_name(),
        first: old,
        then: new,
    };
    match graph.pairs.get(&(lo, hi)) {
        None => {
            if graph.pairs.len() < MAX_PAIRS {
                graph.pairs.insert((lo, hi), (lower_first, witness));
            }
            None
        }
        Some((seen, _)) if *seen == lower_first => None,
        Some((_, earlier)) => {
            if !graph.reported.insert((lo, hi)) {
                return None;
            }
            Some(DeadlockReport::new(
                DeadlockKind::PotentialLockOrder,
                format!(
                    "heddle: POTENTIAL DEADLOCK (lock order): two locks of one class were taken \
                     in both orders; no thread is blocked yet.\n  now: {}\n  earlier: {}\n  \
                     fix: take locks of one class in a fixed order (e.g. by id)\n",
                    describe(&witness),
                    describe(earlier)
                ),
            ))
        }
    }
}

/// Edges along a path from `from` to `to`, if any (breadth-first, so the shortest).
fn find_path(graph: &Graph, from: usize, to: usize) -> Option<Vec<Witness>> {
    let mut previous: HashMap<usize, usize> = HashMap::new();
    let mut frontier = vec![from];
    let mut seen = HashSet::from([from]);
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for node in frontier {
            if node == to {
                let mut path = Vec::new();
                let mut at = to;
                while at != from {
                    let p = previous[&at];
                    path.push(graph.edges[&p][&at].clone());
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            for &succ in graph.edges.get(&node).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(succ) {
                    previous.insert(succ, node);
                    next.push(succ);
                }
            }
        }
        frontier = next;
    }
    None
}

fn describe(w: &Witness) -> String {
    format!(
        "'{}' took {} at {} and then, still holding it, {} at {}",
        w.thread,
        w.first.object,
        crate::wait::short(w.first.taken_at),
        w.then.object,
        crate::wait::short(w.then.taken_at),
    )
}
