//! Dynamic partial-order reduction: exhaustive search that does not re-order
//! independent steps.
//!
//! Source-set DPOR (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014) over the checker's
//! schedule points, stateless, one execution at a time:
//!
//! * Every step records what it touched ([`Access`]): the object of its operation (a
//!   read for `load`, `read`…, a write otherwise), the object a thread it woke waits on,
//!   the thread it finished (what a join waits for). Two steps of different threads are
//!   *dependent* when they touch one object and at least one writes. A step where a
//!   timeout fired is dependent on every other (its outcome depends on all of them).
//! * Happens-before is program order, thread start (a thread's steps come after the
//!   step that started it) and dependency, tracked with vector clocks.
//! * When an execution ends, each *race* (two dependent steps `j < k` of different
//!   threads, with no happens-before path between them other than their own
//!   dependency) asks that some schedule run, at `j`, a thread that starts the
//!   reversed order: an *initial* of the steps after `j` that do not depend on `j`,
//!   followed by `k`. If the backtrack set at `j` already has one, nothing is added; if
//!   none of them could run at `j`, every thread that could is added (the classic,
//!   conservative rule).
//! * Sleep sets: a thread explored at `j` is asleep in its later siblings' subtrees
//!   until a step dependent on its next one runs, so those subtrees do not explore it
//!   again first. A sleeper's next step is judged in the current execution (its
//!   pending operation's object), never by addresses from the execution that explored
//!   it: the objects a test makes live at other addresses in each execution (the
//!   outcome tests in `tests/check_dpor.rs` caught exactly that).
//!
//! The search is exhaustive (every Mazurkiewicz trace of the program, up to the
//! checker's schedule points) when it ends by running out of backtrack points.

use std::collections::HashMap;

use super::exec::{Access, Run, EVERYTHING};
use super::strategy::{Point, Strategy};

/// One decision of the search.
struct Frame {
    /// Threads that could run here.
    enabled: Vec<usize>,
    /// The thread run here in the current execution.
    chosen: usize,
    /// Threads to run here in some execution.
    backtrack: Vec<usize>,
    /// Threads already run here.
    done: Vec<usize>,
    /// Threads asleep here: explored before in an equivalent order, with the shape of
    /// their next step.
    sleep: Vec<(usize, Shape)>,
    /// The shape of each thread's step from here, when it was run (for sleep sets).
    explored: Vec<(usize, Shape)>,
}

/// What a step touched, in terms that mean the same in another execution (objects made
/// by the test live at other addresses in each): its operation's object, the thread's
/// own join object (it finished), anything else (it woke a thread waiting on another
/// object, a timeout fired: then it is taken as dependent on everything).
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Whether it touched its operation's object, and wrote it.
    primary: Option<bool>,
    finishes: bool,
    other: bool,
}

impl Shape {
    fn of(run: &Run<'_>, k: usize, accesses: &[Access]) -> Shape {
        let step = &run.trace[k];
        let primary_addr = step.op.object.map(|o| o.addr);
        let meta = run.metas.get(step.thread).copied().unwrap_or(0);
        let mut shape = Shape {
            primary: None,
            finishes: false,
            other: false,
        };
        for a in accesses {
            if Some(a.object) == primary_addr {
                shape.primary = Some(shape.primary.unwrap_or(false) | a.write);
            } else if meta != 0 && a.object == meta {
                shape.finishes = true;
            } else {
                shape.other = true;
            }
        }
        shape
    }

    /// The accesses of thread `t`'s pending step with this shape, in the execution
    /// `point` belongs to; `None` if it must be taken as dependent on everything.
    fn accesses(&self, t: usize, point: &Point<'_>) -> Option<Vec<Access>> {
        if self.other {
            return None;
        }
        let (object, meta) = (point.pending)(t);
        let mut out = Vec::new();
        if let Some(write) = self.primary {
            let (addr, _) = object?;
            out.push(Access {
                step: 0,
                object: addr,
                write,
            });
        }
        if self.finishes {
            out.push(Access {
                step: 0,
                object: meta,
                write: true,
            });
        }
        Some(out)
    }
}

/// The DPOR strategy.
pub(crate) struct Dpor {
    stack: Vec<Frame>,
    depth: usize,
    started: bool,
    exhausted: bool,
}

/// Races whose in-between stretch is longer than this use the classic rule instead of
/// computing initials (quadratic in the stretch).
const INITIALS_LIMIT: usize = 256;

impl Dpor {
    pub(crate) fn new() -> Self {
        Dpor {
            stack: Vec::new(),
            depth: 0,
            started: false,
            exhausted: false,
        }
    }

