//! `heddle crawl URL`: the dead-link crawler of `heddle-links`, with a progress line on a
//! terminal and exit codes 0 (no broken link), 1 (broken links), 2 (usage or start-up).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use heddle_links::crawl::{crawl, Config, Counters};
use heddle_links::report::{self, Format};

/// Arguments of `heddle crawl`.
#[derive(clap::Args)]
pub struct CrawlArgs {
    /// The start page (http:// or https://); pages on its site are followed.
    url: String,
    /// Output: text, json, csv, markdown, junit or sarif.
    #[arg(long, short, default_value = "text")]
    format: Format,
    /// Worker threads (fetches in flight at most).
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Fetches in flight per host.
    #[arg(long, default_value_t = 4)]
    host_concurrency: usize,
    /// Least milliseconds between two fetches to one host (0: no pace).
    #[arg(long, default_value_t = 100)]
    host_interval_ms: u64,
    /// A site on this machine: no per-host pace, per-host concurrency = workers.
    #[arg(long)]
    local: bool,
    /// Seconds one request may take, body included.
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Retries after a timeout, a connection error, a 5xx or a 429.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Redirect hops followed before reporting.
    #[arg(long, default_value_t = 10)]
    max_redirects: u32,
    /// Read pages at most this many links from the start (0: only the start page).
    #[arg(long)]
    max_depth: Option<u32>,
    /// Check only URLs matching this regex (repeatable).
    #[arg(long)]
    include: Vec<String>,
    /// Do not check URLs matching this regex (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// A header sent with every request, "Name: value" (repeatable).
    #[arg(long, short = 'H')]
    header: Vec<String>,
    /// Do not check links to other sites.
    #[arg(long)]
    no_external: bool,
    /// The User-Agent header.
    #[arg(long)]
    user_agent: Option<String>,
    /// No progress line, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

fn config(args: &CrawlArgs) -> Result<Config, String> {
    let mut cfg = Config {
        workers: args.workers,
        host_concurrency: args.host_concurrency,
        host_interval: Duration::from_millis(args.host_interval_ms),
        timeout: Duration::try_from_secs_f64(args.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or("--timeout must be a positive number of seconds")?,
        retries: args.retries,
        max_redirects: args.max_redirects,
        max_depth: args.max_depth,
        check_external: !args.no_external,
        ..Config::default()
    };
    if args.local {
        cfg.host_concurrency = cfg.workers;
        cfg.host_interval = Duration::ZERO;
    }
    if let Some(ua) = &args.user_agent {
        cfg.user_agent = ua.clone();
    }
    for (list, out) in [
        (&args.include, &mut cfg.include),
        (&args.exclude, &mut cfg.exclude),
    ] {
        for re in list {
            out.push(regex::Regex::new(re).map_err(|e| format!("bad pattern {re:?}: {e}"))?);
        }
    }
    for h in &args.header {
        let (name, value) = h
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty())
            .ok_or_else(|| format!("bad header {h:?}: write it as \"Name: value\""))?;
        cfg.headers
            .push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(cfg)
}

pub fn run(args: CrawlArgs) -> ExitCode {
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("heddle crawl: {e}");
            return ExitCode::from(2);
        }
    };
    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let (counters, done) = (Arc::clone(&counters), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let (fetched, waiting, pages, links) = counters.snapshot();
                eprint!(
                    "\r\x1b[K{fetched} URLs checked, {waiting} to go, {pages} pages, {links} links"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            eprint!("\r\x1b[K");
        })
    });
    let result = crawl(&args.url, &cfg, Some(counters));
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
    }
    match result {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = report::write(&report, args.format, &mut out) {
                eprintln!("heddle crawl: cannot write the report: {e}");
                return ExitCode::from(2);
            }
            if report.broken() > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("heddle crawl: {e}");
            ExitCode::from(2)
        }
    }
}
