//! `heddle`: the command-line face of the toolkit.
//!
//! `heddle tour` runs one short, self-verifying demonstration per primitive and one row
//! per lab scenario variant, and prints tables of what ran and what it showed; `list`,
//! `check` and `demo` work on the lab's scenarios (`heddle-lab`); `crawl` finds dead
//! links on a site and `serve` serves a directory over HTTP (`heddle-links`).
//!
//! Exit codes: 0 ok; 1 a bug was found or a check failed; 2 a usage error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod crawl;
mod demo;
mod list;
mod serve;
mod term;
mod tour;
mod worker;

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 a bug was found, a run failed or a verdict was not \
the expected one; 2 a usage error (unknown scenario, bad option).";

#[derive(Parser)]
#[command(
    name = "heddle",
    version,
    about = "Python's concurrency model, rebuilt in Rust",
    long_about = "Python's concurrency model, rebuilt in Rust: threads, locks, conditions, \
semaphores, events, barriers, queues and pools, with deadlock detection and an \
interleaving checker. The lab holds the classic problems (bank transfers, dining \
philosophers, bounded buffers...) in broken and fixed variants: `heddle list` names them, \
`heddle check` finds their bugs, `heddle demo` lets you watch them run.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one demonstration per primitive and one row per lab variant; verify each.
    ///
    /// Fixed lab variants run for real on OS threads and are verified; broken ones go
    /// to the checker, which must find their bug (the row shows the replay token).
    #[command(after_help = EXIT_CODES)]
    Tour {
        /// Scale the workloads (1 = the default, quick tour).
        #[arg(long, default_value_t = 1)]
        scale: usize,
    },
    /// List the lab's scenarios, one line each, with their variants.
    #[command(after_help = EXIT_CODES)]
    List {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Explore a scenario's interleavings with the checker and print each verdict.
    ///
    /// Without options each variant is held to its stated exploration (see `heddle
    /// list --json`); a found bug prints the failing schedule, step by step, and a
    /// replay token. Example: `heddle check bank/ab-ba`, then
    /// `heddle check bank/ab-ba --replay TOKEN` to see the same schedule again.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// SCENARIO (every variant) or SCENARIO/VARIANT; see `heddle list`.
        scenario: String,
        /// How to explore: random choices, PCT (probabilistic, bug depth --depth), or
        /// DFS (every schedule within --depth preemptions).
        #[arg(long, value_parser = ["random", "pct", "dfs"])]
        strategy: Option<String>,
        /// PCT's bug depth or DFS's preemption bound.
        #[arg(long)]
        depth: Option<usize>,
        /// At most this many executions.
        #[arg(long)]
        iterations: Option<usize>,
        /// The seed of random and PCT choices.
        #[arg(long)]
        seed: Option<u64>,
        /// Re-run exactly the schedule of a replay token (needs SCENARIO/VARIANT).
        #[arg(long, value_name = "TOKEN")]
        replay: Option<String>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a scenario for real and watch every thread: what it runs, waits on, holds.
    ///
    /// On a terminal the view is redrawn in place; otherwise a status line is printed
    /// every second. When a broken variant deadlocks, the view freezes on the cycle and
    /// the detector's report explains it. SIGQUIT (Ctrl-\) or SIGUSR1 prints the
    /// full thread dump to stderr.
    #[command(after_help = EXIT_CODES)]
    Demo {
        /// SCENARIO or SCENARIO/VARIANT; see `heddle list`.
        scenario: String,
        /// Worker threads.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Which variant, when SCENARIO names none (default: fixed).
        #[arg(long, value_parser = ["broken", "fixed"])]
        variant: Option<String>,
        /// No live view: one JSON object at the end.
        #[arg(long)]
        json: bool,
    },
    /// Find broken links and fragments on a site: crawl from URL, check every link.
    Crawl(crawl::CrawlArgs),
    /// Serve a directory over HTTP (keep-alive, conditional GET; Ctrl-C stops gracefully).
    Serve(serve::ServeArgs),
    /// Run RedisPool workers (the built-in functions) until the pool is shut down.
    Worker {
        /// The Redis server, e.g. redis://127.0.0.1:6379/
        #[arg(long)]
        redis: String,
        /// The pool's name (the name the RedisPool connects with).
        #[arg(long, default_value = "heddle")]
        pool: String,
        /// Worker threads in this process.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = heddle::main(|| match cli.command {
        Command::Tour { scale } => Ok(ExitCode::from(u8::from(!tour::run(scale.max(1))))),
        Command::List { json } => Ok(ExitCode::from(list::run(json))),
        Command::Check {
            scenario,
            strategy,
            depth,
            iterations,
            seed,
            replay,
            json,
        } => check::run(&check::Options {
            spec: scenario,
            strategy,
            depth,
            iterations,
            seed,
            replay,
            json,
        })
        .map(ExitCode::from),
        Command::Demo {
            scenario,
            threads,
            seconds,
            variant,
            json,
        } => demo::run(&demo::Options {
            spec: scenario,
            threads,
            seconds,
            variant,
            json,
        })
        .map(ExitCode::from),
        Command::Crawl(args) => Ok(crawl::run(args)),
        Command::Serve(args) => Ok(serve::run(args)),
        Command::Worker {
            redis,
            pool,
            threads,
        } => Ok(worker::run(&redis, &pool, threads)),
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("heddle: error: {e}");
            ExitCode::from(2)
        }
    }
}
