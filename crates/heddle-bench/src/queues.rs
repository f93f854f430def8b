//! The `queues` group: heddle's `Queue` against crossbeam-channel, flume, std's mpsc
//! and Python's `queue.Queue`.
//!
//! Every case reports ns per message (lower is better), from the first thread's start
//! to the last thread's end (threads time themselves after a start barrier, so thread
//! spawning is not measured):
//!
//! * `spsc`, `mpsc 4->1`, `mpmc 4->4`, each over `bounded(1)`, `bounded(1024)` and
//!   `unbounded`: producers put their share of the messages, consumers get theirs;
//! * `rendezvous round trip`: two threads ping-pong over two zero-capacity queues; the
//!   figure is per round trip (two hand-offs, each a wake-up).
//! * `select 2 queues ...`: two producers each fill their own queue, one consumer
//!   takes every message through a select over gets on both (heddle's `Select` against
//!   crossbeam's `Select`, each reused across selections; ns per message);
//! * `select rendezvous round trip`: the ping-pong with a fresh select on both ends of
//!   every hand-off (a select's put meets a select's get: Go's unbuffered channels in
//!   a `select`); ns per round trip.
//!
//! std's `Receiver` cannot be shared, so std has no `mpmc` figures; Python has no
//! rendezvous queue.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::harness::{Case, CaseBuilder, Config, Unit};
use crate::python;
use crate::Report;

const PYTHON_SCRIPT: &str = include_str!("../python/queues.py");

#[derive(Clone, Copy, Debug)]
enum Cap {
    Bounded(usize),
    Unbounded,
}

/// One channel implementation, as the cases use it.
trait Chan {
    type S: Send;
    type R: Send;
    fn make(cap: Cap) -> (Self::S, Self::R);
    fn clone_s(s: &Self::S) -> Self::S;
    /// `None` when receivers cannot be shared (std).
    fn clone_r(r: &Self::R) -> Option<Self::R>;
    fn send(s: &Self::S, v: u64);
    fn recv(r: &Self::R) -> u64;
}

struct Heddle;
impl Chan for Heddle {
    type S = heddle::queue::Queue<u64>;
    type R = heddle::queue::Queue<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        let q = match cap {
            Cap::Bounded(n) => heddle::queue::Queue::bounded(n),
            Cap::Unbounded => heddle::queue::Queue::unbounded(),
        };
        (q.clone(), q)
    }
    fn clone_s(s: &Self::S) -> Self::S {
        s.clone()
    }
    fn clone_r(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
    fn send(s: &Self::S, v: u64) {
        s.put(v).unwrap();
    }
    fn recv(r: &Self::R) -> u64 {
        r.get().unwrap()
    }
}

struct Crossbeam;
impl Chan for Crossbeam {
    type S = crossbeam_channel::Sender<u64>;
    type R = crossbeam_channel::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Bounded(n) => crossbeam_channel::bounded(n),
            Cap::Unbounded => crossbeam_channel::unbounded(),
        }
    }
    fn clone_s(s: &Self::S) -> Self::S {
        s.clone()
    }
    fn clone_r(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
    fn send(s: &Self::S, v: u64) {
        s.send(v).unwrap();
    }
    fn recv(r: &Self::R) -> u64 {
        r.recv().unwrap()
    }
}

struct Flume;
impl Chan for Flume {
    type S = flume::Sender<u64>;
    type R = flume::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Bounded(n) => flume::bounded(n),
            Cap::Unbounded => flume::unbounded(),
        }
    }
    fn clone_s(s: &Self::S) -> Self::S {
        s.clone()
    }
    fn clone_r(r: &Self::R) -> Option<Self::R> {
        Some(r.clone())
    }
    fn send(s: &Self::S, v: u64) {
        s.send(v).unwrap();
    }
    fn recv(r: &Self::R) -> u64 {
        r.recv().unwrap()
    }
}

/// std's two channel types behind one sender.
enum StdSender {
    Sync(std::sync::mpsc::SyncSender<u64>),
    Async(std::sync::mpsc::Sender<u64>),
}

