//! The dead-link crawler: a heddle [`Queue`] of URLs to fetch, a pool of workers, and
//! termination by the queue's `task_done`/`join` (the crawl is over when every URL put
//! has been fetched and every URL its page yielded has been put).
//!
//! Every same-site page (same scheme, host and port as the start URL) is fetched with
//! GET and its links followed, up to [`Config::max_depth`]; every other link (external
//! sites, images, scripts, same-site pages past [`Config::max_depth`]) is checked with
//! HEAD (GET if the server refuses HEAD, or if its first reference has a fragment to
//! check). Each normalised URL (scheme and host lower-cased, default port dropped, dot
//! segments removed, fragment stripped) gets one HEAD and at most one GET, whatever the
//! number of references to it: when a reference with a fragment comes for a URL that
//! was (or is being) checked with HEAD only, and the HEAD's `Content-Type` says HTML
//! (or nothing), the URL is read once with GET for its anchors. Redirects are followed
//! through the same table, so each hop is fetched once too; a loop, or more than
//! [`Config::max_redirects`] hops, is reported.
//!
//! Fragments: only HTML bodies are read for anchors. A fragment into an HTML page must
//! name one of its `id`s or `<a name>`s (as written, or percent-decoded; the empty
//! fragment and `top` always do). A fragment into anything else (an image, a PDF, a
//! stylesheet: whatever the `Content-Type` does not call HTML) is not checked and never
//! reported, as browsers give it their own meaning (a page, a media time) or ignore it.
//!
//! The report lists every reference that is broken, or whose state is unknown (429, a
//! bot wall, a timeout: never counted as broken), with the page and line that hold it.

mod fetch;
mod table;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle::pool::ThreadPool;
use heddle::queue::Queue;
use heddle::sync::Lock;
use regex::Regex;
use url::Url;

use crate::extract;
use fetch::{Fetched, Fetcher, Method, Parsed};
use table::{key, Body, Claim, Key, Outcome, Table, Waiter};

/// How to crawl. [`Config::default`] is polite to real sites; [`Config::local`] lifts the
/// per-host limits for a site on your own machine.
///
/// ```
/// let polite = heddle_links::crawl::Config::default();
/// assert_eq!(polite.host_concurrency, 4);
/// let local = heddle_links::crawl::Config::local();
/// assert!(local.host_interval.is_zero());
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads (fetches in flight, at most).
    pub workers: usize,
    /// Fetches in flight per host (scheme-less `host:port`).
    pub host_concurrency: usize,
    /// Least time between the starts of two fetches to one host.
    pub host_interval: Duration,
    /// Time limit of one request, body included.
    pub timeout: Duration,
    /// Retries after a timeout, a connection error, a 5xx or a 429.
    pub retries: u32,
    /// First back-off (doubled each retry, plus up to half again of jitter).
    pub retry_base: Duration,
    /// A `Retry-After` longer than this is not waited for (the link is reported).
    pub max_retry_wait: Duration,
    /// Redirect hops followed before reporting.
    pub max_redirects: u32,
    /// Pages at most this many links away from the start are read for links (`None`:
    /// no limit; `Some(0)`: only the start page's links are checked).
    pub max_depth: Option<u32>,
    /// If not empty, only URLs matching one of these are checked.
    pub include: Vec<Regex>,
    /// URLs matching one of these are not checked (after `include`).
    pub exclude: Vec<Regex>,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The `User-Agent`.
    pub user_agent: String,
    /// Check links to other sites (they are never crawled).
    pub check_external: bool,
    /// Bytes of a body read at most (the rest is not parsed).
    pub max_body: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 16,
            host_concurrency: 4,
            host_interval: Duration::from_millis(100),
            timeout: Duration::from_secs(20),
            retries: 2,
            retry_base: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(30),
            max_redirects: 10,
            max_depth: None,
            include: Vec::new(),
            exclude: Vec::new(),
            headers: Vec::new(),
            user_agent: format!("heddle-links/{}", env!("CARGO_PKG_VERSION")),
            check_external: true,
            max_body: 16 << 20,
        }
    }
}

impl Config {
    /// For a site on this machine: no per-host pace, as many fetches per host as workers.
    ///
    /// ```
    /// let c = heddle_links::crawl::Config::local();
    /// assert_eq!(c.host_concurrency, c.workers);
    /// ```
    pub fn local() -> Self {
        let c = Config::default();
        Config {
            host_concurrency: c.workers,
            host_interval: Duration::ZERO,
            ..c
        }
    }

    fn wanted(&self, url: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(url)))
            && !self.exclude.iter().any(|r| r.is_match(url))
    }
}

