//! One URL's fetch: per-host gates (concurrency and pace), HEAD or GET, HEAD refused →
//! GET, retries with exponential back-off and jitter on timeouts and 5xx (a
//! `Retry-After` is honoured), 429 and bot walls as "unknown", redirects handed back to
//! the crawler (which follows them through its table, so each hop is fetched once).

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use heddle::sync::{Lock, Semaphore};
use url::Url;

use super::{Config, FindingKind};
use crate::extract::{self, Extracted, HtmlExtractor, RawLink};

/// What the answer held.
pub(crate) enum Parsed {
    /// An HTML body, read.
    Html(Extracted),
    /// A stylesheet, read.
    Css(Vec<RawLink>),
    /// A body that is neither (drained, not read).
    Other,
    /// A HEAD answer: whether its Content-Type says HTML (or says nothing).
    HeadOnly { may_be_html: bool },
}

/// A fetch's conclusion.
pub(crate) enum Fetched {
    Ok(Parsed),
    Redirect(String),
    Fail(FindingKind, String),
}

/// How to fetch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// HEAD (GET if refused, its body then read like GET's).
    Head,
    /// GET, body read if HTML or CSS.
    Get,
}

struct HostGate {
    permits: Semaphore,
    next: Lock<Instant>,
}

pub(crate) struct Fetcher {
    agent: ureq::Agent,
    cfg: Arc<Config>,
    hosts: Lock<HashMap<String, Arc<HostGate>>>,
    pub requests: AtomicU64,
    jitter: AtomicU64,
}

impl Fetcher {
    pub fn new(cfg: Arc<Config>) -> Self {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(cfg.timeout)
            .timeout_connect(cfg.timeout.min(Duration::from_secs(10)))
            .max_idle_connections(cfg.workers * 4)
            .max_idle_connections_per_host(cfg.workers.max(cfg.host_concurrency))
            .user_agent(&cfg.user_agent)
            .build();
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Fetcher {
            agent,
            cfg,
            hosts: Lock::new(HashMap::new()),
            requests: AtomicU64::new(0),
            jitter: AtomicU64::new(seed),
        }
    }

    fn gate(&self, url: &Url) -> Arc<HostGate> {
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock();
        Arc::clone(hosts.entry(host).or_insert_with(|| {
            Arc::new(HostGate {
                permits: Semaphore::new(self.cfg.host_concurrency.max(1)),
                next: Lock::new(Instant::now()),
            })
        }))
    }

