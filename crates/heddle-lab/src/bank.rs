//! Bank accounts and transfers.
//!
//! A transfer must lock both accounts so that no one sees the money in flight.
//!
//! **The bug** (`ab-ba`): each transfer locks its *source* account first, then its
//! destination. A transfer from A to B and one from B to A each take their first lock
//! and wait for the other's: a deadlock (the AB-BA cycle). heddle's detector reports
//! the cycle the moment it closes; the checker finds the schedule.
//!
//! **The fix** (`ordered`): take the two locks in one global order (by account id),
//! whichever way the money goes: no cycle can form. Withdrawals that need more money
//! than the account holds wait for deposits on a `Condition` bound to the account's
//! lock (`wait_while`, Python's `cond.wait_for`), and every deposit notifies it.

use std::sync::Arc;
use std::time::Duration;

use heddle::sync::{Condition, Lock};
use heddle::thread::Thread;

use crate::{join_all, spawn_n, Config, Exploration, Rng, Scenario, Strategy, Variant};

/// The scenario: `heddle check bank`.
///
/// ```
/// let s = &heddle_lab::bank::SCENARIO;
/// assert_eq!(s.name, "bank");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "bank",
    title: "bank transfers: AB-BA deadlock vs one lock order; withdraw waits on a Condition",
    python: &[
        "threading.Lock",
        "threading.Condition",
        "Condition.wait_for",
        "Condition.notify_all",
    ],
    variants: &[
        Variant {
            name: "ab-ba",
            broken: true,
            summary: "a transfer locks its source, then its destination: A->B and B->A deadlock",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Pct(2), 200),
        },
        Variant {
            name: "ordered",
            broken: false,
            summary:
                "both locks taken in account-id order; withdrawals wait for deposits on a Condition",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// One account: its balance under a lock, and a condition that deposits notify.
#[derive(Debug)]
struct Account {
    balance: Lock<i64>,
    funds: Condition,
}

/// A bank: accounts by id.
///
/// ```
/// let bank = heddle_lab::bank::Bank::new(2, 50);
/// bank.transfer(1, 0, 50, true);
/// assert_eq!((bank.balance(0), bank.total()), (100, 100));
/// ```
#[derive(Debug)]
pub struct Bank {
    accounts: Vec<Account>,
}

impl Bank {
    /// `n` accounts holding `each`.
    ///
    /// ```
    /// let bank = heddle_lab::bank::Bank::new(2, 100);
    /// assert_eq!(bank.total(), 200);
    /// ```
    pub fn new(n: usize, each: i64) -> Self {
        Bank {
            accounts: (0..n)
                .map(|_| Account {
                    balance: Lock::new(each),
                    funds: Condition::new(),
                })
                .collect(),
        }
    }

    /// Move `amount` from `from` to `to` if `from` holds it; whether it moved.
    /// `ordered` picks the fix (lock order by id) or the bug (source first).
    ///
    /// ```
    /// let bank = heddle_lab::bank::Bank::new(2, 100);
    /// assert!(bank.transfer(0, 1, 30, true));
    /// assert_eq!(bank.balance(1), 130);
    /// ```
    pub fn transfer(&self, from: usize, to: usize, amount: i64, ordered: bool) -> bool {
        if from == to {
            return false;
        }
        let (first, second) = if ordered {
            (from.min(to), from.max(to))
        } else {
            (from, to)
        };
        let mut a = self.accounts[first].balance.lock();
        let mut b = self.accounts[second].balance.lock();
        let (src, dst) = if first == from {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        if *src < amount {
            return false;
        }
        *src -= amount;
        *dst += amount;
        drop((a, b));
        self.accounts[to].funds.notify_all();
        true
    }

    /// Put `amount` into account `id` and wake its waiting withdrawals.
    ///
    /// ```
    /// let bank = heddle_lab::bank::Bank::new(1, 0);
    /// bank.deposit(0, 5);
    /// assert_eq!(bank.balance(0), 5);
    /// ```
    pub fn deposit(&self, id: usize, amount: i64) {
        *self.accounts[id].balance.lock() += amount;
        self.accounts[id].funds.notify_all();
    }

    /// Take `amount` from account `id`, waiting (on the account's condition) until it
    /// holds that much.
    ///
    /// ```
    /// let bank = heddle_lab::bank::Bank::new(1, 10);
    /// bank.withdraw(0, 10);
    /// assert_eq!(bank.balance(0), 0);
    /// ```
    pub fn withdraw(&self, id: usize, amount: i64) {
        let account = &self.accounts[id];
        let mut balance = account.balance.lock();
        account.funds.wait_while(&mut balance, |b| *b < amount);
        *balance -= amount;
    }

    /// [`withdraw`](Self::withdraw), giving up after `timeout`; whether it withdrew.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bank = heddle_lab::bank::Bank::new(1, 0);
    /// assert!(!bank.withdraw_timeout(0, 1, Duration::from_millis(1)));
    /// ```
    pub fn withdraw_timeout(&self, id: usize, amount: i64, timeout: Duration) -> bool {
        let account = &self.accounts[id];
        let mut balance = account.balance.lock();
        if account
            .funds
            .wait_while_timeout(&mut balance, timeout, |b| *b < amount)
            .timed_out()
        {
            return false;
        }
        *balance -= amount;
        true
    }

    /// The balance of account `id`.
    ///
    /// ```
    /// assert_eq!(heddle_lab::bank::Bank::new(1, 7).balance(0), 7);
    /// ```
    pub fn balance(&self, id: usize) -> i64 {
        *self.accounts[id].balance.lock()
    }

    /// The sum of every balance (locks one account at a time: call it when quiet).
    ///
    /// ```
    /// assert_eq!(heddle_lab::bank::Bank::new(3, 7).total(), 21);
    /// ```
    pub fn total(&self) -> i64 {
        (0..self.accounts.len()).map(|i| self.balance(i)).sum()
    }
}

const ACCOUNTS: usize = 4;
const START: i64 = 1_000;
const SAVINGS: usize = ACCOUNTS;
const ROUNDS: usize = 5_000;

fn run(cfg: &Config, ordered: bool) -> Result<String, String> {
    // The tellers move money between the first ACCOUNTS accounts; the last one is a
    // savings account where a saver withdraws more than it holds, waiting for a
    // depositor.
    let bank = Arc::new(Bank::new(ACCOUNTS + 1, START));
    let saver = {
        let bank = Arc::clone(&bank);
        Thread::new(move || bank.withdraw_timeout(SAVINGS, START + 500, Duration::from_secs(30)))
            .name("bank-saver")
            .start()
    };
    let depositor = {
        let bank = Arc::clone(&bank);
        Thread::new(move || {
            for _ in 0..10 {
                bank.deposit(SAVINGS, 100);
            }
        })
        .name("bank-depositor")
        .start()
    };
    let b = Arc::clone(&bank);
    let cfg2 = cfg.clone();
    let tellers = join_all(spawn_n("teller", cfg.threads, move |i| {
        let mut rng = Rng::new(i as u64 + 1);
        let mut moved = 0usize;
        let mut n = 0;
        while cfg2.more(n, ROUNDS) {
            let (from, to) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
            if b.transfer(from, to, 1 + rng.below(50) as i64, ordered) {
                moved += 1;
            }
            cfg2.tick();
            n += 1;
        }
        moved
    }));
    let others = join_all(vec![depositor]);
    let saved = saver.join().map_err(|e| e.message().to_string())?;
    let moved: usize = tellers?.into_iter().sum();
    others?;
    if !saved {
        return Err("the saver's withdrawal never saw the deposits".into());
    }
    let expected = (ACCOUNTS as i64 + 1) * START + 1_000 - (START + 500);
    let total = bank.total();
    if total != expected {
        return Err(format!(
            "money was created or lost: total {total}, expected {expected}"
        ));
    }
    Ok(format!(
        "{moved} transfers, total conserved ({total}); the saver's withdrawal waited for deposits"
    ))
}

fn check(ordered: bool) {
    let bank = Arc::new(Bank::new(2, 0));
    bank.deposit(0, 100);
    bank.deposit(1, 20);
    let t1 = {
        let bank = Arc::clone(&bank);
        Thread::new(move || {
            bank.transfer(0, 1, 30, ordered);
        })
        .name("a-to-b")
        .start()
    };
    let t2 = {
        let bank = Arc::clone(&bank);
        Thread::new(move || {
            bank.transfer(1, 0, 20, ordered);
        })
        .name("b-to-a")
        .start()
    };
    let saver = if ordered {
        let bank = Arc::clone(&bank);
        // Account 1 holds at least 30 once both transfers are done, in any order.
        Some(
            Thread::new(move || bank.withdraw(1, 30))
                .name("saver")
                .start(),
        )
    } else {
        None
    };
    t1.join().unwrap();
    t2.join().unwrap();
    let withdrawn = match saver {
        Some(s) => {
            s.join().unwrap();
            30
        }
        None => 0,
    };
    assert_eq!(bank.total(), 120 - withdrawn, "money was created or lost");
}
