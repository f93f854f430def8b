//! The dining philosophers.
//!
//! N philosophers sit at a round table with one fork between each pair; to eat, a
//! philosopher needs both neighbouring forks (each a `Lock`).
//!
//! **The bug** (`naive`): everyone takes the left fork, then the right. If all take
//! their left fork at once, each waits for a fork its neighbour holds: a cycle of N
//! waits, a deadlock. heddle's detector names the whole cycle when it closes.
//!
//! **The fixes**: `ordered`: take the lower-numbered fork first (one global lock
//! order: the last philosopher reaches right first, which breaks the cycle); `waiter`:
//! a `Semaphore` of N-1 seats lets at most N-1 philosophers reach for forks, so at
//! least one of them gets both.

use std::sync::Arc;

use heddle::sync::{Lock, Semaphore};

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check philosophers`.
///
/// ```
/// let s = &heddle_lab::philosophers::SCENARIO;
/// assert_eq!(s.name, "philosophers");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "philosophers",
    title: "dining philosophers: naive deadlock vs ordered forks vs a waiter semaphore",
    python: &["threading.Lock", "threading.Semaphore"],
    variants: &[
        Variant {
            name: "naive",
            broken: true,
            summary: "left fork then right: all take their left at once and deadlock",
            run: |cfg| run(cfg, Manners::Naive),
            check: || check(Manners::Naive),
            exploration: Exploration::new(Strategy::Random, 500),
        },
        Variant {
            name: "ordered",
            broken: false,
            summary: "lower-numbered fork first: no cycle of waits can form",
            run: |cfg| run(cfg, Manners::Ordered),
            check: || check(Manners::Ordered),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
        Variant {
            name: "waiter",
            broken: false,
            summary: "a waiter (Semaphore of N-1 seats) lets at most N-1 reach for forks",
            run: |cfg| run(cfg, Manners::Waiter),
            check: || check(Manners::Waiter),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// How a philosopher takes the forks.
///
/// ```
/// use heddle_lab::philosophers::{Manners, Table};
/// Table::new(3, Manners::Waiter).eat(1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manners {
    /// Left, then right.
    Naive,
    /// Lower-numbered first.
    Ordered,
    /// Left, then right, but only when seated by the waiter.
    Waiter,
}

/// The table: forks and the waiter.
///
/// ```
/// use heddle_lab::philosophers::{Manners, Table};
/// let t = Table::new(2, Manners::Ordered);
/// t.eat(0);
/// t.eat(1);
/// assert_eq!(t.forks_used(), 4);
/// ```
#[derive(Debug)]
pub struct Table {
    forks: Vec<Lock<u64>>,
    waiter: Semaphore,
    manners: Manners,
}

impl Table {
    /// A table for `n` philosophers.
    ///
    /// ```
    /// use heddle_lab::philosophers::{Manners, Table};
    /// let t = Table::new(3, Manners::Ordered);
    /// t.eat(2);
    /// assert_eq!(t.forks_used(), 2);
    /// ```
    pub fn new(n: usize, manners: Manners) -> Self {
        Table {
            forks: (0..n).map(|_| Lock::new(0)).collect(),
            waiter: Semaphore::new(n - 1),
            manners,
        }
    }

    /// Philosopher `i` eats once (takes both forks, uses them, puts them down).
    ///
    /// ```
    /// use heddle_lab::philosophers::{Manners, Table};
    /// Table::new(2, Manners::Waiter).eat(0);
    /// ```
    pub fn eat(&self, i: usize) {
        let n = self.forks.len();
        let (left, right) = (i, (i + 1) % n);
        let (first, second) = match self.manners {
            Manners::Ordered => (left.min(right), left.max(right)),
            Manners::Naive | Manners::Waiter => (left, right),
        };
        let _seat = (self.manners == Manners::Waiter).then(|| self.waiter.acquire());
        let mut a = self.forks[first].lock();
        // Reaching for the second fork takes a moment: the window the deadlock needs.
        std::thread::yield_now();
        let mut b = self.forks[second].lock();
        *a += 1;
        *b += 1;
    }

    /// How many times forks were picked up, in all.
    ///
    /// ```
    /// use heddle_lab::philosophers::{Manners, Table};
    /// assert_eq!(Table::new(2, Manners::Naive).forks_used(), 0);
    /// ```
    pub fn forks_used(&self) -> u64 {
        self.forks.iter().map(|f| *f.lock()).sum()
    }
}

const MEALS: usize = 2_000;

fn run(cfg: &Config, manners: Manners) -> Result<String, String> {
    let n = cfg.threads.max(3);
    let table = Arc::new(Table::new(n, manners));
    let (t, c) = (Arc::clone(&table), cfg.clone());
    let meals = join_all(spawn_n("philosopher", n, move |i| {
        let mut m = 0;
        while c.more(m, MEALS) {
            t.eat(i);
            c.tick();
            m += 1;
            std::thread::yield_now(); // think
        }
        m as u64
    }))?;
    let eaten: u64 = meals.iter().sum();
    if table.forks_used() != 2 * eaten {
        return Err(format!(
            "{eaten} meals but {} fork uses",
            table.forks_used()
        ));
    }
    Ok(format!("{n} philosophers ate {eaten} meals, no deadlock"))
}

fn check(manners: Manners) {
    let table = Arc::new(Table::new(3, manners));
    let t = Arc::clone(&table);
    join_all(spawn_n("philosopher", 3, move |i| t.eat(i))).unwrap();
    assert_eq!(table.forks_used(), 6);
}
