//! The tour: the classic uses of each primitive, run for real and checked.
//!
//! Each demonstration returns what it showed, or what went wrong; `run` prints them as
//! a table and reports whether all passed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use heddle::check::Checker;
use heddle::queue::Queue;
use heddle::sync::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, RwLock, RwPolicy, Semaphore,
};
use heddle::thread::{JoinHandle, Thread};

use crate::term::print_table;

/// One row of the tour.
struct Demo {
    primitive: &'static str,
    what: &'static str,
    run: fn(usize) -> Result<String, String>,
}

const DEMOS: &[Demo] = &[
    Demo {
        primitive: "Lock",
        what: "4 threads increment a shared counter",
        run: counter_under_lock,
    },
    Demo {
        primitive: "Lock + Condition",
        what: "bank account: withdrawals wait for deposits",
        run: bank_account,
    },
    Demo {
        primitive: "RLock",
        what: "a recursive walk re-enters its own lock",
        run: recursive_rlock,
    },
    Demo {
        primitive: "BoundedSemaphore",
        what: "connection pool of 3 shared by 8 clients",
        run: connection_pool,
    },
    Demo {
        primitive: "Semaphore",
        what: "a turnstile admits workers one batch at a time",
        run: turnstile,
    },
    Demo {
        primitive: "Event",
        what: "a start signal releases every waiting runner",
        run: start_signal,
    },
    Demo {
        primitive: "Barrier",
        what: "4 workers move through 5 phases in lockstep",
        run: barrier_phases,
    },
    Demo {
        primitive: "RwLock (reader-preferring)",
        what: "readers and writers share a two-field record",
        run: |s| readers_writers(RwPolicy::ReaderPreferring, s),
    },
    Demo {
        primitive: "RwLock (writer-preferring)",
        what: "readers and writers share a two-field record",
        run: |s| readers_writers(RwPolicy::WriterPreferring, s),
    },
    Demo {
        primitive: "RwLock (phase-fair)",
        what: "readers and writers share a two-field record",
        run: |s| readers_writers(RwPolicy::PhaseFair, s),
    },
    Demo {
        primitive: "Queue (bounded)",
        what: "3 producers, 3 consumers through a buffer of 8",
        run: producer_consumer,
    },
    Demo {
        primitive: "Queue (rendezvous)",
        what: "handshake: put returns only once a get took it",
        run: handshake,
    },
    Demo {
        primitive: "ThreadPool + Future",
        what: "1000 tasks, one of which panics; as_completed",
        run: pool_and_futures,
    },
    Demo {
        primitive: "parallel::map_chunks",
        what: "Collatz steps of 1..=200000, chunked over the workers",
        run: parallel_chunks,
    },
    Demo {
        primitive: "check::Checker",
        what: "finds the lost update of load-then-store",
        run: checker_finds_lost_update,
    },
    Demo {
        primitive: "deadlock detection",
        what: "an AB-BA lock cycle is reported as it closes",
        run: deadlock_reported,
    },
];

/// Run every demonstration and print the table; `true` if all passed.
pub fn run(scale: usize) -> bool {
    println!("heddle tour: one demonstration per primitive, each verified\n");
    let rows: Vec<[String; 5]> = DEMOS
        .iter()
        .map(|demo| {
            let started = Instant::now();
            let outcome = (demo.run)(scale);
            let ms = format!("{:.1} ms", started.elapsed().as_secs_f64() * 1e3);
            let (ok, shown) = match outcome {
                Ok(shown) => ("ok", shown),
                Err(problem) => ("FAILED", problem),
            };
            [
                demo.primitive.to_string(),
                demo.what.to_string(),
                shown,
                ok.to_string(),
                ms,
            ]
        })
        .collect();
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    print_table(
        &[
            "primitive",
            "demonstration",
            "what it showed",
            "check",
            "time",
        ],
        &rows,
    );
    let verified = summary(&rows, "demonstrations verified", "demonstrations FAILED");
    let lab_ok = lab(scale);
    verified && lab_ok
}

