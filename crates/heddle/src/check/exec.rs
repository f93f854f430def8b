//! One execution under the checker: the deterministic scheduler and its hooks.
//!
//! Every heddle thread started inside a checked execution is a stackful coroutine
//! (corosensei) on the checker's OS thread, so exactly one runs at a time and a context
//! switch costs a few nanoseconds. A thread runs until its next *schedule point* (every
//! heddle operation calls [`point`] first), then yields to the scheduler, which asks the
//! strategy who runs next and records the step. Blocking is cooperative: the seam puts a
//! checked waiter in its queue as usual and calls [`block`]; a notifier calls
//! [`unblock`]. Time is virtual: when nobody can run, the earliest timed wait times out.
//!
//! The calling thread's heddle id carries the [`CHECKED`] bit while a coroutine runs,
//! which is how the primitives' fast paths know, for the price of the id load they do
//! anyway (or one thread-local load), that they are under the checker.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::strategy::{Point, Strategy};
use crate::wait::local;
pub(crate) use crate::wait::{short, Object};

/// Bit set in the heddle id of every checked thread.
pub(crate) const CHECKED: u64 = 1 << 60;

/// Stack size of a checked thread: virtual memory, committed only as touched.
const STACK_SIZE: usize = 1 << 20;

/// What a thread is about to do at a schedule point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    pub(crate) what: &'static str,
    pub(crate) object: Option<Object>,
    pub(crate) at: &'static Location<'static>,
}

/// What a step touched, for partial-order reduction: two steps of different threads
/// are dependent when they touch one object and at least one writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access {
    pub(crate) step: u32,
    /// The object's address, or [`EVERYTHING`] for a step that must be taken as
    /// dependent on every other (a timeout firing: its outcome depends on all).
    pub(crate) object: usize,
    pub(crate) write: bool,
}

/// [`Access::object`] of a step dependent on every other.
pub(crate) const EVERYTHING: usize = usize::MAX;

/// Operations that only read their object (two of them commute).
fn reads_only(op: &Op) -> bool {
    match op.what {
        "load" | "read" | "try_read" | "unlock_read" | "done" | "running" | "cancelled" => true,
        "get" => op.object.is_some_and(|o| o.kind == "Cell"),
        _ => false,
    }
}

/// One line of a trace.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) thread: usize,
    pub(crate) op: Op,
    /// Whether choosing this thread switched away from one that could have continued.
    pub(crate) preempted: bool,
    /// Virtual time, if it advanced to fire a timeout before this step.
    pub(crate) timeout_fired: Option<Duration>,
    /// The execution's fingerprint up to and including this step.
    pub(crate) fingerprint: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Runnable,
    Blocked { deadline: Option<Duration> },
    Finished,
}

type Coro = Coroutine<(), (), (), DefaultStack>;

struct Task {
    name: String,
    /// What joins on this thread wait on (0 for the test's main thread).
    meta: usize,
    state: State,
    coroutine: Option<Coro>,
    yielder: *const Yielder<(), ()>,
    pending: Op,
    /// A notification that arrived before the thread blocked.
    wake_pending: bool,
    timed_out: bool,
}

/// Why an execution failed.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Panic {
        thread: String,
        message: String,
        at: Option<String>,
    },
    Deadlock {
        /// Each blocked thread, what it waits in, and whether it holds that object for
        /// reading (an `RwLock` read-to-write upgrade).
        blocked: Vec<(String, Op, bool)>,
        cycle: Vec<CycleLink>,
    },
    StepBudget(usize),
    LeftRunning(Vec<String>),
    Diverged(String),
}

/// "thread holds lock (taken at) and waits for lock held by …"
#[derive(Debug, Clone)]
pub(crate) struct CycleLink {
    pub(crate) thread: String,
    pub(crate) waits_for: Object,
    pub(crate) waits_at: &'static Location<'static>,
    pub(crate) held_by: String,
    pub(crate) taken_at: &'static Location<'static>,
}