    fn analyse(&mut self, run: &Run<'_>) {
        let trace = run.trace;
        let len = trace.len().min(self.stack.len());
        if len == 0 {
            return;
        }
        let threads = trace.iter().map(|s| s.thread).max().unwrap_or(0) + 1;
        let threads = run
            .spawns
            .iter()
            .map(|&(_, c)| c as usize + 1)
            .max()
            .unwrap_or(0)
            .max(threads);
        // Accesses grouped by step.
        let mut by_step: Vec<(usize, usize)> = vec![(0, 0); len];
        {
            let mut i = 0;
            for (k, slot) in by_step.iter_mut().enumerate() {
                let start = i;
                while i < run.accesses.len() && (run.accesses[i].step as usize) == k {
                    i += 1;
                }
                *slot = (start, i);
            }
        }
        let mut started_by: Vec<Option<usize>> = vec![None; threads];
        for &(step, child) in run.spawns {
            started_by[child as usize] = Some(step as usize);
        }
        let mut clock: Vec<Vec<u32>> = vec![vec![0; threads]; threads];
        let mut step_clock: Vec<Vec<u32>> = Vec::with_capacity(len);
        let mut local: Vec<u32> = Vec::with_capacity(len);
        let mut seen_first = vec![false; threads];
        #[derive(Default)]
        struct Obj {
            last_write: Option<usize>,
            reads: Vec<usize>,
        }
        let mut objects: HashMap<usize, Obj> = HashMap::new();
        let mut globals: Vec<usize> = Vec::new();
        let mut races: Vec<(usize, usize)> = Vec::new();
        for (k, step) in trace.iter().enumerate().take(len) {
            let p = step.thread;
            if !seen_first[p] {
                seen_first[p] = true;
                if let Some(s) = started_by[p] {
                    if s < k {
                        let from = step_clock[s].clone();
                        join(&mut clock[p], &from);
                    }
                }
            }
            clock[p][p] += 1;
            local.push(clock[p][p]);
            let (a, b) = by_step[k];
            for access in &run.accesses[a..b] {
                let mut dependent: Vec<usize> = globals.clone();
                if access.object == EVERYTHING {
                    // Dependent on the last step of every other thread.
                    let mut last: Vec<Option<usize>> = vec![None; threads];
                    for (j, s) in trace.iter().enumerate().take(k) {
                        last[s.thread] = Some(j);
                    }
                    dependent.extend(last.into_iter().flatten());
                } else {
                    let obj = objects.entry(access.object).or_default();
                    if access.write {
                        if obj.reads.is_empty() {
                            dependent.extend(obj.last_write);
                        } else {
                            dependent.extend(obj.reads.iter().copied());
                            dependent.extend(obj.last_write);
                        }
                    } else {
                        dependent.extend(obj.last_write);
                    }
                }
                // An earlier access of this same step is no race and no clock.
                dependent.retain(|&j| j < k);
                for &j in &dependent {
                    let q = trace[j].thread;
                    if q != p && local[j] > clock[p][q] {
                        races.push((j, k));
                    }
                }
                for &j in &dependent {
                    let from = step_clock[j].clone();
                    join(&mut clock[p], &from);
                }
                if access.object == EVERYTHING {
                    globals.push(k);
                } else {
                    let obj = objects.get_mut(&access.object).expect("entered above");
                    if access.write {
                        obj.last_write = Some(k);
                        obj.reads.clear();
                    } else {
                        obj.reads.push(k);
                    }
                }
            }
            step_clock.push(clock[p].clone());
        }
        races.sort_unstable();
        races.dedup();
        for (j, k) in races {
            self.reverse(trace, &local, &step_clock, j, k);
        }
    }