/// The lab: one row per scenario variant. A fixed variant runs for real on OS threads
/// and must verify; a broken one goes to the checker, which must find its bug within
/// the variant's stated exploration (the row shows the replay token). `true` if every
/// verdict is the expected one.
fn lab(scale: usize) -> bool {
    println!("\nthe lab: fixed variants run for real, broken ones go to the checker\n");
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in heddle_lab::scenarios() {
        for v in s.variants {
            let started = Instant::now();
            let (how, shown, expected, token) = if v.broken {
                match v.explore() {
                    Err(report) => (
                        "checker",
                        format!(
                            "bug found at execution {}: {}",
                            report.execution(),
                            first_line(report.message())
                        ),
                        true,
                        report.token().to_string(),
                    ),
                    Ok(coverage) => (
                        "checker",
                        format!("NO bug found in {} executions", coverage.executions()),
                        false,
                        String::new(),
                    ),
                }
            } else {
                match (v.run)(&heddle_lab::Config::new(2).scaled(scale)) {
                    Ok(shown) => ("real run", shown, true, String::new()),
                    Err(problem) => ("real run", problem, false, String::new()),
                }
            };
            let ms = format!("{:.1} ms", started.elapsed().as_secs_f64() * 1e3);
            rows.push(vec![
                format!("{}/{}", s.name, v.name),
                how.to_string(),
                shown,
                if expected { "ok" } else { "FAILED" }.to_string(),
                token,
                ms,
            ]);
        }
    }
    print_table(
        &[
            "scenario/variant",
            "how",
            "verdict",
            "check",
            "replay token",
            "time",
        ],
        &rows,
    );
    summary(
        &rows,
        "lab verdicts as expected",
        "lab verdicts NOT as expected",
    )
}

/// Print "all N {passed}" or "F of N {failed}" for a table whose fourth column is the
/// check; `true` if every row says ok.
fn summary(rows: &[Vec<String>], passed: &str, failed: &str) -> bool {
    let bad = rows.iter().filter(|r| r[3] != "ok").count();
    println!();
    if bad == 0 {
        println!("all {} {passed}", rows.len());
    } else {
        println!("{bad} of {} {failed}", rows.len());
    }
    bad == 0
}

/// The first line of a message (a report's headline), cut to a table cell.
fn first_line(message: &str) -> String {
    let mut line = message.lines().next().unwrap_or("").to_string();
    // "thread 'x' panicked at FILE:LINE:COL: what": the location is in the token's trace.
    if let Some(at) = line.find(" panicked at ") {
        if let Some(colon) = line[at + 13..].find(": ") {
            line = format!("{} panicked: {}", &line[..at], &line[at + 13 + colon + 2..]);
        }
    }
    let cut: String = line.chars().take(110).collect();
    if cut.len() < line.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Start `n` named threads running `f(i)` and collect their results in order.
fn spawn_all<T: Send + 'static>(
    prefix: &str,
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Result<Vec<T>, String> {
    join_all(spawn_all_async(prefix, n, f))
}

fn check(ok: bool, shown: String) -> Result<String, String> {
    if ok {
        Ok(shown)
    } else {
        Err(shown)
    }
}

fn counter_under_lock(scale: usize) -> Result<String, String> {
    let per_thread = 100_000 * scale;
    let counter = Arc::new(Lock::new(0usize));
    let c = Arc::clone(&counter);
    spawn_all("counter", 4, move |_| {
        for _ in 0..per_thread {
            *c.lock() += 1;
        }
    })?;
    let total = *counter.lock();
    check(
        total == 4 * per_thread,
        format!("{total} of {} increments, none lost", 4 * per_thread),
    )
}

struct Account {
    balance: Lock<u64>,
    funds: Condition,
}

fn bank_account(scale: usize) -> Result<String, String> {
    let rounds = 2_000 * scale as u64;
    let account = Arc::new(Account {
        balance: Lock::new(0),
        funds: Condition::new(),
    });
    // Two clients withdraw 3 per round; two depositors pay in 3 per round: every
    // withdrawal must wait until the money is there, and the books must balance to 0.
    let a = Arc::clone(&account);
    let waits = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&waits);
    spawn_all("bank", 4, move |i| {
        for _ in 0..rounds {
            if i % 2 == 0 {
                *a.balance.lock() += 3;
                a.funds.notify_all();
            } else {
                let mut balance = a.balance.lock();
                if *balance < 3 {
                    w.fetch_add(1, Ordering::Relaxed);
                }
                a.funds.wait_while(&mut balance, |b| *b < 3);
                *balance -= 3;
            }
        }
    })?;
    let balance = *account.balance.lock();
    check(
        balance == 0,
        format!(
            "{} deposits, {} withdrawals, final balance {balance} ({} withdrawals waited)",
            2 * rounds,
            2 * rounds,
            waits.load(Ordering::Relaxed)
        ),
    )
}

