//! A test web server that serves a generated site and misbehaves on purpose on the
//! `/mis/` routes (see `heddle_links::generate::MISBEHAVING`), logging every request.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heddle_links::generate::Site;

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    pub target: String,
    /// The value of `X-Heddle-Test`, if sent.
    pub test_header: Option<String>,
}

struct State {
    files: BTreeMap<String, Vec<u8>>,
    redirects: HashMap<String, (String, u16)>,
    log: Mutex<Vec<Logged>>,
    hits: Mutex<HashMap<String, u32>>,
    stop: AtomicBool,
    /// Added to every answer, in microseconds.
    delay_us: AtomicU64,
    /// Requests between parse and answer (decremented before the answer is written,
    /// so it never counts a request the client no longer waits for), and its maximum.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Serve `site` (its files and redirects) plus the misbehaving routes.
    pub fn start(site: &Site) -> TestServer {
        let files = site
            .files
            .iter()
            .map(|f| (f.path.clone(), f.body.clone()))
            .collect();
        let redirects = site
            .redirects
            .iter()
            .map(|r| (r.from.clone(), (r.to.clone(), r.status)))
            .collect();
        Self::with(files, redirects)
    }

    pub fn with(
        files: BTreeMap<String, Vec<u8>>,
        redirects: HashMap<String, (String, u16)>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            files,
            redirects,
            log: Mutex::new(Vec::new()),
            hits: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            delay_us: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let st = Arc::clone(&state);
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = Arc::clone(&st);
                std::thread::spawn(move || {
                    let _ = connection(&st, conn);
                });
            }
        });
        TestServer {
            addr,
            state,
            accept: Some(accept),
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Delay every answer by `d`.
    pub fn set_delay(&self, d: Duration) {
        self.state
            .delay_us
            .store(d.as_micros() as u64, Ordering::SeqCst);
    }

    /// The most requests ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn connection(st: &State, mut s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    loop {
        let (method, target, header, close, used) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let find = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let close = find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
                break (
                    req.method.unwrap().to_owned(),
                    req.path.unwrap().to_owned(),
                    find("x-heddle-test"),
                    close,
                    n,
                );
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk)?;
            if n == 0 || st.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..used);
        let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        st.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let delay = st.delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        st.log.lock().unwrap().push(Logged {
            method: method.clone(),
            target: target.clone(),
            test_header: header,
        });
        let path = target.split(['?', '#']).next().unwrap().to_owned();
        let hit = {
            let mut hits = st.hits.lock().unwrap();
            let h = hits.entry(path.clone()).or_insert(0);
            *h += 1;
            *h
        };
        let head = method == "HEAD";
        let png = b"\x89PNG fake".to_vec();
        let page = b"<!doctype html><p id=x>ok</p>".to_vec();
        let (status, extra, ctype, body): (u16, Vec<(String, String)>, &str, Vec<u8>) =
            match path.as_str() {
                "/mis/head405.png" if head => (405, vec![], "text/plain", b"no HEAD".to_vec()),
                "/mis/head405.png" => (200, vec![], "image/png", png),
                "/mis/retry-after.png" if hit == 1 => (
                    429,
                    vec![("Retry-After".into(), "1".into())],
                    "text/plain",
                    b"slow down".to_vec(),
                ),
                "/mis/retry-after.png" => (200, vec![], "image/png", png),
                "/mis/always429.png" => (429, vec![], "text/plain", b"slow down".to_vec()),
                "/mis/botwall.png" => (
                    403,
                    vec![("cf-mitigated".into(), "challenge".into())],
                    "text/html",
                    b"<p>are you human?".to_vec(),
                ),
                "/mis/slow.html" => {
                    std::thread::sleep(Duration::from_millis(300));
                    (200, vec![], "text/html", page)
                }
                "/mis/flaky.png" if hit == 1 => (500, vec![], "text/plain", b"oops".to_vec()),
                "/mis/flaky.png" => (200, vec![], "image/png", png),
                "/mis/gone503.png" => (503, vec![], "text/plain", b"down".to_vec()),
                "/mis/bigheaders.html" => {
                    let extra = (0..10)
                        .map(|i| (format!("X-Padding-{i}"), "p".repeat(1024)))
                        .collect();
                    (200, extra, "text/html", page)
                }
                "/mis/endless.html" => {
                    st.in_flight.fetch_sub(1, Ordering::SeqCst);
                    return endless(st, s);
                }
                p => match st.redirects.get(p) {
                    Some((to, code)) => (
                        *code,
                        vec![("Location".into(), to.clone())],
                        "text/plain",
                        Vec::new(),
                    ),
                    None => {
                        let file = if p == "/" { "/index.html" } else { p };
                        match st.files.get(file) {
                            Some(b) => {
                                let ctype = if file.ends_with(".css") {
                                    "text/css"
                                } else if file.ends_with(".png") {
                                    "image/png"
                                } else if file.ends_with(".js") {
                                    "text/javascript"
                                } else {
                                    "text/html; charset=utf-8"
                                };
                                (200, vec![], ctype, b.clone())
                            }
                            None => (404, vec![], "text/html", b"<h1>not found</h1>".to_vec()),
                        }
                    }
                },
            };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (n, v) in extra {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head {
            bytes.extend_from_slice(&body);
        }
        st.in_flight.fetch_sub(1, Ordering::SeqCst);
        s.write_all(&bytes)?;
        if close {
            return Ok(());
        }
    }
}

/// A body that never ends: a chunk every 20 ms, until the client goes away (or 20 s).
fn endless(st: &State, mut s: TcpStream) -> std::io::Result<()> {
    s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let begin = Instant::now();
    while begin.elapsed() < Duration::from_secs(20) && !st.stop.load(Ordering::SeqCst) {
        s.write_all(b"6\r\n<p>ok\n\r\n")?;
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