/// What a strategy learns when an execution ends.
pub(crate) struct Run<'a> {
    pub(crate) trace: &'a [Step],
    pub(crate) accesses: &'a [Access],
    pub(crate) spawns: &'a [(u32, u32)],
    /// Each thread's join object ([`Task::meta`]).
    pub(crate) metas: &'a [usize],
}

/// What one execution produced.
pub(crate) struct Outcome {
    pub(crate) trace: Vec<Step>,
    pub(crate) names: Vec<String>,
    pub(crate) choices: Vec<usize>,
    pub(crate) failure: Option<Failure>,
    pub(crate) fingerprint: u64,
}

impl Outcome {
    pub(crate) fn preemptions(&self) -> usize {
        self.trace.iter().filter(|s| s.preempted).count()
    }

    /// The fingerprint of the first `steps` steps, if the execution took that many.
    pub(crate) fn fingerprint_after(&self, steps: usize) -> Option<u64> {
        match steps {
            0 => Some(Fingerprint(0).0),
            n => self.trace.get(n - 1).map(|s| s.fingerprint),
        }
    }
}

struct Exec {
    tasks: Vec<Task>,
    current: Option<usize>,
    trace: Vec<Step>,
    choices: Vec<usize>,
    elapsed: Duration,
    epoch: Instant,
    failure: Option<Failure>,
    /// Locks held right now: (address, holder, where taken).
    holds: Vec<(usize, usize, &'static Location<'static>)>,
    /// `RwLock` read holds right now: (address, holder).
    reads: Vec<(usize, usize)>,
    max_steps: usize,
    pending_timeout: Option<Duration>,
    /// Default names given so far in this execution, per kind (`Thread-N`…).
    numbers: Vec<(&'static str, u64)>,
    /// What each step touched, in step order.
    accesses: Vec<Access>,
    /// (step, thread started in it).
    spawns: Vec<(u32, u32)>,
}

impl Exec {
    /// The step running now touched `object` too.
    fn touch(&mut self, object: usize, write: bool) {
        if let Some(step) = self.trace.len().checked_sub(1) {
            self.accesses.push(Access {
                step: step as u32,
                object,
                write,
            });
        }
    }
}

thread_local! {
    static EXEC: Cell<*const RefCell<Exec>> = const { Cell::new(std::ptr::null()) };

    static STACKS: RefCell<Vec<DefaultStack>> = const { RefCell::new(Vec::new()) };
    /// The vectors of finished executions, kept for the next one: an execution then
    /// allocates nothing per step (they are at the right size after the first).
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

#[derive(Default)]
struct Spare {
    tasks: Vec<Task>,
    trace: Vec<Step>,
    choices: Vec<usize>,
    names: Vec<String>,
    runnable: Vec<usize>,
    holds: Vec<(usize, usize, &'static Location<'static>)>,
    accesses: Vec<Access>,
    spawns: Vec<(u32, u32)>,
}

/// Stacks of unfinished threads left behind by failed executions in this process (each
/// one or two memory mappings, of which a process has some tens of thousands).
static LEAKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many stacks failed executions have left behind in this process.
pub(crate) fn leaked_stacks() -> usize {
    LEAKED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Give a finished execution's vectors back for the next one to reuse.
pub(crate) fn recycle(outcome: Outcome) {
    let Outcome {
        mut trace,
        mut names,
        mut choices,
        ..
    } = outcome;
    trace.clear();
    names.clear();
    choices.clear();
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        s.trace = trace;
        s.names = names;
        s.choices = choices;
    });
}

/// The hash of every step (thread, operation, source location) that a replay token
/// carries to tell a faithful replay from one that ran something else.
///
/// It must not depend on addresses (a token is replayed by another process, where ASLR
/// moves every `Location`), and it runs at every step, so it is a cheap
/// multiply-rotate mix over the values and the bytes of the strings.
struct Fingerprint(u64);

impl Fingerprint {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn add_str(&mut self, s: &str) {
        let mut chunks = s.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ (s.len() as u64) << 56);
    }