fn recursive_rlock(_scale: usize) -> Result<String, String> {
    fn visit(lock: &RLock<std::cell::Cell<usize>>, depth: usize) -> usize {
        let guard = lock.lock();
        guard.set(guard.get() + 1);
        if depth == 0 {
            return lock.depth();
        }
        visit(lock, depth - 1).max(lock.depth())
    }
    let lock = RLock::new(std::cell::Cell::new(0));
    let deepest = visit(&lock, 9);
    let visits = lock.lock().get();
    let released = !lock.is_locked();
    check(
        deepest == 10 && visits == 10 && released,
        format!("re-entered to depth {deepest}, {visits} visits, released at the end: {released}"),
    )
}

fn connection_pool(scale: usize) -> Result<String, String> {
    const POOL: usize = 3;
    let jobs = 200 * scale;
    let pool = Arc::new(BoundedSemaphore::new(POOL));
    let in_use = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (p, u, k) = (Arc::clone(&pool), Arc::clone(&in_use), Arc::clone(&peak));
    spawn_all("client", 8, move |_| {
        for _ in 0..jobs {
            let _connection = p.acquire();
            let now = u.fetch_add(1, Ordering::SeqCst) + 1;
            k.fetch_max(now, Ordering::SeqCst);
            // Hold the connection across a reschedule, as a real query would.
            std::thread::yield_now();
            u.fetch_sub(1, Ordering::SeqCst);
        }
    })?;
    let peak = peak.load(Ordering::SeqCst);
    let over_release = pool.release().is_err();
    check(
        peak <= POOL && pool.available_permits() == POOL && over_release,
        format!(
            "{} checkouts, at most {peak} of {POOL} connections at once; an extra release is refused",
            8 * jobs
        ),
    )
}

fn turnstile(scale: usize) -> Result<String, String> {
    let batches = 50 * scale;
    const BATCH: usize = 4;
    let gate = Arc::new(Semaphore::new(0));
    let passed = Arc::new(AtomicUsize::new(0));
    let (g, p) = (Arc::clone(&gate), Arc::clone(&passed));
    let workers = spawn_all_async("turnstile", BATCH, move |_| {
        for _ in 0..batches {
            g.acquire().forget();
            p.fetch_add(1, Ordering::SeqCst);
        }
    });
    for _ in 0..batches {
        gate.release_n(BATCH);
    }
    join_all(workers)?;
    let passed = passed.load(Ordering::SeqCst);
    check(
        passed == batches * BATCH && gate.available_permits() == 0,
        format!("{batches} batches of {BATCH} released, {passed} passages, no permit left over"),
    )
}