/// Why a reference is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// The target is missing (4xx, a persistent 5xx, a connection failure, an invalid URL).
    Broken,
    /// The target page has no such `id` or `<a name>`.
    BrokenFragment,
    /// A redirect loop, or too many redirects.
    Redirects,
    /// Could not tell: rate limited, a bot wall, a timeout. Not counted as broken.
    Unknown,
}

impl FindingKind {
    /// A short lower-case name (`broken`, `fragment`, `redirects`, `unknown`).
    ///
    /// ```
    /// assert_eq!(heddle_links::crawl::FindingKind::Unknown.name(), "unknown");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Broken => "broken",
            FindingKind::BrokenFragment => "fragment",
            FindingKind::Redirects => "redirects",
            FindingKind::Unknown => "unknown",
        }
    }

    /// Whether it counts as a broken link (everything but [`Unknown`](Self::Unknown)).
    ///
    /// ```
    /// assert!(heddle_links::crawl::FindingKind::BrokenFragment.is_broken());
    /// ```
    pub fn is_broken(self) -> bool {
        self != FindingKind::Unknown
    }
}

/// One reported reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The page (or stylesheet) that holds the reference.
    pub page: String,
    /// Its 1-based line there.
    pub line: u32,
    /// The resolved target, fragment included.
    pub target: String,
    /// Why it is reported.
    pub kind: FindingKind,
    /// What happened, for a person.
    pub reason: String,
}

/// What a crawl found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The start URL.
    pub start: String,
    /// Every reported reference, sorted by page, line and target.
    pub findings: Vec<Finding>,
    /// Pages read for links.
    pub pages: u64,
    /// Distinct URLs.
    pub urls: u64,
    /// References seen.
    pub links: u64,
    /// HTTP requests sent (retries and HEAD-then-GET included).
    pub requests: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// The number of findings that count as broken.
    ///
    /// ```
    /// assert_eq!(heddle_links::crawl::Report::default().broken(), 0);
    /// ```
    pub fn broken(&self) -> usize {
        self.findings.iter().filter(|f| f.kind.is_broken()).count()
    }
}

/// Live counters, for a progress display.
///
/// ```
/// let c = heddle_links::crawl::Counters::default();
/// assert_eq!(c.snapshot(), (0, 0, 0, 0));
/// ```
#[derive(Debug, Default)]
pub struct Counters {
    urls_done: AtomicU64,
    queued: AtomicU64,
    pages: AtomicU64,
    links: AtomicU64,
}

impl Counters {
    /// `(URLs fetched, URLs waiting or in flight, pages read, links seen)`.
    ///
    /// ```
    /// let c = heddle_links::crawl::Counters::default();
    /// let (done, waiting, pages, links) = c.snapshot();
    /// assert_eq!(done + waiting + pages + links, 0);
    /// ```
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.urls_done.load(Ordering::Relaxed),
            self.queued.load(Ordering::Relaxed),
            self.pages.load(Ordering::Relaxed),
            self.links.load(Ordering::Relaxed),
        )
    }
}

/// The crawl could not start.
#[derive(Debug)]
pub enum CrawlError {
    /// The start URL is not an absolute http(s) URL.
    BadStart(String),
    /// An invalid setting.
    Config(String),
    /// The start page itself could not be fetched (the reason).
    StartFailed(String),
}

impl std::fmt::Display for CrawlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrawlError::BadStart(s) => {
                write!(f, "{s}: give an absolute http:// or https:// URL")
            }
            CrawlError::Config(s) => write!(f, "{s}"),
            CrawlError::StartFailed(s) => write!(f, "the start page failed: {s}"),
        }
    }
}

impl std::error::Error for CrawlError {}

/// A URL to fetch.
struct Job {
    url: Url,
    key: Key,
    depth: u32,
    method: Method,
    /// Read the page's links (a same-site page within the depth limit).
    follow: bool,
    /// The GET, for its anchors, of a URL already found fine by HEAD.
    refetch: bool,
}

struct Crawl {
    cfg: Arc<Config>,
    origin: url::Origin,
    queue: Queue<Job>,
    table: Lock<Table>,
    fetcher: Fetcher,
    counters: Arc<Counters>,
}

/// Extensions of resources that are never HTML or CSS: checked with HEAD even on the site.
fn binary_extension(url: &Url) -> bool {
    let path = url.path();
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    if ext.contains('/') {
        return false;
    }
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "png"
            | "jpg"
            | "jpeg"
            | "gif"
            | "webp"
            | "avif"
            | "svg"
            | "ico"
            | "bmp"
            | "tif"
            | "tiff"
            | "pdf"
            | "zip"
            | "gz"
            | "tgz"
            | "bz2"
            | "xz"
            | "7z"
            | "tar"
            | "mp3"
            | "mp4"
            | "m4a"
            | "webm"
            | "ogg"
            | "ogv"
            | "wav"
            | "flac"
            | "mov"
            | "avi"
            | "woff"
            | "woff2"
            | "ttf"
            | "otf"
            | "eot"
            | "js"
            | "mjs"
            | "map"
            | "wasm"
            | "json"
            | "exe"
            | "dmg"
            | "deb"
            | "rpm"
            | "iso"
            | "apk"
    )
}

