//! `heddle`: the command-line face of the toolkit.
//!
//! `heddle tour` runs one short, self-verifying demonstration per primitive and prints
//! a table of what ran and what it showed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod tour;
mod worker;

#[derive(Parser)]
#[command(
    name = "heddle",
    version,
    about = "Python's concurrency model, rebuilt in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one short demonstration per primitive, verify each result, print a table.
    Tour {
        /// Scale the workloads (1 = the default, quick tour).
        #[arg(long, default_value_t = 1)]
        scale: usize,
    },
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
    heddle::main(|| match cli.command {
        Command::Tour { scale } => {
            if tour::run(scale.max(1)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Worker {
            redis,
            pool,
            threads,
        } => worker::run(&redis, &pool, threads),
    })
}