fn start_signal(_scale: usize) -> Result<String, String> {
    let go = Event::new();
    let started = Arc::new(AtomicUsize::new(0));
    let ran_early = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicUsize::new(0));
    let (g, s, e, r) = (
        go.clone(),
        Arc::clone(&started),
        Arc::clone(&ran_early),
        Arc::clone(&released),
    );
    let runners = spawn_all_async("runner", 6, move |_| {
        s.fetch_add(1, Ordering::SeqCst);
        if g.is_set() {
            e.fetch_add(1, Ordering::SeqCst);
        }
        g.wait();
        r.fetch_add(1, Ordering::SeqCst);
    });
    let before = released.load(Ordering::SeqCst);
    go.set();
    join_all(runners)?;
    let after = released.load(Ordering::SeqCst);
    check(
        before == 0 && after == 6,
        format!("0 runners passed before set, {after} of 6 after"),
    )
}

fn barrier_phases(scale: usize) -> Result<String, String> {
    const WORKERS: usize = 4;
    let phases = 5 * scale;
    let arrived: Arc<Vec<AtomicUsize>> =
        Arc::new((0..phases).map(|_| AtomicUsize::new(0)).collect());
    let mixed = Arc::new(AtomicUsize::new(0));
    let leaders = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(WORKERS));
    let (b, a, m, l) = (
        Arc::clone(&barrier),
        Arc::clone(&arrived),
        Arc::clone(&mixed),
        Arc::clone(&leaders),
    );
    spawn_all("phase", WORKERS, move |_| {
        for phase in 0..phases {
            a[phase].fetch_add(1, Ordering::SeqCst);
            let r = b.wait().expect("barrier broken");
            // After the barrier, every worker must have arrived at this phase.
            if a[phase].load(Ordering::SeqCst) != WORKERS {
                m.fetch_add(1, Ordering::SeqCst);
            }
            if r.is_leader() {
                l.fetch_add(1, Ordering::SeqCst);
            }
        }
    })?;
    let mixed = mixed.load(Ordering::SeqCst);
    let leaders = leaders.load(Ordering::SeqCst);
    check(
        mixed == 0 && leaders == phases,
        format!("{phases} phases x {WORKERS} workers, one leader per phase, phases never mixed"),
    )
}

