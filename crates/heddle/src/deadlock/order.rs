//! Lock-order checking (lockdep-style), opt-in.
//!
//! A lock's *class* is where it was created. Each thread keeps the stack of locks it
//! holds; taking a lock while holding others adds an edge `held class → new class` for
//! every lock still held (released locks leave the stack, so they never form edges:
//! the false report of google/sanitizers#814 cannot happen). An edge that closes a cycle
//! in the class graph is a potential deadlock, reported once with both acquisition
//! chains. Locks of the same class (a table of forks, accounts from one constructor)
//! are nodes of their own, per instance: a ring of any length among them is reported,
//! naming each lock.
//!
//! Gate locks (GoodLock): each edge remembers the other locks its thread held when it
//! was taken, intersected over every time it was seen. A cycle two of whose edges were
//! always taken under one common lock cannot close (the gate lets one path in at a
//! time), so it is not reported. A binary semaphore (`Semaphore::new(1)`,
//! `BoundedSemaphore::new(1)`) is a gate too while its taker holds the permit: the
//! semaphore records the permit here (in lock-order mode only; off, its fast path reads
//! the observe byte and goes on). A semaphore once released by a thread that holds no
//! permit of it (another thread's, or one more than taken) is no mutex: it stops being
//! a gate for good, also for edges seen earlier.
//!
//! Under the checker the mode is opt-in like everywhere else: off, a checked execution
//! adds no edges, and a real inversion is left to the exploration, which finds the
//! schedule that deadlocks and reports the cycle.

use std::cell::{RefCell, UnsafeCell};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::report::{DeadlockKind, DeadlockReport};
use crate::wait::{observe, Object};

/// Classes the graph will hold before it stops growing (with a warning).
const MAX_CLASSES: usize = 4096;
/// Same-class instance edges remembered.
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
    /// The other locks (addresses) the thread held throughout, every time this edge was
    /// seen: its gates.
    gates: Vec<usize>,
}

/// Edges out of each node: class → class, or (same class) lock → lock.
type Edges = HashMap<usize, HashMap<usize, Witness>>;

#[derive(Default)]
struct Graph {
    edges: Edges,
    classes: HashSet<usize>,
    /// Same-class nesting: lock address → lock address, in the order taken.
    instances: Edges,
    /// Edges in `instances`.
    instance_edges: usize,
    /// For each address in `instances`, the addresses it has edges with either way (so
    /// a dropped lock finds its edges without a scan).
    partners: HashMap<usize, Vec<usize>>,
    /// Closing edges already reported, as (lower, higher) node.
    reported: HashSet<(usize, usize)>,
    /// Binary semaphores released by a thread that held no permit of them: not gates.
    not_gates: HashSet<usize>,
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
///
/// A small direct-mapped memo in front of the sets answers a repeated nesting (the
/// common case) with one multiply and one compare.
struct Known {
    classes: HashSet<(usize, usize), BuildHasherDefault<AddrHasher>>,
    pairs: HashSet<(usize, usize), BuildHasherDefault<AddrHasher>>,
    memo: [(usize, usize); MEMO],
    /// [`FORGOTTEN`] when `pairs` was last valid: a dropped lock's pairs are forgotten.
    generation: u64,
}

/// Entries in [`Known::memo`] (a power of two).
const MEMO: usize = 64;

/// Bumped whenever a dropped lock's same-class pairs leave the graph: every thread's
/// [`Known::pairs`] may name that address, so each thread clears its own before use.
static FORGOTTEN: AtomicU64 = AtomicU64::new(0);

impl Known {
    fn new() -> Self {
        Known {
            classes: HashSet::default(),
            pairs: HashSet::default(),
            memo: [(0, 0); MEMO],
            generation: FORGOTTEN.load(Ordering::Relaxed),
        }
    }

    /// The key an edge is known by: classes, or addresses for two of one class (pair
    /// keys are tagged in the low bit, which an address of a lock never has set).
    #[inline]
    fn key(old: &Hold, new: &Hold) -> (usize, usize) {
        let (a, b) = (old.class(), new.class());
        if a != b {
            (a, b)
        } else {
            (old.object.addr | 1, new.object.addr)
        }
    }

    #[inline]
    fn slot(key: (usize, usize)) -> usize {
        let h = (key.0 ^ key.1.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize);
        h >> (usize::BITS - MEMO.trailing_zeros())
    }