    /// Add a step; the first one's location (where the test called the checker) is
    /// left out.
    #[inline]
    fn step(&mut self, thread: usize, op: &Op, first: bool) {
        self.add(thread as u64);
        self.add_str(op.what);
        if !first {
            self.add_str(op.at.file());
            self.add(u64::from(op.at.line()) << 32 | u64::from(op.at.column()));
        }
    }
}

/// Run `f` with the current execution, if this OS thread is running one.
fn with_exec<R>(f: impl FnOnce(&mut Exec) -> R) -> Option<R> {
    let ptr = EXEC.with(Cell::get);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: EXEC points at the `RefCell<Exec>` owned by `run_execution`'s frame,
    // which outlives every coroutine of the execution and clears the pointer before it
    // returns; only this OS thread reads it. Borrows are never held across a switch.
    let cell = unsafe { &*ptr };
    Some(f(&mut cell.borrow_mut()))
}

/// Whether the calling thread is a checked thread.
#[inline]
pub(crate) fn active() -> bool {
    local::thread_id() & CHECKED != 0
}

fn task_index(id: u64) -> usize {
    (id & !CHECKED) as usize - 1
}

fn suspend_current() {
    let yielder = with_exec(|e| e.tasks[e.current.expect("a task runs")].yielder)
        .expect("suspend outside an execution");
    // SAFETY: the yielder lives on the running coroutine's own stack, which is the
    // stack we are executing on right now, so it is valid for this call.
    unsafe { (*yielder).suspend(()) };
}

/// A schedule point: record what the current thread is about to do, and let the
/// scheduler decide who runs next.
#[cold]
#[inline(never)]
pub(crate) fn point(op: Op) {
    let ok = with_exec(|e| {
        let cur = e.current.expect("a task runs");
        e.tasks[cur].pending = op;
    });
    if ok.is_some() {
        suspend_current();
    }
}

/// Block the current thread until [`unblock`] or, if `deadline` is set, until virtual
/// time reaches it; `true` if it timed out. `what` says what the thread waits for. A deadlock report lists each blocked
/// thread with the operation it is blocked in; without `what` that is its last schedule
/// point, which for a wait inside a primitive (a barrier, a condition) is the unlock of
/// the primitive's internal lock rather than the wait itself.
pub(crate) fn block_on(deadline: Option<Instant>, what: Option<&crate::wait::WaitFor>) -> bool {
    let must_sleep = with_exec(|e| {
        let cur = e.current.expect("a task runs");
        let deadline = deadline.map(|d| d.saturating_duration_since(e.epoch));
        let task = &mut e.tasks[cur];
        if let Some(w) = what {
            task.pending = Op {
                what: w.what,
                object: Some(w.object),
                at: w.at,
            };
        }
        task.timed_out = false;
        if std::mem::take(&mut task.wake_pending) {
            return false;
        }
        task.state = State::Blocked { deadline };
        true
    })
    .expect("block outside an execution");
    if must_sleep {
        suspend_current();
    }
    with_exec(|e| {
        let cur = e.current.expect("a task runs");
        std::mem::take(&mut e.tasks[cur].timed_out)
    })
    .unwrap_or(false)
}

/// Make a blocked checked thread runnable (it was notified).
pub(crate) fn unblock(id: u64) {
    with_exec(|e| {
        // Waking a thread is touching what it waits on.
        let woken = e.tasks[task_index(id)].pending.object;
        if e.current.is_some() {
            e.touch(woken.map_or(EVERYTHING, |o| o.addr), true);
        }
        let task = &mut e.tasks[task_index(id)];
        match task.state {
            State::Blocked { .. } => task.state = State::Runnable,
            State::Runnable => task.wake_pending = true,
            State::Finished => {}
        }
    });
}