fn readers_writers(policy: RwPolicy, scale: usize) -> Result<String, String> {
    let writes = 2_000 * scale;
    let reads = 5_000 * scale;
    let record = Arc::new(RwLock::with_policy((0usize, 0usize), policy));
    let torn = Arc::new(AtomicUsize::new(0));
    let (rec, t) = (Arc::clone(&record), Arc::clone(&torn));
    spawn_all("rw", 6, move |i| {
        if i < 2 {
            for _ in 0..writes {
                let mut w = rec.write();
                w.0 += 1;
                w.1 += 1;
            }
        } else {
            for _ in 0..reads {
                let r = rec.read();
                if r.0 != r.1 {
                    t.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    })?;
    let (a, b) = *record.read();
    let torn = torn.load(Ordering::SeqCst);
    check(
        a == 2 * writes && b == 2 * writes && torn == 0,
        format!(
            "{} writes, {} reads, {torn} torn reads",
            2 * writes,
            4 * reads
        ),
    )
}

/// Start threads without joining yet (the caller signals them first).
fn spawn_all_async<T: Send + 'static>(
    prefix: &str,
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<JoinHandle<T>> {
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let f = Arc::clone(&f);
            Thread::new(move || f(i))
                .name(format!("{prefix}-{i}"))
                .start()
        })
        .collect()
}

fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, String> {
    handles
        .into_iter()
        .map(|h| h.join().map_err(|e| e.to_string()))
        .collect()
}

fn producer_consumer(scale: usize) -> Result<String, String> {
    let per_producer = 10_000 * scale;
    let queue: Queue<usize> = Queue::bounded(8);
    let q = queue.clone();
    let producers = spawn_all_async("producer", 3, move |i| {
        for n in 0..per_producer {
            q.put(i * per_producer + n).expect("open");
        }
    });
    let q = queue.clone();
    let consumers = spawn_all_async("consumer", 3, move |_| {
        let mut sum = 0;
        while let Ok(n) = q.get() {
            sum += n;
            q.task_done().expect("one per get");
        }
        sum
    });
    join_all(producers)?;
    // Every item put has been taken and marked done: Python's q.join().
    queue.join();
    let remaining = queue.shutdown(false);
    let total: usize = join_all(consumers)?.iter().sum();
    let items = 3 * per_producer;
    let expected = items * (items - 1) / 2;
    check(
        total == expected && remaining.is_empty(),
        format!("{items} items, each received exactly once (sum {total}); join, then shutdown"),
    )
}

fn handshake(_scale: usize) -> Result<String, String> {
    let rounds = 200;
    let channel: Queue<usize> = Queue::bounded(0);
    let taken = Arc::new(AtomicUsize::new(0));
    let (c, t) = (channel.clone(), Arc::clone(&taken));
    let getter = spawn_all_async("getter", 1, move |_| {
        for _ in 0..rounds {
            c.get().expect("open");
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut held = 0;
    for n in 0..rounds {
        channel.put(n).expect("open");
        // put returned: the getter has taken the item, the queue holds nothing.
        held += channel.qsize();
    }
    join_all(getter)?;
    check(
        taken.load(Ordering::SeqCst) == rounds && held == 0,
        format!("{rounds} hand-offs; after every put, qsize() was {held}"),
    )
}

fn pool_and_futures(scale: usize) -> Result<String, String> {
    use heddle::pool::{as_completed, FutureError, ThreadPool};
    use std::time::Duration;
    const BAD: u64 = 500;
    let tasks = 1000 * scale as u64;
    let workers = 4;
    let pool = ThreadPool::builder()
        .workers(workers)
        .name_prefix("tour-pool")
        .build()
        .map_err(|e| e.to_string())?;
    // The panic is the point of the demonstration: keep it off the terminal.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("tour-pool"))
        {
            eprintln!("{info}");
        }
    }));
    let collected = (|| -> Result<(u64, u64, Vec<String>), String> {
        let futures: Vec<_> = (0..tasks)
            .map(|n| {
                pool.submit(move || {
                    if n == BAD {
                        panic!("task {n} rejects its input");
                    }
                    n * n
                })
                .map_err(|_| "the pool refused a task".to_string())
            })
            .collect::<Result<_, _>>()?;
        let (mut sum, mut completed, mut panics) = (0u64, 0, Vec::new());
        for future in as_completed(futures, Some(Duration::from_secs(30))) {
            let future = future.map_err(|_| "as_completed timed out".to_string())?;
            completed += 1;
            match future.result() {
                Ok(v) => sum += v,
                Err(FutureError::Panicked { message }) => panics.push(message),
                Err(other) => return Err(format!("unexpected {other:?}")),
            }
        }
        Ok((sum, completed, panics))
    })();
    std::panic::set_hook(hook);
    let (sum, completed, panics) = collected?;
    // Every worker is still there: `workers` tasks that each wait for all the others.
    let all = Arc::new(Barrier::new(workers));
    let meet: Vec<_> = (0..workers)
        .map(|_| {
            let all = Arc::clone(&all);
            pool.submit(move || all.wait_timeout(Duration::from_secs(10)).is_ok())
        })
        .collect::<Result<_, _>>()
        .map_err(|_| "the pool refused a task".to_string())?;
    let met = meet
        .into_iter()
        .map(|f| f.result())
        .filter(|r| *r == Ok(true))
        .count();
    let expected: u64 = (0..tasks).filter(|&n| n != BAD).map(|n| n * n).sum();
    check(
        completed == tasks && sum == expected && panics.len() == 1 && met == workers,
        format!(
            "{completed} futures done, {} results right, 1 failed with {:?}; all {met} of \
             {workers} workers still serving",
            completed - 1,
            panics.first().map(String::as_str).unwrap_or("(none)")
        ),
    )
}

fn parallel_chunks(_scale: usize) -> Result<String, String> {
    fn steps(mut n: u64) -> u32 {
        let mut k = 0;
        while n != 1 {
            n = if n.is_multiple_of(2) {
                n / 2
            } else {
                3 * n + 1
            };
            k += 1;
        }
        k
    }
    let input: Vec<u64> = (1..=200_000).collect();
    let plan = heddle::parallel::Plan::new();
    let parallel = plan.map_chunks(&input, |chunk| chunk.iter().map(|&n| steps(n)).collect());
    let sequential: Vec<u32> = input.iter().map(|&n| steps(n)).collect();
    let (longest, at) = sequential
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i + 1))
        .max()
        .unwrap_or((0, 0));
    check(
        parallel == sequential,
        format!(
            "{} results in input order, equal to the sequential run (longest: {at} takes \
             {longest} steps)",
            parallel.len()
        ),
    )
}