impl Crawl {
    /// The job for a newly claimed URL.
    fn job(&self, url: Url, k: Key, depth: u32, fragment: bool) -> Job {
        let same_site = url.origin() == self.origin;
        let within = self.cfg.max_depth.is_none_or(|d| depth <= d);
        let binary = binary_extension(&url);
        let follow = same_site && within && !binary;
        let method = if follow || (fragment && !binary) {
            Method::Get
        } else {
            Method::Head
        };
        Job {
            url,
            key: k,
            depth,
            method,
            follow,
            refetch: false,
        }
    }

    /// Lock the table for `f`, then queue the GETs its fragments asked for (before the
    /// caller's job is marked done, so that the crawl's `join` waits for them).
    fn with_table<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        let (r, refetches) = {
            let mut t = self.table.lock();
            let r = f(&mut t);
            (r, t.take_refetches())
        };
        for (k, url) in refetches {
            let Ok(url) = Url::parse(&url) else { continue };
            self.put(Job {
                url,
                key: k,
                depth: 0,
                method: Method::Get,
                follow: false,
                refetch: true,
            });
        }
        r
    }

    fn put(&self, job: Job) {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        // The queue is only shut down after `join`, when no worker can still put.
        let _ = self.queue.put(job);
    }

    fn worker(&self) {
        while let Ok(job) = self.queue.get() {
            let k = job.key;
            let done = std::panic::catch_unwind(AssertUnwindSafe(|| self.process(job)));
            if done.is_err() {
                self.with_table(|t| {
                    t.complete(
                        k,
                        Outcome::Fail(FindingKind::Unknown, Arc::from("internal error (panic)")),
                    )
                });
            }
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            self.counters.urls_done.fetch_add(1, Ordering::Relaxed);
            self.queue.task_done().expect("one task_done per job got");
        }
    }

    fn process(&self, job: Job) {
        match self.fetcher.fetch(&job.url, job.method) {
            Fetched::Ok(parsed) => {
                let body = match parsed {
                    Parsed::Html(page) => {
                        let mut anchors: Vec<u64> =
                            page.anchors.iter().map(|a| table::anchor_hash(a)).collect();
                        anchors.sort_unstable();
                        anchors.dedup();
                        if job.follow {
                            self.counters.pages.fetch_add(1, Ordering::Relaxed);
                            let base = page
                                .base
                                .as_deref()
                                .and_then(|b| job.url.join(b.trim()).ok())
                                .unwrap_or_else(|| job.url.clone());
                            self.references(&job, &base, page.links);
                        }
                        Body::Anchors(anchors.into_boxed_slice())
                    }
                    Parsed::Css(links) => {
                        if job.follow {
                            self.references(&job, &job.url, links);
                        }
                        Body::NotHtml
                    }
                    Parsed::Other | Parsed::HeadOnly { may_be_html: false } => Body::NotHtml,
                    Parsed::HeadOnly { may_be_html: true } => {
                        Body::Unread(Box::from(job.url.as_str()))
                    }
                };
                self.with_table(|t| t.complete(job.key, Outcome::Ok(body)));
            }
            Fetched::Fail(kind, reason) => {
                self.with_table(|t| t.complete(job.key, Outcome::Fail(kind, Arc::from(reason))));
            }
            Fetched::Redirect(_) if job.refetch => {
                // HEAD said fine; the table keeps it fine and tells the fragments why not.
                self.with_table(|t| t.complete(job.key, Outcome::Redirect(job.key)));
            }
            Fetched::Redirect(location) => {
                let Ok(mut next) = job.url.join(location.trim()) else {
                    let reason = format!("redirect to an invalid URL {location:?}");
                    self.with_table(|t| {
                        t.complete(
                            job.key,
                            Outcome::Fail(FindingKind::Broken, Arc::from(reason)),
                        )
                    });
                    return;
                };
                next.set_fragment(None);
                if !matches!(next.scheme(), "http" | "https") {
                    // A redirect to mailto: or the like: nothing to check beyond it.
                    self.with_table(|t| t.complete(job.key, Outcome::Ok(Body::NotHtml)));
                    return;
                }
                let nk = key(next.as_str());
                let claim = self.with_table(|t| {
                    let claim = t.claim(nk);
                    t.complete(job.key, Outcome::Redirect(nk));
                    claim
                });
                if let Claim::New = claim {
                    let fragment = job.method == Method::Get && !job.follow;
                    let j = self.job(next, nk, job.depth, fragment);
                    self.put(j);
                }
            }
        }
    }

    /// Register the references of a page (or stylesheet) read at `job`.
    fn references(&self, job: &Job, base: &Url, links: Vec<extract::RawLink>) {
        let page: Arc<str> = Arc::from(job.url.as_str());
        self.counters
            .links
            .fetch_add(links.len() as u64, Ordering::Relaxed);
        let new = self.with_table(|t| {
            let mut new = Vec::new();
            for link in links {
                let raw = link.url.trim();
                let mut url = match base.join(raw) {
                    Ok(u) => u,
                    Err(e) => {
                        t.findings.push(Finding {
                            page: page.to_string(),
                            line: link.line,
                            target: raw.to_owned(),
                            kind: FindingKind::Broken,
                            reason: format!("invalid URL: {e}"),
                        });
                        continue;
                    }
                };
                if !matches!(url.scheme(), "http" | "https") {
                    continue;
                }
                if !self.cfg.wanted(url.as_str()) {
                    continue;
                }
                if !self.cfg.check_external && url.origin() != self.origin {
                    continue;
                }
                let target: Box<str> = Box::from(url.as_str());
                let fragment = url.fragment().map(Box::<str>::from);
                url.set_fragment(None);
                let k = key(url.as_str());
                let has_fragment = fragment.is_some();
                let w = Waiter {
                    page: Arc::clone(&page),
                    line: link.line,
                    target,
                    fragment,
                    hops: 0,
                };
                if let Claim::New = t.reference(k, w) {
                    new.push((url, k, has_fragment));
                }
            }
            new
        });
        for (url, k, fragment) in new {
            let j = self.job(url, k, job.depth + 1, fragment);
            self.put(j);
        }
    }
}

