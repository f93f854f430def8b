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
use std::panic::Location;

use parking_lot::Mutex;

use super::report::{DeadlockKind, DeadlockReport};
use crate::wait::Object;

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

thread_local! {
    static HELD: RefCell<Vec<Hold>> = const { RefCell::new(Vec::new()) };
    /// Edges this thread already added: the common case never touches the global lock.
    static KNOWN: RefCell<HashSet<(usize, usize)>> = RefCell::new(HashSet::new());
}

/// About to block on (or take) `object`: add edges from every lock still held and
/// report a potential deadlock if one closes a cycle. Call before acquiring, so a
/// panicking report holds nothing new.
pub(crate) fn on_acquire(object: Object, taken_at: &'static Location<'static>) {
    let new = Hold { object, taken_at };
    let held: Vec<Hold> = HELD.with(|h| h.borrow().clone());
    let mut reports = Vec::new();
    for old in held {
        if old.object.addr == object.addr {
            continue; // re-entry (RLock)
        }
        let key = (old.class(), new.class());
        if old.class() != new.class() && KNOWN.with(|k| k.borrow().contains(&key)) {
            continue;
        }
        if let Some(report) = add_edge(old, new) {
            reports.push(report);
        }
        if old.class() != new.class() {
            KNOWN.with(|k| k.borrow_mut().insert(key));
        }
    }
    for report in reports {
        super::act(report);
    }
}

/// `object` is now held (after a successful acquisition, including `try_` forms).
pub(crate) fn on_acquired(object: Object, taken_at: &'static Location<'static>) {
    HELD.with(|h| h.borrow_mut().push(Hold { object, taken_at }));
}

/// `object` was released.
pub(crate) fn on_release(addr: usize) {
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        if let Some(i) = h.iter().rposition(|x| x.object.addr == addr) {
            h.remove(i);
        }
    });
}

fn thread_name() -> String {
    crate::thread::current().name().to_string()
}

fn add_edge(old: Hold, new: Hold) -> Option<DeadlockReport> {
    let mut guard = GRAPH.lock();
    let graph = guard.get_or_insert_with(Graph::default);
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
    let (lo, hi) = (old.object.addr.min(new.object.addr), old.object.addr.max(new.object.addr));
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