    /// A random fraction in [0, 1) (splitmix64 on a shared counter).
    fn random(&self) -> f64 {
        let mut z = self
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Back-off before retry `attempt` (0-based): base × 2^attempt, plus up to half again.
    fn backoff(&self, attempt: u32) -> Duration {
        let d = self.cfg.retry_base * 2u32.saturating_pow(attempt.min(16));
        d + d.mul_f64(self.random() / 2.0)
    }

    /// Fetch `url`; a GET reads HTML/CSS bodies into links and anchors.
    pub fn fetch(&self, url: &Url, method: Method) -> Fetched {
        let cfg = &self.cfg;
        let gate = self.gate(url);
        let mut get = method == Method::Get;
        let mut attempt = 0u32;
        loop {
            let wait;
            {
                let _permit = gate.permits.acquire();
                if !cfg.host_interval.is_zero() {
                    let slot = {
                        let mut next = gate.next.lock();
                        let now = Instant::now();
                        let slot = (*next).max(now);
                        *next = slot + cfg.host_interval;
                        slot
                    };
                    let now = Instant::now();
                    if slot > now {
                        std::thread::sleep(slot - now);
                    }
                }
                self.requests.fetch_add(1, Ordering::Relaxed);
                let mut req = self
                    .agent
                    .request_url(if get { "GET" } else { "HEAD" }, url);
                for (name, value) in &cfg.headers {
                    req = req.set(name, value);
                }
                match req.call() {
                    Ok(resp) => {
                        let status = resp.status();
                        if (300..400).contains(&status) && status != 304 {
                            let loc = resp.header("location").map(str::to_owned);
                            drain(resp);
                            return match loc {
                                Some(l) => Fetched::Redirect(l),
                                None => Fetched::Fail(
                                    FindingKind::Broken,
                                    format!("{status} redirect without a Location"),
                                ),
                            };
                        }
                        if !get {
                            let may_be_html = resp
                                .header("content-type")
                                .is_none_or(|t| t.to_ascii_lowercase().contains("html"));
                            return Fetched::Ok(Parsed::HeadOnly { may_be_html });
                        }
                        match read_body(resp, cfg.max_body) {
                            Ok(parsed) => return Fetched::Ok(parsed),
                            Err(e) if attempt < cfg.retries => {
                                let _ = e;
                                wait = self.backoff(attempt);
                            }
                            Err(e) if is_timeout(&e) => {
                                return Fetched::Fail(
                                    FindingKind::Unknown,
                                    format!("timed out reading the body ({e})"),
                                )
                            }
                            Err(e) => {
                                return Fetched::Fail(
                                    FindingKind::Broken,
                                    format!("reading the body: {e}"),
                                )
                            }
                        }
                    }
                    Err(ureq::Error::Status(code, resp)) => {
                        let text = resp.status_text().to_owned();
                        let retry_after = resp.header("retry-after").and_then(parse_retry_after);
                        let bot_wall = is_bot_wall(code, &resp);
                        drain(resp);
                        if !get && (code == 405 || code == 501) {
                            // HEAD refused: ask again with GET, at once (not a retry).
                            get = true;
                            continue;
                        }
                        if bot_wall {
                            return Fetched::Fail(
                                FindingKind::Unknown,
                                format!("{code} {text} (bot protection)"),
                            );
                        }
                        let within_cap = retry_after.is_none_or(|d| d <= cfg.max_retry_wait);
                        if code == 429 {
                            if attempt < cfg.retries && within_cap {
                                wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                            } else {
                                return Fetched::Fail(
                                    FindingKind::Unknown,
                                    format!("{code} {text} (rate limited)"),
                                );
                            }
                        } else if code >= 500 && attempt < cfg.retries && within_cap {
                            wait = retry_after.unwrap_or_default().max(self.backoff(attempt));
                        } else {
                            return Fetched::Fail(FindingKind::Broken, format!("{code} {text}"));
                        }
                    }
                    Err(ureq::Error::Transport(t)) => {
                        let timeout = t.kind() == ureq::ErrorKind::Io
                            && t.to_string().to_ascii_lowercase().contains("timed out");
                        let retryable = matches!(
                            t.kind(),
                            ureq::ErrorKind::Io | ureq::ErrorKind::ConnectionFailed
                        );
                        if retryable && attempt < cfg.retries {
                            wait = self.backoff(attempt);
                        } else if timeout {
                            return Fetched::Fail(
                                FindingKind::Unknown,
                                format!("timed out after {:?}", cfg.timeout),
                            );
                        } else {
                            return Fetched::Fail(FindingKind::Broken, t.to_string());
                        }
                    }
                }
            }
            // The host's permit is released while we wait.
            std::thread::sleep(wait);
            attempt += 1;
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || e.to_string().to_ascii_lowercase().contains("timed out")
}

/// Read (and drop) a small body so that the connection can be reused.
fn drain(resp: ureq::Response) {
    let small = resp
        .header("content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .is_some_and(|l| l <= 64 * 1024);
    if small {
        let _ = io::copy(&mut resp.into_reader().take(64 * 1024), &mut io::sink());
    }
}

/// A bot wall answers instead of the page: Cloudflare's challenge, a WAF, LinkedIn's 999.
fn is_bot_wall(code: u16, resp: &ureq::Response) -> bool {
    if code == 999 {
        return true;
    }
    if !matches!(code, 403 | 503 | 429) {
        return false;
    }
    resp.header("cf-mitigated").is_some()
        || resp.header("x-datadome").is_some()
        || resp.header("x-amzn-waf-action").is_some()
        || (code == 403
            && resp
                .header("server")
                .is_some_and(|s| s.eq_ignore_ascii_case("cloudflare")))
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn read_body(resp: ureq::Response, max: u64) -> io::Result<Parsed> {
    let ctype = resp.content_type().to_ascii_lowercase();
    let mut reader = resp.into_reader().take(max);
    if ctype.contains("html") {
        let mut x = HtmlExtractor::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            x.feed(&buf[..n]);
        }
        Ok(Parsed::Html(x.finish()))
    } else if ctype.contains("css") {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        Ok(Parsed::Css(extract::css(&String::from_utf8_lossy(&bytes))))
    } else {
        io::copy(&mut reader, &mut io::sink())?;
        Ok(Parsed::Other)
    }
}