struct Std;
impl Chan for Std {
    type S = StdSender;
    type R = std::sync::mpsc::Receiver<u64>;
    fn make(cap: Cap) -> (Self::S, Self::R) {
        match cap {
            Cap::Bounded(n) => {
                let (s, r) = std::sync::mpsc::sync_channel(n);
                (StdSender::Sync(s), r)
            }
            Cap::Unbounded => {
                let (s, r) = std::sync::mpsc::channel();
                (StdSender::Async(s), r)
            }
        }
    }
    fn clone_s(s: &Self::S) -> Self::S {
        match s {
            StdSender::Sync(s) => StdSender::Sync(s.clone()),
            StdSender::Async(s) => StdSender::Async(s.clone()),
        }
    }
    fn clone_r(_: &Self::R) -> Option<Self::R> {
        None
    }
    fn send(s: &Self::S, v: u64) {
        match s {
            StdSender::Sync(s) => s.send(v).unwrap(),
            StdSender::Async(s) => s.send(v).unwrap(),
        }
    }
    fn recv(r: &Self::R) -> u64 {
        r.recv().unwrap()
    }
}

/// `total` messages from `producers` threads to `consumers` threads; the span from the
/// earliest start to the latest end, scaled to exactly `total` messages.
fn pipe<C: Chan>(cap: Cap, producers: usize, consumers: usize, total: u64) -> Duration {
    let lcm = (producers * consumers) as u64;
    let n = total.div_ceil(lcm).max(1) * lcm;
    let (s, r) = C::make(cap);
    let senders: Vec<C::S> = (0..producers).map(|_| C::clone_s(&s)).collect();
    drop(s);
    let mut receivers = vec![r];
    for _ in 1..consumers {
        let more = C::clone_r(&receivers[0]).expect("receivers that can be shared");
        receivers.push(more);
    }
    let start = Barrier::new(producers + consumers);
    let per_producer = n / producers as u64;
    let per_consumer = n / consumers as u64;
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|sc| {
        let mut handles = Vec::new();
        for s in senders {
            let start = &start;
            handles.push(sc.spawn(move || {
                start.wait();
                let t0 = Instant::now();
                for i in 0..per_producer {
                    C::send(&s, i);
                }
                (t0, Instant::now())
            }));
        }
        for r in receivers {
            let start = &start;
            handles.push(sc.spawn(move || {
                start.wait();
                let t0 = Instant::now();
                let mut sum = 0u64;
                for _ in 0..per_consumer {
                    sum = sum.wrapping_add(C::recv(&r));
                }
                std::hint::black_box(sum);
                (t0, Instant::now())
            }));
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    (last - first).mul_f64(total as f64 / n as f64)
}

/// `iters` round trips: A sends on `ping`, B answers on `pong`.
fn round_trips<C: Chan>(iters: u64) -> Duration {
    let (ping_s, ping_r) = C::make(Cap::Bounded(0));
    let (pong_s, pong_r) = C::make(Cap::Bounded(0));
    let start = Barrier::new(2);
    std::thread::scope(|sc| {
        let start = &start;
        sc.spawn(move || {
            start.wait();
            for _ in 0..iters {
                let v = C::recv(&ping_r);
                C::send(&pong_s, v + 1);
            }
        });
        start.wait();
        let t0 = Instant::now();
        for i in 0..iters {
            C::send(&ping_s, i);
            std::hint::black_box(C::recv(&pong_r));
        }
        t0.elapsed()
    })
}

/// SPSC through heddle's `bounded(1024)`: the consumer marks every item done
/// (`task_done`), and with `joiner` a third thread sits in `join()` the whole time:
/// a join waiter must cost the pipe nothing.
fn heddle_task_done(total: u64, joiner: bool) -> Duration {
    let q = heddle::queue::Queue::<u64>::bounded(1024);
    let start = Barrier::new(if joiner { 3 } else { 2 });
    std::thread::scope(|sc| {
        let (p, c) = (q.clone(), q.clone());
        let start = &start;
        if joiner {
            let j = q.clone();
            sc.spawn(move || {
                start.wait();
                // Joins as soon as the queue is found busy; returns when all is done.
                j.join();
            });
        }
        let consumer = sc.spawn(move || {
            start.wait();
            let mut sum = 0u64;
            for _ in 0..total {
                sum = sum.wrapping_add(c.get().unwrap());
                c.task_done().unwrap();
            }
            std::hint::black_box(sum);
            Instant::now()
        });
        start.wait();
        let t0 = Instant::now();
        for i in 0..total {
            p.put(i).unwrap();
        }
        consumer.join().unwrap() - t0
    })
}

fn task_done_case(cfg: &Config) -> Case {
    CaseBuilder::new(
        "spsc bounded(1024) with task_done, join waiter",
        Unit::NsPerOp,
    )
    .add("heddle", |n| heddle_task_done(n, true))
    .add("heddle/no joiner", |n| heddle_task_done(n, false))
    .add("heddle/plain", |n| {
        pipe::<Heddle>(Cap::Bounded(1024), 1, 1, n)
    })
    .measure(cfg)
}

fn capacity_name(cap: Cap) -> String {
    match cap {
        Cap::Bounded(n) => format!("bounded({n})"),
        Cap::Unbounded => "unbounded".to_owned(),
    }
}

fn pipe_case(cfg: &Config, name: &str, cap: Cap, producers: usize, consumers: usize) -> Case {
    let mut b = CaseBuilder::new(name, Unit::NsPerOp)
        .add("heddle", move |n| {
            pipe::<Heddle>(cap, producers, consumers, n)
        })
        .add("crossbeam", move |n| {
            pipe::<Crossbeam>(cap, producers, consumers, n)
        })
        .add("flume", move |n| {
            pipe::<Flume>(cap, producers, consumers, n)
        });
    if consumers == 1 {
        b = b.add("std", move |n| pipe::<Std>(cap, producers, consumers, n));
    }
    b.measure(cfg)
}

fn rendezvous_case(cfg: &Config) -> Case {
    CaseBuilder::new("rendezvous round trip", Unit::NsPerOp)
        .add("heddle", round_trips::<Heddle>)
        .add("crossbeam", round_trips::<Crossbeam>)
        .add("flume", round_trips::<Flume>)
        .add("std", round_trips::<Std>)
        .measure(cfg)
}

/// Two producers, each on its own queue; one consumer selects over gets on both.
fn heddle_select(cap: Cap, total: u64) -> Duration {
    use heddle::queue::{Queue, Select};
    let per = total.div_ceil(2).max(1);
    let make = || match cap {
        Cap::Bounded(n) => Queue::<u64>::bounded(n),
        Cap::Unbounded => Queue::unbounded(),
    };
    let qs = [make(), make()];
    let start = Barrier::new(3);
    std::thread::scope(|sc| {
        for q in &qs {
            let start = &start;
            sc.spawn(move || {
                start.wait();
                for i in 0..per {
                    q.put(i).unwrap();
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        let mut sel = Select::new();
        sel.get(&qs[0]);
        sel.get(&qs[1]);
        let mut sum = 0u64;
        for _ in 0..2 * per {
            let op = sel.select();
            let i = op.index();
            sum = sum.wrapping_add(op.get(&qs[i]).unwrap());
        }
        std::hint::black_box(sum);
        t0.elapsed().mul_f64(total as f64 / (2 * per) as f64)
    })
}

/// [`heddle_select`] with crossbeam's channels and `Select`.
fn crossbeam_select(cap: Cap, total: u64) -> Duration {
    use crossbeam_channel::Select;
    let per = total.div_ceil(2).max(1);
    let make = || match cap {
        Cap::Bounded(n) => crossbeam_channel::bounded::<u64>(n),
        Cap::Unbounded => crossbeam_channel::unbounded(),
    };
    let (chans_s, chans_r): (Vec<_>, Vec<_>) = [make(), make()].into_iter().unzip();
    let start = Barrier::new(3);
    std::thread::scope(|sc| {
        // Senders stay alive until the consumer is done: a disconnected channel is
        // always ready in crossbeam's select.
        for s in &chans_s {
            let start = &start;
            sc.spawn(move || {
                start.wait();
                for i in 0..per {
                    s.send(i).unwrap();
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        let mut sel = Select::new();
        sel.recv(&chans_r[0]);
        sel.recv(&chans_r[1]);
        let mut sum = 0u64;
        for _ in 0..2 * per {
            let op = sel.select();
            let i = op.index();
            sum = sum.wrapping_add(op.recv(&chans_r[i]).unwrap());
        }
        std::hint::black_box(sum);
        t0.elapsed().mul_f64(total as f64 / (2 * per) as f64)
    })
}

fn select_case(cfg: &Config, name: &str, cap: Cap) -> Case {
    CaseBuilder::new(name, Unit::NsPerOp)
        .add("heddle", move |n| heddle_select(cap, n))
        .add("crossbeam", move |n| crossbeam_select(cap, n))
        .measure(cfg)
}

/// `iters` round trips over two rendezvous queues, every hand-off a fresh select on
/// both ends.
fn heddle_select_round_trips(iters: u64) -> Duration {
    use heddle::queue::{Queue, Select};
    let (ping, pong) = (Queue::<u64>::bounded(0), Queue::<u64>::bounded(0));
    let start = Barrier::new(2);
    let get = |q: &Queue<u64>| {
        let mut sel = Select::new();
        sel.get(q);
        sel.select().get(q).unwrap()
    };
    let put = |q: &Queue<u64>, v| {
        let mut sel = Select::new();
        sel.put(q);
        sel.select().put(q, v).unwrap();
    };
    std::thread::scope(|sc| {
        let (start, ping, pong) = (&start, &ping, &pong);
        sc.spawn(move || {
            start.wait();
            for _ in 0..iters {
                let v = get(ping);
                put(pong, v + 1);
            }
        });
        start.wait();
        let t0 = Instant::now();
        for i in 0..iters {
            put(ping, i);
            std::hint::black_box(get(pong));
        }
        t0.elapsed()
    })
}

/// [`heddle_select_round_trips`] with crossbeam's zero-capacity channels and `Select`.
fn crossbeam_select_round_trips(iters: u64) -> Duration {
    use crossbeam_channel::{Receiver, Select, Sender};
    let (ping_s, ping_r) = crossbeam_channel::bounded::<u64>(0);
    let (pong_s, pong_r) = crossbeam_channel::bounded::<u64>(0);
    let start = Barrier::new(2);
    let get = |r: &Receiver<u64>| {
        let mut sel = Select::new();
        sel.recv(r);
        sel.select().recv(r).unwrap()
    };
    let put = |s: &Sender<u64>, v| {
        let mut sel = Select::new();
        sel.send(s);
        sel.select().send(s, v).unwrap();
    };
    std::thread::scope(|sc| {
        let start = &start;
        let (ping_r, pong_s) = (&ping_r, &pong_s);
        sc.spawn(move || {
            start.wait();
            for _ in 0..iters {
                let v = get(ping_r);
                put(pong_s, v + 1);
            }
        });
        start.wait();
        let t0 = Instant::now();
        for i in 0..iters {
            put(&ping_s, i);
            std::hint::black_box(get(&pong_r));
        }
        t0.elapsed()
    })
}

fn select_round_trip_case(cfg: &Config) -> Case {
    CaseBuilder::new("select rendezvous round trip", Unit::NsPerOp)
        .add("heddle", heddle_select_round_trips)
        .add("crossbeam", crossbeam_select_round_trips)
        .measure(cfg)
}

/// A pipe case's capacity, producers and consumers; `None` for the rendezvous round
/// trip.
type Spec = Option<(Cap, usize, usize)>;

/// Every case, by name.
fn cases() -> Vec<(String, Spec)> {
    let mut out = Vec::new();
    for (topology, p, c) in [("spsc", 1, 1), ("mpsc 4->1", 4, 1), ("mpmc 4->4", 4, 4)] {
        for cap in [Cap::Bounded(1), Cap::Bounded(1024), Cap::Unbounded] {
            out.push((
                format!("{topology} {}", capacity_name(cap)),
                Some((cap, p, c)),
            ));
        }
    }
    out.push(("rendezvous round trip".to_owned(), None));
    for cap in [Cap::Bounded(1024), Cap::Unbounded] {
        out.push((
            format!("select 2 queues, 2->1 {}", capacity_name(cap)),
            None,
        ));
    }
    out.push(("select rendezvous round trip".to_owned(), None));
    out.push((
        "spsc bounded(1024) with task_done, join waiter".to_owned(),
        None,
    ));
    out
}

/// Run the group: the Python figures first (in their own process), then each case.
pub fn run(cfg: &Config, report: &mut Report) {
    let selected: Vec<_> = cases()
        .into_iter()
        .filter(|(name, _)| cfg.selects(name))
        .collect();
    if selected.is_empty() {
        report.note("no case matches --filter");
        return;
    }
    let names: Vec<&str> = selected.iter().map(|(name, _)| name.as_str()).collect();
    let py = match python::run(PYTHON_SCRIPT, cfg, &names) {
        Ok(py) => {
            report.note(&format!(
                "python column: {}, queue.Queue with threading.Thread",
                py.describe()
            ));
            Some(py)
        }
        Err(msg) => {
            report.note(&msg);
            None
        }
    };
    report.note("ns per message; rendezvous: ns per round trip (two hand-offs)");
    for (name, spec) in selected {
        let mut case = match spec {
            Some((cap, p, c)) => pipe_case(cfg, &name, cap, p, c),
            None if name.starts_with("spsc bounded(1024) with task_done") => task_done_case(cfg),
            None if name == "select rendezvous round trip" => select_round_trip_case(cfg),
            None if name.starts_with("select 2 queues") => select_case(
                cfg,
                &name,
                if name.ends_with("unbounded") {
                    Cap::Unbounded
                } else {
                    Cap::Bounded(1024)
                },
            ),
            None => rendezvous_case(cfg),
        };
        if let Some(py) = &py {
            py.add_to(&mut case);
        }
        report.case(case);
    }
}