    #[inline]
    fn contains(&mut self, old: &Hold, new: &Hold) -> bool {
        let key = Self::key(old, new);
        let slot = Self::slot(key);
        if self.memo[slot] == key {
            return true;
        }
        let known = if key.0 & 1 == 0 {
            self.classes.contains(&key)
        } else {
            self.pairs.contains(&key)
        };
        if known {
            self.memo[slot] = key;
        }
        known
    }

    fn insert(&mut self, old: &Hold, new: &Hold) {
        let key = Self::key(old, new);
        if key.0 & 1 == 0 {
            self.classes.insert(key);
        } else {
            self.pairs.insert(key);
        }
        self.memo[Self::slot(key)] = key;
    }

    /// Forget pairs if some lock was dropped since they were learnt.
    #[inline]
    fn refresh(&mut self) {
        let now = FORGOTTEN.load(Ordering::Relaxed);
        if now != self.generation {
            self.generation = now;
            self.pairs.clear();
            self.memo = [(0, 0); MEMO];
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
/// the edges it already added.
struct PerThread {
    held: Vec<Held>,
    known: Known,
    /// Binary semaphore permits held: (heddle thread id, semaphore address). Gates only:
    /// they form no edges of their own.
    permits: Vec<(u64, usize)>,
}

thread_local! {
    /// One thread-local for everything, reached through [`with_thread`], so each hook
    /// is one TLS access.
    static THREAD: UnsafeCell<PerThread> = UnsafeCell::new(PerThread {
        held: Vec::with_capacity(8),
        known: Known::new(),
        permits: Vec::new(),
    });
    /// Under the checker, the graph of the running execution alone: what an execution
    /// reports then depends on its own schedule only, so its replay token reproduces it
    /// (the process-wide graph remembers earlier executions and reports a pair once).
    static CHECKED_GRAPH: RefCell<Graph> = RefCell::new(Graph::default());
}

/// Run `f` on this OS thread's state. `f` must not call back into this module (nothing
/// in it does: it only reads and writes `PerThread`), so the borrow is exclusive.
#[inline]
fn with_thread<R>(f: impl FnOnce(&mut PerThread) -> R) -> R {
    // SAFETY: the state is only reached through this function, whose callers never
    // re-enter it (see above), so no other reference to it exists while `f` runs.
    THREAD.with(|t| f(unsafe { &mut *t.get() }))
}

/// Thread `me` is about to take `object` at `taken_at` (blocking if need be): add
/// edges from every lock `me` still holds, and report a potential deadlock if one
/// closes a cycle (before acquiring, so a panicking report holds nothing new; `try_`
/// forms, which cannot block, add no edges). Then the hold is recorded at once, in the
/// same thread-local access: the returned [`PendingHold`] takes it back unless the
/// acquisition succeeds ([`PendingHold::taken`]), also when the wait unwinds.
///
/// Always inlined into the (cold) instrumented acquisitions: called out of line, the
/// `Object` went through memory and its reload stalled on store forwarding (measured:
/// most of this function's time).
#[inline(always)]
pub(crate) fn before_acquire(
    me: u64,
    object: Object,
    taken_at: &'static Location<'static>,
    only_try: bool,
) -> PendingHold {
    let new = Hold { object, taken_at };
    let state: *mut PerThread = THREAD.with(UnsafeCell::get);
    // SAFETY: this OS thread's state, which outlives the call; no other reference to it
    // exists while this runs (nothing here re-enters the module).
    if !only_try && unseen_edge(unsafe { &mut *state }, me, &new) {
        add_unseen_edges(me, new);
    }
    // SAFETY: as above (`add_unseen_edges` holds no reference once it returns).
    unsafe { &mut *state }.held.push(Held {
        thread: me,
        hold: new,
    });
    PendingHold {
        state,
        thread: me,
        addr: object.addr,
    }
}

/// A hold recorded before its lock was taken; dropped, it is taken back.
pub(crate) struct PendingHold {
    state: *mut PerThread,
    thread: u64,
    addr: usize,
}

impl PendingHold {
    /// The lock was taken: keep the hold.
    #[inline]
    pub(crate) fn taken(self) {
        std::mem::forget(self);
    }
}

impl Drop for PendingHold {
    #[cold]
    fn drop(&mut self) {
        // SAFETY: the state of the OS thread that made this (a `PendingHold` lives on
        // that thread's stack, in the acquiring call); no other reference exists now.
        // The wait in between may have switched between checked threads, whose holds
        // are kept apart by id.
        remove_hold(unsafe { &mut (*self.state).held }, self.thread, self.addr);
    }
}

/// Whether taking `new` adds an edge thread `me` has not added before. The common
/// cases (nothing held; an edge seen before) end here, allocating nothing and taking no
/// global lock. Under the checker every execution starts a graph of its own (what this
/// OS thread has seen before says nothing about it), so every edge counts.
#[inline(always)]
fn unseen_edge(t: &mut PerThread, me: u64, new: &Hold) -> bool {
    if t.held.is_empty() {
        return false;
    }
    let checked = me & crate::check::CHECKED != 0;
    if checked && !observe::lock_order() {
        // Opt-in under the checker too: exploration finds the real cycles.
        return false;
    }
    t.known.refresh();
    let PerThread { held, known, .. } = t;
    held.iter().any(|h| {
        h.thread == me
            && h.hold.object.addr != new.object.addr // re-entry (RLock) adds no edge
            && (checked || !known.contains(&h.hold, new))
    })
}

#[cold]
#[inline(never)]
fn add_unseen_edges(me: u64, new: Hold) {
    let checked = me & crate::check::CHECKED != 0;
    let (pending, mine): (Vec<Hold>, Vec<usize>) = with_thread(|t| {
        let PerThread {
            held,
            known,
            permits,
        } = t;
        let mine = held
            .iter()
            .filter(|h| h.thread == me && h.hold.object.addr != new.object.addr)
            .map(|h| h.hold.object.addr)
            .chain(permits.iter().filter(|p| p.0 == me).map(|p| p.1))
            .collect();
        let pending = held
            .iter()
            .filter(|h| h.thread == me && h.hold.object.addr != new.object.addr)
            .filter(|h| checked || !known.contains(&h.hold, &new))
            .map(|h| h.hold)
            .collect();
        (pending, mine)
    });
    let mut reports = Vec::new();
    for old in pending {
        // The gates of this edge: every other lock the thread holds now.
        let mut gates: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|&a| a != old.object.addr)
            .collect();
        gates.sort_unstable();
        gates.dedup();
        let gated = !gates.is_empty();
        if let Some(mut report) = add_edge(old, new, gates) {
            report.set_location(new.taken_at);
            reports.push(report);
        }
        // A gated edge is looked at again next time: taken once without its gate, it
        // loses it (and may close a cycle then).
        if !checked && !gated {
            with_thread(|t| t.known.insert(&old, &new));
        }
    }
    for report in reports {
        super::act(report);
    }
}

/// A binary semaphore's permit was taken (`taken`) or `n` were released by this
/// thread. Recorded only in lock-order mode; called by the semaphores only when the
/// observe byte is set, so the mode costs nothing when off.
#[cold]
#[inline(never)]
pub(crate) fn binary_permit(addr: usize, taken: bool, n: usize) {
    if !observe::lock_order() {
        return;
    }
    let me = crate::wait::local::thread_id();
    let still_binary = with_thread(|t| {
        let mine = t.permits.iter().rposition(|&p| p == (me, addr));
        match (taken, mine) {
            // Taken again while recorded: someone else released it meanwhile (and was
            // found out then).
            (true, Some(_)) => true,
            (true, None) => {
                t.permits.push((me, addr));
                true
            }
            (false, Some(i)) => {
                t.permits.swap_remove(i);
                n == 1
            }
            (false, None) => false,
        }
    });
    if !still_binary {
        not_a_gate(addr);
    }
}

#[cold]
fn not_a_gate(addr: usize) {
    if crate::check::active() {
        CHECKED_GRAPH.with(|g| g.borrow_mut().not_gates.insert(addr));
    } else {
        GRAPH
            .lock()
            .get_or_insert_with(Graph::default)
            .not_gates
            .insert(addr);
    }
}

/// Thread `me` released the lock at `addr`.
#[inline]
pub(crate) fn on_release(me: u64, addr: usize) {
    with_thread(|t| remove_hold(&mut t.held, me, addr));
}

/// Remove `me`'s hold of the lock at `addr`, nearly always the last entry (locks nest).
/// By thread and address: under the checker the checked threads share this OS
/// thread's list, and a thread waiting for the lock has its (pending) entry there too.
#[inline(always)]
fn remove_hold(held: &mut Vec<Held>, me: u64, addr: usize) {
    match held.last() {
        Some(top) if top.thread == me && top.hold.object.addr == addr => {
            // SAFETY: `last` just found an element, so the length is at least one; the
            // element is `Copy` (nothing to drop).
            unsafe { held.set_len(held.len() - 1) };
        }
        _ => remove_hold_inner(held, me, addr),
    }
}

/// [`remove_hold`] for a hold released out of order (kept out of line: the common
/// release is the last hold taken).
#[cold]
#[inline(never)]
fn remove_hold_inner(held: &mut Vec<Held>, me: u64, addr: usize) {
    if let Some(i) = held
        .iter()
        .rposition(|x| x.thread == me && x.hold.object.addr == addr)
    {
        held.remove(i);
    }
}

/// The lock at `addr` is being dropped: the same-class pairs that name its address
/// must go, or a new lock at that address would inherit its order (a false report).
/// Costs one load unless lock-order mode was ever on or the checker runs this thread.
#[inline]
pub(crate) fn on_drop(addr: usize) {
    if observe::lock_order_ever() || crate::check::active() {
        forget(addr);
    }
}

#[cold]
#[inline(never)]
fn forget(addr: usize) {
    if crate::check::active() {
        let _ = CHECKED_GRAPH.try_with(|g| forget_in(&mut g.borrow_mut(), addr));
        return;
    }
    crate::wait::object::forget_number(addr);
    let forgot = GRAPH
        .lock()
        .as_mut()
        .is_some_and(|graph| forget_in(graph, addr));
    if forgot {
        // Threads' memories of these pairs are stale now.
        FORGOTTEN.fetch_add(1, Ordering::Relaxed);
    }
}

/// Remove the pairs naming `addr`; whether there were any.
fn forget_in(graph: &mut Graph, addr: usize) -> bool {
    let Some(partners) = graph.partners.remove(&addr) else {
        return false;
    };
    if let Some(out) = graph.instances.remove(&addr) {
        graph.instance_edges -= out.len();
    }
    for other in partners {
        if let Some(out) = graph.instances.get_mut(&other) {
            if out.remove(&addr).is_some() {
                graph.instance_edges -= 1;
            }
        }
        if let Some(list) = graph.partners.get_mut(&other) {
            list.retain(|&a| a != addr);
        }
    }
    graph.reported.retain(|&(a, b)| a != addr && b != addr);
    true
}

/// A checker execution starts on this OS thread: forget the previous one's holds (its
/// threads may have been abandoned holding locks, and their ids are reused) and graph.
pub(crate) fn reset_checked() {
    let _ = THREAD.try_with(|t| {
        // SAFETY: as in `with_thread` (no hook is running on this thread now).
        let t = unsafe { &mut *t.get() };
        t.held.retain(|h| h.thread & crate::check::CHECKED == 0);
        t.permits.retain(|p| p.0 & crate::check::CHECKED == 0);
    });
    let _ = CHECKED_GRAPH.try_with(|g| *g.borrow_mut() = Graph::default());
}

fn thread_name() -> String {
    crate::thread::current().name().to_string()
}

fn add_edge(old: Hold, new: Hold, gates: Vec<usize>) -> Option<DeadlockReport> {
    if crate::check::active() {
        return CHECKED_GRAPH.with(|g| add_edge_to(&mut g.borrow_mut(), old, new, gates));
    }
    let mut guard = GRAPH.lock();
    add_edge_to(guard.get_or_insert_with(Graph::default), old, new, gates)
}

fn add_edge_to(
    graph: &mut Graph,
    old: Hold,
    new: Hold,
    mut gates: Vec<usize>,
) -> Option<DeadlockReport> {
    gates.retain(|g| !graph.not_gates.contains(g));
    let (a, b) = (old.class(), new.class());
    if a == b {
        return same_class(graph, old, new, gates);
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
    let witness = witness(old, new, gates);
    let witness = record(&mut graph.edges, a, b, witness)?;
    // Does b already reach a (through edges with gates apart from this one's)? Then
    // a → b closes a cycle.
    let path = find_path(&graph.edges, b, a, &witness.gates, &graph.not_gates)?;
    if !graph.reported.insert((a.min(b), a.max(b))) {
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

fn witness(old: Hold, new: Hold, gates: Vec<usize>) -> Witness {
    let name = |o: Object| crate::wait::object::numbered(o);
    Witness {
        thread: thread_name(),
        first: Hold {
            object: name(old.object),
            ..old
        },
        then: Hold {
            object: name(new.object),
            ..new
        },
        gates,
    }
}

/// Put the edge `a → b` in `edges`; the edge as it stands now if it is new or lost a
/// gate (so a cycle through it must be looked for), `None` if nothing changed.
fn record(edges: &mut Edges, a: usize, b: usize, witness: Witness) -> Option<Witness> {
    let out = edges.entry(a).or_default();
    match out.get_mut(&b) {
        None => {
            out.insert(b, witness.clone());
            Some(witness)
        }
        Some(known) => {
            let before = known.gates.len();
            known.gates.retain(|g| witness.gates.contains(g));
            if known.gates.len() == before {
                return None;
            }
            // Seen now with fewer gates: report it as taken now.
            let gates = known.gates.clone();
            Some(Witness { gates, ..witness })
        }
    }
}

/// Locks of one class: an edge per pair of instances, in the order taken; a path back
/// closes a ring of any length.
fn same_class(
    graph: &mut Graph,
    old: Hold,
    new: Hold,
    gates: Vec<usize>,
) -> Option<DeadlockReport> {
    let (a, b) = (old.object.addr, new.object.addr);
    let fresh = !graph.instances.get(&a).is_some_and(|m| m.contains_key(&b));
    if fresh {
        if graph.instance_edges >= MAX_PAIRS {
            if !graph.warned_full {
                graph.warned_full = true;
                eprintln!(
                    "heddle: lock-order graph is full ({MAX_PAIRS} pairs of same-class locks); \
                     new pairs are no longer order-checked (cycle detection still covers \
                     real deadlocks)"
                );
            }
            return None;
        }
        graph.instance_edges += 1;
        graph.partners.entry(a).or_default().push(b);
        graph.partners.entry(b).or_default().push(a);
    }
    let witness = witness(old, new, gates);
    let witness = record(&mut graph.instances, a, b, witness)?;
    let path = find_path(&graph.instances, b, a, &witness.gates, &graph.not_gates)?;
    if !graph.reported.insert((a.min(b), a.max(b))) {
        return None;
    }
    let mut text = if path.len() == 1 {
        String::from(
            "heddle: POTENTIAL DEADLOCK (lock order): two locks of one class were taken \
             in both orders; no thread is blocked yet.\n",
        )
    } else {
        let ring: Vec<String> = std::iter::once(&witness)
            .chain(&path)
            .map(|w| w.first.object.to_string())
            .collect();
        format!(
            "heddle: POTENTIAL DEADLOCK (lock order): {} locks of one class were taken in \
             a ring ({} → back to the first); no thread is blocked yet.\n",
            ring.len(),
            ring.join(" → ")
        )
    };
    let _ = writeln!(text, "  now: {}", describe(&witness));
    for w in &path {
        let _ = writeln!(text, "  earlier: {}", describe(w));
    }
    text.push_str("  fix: take locks of one class in a fixed order (e.g. by id)\n");
    Some(DeadlockReport::new(DeadlockKind::PotentialLockOrder, text))
}

/// Nodes a path search may visit before it gives up (and reports nothing): the graph
/// is small in practice, and a missed report is better than a slow lock.
const SEARCH_BUDGET: usize = 20_000;

/// Edges along a path from `from` to `to` whose gates are pairwise apart and apart from
/// `gates` (an edge that shares a gate with another cannot run at the same time as it),
/// if any; gates found out since (`not_gates`) do not count. Depth-first over simple
/// paths, shortest-first at each node.
fn find_path(
    edges: &Edges,
    from: usize,
    to: usize,
    gates: &[usize],
    not_gates: &HashSet<usize>,
) -> Option<Vec<Witness>> {
    #[allow(clippy::too_many_arguments)]
    fn walk(
        edges: &Edges,
        not_gates: &HashSet<usize>,
        node: usize,
        to: usize,
        held: &mut Vec<usize>,
        on_path: &mut Vec<usize>,
        path: &mut Vec<Witness>,
        budget: &mut usize,
    ) -> bool {
        if node == to {
            return true;
        }
        let Some(out) = edges.get(&node) else {
            return false;
        };
        // The direct edge to the target first, so a two-lock inversion names one edge.
        let mut next: Vec<(&usize, &Witness)> = out.iter().collect();
        next.sort_by_key(|(&succ, _)| (succ != to, succ));
        for (&succ, w) in next {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let gates = w.gates.iter().filter(|g| !not_gates.contains(g));
            if on_path.contains(&succ) || gates.clone().any(|g| held.contains(g)) {
                continue;
            }
            let mark = held.len();
            held.extend(gates);
            on_path.push(succ);
            path.push(w.clone());
            if walk(edges, not_gates, succ, to, held, on_path, path, budget) {
                return true;
            }
            path.pop();
            on_path.pop();
            held.truncate(mark);
        }
        false
    }
    let mut held = gates.to_vec();
    let mut on_path = vec![from];
    let mut path = Vec::new();
    let mut budget = SEARCH_BUDGET;
    walk(
        edges,
        not_gates,
        from,
        to,
        &mut held,
        &mut on_path,
        &mut path,
        &mut budget,
    )
    .then_some(path)
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