    /// Ask for a schedule that reverses the race `j`, `k`.
    fn reverse(
        &mut self,
        trace: &[super::exec::Step],
        local: &[u32],
        step_clock: &[Vec<u32>],
        j: usize,
        k: usize,
    ) {
        let hb = |a: usize, b: usize| local[a] <= step_clock[b][trace[a].thread];
        let qj = trace[j].thread;
        let frame = &mut self.stack[j];
        let p = trace[k].thread;
        let initials: Option<Vec<usize>> = (k - j <= INITIALS_LIMIT).then(|| {
            // v: the steps after j that do not happen after it, then k.
            let v: Vec<usize> = (j + 1..k)
                .filter(|&m| !hb(j, m) && trace[m].thread != qj)
                .chain(std::iter::once(k))
                .collect();
            let mut out = Vec::new();
            for (i, &m) in v.iter().enumerate() {
                let t = trace[m].thread;
                if out.contains(&t) {
                    continue;
                }
                if v[..i].iter().all(|&earlier| !hb(earlier, m)) {
                    out.push(t);
                }
            }
            out
        });
        match initials {
            Some(initials) if !initials.is_empty() => {
                if initials
                    .iter()
                    .any(|t| frame.backtrack.contains(t) || frame.done.contains(t))
                {
                    return;
                }
                if let Some(&t) = initials.iter().find(|t| frame.enabled.contains(t)) {
                    frame.backtrack.push(t);
                    return;
                }
            }
            _ => {
                if frame.enabled.contains(&p) {
                    if !frame.backtrack.contains(&p) {
                        frame.backtrack.push(p);
                    }
                    return;
                }
            }
        }
        for &t in &frame.enabled {
            if !frame.backtrack.contains(&t) {
                frame.backtrack.push(t);
            }
        }
    }
}

/// Whether two access lists are dependent (one object, at least one write).
fn dependent(a: &[Access], b: &[Access]) -> bool {
    a.iter().any(|x| {
        b.iter().any(|y| {
            x.object == EVERYTHING
                || y.object == EVERYTHING
                || (x.object == y.object && (x.write || y.write))
        })
    })
}

fn join(into: &mut [u32], from: &[u32]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = (*a).max(*b);
    }
}

impl Strategy for Dpor {
    fn begin(&mut self) -> bool {
        if self.exhausted {
            return false;
        }
        if self.started {
            loop {
                let Some(frame) = self.stack.last_mut() else {
                    self.exhausted = true;
                    return false;
                };
                let next = frame
                    .backtrack
                    .iter()
                    .copied()
                    .filter(|t| !frame.done.contains(t) && !frame.sleep.iter().any(|s| s.0 == *t))
                    .min();
                if let Some(t) = next {
                    frame.chosen = t;
                    frame.done.push(t);
                    break;
                }
                self.stack.pop();
            }
        }
        self.started = true;
        self.depth = 0;
        true
    }

    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        let d = self.depth;
        self.depth += 1;
        if let Some(frame) = self.stack.get(d) {
            let t = frame.chosen;
            if !point.runnable.contains(&t) {
                return Err(format!(
                    "the program is not deterministic: at step {} thread #{t} was runnable \
                     in an earlier execution with the same schedule, and is not now",
                    point.step + 1
                ));
            }
            return Ok(t);
        }
        // A new decision. Its sleep set: the parent's sleepers, and the threads the
        // parent explored before its current choice, that the parent's step does not
        // depend on.
        let sleep: Vec<(usize, Shape)> = match d.checked_sub(1).map(|i| &self.stack[i]) {
            None => Vec::new(),
            Some(parent) => {
                let taken = point.last;
                let earlier = parent
                    .explored
                    .iter()
                    .filter(|(t, _)| *t != parent.chosen && parent.done.contains(t));
                parent
                    .sleep
                    .iter()
                    .chain(earlier)
                    .filter(|(t, shape)| {
                        *t != parent.chosen
                            && point.runnable.contains(t)
                            && shape
                                .accesses(*t, point)
                                .is_some_and(|a| !dependent(&a, taken))
                    })
                    .copied()
                    .collect()
            }
        };
        let awake = |t: &usize| !sleep.iter().any(|s| s.0 == *t);
        // Go on with the current thread if it can, without preempting.
        let chosen = point
            .current
            .filter(|c| awake(c))
            .or_else(|| point.runnable.iter().copied().find(|t| awake(t)))
            // Every runnable thread asleep: this execution repeats an explored one; it
            // runs to its end all the same (its threads cannot be abandoned).
            .unwrap_or_else(|| point.current.unwrap_or(point.runnable[0]));
        self.stack.push(Frame {
            enabled: point.runnable.to_vec(),
            chosen,
            backtrack: vec![chosen],
            done: vec![chosen],
            sleep,
            explored: Vec::new(),
        });
        Ok(chosen)
    }

    fn end(&mut self, run: &Run<'_>) {
        self.stack.truncate(run.trace.len());
        // Remember what each frame's chosen step touched (for sleep sets).
        let mut i = 0;
        for (k, frame) in self.stack.iter_mut().enumerate() {
            let start = i;
            while i < run.accesses.len() && run.accesses[i].step as usize == k {
                i += 1;
            }
            if !frame.explored.iter().any(|(t, _)| *t == frame.chosen) {
                let shape = Shape::of(run, k, &run.accesses[start..i]);
                frame.explored.push((frame.chosen, shape));
            }
        }
        self.analyse(run);
    }
}