/// Crawl from `start` and report; `counters` (if given) are updated as it goes.
///
/// # Errors
///
/// [`CrawlError`] if `start` is not an absolute http(s) URL, a setting is invalid, or the
/// start page cannot be fetched. Broken links are not errors: they are in the report.
///
/// ```no_run
/// use heddle_links::crawl::{crawl, Config};
/// let report = crawl("http://127.0.0.1:8000/", &Config::local(), None).unwrap();
/// for f in &report.findings {
///     println!("{}:{}: {} ({})", f.page, f.line, f.target, f.reason);
/// }
/// ```
pub fn crawl(
    start: &str,
    cfg: &Config,
    counters: Option<Arc<Counters>>,
) -> Result<Report, CrawlError> {
    let began = Instant::now();
    let mut start_url =
        Url::parse(start).map_err(|e| CrawlError::BadStart(format!("{start:?}: {e}")))?;
    if !matches!(start_url.scheme(), "http" | "https") || start_url.host().is_none() {
        return Err(CrawlError::BadStart(format!("{start:?}")));
    }
    start_url.set_fragment(None);
    if cfg.workers == 0 || cfg.host_concurrency == 0 {
        return Err(CrawlError::Config(
            "workers and host concurrency must be at least 1".into(),
        ));
    }
    let cfg = Arc::new(cfg.clone());
    let crawl = Arc::new(Crawl {
        origin: start_url.origin(),
        queue: Queue::unbounded(),
        table: Lock::new(Table::new(cfg.max_redirects)),
        fetcher: Fetcher::new(Arc::clone(&cfg)),
        counters: counters.unwrap_or_default(),
        cfg: Arc::clone(&cfg),
    });
    let pool = ThreadPool::builder()
        .workers(cfg.workers)
        .name_prefix("heddle-crawl")
        .build()
        .map_err(|e| CrawlError::Config(format!("cannot start the workers: {e}")))?;
    for _ in 0..cfg.workers {
        let c = Arc::clone(&crawl);
        if pool.submit(move || c.worker()).is_err() {
            return Err(CrawlError::Config("cannot start the workers".into()));
        }
    }
    let start_key = key(start_url.as_str());
    let _ = crawl.table.lock().claim(start_key);
    let job = crawl.job(start_url.clone(), start_key, 0, false);
    crawl.put(job);
    // Every URL put has been fetched, and every URL its page yielded was put before the
    // fetch was marked done: the crawl is complete.
    crawl.queue.join();
    crawl.queue.shutdown(false);
    pool.shutdown(true, false);

    let mut table = crawl.table.lock();
    if let Some((_, reason)) = table.verdict(start_key) {
        return Err(CrawlError::StartFailed(reason));
    }
    let mut findings = std::mem::take(&mut table.findings);
    findings.sort();
    Ok(Report {
        start: start_url.to_string(),
        findings,
        pages: crawl.counters.pages.load(Ordering::Relaxed),
        urls: table.urls() as u64,
        links: crawl.counters.links.load(Ordering::Relaxed),
        requests: crawl.fetcher.requests.load(Ordering::Relaxed),
        elapsed: began.elapsed(),
    })
}