/// The next default-name number for `kind` within the running execution (1-based),
/// if the caller is checked: names then do not depend on earlier executions.
pub(crate) fn next_number(kind: &'static str) -> Option<u64> {
    if !active() {
        return None;
    }
    with_exec(|e| {
        if let Some(entry) = e.numbers.iter_mut().find(|(k, _)| *k == kind) {
            entry.1 += 1;
            entry.1
        } else {
            e.numbers.push((kind, 1));
            1
        }
    })
}

/// `op` with its object named for a trace: an instance number per creation site, or
/// for a thread (a join) the index of the checked thread + 1, which the report shows
/// by name.
fn named(op: Op, tasks: &[Task]) -> Op {
    let object = op.object.map(|o| {
        if o.site.is_none() && o.kind == "Thread" {
            let index = tasks.iter().position(|t| t.meta == o.addr);
            Object {
                instance: index.map_or(0, |i| i as u32 + 1),
                ..o
            }
        } else {
            crate::wait::object::numbered_checked(o)
        }
    });
    Op { object, ..op }
}

/// Virtual now.
pub(crate) fn now() -> Instant {
    with_exec(|e| e.epoch + e.elapsed).unwrap_or_else(Instant::now)
}

/// The current checked thread acquired the lock at `addr`.
pub(crate) fn acquired(addr: usize) {
    with_exec(|e| {
        let cur = e.current.expect("a task runs");
        let at = e.tasks[cur].pending.at;
        e.holds.push((addr, cur, at));
    });
}

/// If the calling thread is checked: the step it runs touches (writes) the object at
/// `addr` without a schedule point of its own (a lock re-taken after a condition wait).
#[inline]
pub(crate) fn touch(addr: usize) {
    if active() {
        with_exec(|e| e.touch(addr, true));
    }
}

/// The current checked thread took the `RwLock` at `addr` for reading.
pub(crate) fn acquired_read(addr: usize) {
    with_exec(|e| {
        let cur = e.current.expect("a task runs");
        e.reads.push((addr, cur));
    });
}

/// The current checked thread released its read hold of the `RwLock` at `addr`.
pub(crate) fn released_read(addr: usize) {
    with_exec(|e| {
        let cur = e.current.expect("a task runs");
        if let Some(i) = e.reads.iter().rposition(|&r| r == (addr, cur)) {
            e.reads.swap_remove(i);
        }
    });
}

/// The current checked thread released the lock at `addr`.
pub(crate) fn released(addr: usize) {
    with_exec(|e| {
        let cur = e.current.expect("a task runs");
        if let Some(i) = e.holds.iter().rposition(|&(a, t, _)| a == addr && t == cur) {
            e.holds.remove(i);
        }
    });
}

/// Start a checked thread running `body`; returns its heddle id.
/// `meta` is the address a join on the thread waits on (how a trace names the thread
/// joined).
pub(crate) fn spawn(
    name: String,
    meta: usize,
    at: &'static Location<'static>,
    body: Box<dyn FnOnce()>,
) -> u64 {
    // The stack is found before the execution is borrowed: running out of memory
    // mappings must panic in the spawning thread (a reported failure), not in the
    // scheduler's borrow (where the panic hook could not record it).
    let stack = new_stack();
    with_exec(|e| e.spawn(name, meta, at, body, stack)).expect("spawn outside an execution")
}

fn new_stack() -> DefaultStack {
    STACKS.with(|s| s.borrow_mut().pop()).unwrap_or_else(|| {
        DefaultStack::new(STACK_SIZE).unwrap_or_else(|e| {
            panic!(
                "heddle check: cannot allocate a stack for a checked thread ({e}); {} stacks of \
                 failed executions are left behind in this process",
                leaked_stacks()
            )
        })
    })
}