fn checker_finds_lost_update(_scale: usize) -> Result<String, String> {
    let lost_update = || {
        let counter = Arc::new(heddle::check::AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&counter);
                Thread::new(move || {
                    let v = c.load(Ordering::SeqCst);
                    c.store(v + 1, Ordering::SeqCst);
                })
                .start()
            })
            .collect();
        for w in workers {
            w.join().expect("no panic");
        }
        assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
    };
    let report = match Checker::pct(2).iterations(1000).explore(lost_update) {
        Ok(coverage) => return Err(format!("no failure found ({coverage})")),
        Err(report) => report,
    };
    let replays_fail =
        (0..10).all(|_| heddle::check::try_replay(report.token(), lost_update).is_err());
    let fixed = Checker::dfs().explore(|| {
        let counter = Arc::new(heddle::check::AtomicUsize::new(0));
        let c = Arc::clone(&counter);
        let t = Thread::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .start();
        counter.fetch_add(1, Ordering::SeqCst);
        t.join().expect("no panic");
        assert_eq!(counter.load(Ordering::SeqCst), 2);
    });
    check(
        replays_fail && fixed.as_ref().is_ok_and(|c| c.is_exhaustive()),
        format!(
            "found in execution {} ({} preemptions), its token replays it 10/10; fetch_add: {}",
            report.execution(),
            report.preemptions(),
            fixed
                .map(|c| c.to_string())
                .unwrap_or_else(|r| r.message().to_string())
        ),
    )
}

fn deadlock_reported(_scale: usize) -> Result<String, String> {
    let a = Arc::new(Lock::new("account A"));
    let b = Arc::new(Lock::new("account B"));
    let both_hold_one = Arc::new(Barrier::new(2));
    let transfer =
        |first: Arc<Lock<&'static str>>, second: Arc<Lock<&'static str>>, meet: Arc<Barrier>| {
            move |_| {
                let _x = first.lock();
                meet.wait().expect("not broken");
                let _y = second.lock();
            }
        };
    // The report is the panic of the thread that closed the cycle: keep it off stderr.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let t1 = spawn_all_async(
        "teller-1",
        1,
        transfer(Arc::clone(&a), Arc::clone(&b), Arc::clone(&both_hold_one)),
    );
    let t2 = spawn_all_async("teller-2", 1, transfer(b, a, both_hold_one));
    let outcomes: Vec<Result<(), String>> = t1
        .into_iter()
        .chain(t2)
        .map(|h| h.join().map_err(|e| e.message().to_string()))
        .collect();
    std::panic::set_hook(hook);
    let reports: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    check(
        reports.len() == 1 && reports[0].contains("DEADLOCK") && reports[0].contains("teller-"),
        format!(
            "{} of 2 tellers got the report (the one that closed the cycle); the other finished",
            reports.len()
        ),
    )
}
