//! A connection pool limited by a `BoundedSemaphore`.
//!
//! At most `LIMIT` clients may hold a connection at once (a database that accepts
//! three connections, say).
//!
//! **The bug** (`check-then-act`): a client reads the shared count of open
//! connections, and if it is below the limit, stores count + 1. Two clients can both
//! read the same count below the limit and both go in: one connection too many.
//!
//! **The fix** (`bounded-semaphore`): a `BoundedSemaphore(LIMIT)`: `acquire` takes a
//! permit atomically, waiting while none is free, and the permit is released when
//! dropped (Python's `with sem:`). A *bounded* semaphore also turns one release too
//! many (a double release on an error path) into an error instead of a silently
//! raised limit.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use heddle::check::AtomicUsize;
use heddle::sync::BoundedSemaphore;

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check connection-pool`.
///
/// ```
/// let s = &heddle_lab::connection_pool::SCENARIO;
/// assert_eq!(s.name, "connection-pool");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "connection-pool",
    title: "connection pool limited by a BoundedSemaphore",
    python: &[
        "threading.BoundedSemaphore",
        "with sem:",
        "ValueError (over-release)",
    ],
    variants: &[
        Variant {
            name: "check-then-act",
            broken: true,
            summary:
                "reads the open count, then increments it: two clients both get in at the limit",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Pct(3), 1000),
        },
        Variant {
            name: "bounded-semaphore",
            broken: false,
            summary: "acquire a BoundedSemaphore permit; an extra release is refused",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// Connections the database accepts in the real run.
const LIMIT: usize = 3;
const ROUNDS: usize = 3_000;

/// The pool: the semaphore, and the racy count the broken variant uses instead.
struct Pool {
    permits: BoundedSemaphore,
    claimed: AtomicUsize,
    /// Connections open right now, and the most ever open at once.
    open: AtomicUsize,
    most: AtomicUsize,
    limit: usize,
}

impl Pool {
    fn new(limit: usize) -> Self {
        Pool {
            permits: BoundedSemaphore::new(limit),
            claimed: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            limit,
        }
    }

    /// Use a connection once; `false` if the racy pool turned the client away.
    fn use_connection(&self, fixed: bool) -> bool {
        if fixed {
            let _permit = self.permits.acquire();
            self.connected();
        } else {
            // BUG: check, then act, in two steps.
            let claimed = self.claimed.load(Ordering::SeqCst);
            if claimed >= self.limit {
                return false;
            }
            // Between the check and the act, another client may check too.
            std::thread::yield_now();
            self.claimed.store(claimed + 1, Ordering::SeqCst);
            self.connected();
            self.claimed.fetch_sub(1, Ordering::SeqCst);
        }
        true
    }

    fn connected(&self) {
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        let most = self.most.load(Ordering::SeqCst);
        if now > most {
            self.most.store(now, Ordering::SeqCst); // only a statistic
        }
        assert!(
            now <= self.limit,
            "{now} connections open at once, the limit is {}",
            self.limit
        );
        std::thread::yield_now(); // the query
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn run(cfg: &Config, fixed: bool) -> Result<String, String> {
    let pool = Arc::new(Pool::new(LIMIT));
    let clients = cfg.threads.max(LIMIT + 2);
    let (p, c) = (Arc::clone(&pool), cfg.clone());
    let served = join_all(spawn_n("client", clients, move |_| {
        let (mut served, mut n) = (0u64, 0);
        while c.more(n, ROUNDS) {
            if p.use_connection(fixed) {
                served += 1;
                c.tick();
            }
            n += 1;
        }
        served
    }))?;
    let served: u64 = served.iter().sum();
    if fixed && pool.permits.release().is_ok() {
        return Err("a release past the limit was accepted".into());
    }
    Ok(format!(
        "{clients} clients, {served} queries, at most {} connections open at once (limit {LIMIT}){}",
        pool.most.load(Ordering::SeqCst),
        if fixed { "; an extra release is refused" } else { "" }
    ))
}

fn check(fixed: bool) {
    let pool = Arc::new(Pool::new(1));
    let p = Arc::clone(&pool);
    join_all(spawn_n("client", 2, move |_| p.use_connection(fixed))).unwrap();
    if fixed {
        assert!(pool.permits.release().is_err(), "over-release accepted");
    }
}