impl Exec {
    fn spawn(
        &mut self,
        name: String,
        meta: usize,
        at: &'static Location<'static>,
        body: Box<dyn FnOnce()>,
        stack: DefaultStack,
    ) -> u64 {
        let index = self.tasks.len();
        if let Some(step) = self.trace.len().checked_sub(1) {
            self.spawns.push((step as u32, index as u32));
        }
        let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
            with_exec(|e| e.tasks[index].yielder = yielder as *const _);
            // A panic is recorded by the hook; catching it here ends only this thread.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(body)) {
                // And if the hook did not see it (someone replaced the process's panic
                // hook after ours was installed), it must not pass for success.
                with_exec(|e| {
                    if e.failure.is_none() {
                        e.failure = Some(Failure::Panic {
                            thread: e.tasks[index].name.clone(),
                            message: payload_message(&*payload),
                            at: None,
                        });
                    }
                });
            }
        });
        self.tasks.push(Task {
            name,
            meta,
            state: State::Runnable,
            coroutine: Some(coroutine),
            yielder: std::ptr::null(),
            pending: Op {
                what: "start",
                object: None,
                at,
            },
            wake_pending: false,
            timed_out: false,
        });
        CHECKED | (index as u64 + 1)
    }

    /// The runnable threads, in index order, into `out` (reused: no allocation per step).
    fn runnable(&self, out: &mut Vec<usize>) {
        out.clear();
        out.extend((0..self.tasks.len()).filter(|&i| self.tasks[i].state == State::Runnable));
    }

    /// Nobody can run: fire the earliest timeout, or report what is stuck.
    fn stalled(&mut self) -> bool {
        let earliest = (0..self.tasks.len())
            .filter_map(|i| match self.tasks[i].state {
                State::Blocked { deadline: Some(d) } => Some((d, i)),
                _ => None,
            })
            .min();
        if let Some((deadline, i)) = earliest {
            self.elapsed = self.elapsed.max(deadline);
            self.pending_timeout = Some(self.elapsed);
            let task = &mut self.tasks[i];
            task.state = State::Runnable;
            task.timed_out = true;
            return true;
        }
        let blocked: Vec<(String, Op, bool)> = (0..self.tasks.len())
            .filter(|&i| matches!(self.tasks[i].state, State::Blocked { .. }))
            .map(|i| {
                let t = &self.tasks[i];
                let reading = t
                    .pending
                    .object
                    .is_some_and(|o| self.reads.contains(&(o.addr, i)));
                (t.name.clone(), named(t.pending, &self.tasks), reading)
            })
            .collect();
        if !blocked.is_empty() && self.failure.is_none() {
            let cycle = self.find_cycle();
            self.failure = Some(Failure::Deadlock { blocked, cycle });
        }
        false
    }

    /// Follow "waits for lock → held by thread → waits for …" from each blocked thread.
    fn find_cycle(&self) -> Vec<CycleLink> {
        let waits = |t: usize| -> Option<(Object, usize, &'static Location<'static>)> {
            let task = &self.tasks[t];
            if !matches!(task.state, State::Blocked { deadline: None }) {
                return None;
            }
            let object = task.pending.object?;
            let &(_, holder, _) = self.holds.iter().find(|h| h.0 == object.addr)?;
            Some((object, holder, task.pending.at))
        };
        for start in 0..self.tasks.len() {
            let mut path = vec![start];
            let mut t = start;
            while let Some((_, holder, _)) = waits(t) {
                if holder == start {
                    return path
                        .iter()
                        .map(|&t| {
                            let (object, holder, waits_at) = waits(t).expect("on the path");
                            let taken_at = self
                                .holds
                                .iter()
                                .find(|h| h.0 == object.addr)
                                .map(|h| h.2)
                                .expect("held");
                            CycleLink {
                                thread: self.tasks[t].name.clone(),
                                waits_for: crate::wait::object::numbered_checked(object),
                                waits_at,
                                held_by: self.tasks[holder].name.clone(),
                                taken_at,
                            }
                        })
                        .collect();
                }
                if path.contains(&holder) {
                    break;
                }
                path.push(holder);
                t = holder;
            }
        }
        Vec::new()
    }
}

