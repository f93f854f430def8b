//! `heddle`: the command-line face of the toolkit.
//!
//! `heddle tour` runs one short, self-verifying demonstration per primitive and prints
//! a table of what ran and what it showed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod crawl;
mod serve;
mod tour;

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
    /// Find broken links and fragments on a site: crawl from URL, check every link.
    Crawl(crawl::CrawlArgs),
    /// Serve a directory over HTTP (keep-alive, conditional GET; Ctrl-C stops gracefully).
    Serve(serve::ServeArgs),
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
        Command::Crawl(args) => crawl::run(args),
        Command::Serve(args) => serve::run(args),
    })
}
