//! `heddle-bench`: heddle side by side with std, parking_lot and Python's stdlib.
//!
//! ```text
//! cargo run --release -p heddle-bench -- GROUP [--json] [--quick] [--rounds N] [--filter SUBSTRING]
//! ```
//!
//! Each group is a list of cases; each case runs heddle and its anchors in this one
//! process, alternating them round by round, and reports the median of the rounds and
//! heddle's ratio to the best anchor (see `harness.rs`). `--json` prints exactly one
//! JSON object on stdout (notes go to stderr); `--quick` runs fewer, shorter rounds;
//! `--rounds N` runs N rounds (more rounds, steadier medians on a noisy machine);
//! `--filter` keeps only the cases whose name contains the given text.

mod check;
mod check_classic;
mod contention;
mod deadlock;
mod harness;
mod links;
mod locks;
mod pools;
mod processes;
mod python;
mod queues;
mod redis;

use std::process::ExitCode;

use harness::{Case, Config};

/// A named group of cases. Later groups (`queues`, `pools`, `check`, `deadlock`) add a
/// line to [`GROUPS`].
struct Group {
    name: &'static str,
    about: &'static str,
    run: fn(&Config, &mut Report),
}

const GROUPS: &[Group] = &[
    Group {
        name: "locks",
        about: "Lock, RLock, RwLock, Semaphore, Event, Barrier vs std, parking_lot, Python",
        run: locks::run,
    },
    Group {
        name: "contention",
        about: "Lock under 2-128 threads (throughput, fairness), zero-timeout attempts vs std, parking_lot",
        run: contention::run,
    },
    Group {
        name: "queues",
        about: "Queue vs crossbeam-channel, flume, std mpsc, Python",
        run: queues::run,
    },
    Group {
        name: "pools",
        about: "ThreadPool, Future, parallel vs rayon, threadpool, Python",
        run: pools::run,
    },
    Group {
        name: "processes",
        about: "Process, ProcessQueue, ProcessPool, pipelines vs Python's multiprocessing",
        run: processes::run,
    },
    Group {
        name: "check",
        about: "the checker vs shuttle and loom: executions/s, executions to first bug",
        run: check::run,
    },
    Group {
        name: "deadlock",
        about: "cycle detection, lock-order mode and report latency vs std, parking_lot (deadlock_detection), tracing-mutex",
        run: deadlock::run,
    },
    Group {
        name: "links",
        about: "heddle crawl vs lychee, linkchecker; heddle serve vs Python's http.server",
        run: links::run,
    },
    Group {
        name: "redis",
        about: "heddle-redis queue and pool vs redis-benchmark XADD, RQ, Celery",
        run: redis::run,
    },
];

/// Collects a group's cases; in table mode prints each as soon as it is measured.
pub struct Report {
    json: bool,
    cases: Vec<Case>,
}

impl Report {
    /// Record a measured case (and print its table unless `--json`).
    pub fn case(&mut self, case: Case) {
        if !self.json {
            harness::print_table(&case);
        }
        self.cases.push(case);
    }

    /// A remark for the reader (skipped anchors, missing interpreters). Goes to stderr
    /// under `--json` so stdout stays one JSON object.
    pub fn note(&mut self, msg: &str) {
        if self.json {
            eprintln!("note: {msg}");
        } else {
            println!("note: {msg}\n");
        }
    }
}

fn usage() -> String {
    let mut s = String::from(
        "usage: heddle-bench GROUP [--json] [--quick] [--rounds N] [--filter SUBSTRING]\n\n  \
         --json    print one JSON object instead of tables\n  --quick   fewer, shorter \
         rounds (noisier)\n  --rounds  rounds per case (default 7; more gives steadier \
         medians)\n  --filter  run only the cases whose name contains SUBSTRING\n\n\
         groups:\n",
    );
    for g in GROUPS {
        s.push_str(&format!("  {:<10} {}\n", g.name, g.about));
    }
    s
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(deadlock::ALL_ASLEEP_CHILD) {
        return deadlock::all_asleep_child();
    }
    let mut group = None;
    let mut json = false;
    let mut quick = false;
    let mut filter = None;
    let mut rounds = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--quick" => quick = true,
            "--filter" => match args.next() {
                Some(f) => filter = Some(f),
                None => {
                    eprint!("--filter needs a value\n\n{}", usage());
                    return ExitCode::from(2);
                }
            },
            "--rounds" => match args.next().map(|n| n.parse::<usize>()) {
                Some(Ok(n)) if n > 0 => rounds = Some(n),
                _ => {
                    eprint!("--rounds needs a positive whole number\n\n{}", usage());
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            a if a.starts_with('-') => {
                eprint!("unknown option {a}\n\n{}", usage());
                return ExitCode::from(2);
            }
            a if group.is_none() => group = Some(a.to_owned()),
            a => {
                eprint!("unexpected argument {a}\n\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    let Some(name) = group else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    let Some(group) = GROUPS.iter().find(|g| g.name == name) else {
        eprint!("unknown group {name:?}\n\n{}", usage());
        return ExitCode::from(2);
    };

    let mut cfg = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    cfg.filter = filter;
    if let Some(n) = rounds {
        cfg.rounds = n;
    }
    // One line per panic: the harness catches an implementation's panic (a stuck run, a
    // broken barrier) and reports it in the table, so a backtrace is only noise.
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("heddle-bench: thread '{name}' panicked{at}: {msg}");
    }));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    if !json {
        println!(
            "heddle-bench {}: {} cores, {} rounds x ~{} ms per implementation{}; \
             figures are medians over rounds, ± is half the round-to-round range\n",
            group.name,
            cores,
            cfg.rounds,
            cfg.round_time.as_millis(),
            if cfg.quick { " (--quick)" } else { "" },
        );
    }
    let mut report = Report {
        json,
        cases: Vec::new(),
    };
    (group.run)(&cfg, &mut report);
    if json {
        println!("{}", harness::to_json(group.name, &report.cases));
    }
    ExitCode::SUCCESS
}