static HOOK: Once = Once::new();

/// Route panics of checked threads into the execution's failure instead of stderr.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let recorded = with_exec(|e| {
                if e.failure.is_none() {
                    let thread = e
                        .current
                        .map_or_else(|| "scheduler".to_string(), |c| e.tasks[c].name.clone());
                    e.failure = Some(Failure::Panic {
                        thread,
                        message: payload_message(info.payload()),
                        at: info.location().map(|l| l.to_string()),
                    });
                }
            });
            if recorded.is_none() {
                previous(info);
            }
        }));
    });
}

pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(report) = payload.downcast_ref::<crate::deadlock::DeadlockReport>() {
        report.to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Clears [`EXEC`] and restores the OS thread's heddle id when an execution ends, even
/// by unwinding.
struct Unset(u64);

impl Drop for Unset {
    fn drop(&mut self) {
        EXEC.with(|e| e.set(std::ptr::null()));
        local::set_thread_id(self.0);
    }
}

/// Run `f` once under `strategy`.
///
/// `at` is where the test asked for it (`Checker::run`, `replay`): the trace shows it as
/// the main thread's start, and the fingerprint leaves it out (a replay is called from
/// elsewhere).
pub(crate) fn run_execution(
    f: &Arc<dyn Fn() + Send + Sync>,
    strategy: &mut dyn Strategy,
    max_steps: usize,
    at: &'static Location<'static>,
) -> Outcome {
    install_panic_hook();
    assert!(
        EXEC.with(Cell::get).is_null(),
        "a checker run cannot be nested inside another checker run"
    );
    let mut spare = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let cell = RefCell::new(Exec {
        tasks: spare.tasks,
        current: None,
        trace: spare.trace,
        choices: spare.choices,
        elapsed: Duration::ZERO,
        epoch: Instant::now(),
        failure: None,
        holds: spare.holds,
        reads: Vec::new(),
        max_steps,
        pending_timeout: None,
        numbers: Vec::new(),
        accesses: spare.accesses,
        spawns: spare.spawns,
    });
    EXEC.with(|e| e.set(&cell));
    // Lock order is checked per execution (see `deadlock::order`), and objects are
    // numbered per execution.
    crate::deadlock::reset_checked();
    crate::wait::object::reset_checked_numbers();
    // If the scheduler itself panics (a bug in a strategy), `cell` is gone when the
    // panic leaves this frame: the pointer to it must not outlive it.
    let unset = Unset(local::thread_id());
    let main = Arc::clone(f);
    let stack = new_stack();
    cell.borrow_mut().spawn(
        "MainThread".to_string(),
        0,
        at,
        Box::new(move || main()),
        stack,
    );

    let mut fingerprint = Fingerprint(0);
    let mut last: Option<usize> = None;
    let mut retired: Vec<DefaultStack> = Vec::new();
    let mut runnable = spare.runnable;
    loop {
        let step = {
            let mut e = cell.borrow_mut();
            if e.failure.is_some() {
                break;
            }
            if e.tasks[0].state == State::Finished {
                let left: Vec<String> = e
                    .tasks
                    .iter()
                    .filter(|t| t.state != State::Finished)
                    .map(|t| t.name.clone())
                    .collect();
                if !left.is_empty() {
                    e.failure = Some(Failure::LeftRunning(left));
                }
                break;
            }
            e.runnable(&mut runnable);
            if runnable.is_empty() {
                if !e.stalled() {
                    break;
                }
                e.runnable(&mut runnable);
            }
            if e.trace.len() >= e.max_steps {
                e.failure = Some(Failure::StepBudget(e.max_steps));
                break;
            }
            e.trace.len()
        };
        let current = last.filter(|c| runnable.contains(c));
        let choice = {
            let e = cell.borrow();
            // The previous step's accesses: the tail of the list.
            let previous = step.wrapping_sub(1) as u32;
            let from = e
                .accesses
                .iter()
                .rposition(|a| a.step != previous)
                .map_or(0, |i| i + 1);
            let pending = |t: usize| {
                let task = &e.tasks[t];
                let op = &task.pending;
                (op.object.map(|o| (o.addr, !reads_only(op))), task.meta)
            };
            strategy.choose(&Point {
                runnable: &runnable,
                current,
                last_thread: last,
                step,
                last: &e.accesses[from..],
                pending: &pending,
            })
        };
        let chosen = match choice {
            Ok(t) => t,
            Err(message) => {
                cell.borrow_mut().failure = Some(Failure::Diverged(message));
                break;
            }
        };
        let mut coroutine = {
            let mut e = cell.borrow_mut();
            let op = e.tasks[chosen].pending;
            fingerprint.step(chosen, &op, e.trace.is_empty());
            let op = if op.object.is_some() {
                named(op, &e.tasks)
            } else {
                op
            };
            let timeout_fired = e.pending_timeout.take();
            e.trace.push(Step {
                thread: chosen,
                op,
                preempted: current.is_some_and(|c| c != chosen),
                timeout_fired,
                fingerprint: fingerprint.0,
            });
            if timeout_fired.is_some() {
                e.touch(EVERYTHING, true);
            }
            if let Some(object) = op.object {
                e.touch(object.addr, !reads_only(&op));
            }
            e.choices.push(chosen);
            e.current = Some(chosen);
            e.tasks[chosen]
                .coroutine
                .take()
                .expect("runnable task has a coroutine")
        };
        last = Some(chosen);
        local::set_thread_id(CHECKED | (chosen as u64 + 1));
        let result = coroutine.resume(());
        local::set_thread_id(unset.0);
        let mut e = cell.borrow_mut();
        match result {
            CoroutineResult::Yield(()) => e.tasks[chosen].coroutine = Some(coroutine),
            CoroutineResult::Return(()) => {
                e.tasks[chosen].state = State::Finished;
                // Finishing is what a join waits for.
                let meta = e.tasks[chosen].meta;
                if meta != 0 {
                    e.touch(meta, true);
                }
                // Reused by the next execution, not this one: a thread started later
                // would have its locals at the finished thread's addresses, which
                // partial-order reduction would take for the same objects.
                retired.push(coroutine.into_stack());
            }
        }
        e.current = None;
    }
    drop(unset);
    STACKS.with(|s| s.borrow_mut().append(&mut retired));
    crate::thread::clear_checked();
    let mut exec = cell.into_inner();
    let metas: Vec<usize> = exec.tasks.iter().map(|t| t.meta).collect();
    strategy.end(&Run {
        trace: &exec.trace,
        accesses: &exec.accesses,
        spawns: &exec.spawns,
        metas: &metas,
    });
    exec.accesses.clear();
    exec.spawns.clear();
    let mut names = spare.names;
    for task in exec.tasks.drain(..) {
        names.push(task.name);
        if let Some(coroutine) = task.coroutine {
            // An unfinished thread (after a failure): unwinding its stack would run its
            // destructors outside the execution, so its memory is leaked instead.
            std::mem::forget(coroutine);
            LEAKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    exec.holds.clear();
    runnable.clear();
    spare.tasks = exec.tasks;
    spare.holds = exec.holds;
    spare.accesses = exec.accesses;
    spare.spawns = exec.spawns;
    spare.runnable = runnable;
    spare.names = Vec::new();
    spare.trace = Vec::new();
    spare.choices = Vec::new();
    SPARE.with(|s| *s.borrow_mut() = spare);
    Outcome {
        trace: exec.trace,
        names,
        choices: exec.choices,
        failure: exec.failure,
        fingerprint: fingerprint.0,
    }
}
