//! `heddle serve`: a concurrent static file server.
//!
//! Thread per connection on a heddle [`ThreadPool`]: the accepting thread hands each
//! connection to a worker, which serves its requests one after the other (HTTP/1.1
//! keep-alive, pipelining allowed) until the client closes, the connection idles for
//! [`ServeConfig::keep_alive`], or the server shuts down. Measured against tokio + hyper
//! on the benchmark's load (a few keep-alive connections on loopback) this design was
//! the faster (see ARCHITECTURE.md). A connection holds its worker while it idles, so
//! when more connections are open than [`ServeConfig::workers`], an idle connection is
//! closed after a tenth of a second of silence to let a waiting one in (a client with
//! keep-alive simply reconnects).
//!
//! Behaviour: `GET` and `HEAD` (other methods: 405); `ETag` and `Last-Modified` with
//! `If-None-Match` / `If-Modified-Since` (304); content types from the extension;
//! `index.html` for a directory (a directory without its slash is redirected to it);
//! 404 for anything missing or outside the root, whether by `..`, percent-encoded dots
//! or a symbolic link (paths are resolved and must stay under the canonical root);
//! an optional `_redirects` file at the root (`from to [status]` per line, as written
//! by [`generate`](crate::generate)); an optional request log (one line per request on
//! stderr). [`ShutdownHandle::shutdown`] stops accepting, lets every request in flight
//! finish (its response says `Connection: close`), closes idle connections within a
//! fraction of a second, and [`Server::run`] returns once every worker is done.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heddle::pool::ThreadPool;

/// How to serve.
///
/// ```
/// let cfg = heddle_links::serve::ServeConfig::new("site");
/// assert_eq!(cfg.addr.port(), 8000);
/// ```
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The directory served.
    pub root: PathBuf,
    /// Where to listen (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Worker threads, hence simultaneous connections served (others wait).
    pub workers: usize,
    /// Log one line per request to stderr.
    pub log: bool,
    /// How long an idle keep-alive connection is kept.
    pub keep_alive: Duration,
}

impl ServeConfig {
    /// Defaults: `127.0.0.1:8000`, 64 workers, no log, 5 s keep-alive.
    ///
    /// ```
    /// let cfg = heddle_links::serve::ServeConfig::new(".");
    /// assert_eq!(cfg.workers, 64);
    /// ```
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServeConfig {
            root: root.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            workers: 64,
            log: false,
            keep_alive: Duration::from_secs(5),
        }
    }
}

/// What a server did, returned by [`Server::run`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Connections accepted.
    pub connections: u64,
    /// Requests answered.
    pub requests: u64,
}

struct Shared {
    root: PathBuf,
    redirects: HashMap<String, (String, u16)>,
    stop: AtomicBool,
    log: bool,
    keep_alive: Duration,
    requests: AtomicU64,
    /// Connections accepted and not yet closed (served or waiting for a worker).
    open: AtomicUsize,
    workers: usize,
}

/// A bound server; [`run`](Server::run) serves until [shut down](ShutdownHandle).
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    workers: usize,
}

/// Stops a running [`Server`] gracefully; cloneable, usable from a signal handler's thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Stop accepting, finish the requests in flight, close idle connections. Returns at
    /// once; [`Server::run`] returns when the workers are done. Calling it again is harmless.
    ///
    /// ```
    /// use heddle_links::serve::{ServeConfig, Server};
    /// let mut cfg = ServeConfig::new(std::env::temp_dir());
    /// cfg.addr = "127.0.0.1:0".parse().unwrap();
    /// let server = Server::bind(cfg).unwrap();
    /// let stop = server.shutdown_handle();
    /// let t = std::thread::spawn(move || server.run().unwrap());
    /// stop.shutdown();
    /// t.join().unwrap();
    /// ```
    pub fn shutdown(&self) {
        if !self.shared.stop.swap(true, Ordering::SeqCst) {
            // Wake the accepting thread out of `accept`.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
    }
}

impl Server {
    /// Bind the listening socket and read the root's `_redirects` file if any.
    ///
    /// # Errors
    ///
    /// The root is not a directory, or the address cannot be bound (in use, no right).
    ///
    /// ```
    /// use heddle_links::serve::{ServeConfig, Server};
    /// let mut cfg = ServeConfig::new("/definitely/not/here");
    /// cfg.addr = "127.0.0.1:0".parse().unwrap();
    /// assert!(Server::bind(cfg).is_err());
    /// ```
    pub fn bind(cfg: ServeConfig) -> io::Result<Server> {
        let root = cfg.root.canonicalize().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot serve {}: {e}", cfg.root.display()),
            )
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot serve {}: not a directory", cfg.root.display()),
            ));
        }
        let redirects = match std::fs::read_to_string(root.join("_redirects")) {
            Ok(text) => parse_redirects(&text),
            Err(_) => HashMap::new(),
        };
        let listener = TcpListener::bind(cfg.addr)?;
        Ok(Server {
            listener,
            workers: cfg.workers.max(1),
            shared: Arc::new(Shared {
                root,
                redirects,
                stop: AtomicBool::new(false),
                log: cfg.log,
                keep_alive: cfg.keep_alive,
                requests: AtomicU64::new(0),
                open: AtomicUsize::new(0),
                workers: cfg.workers.max(1),
            }),
        })
    }

    /// The address listened on (useful with port 0).
    ///
    /// ```
    /// use heddle_links::serve::{ServeConfig, Server};
    /// let mut cfg = ServeConfig::new(".");
    /// cfg.addr = "127.0.0.1:0".parse().unwrap();
    /// assert_ne!(Server::bind(cfg).unwrap().local_addr().port(), 0);
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// A handle that shuts this server down.
    ///
    /// ```
    /// use heddle_links::serve::{ServeConfig, Server};
    /// let mut cfg = ServeConfig::new(".");
    /// cfg.addr = "127.0.0.1:0".parse().unwrap();
    /// let _stop = Server::bind(cfg).unwrap().shutdown_handle();
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
            addr: self.local_addr(),
        }
    }

    /// Serve until shut down; returns after every request in flight has been answered.
    ///
    /// # Errors
    ///
    /// The worker pool cannot be started.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use heddle_links::serve::{ServeConfig, Server};
    /// let dir = std::env::temp_dir().join(format!("heddle-serve-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("index.html"), "hello").unwrap();
    /// let mut cfg = ServeConfig::new(&dir);
    /// cfg.addr = "127.0.0.1:0".parse().unwrap();
    /// let server = Server::bind(cfg).unwrap();
    /// let (addr, stop) = (server.local_addr(), server.shutdown_handle());
    /// let t = std::thread::spawn(move || server.run().unwrap());
    /// let mut c = std::net::TcpStream::connect(addr).unwrap();
    /// c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut answer = String::new();
    /// c.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("hello"));
    /// stop.shutdown();
    /// assert_eq!(t.join().unwrap().requests, 1);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn run(self) -> io::Result<ServeStats> {
        let pool = ThreadPool::builder()
            .workers(self.workers)
            .name_prefix("heddle-serve")
            .build()
            .map_err(|e| io::Error::other(format!("cannot start the worker pool: {e}")))?;
        let mut connections = 0;
        for conn in self.listener.incoming() {
            if self.shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = conn else { continue };
            connections += 1;
            let shared = Arc::clone(&self.shared);
            shared.open.fetch_add(1, Ordering::SeqCst);
            if pool
                .submit(move || {
                    let _ = serve_connection(&shared, stream);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                })
                .is_err()
            {
                break;
            }
        }
        pool.shutdown(true, false);
        Ok(ServeStats {
            connections,
            requests: self.shared.requests.load(Ordering::SeqCst),
        })
    }
}

fn parse_redirects(text: &str) -> HashMap<String, (String, u16)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let from = it.next()?;
            let to = it.next()?;
            let status = it.next().and_then(|s| s.parse().ok()).unwrap_or(301);
            Some((from.to_owned(), (to.to_owned(), status)))
        })
        .collect()
}

/// The longest request head accepted (431 beyond).
const MAX_HEAD: usize = 16 * 1024;
/// How often a worker waiting for a request looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);
/// Files up to this size are read whole and sent with the head in one write.
const SMALL_FILE: u64 = 256 * 1024;

fn serve_connection(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(STOP_POLL))?;
    let peer = stream.peer_addr().ok();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Read until a whole head is buffered (pipelined requests may already be there).
        let mut idle = Duration::ZERO;
        let head_len = loop {
            if !buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&buf) {
                    Ok(httparse::Status::Complete(n)) => break n,
                    Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
                    Ok(httparse::Status::Partial) => {
                        let _ = simple(&mut stream, 431, "Request Header Fields Too Large");
                        return Ok(());
                    }
                    Err(httparse::Error::TooManyHeaders) => {
                        let _ = simple(&mut stream, 431, "Request Header Fields Too Large");
                        return Ok(());
                    }
                    Err(_) => {
                        let _ = simple(&mut stream, 400, "Bad Request");
                        return Ok(());
                    }
                }
            }
            if shared.stop.load(Ordering::SeqCst) && buf.is_empty() {
                return Ok(());
            }
            let len = buf.len();
            buf.resize(len + 4096, 0);
            match stream.read(&mut buf[len..]) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    buf.truncate(len + n);
                    idle = Duration::ZERO;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    buf.truncate(len);
                    idle += STOP_POLL;
                    // An idle connection gives its worker up at once when other
                    // connections wait for one.
                    let waiting = shared.open.load(Ordering::SeqCst) > shared.workers;
                    if idle >= shared.keep_alive || (waiting && buf.is_empty()) {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(&buf).expect("parsed above");
        let method = req.method.unwrap_or("");
        let target = req.path.unwrap_or("/");
        let version = req.version.unwrap_or(1);
        let mut keep_alive = version == 1;
        let mut if_none_match = None;
        let mut if_modified_since = None;
        let mut has_body = false;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") {
                let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            } else if h.name.eq_ignore_ascii_case("if-none-match") {
                if_none_match = Some(String::from_utf8_lossy(h.value).into_owned());
            } else if h.name.eq_ignore_ascii_case("if-modified-since") {
                if_modified_since = Some(String::from_utf8_lossy(h.value).into_owned());
            } else if (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
                || h.name.eq_ignore_ascii_case("transfer-encoding")
            {
                has_body = true;
            }
        }
        if shared.stop.load(Ordering::SeqCst) || has_body {
            // A request body is not read: answer, then close rather than misparse it.
            keep_alive = false;
        }
        let head = method == "HEAD";
        out.clear();
        let answer = if method != "GET" && !head {
            Answer::status(405, "Method Not Allowed")
        } else {
            respond(
                shared,
                target,
                if_none_match.as_deref(),
                if_modified_since.as_deref(),
            )
        };
        let status = answer.status;
        let sent = answer.write(&mut out, &mut stream, head, keep_alive)?;
        shared.requests.fetch_add(1, Ordering::Relaxed);
        if shared.log {
            let peer = peer.map_or_else(|| "-".to_owned(), |p| p.ip().to_string());
            eprintln!(
                "{peer} \"{method} {target} HTTP/1.{version}\" {status} {sent}",
                target = target.escape_debug()
            );
        }
        buf.drain(..head_len);
        if !keep_alive {
            return Ok(());
        }
    }
}

enum Body {
    Empty,
    Bytes(Vec<u8>),
    File(File, u64),
}

struct Answer {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

impl Answer {
    fn status(status: u16, reason: &'static str) -> Answer {
        let body = format!("{status} {reason}\n").into_bytes();
        Answer {
            status,
            reason,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: Body::Bytes(body),
        }
    }

    /// Write the response; returns the body bytes sent.
    fn write(
        self,
        out: &mut Vec<u8>,
        stream: &mut TcpStream,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<u64> {
        let len = match &self.body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        };
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nServer: heddle\r\nDate: {}\r\nContent-Length: {len}\r\n",
            self.status,
            self.reason,
            httpdate::fmt_http_date(SystemTime::now()),
        );
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
        if head_only {
            stream.write_all(out)?;
            return Ok(0);
        }
        match self.body {
            Body::Empty => stream.write_all(out)?,
            Body::Bytes(b) => {
                out.extend_from_slice(&b);
                stream.write_all(out)?;
            }
            Body::File(mut f, n) if n <= SMALL_FILE => {
                let start = out.len();
                out.resize(start + n as usize, 0);
                f.read_exact(&mut out[start..])?;
                stream.write_all(out)?;
            }
            Body::File(f, n) => {
                stream.write_all(out)?;
                let copied = io::copy(&mut f.take(n), stream)?;
                if copied < n {
                    // The file shrank under us: the promised length cannot be kept.
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
                }
            }
        }
        Ok(len)
    }
}

/// Map a request target to a file under the root, or `None` (404) if it is missing or
/// would leave the root. Returns the file's path, and whether it is a directory.
pub(crate) fn resolve(root: &Path, path: &str) -> Option<(PathBuf, bool)> {
    let decoded = percent_encoding::percent_decode_str(path).collect::<Vec<u8>>();
    let decoded = String::from_utf8(decoded).ok()?;
    let mut full = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\0') || s.contains('\\') => return None,
            s => full.push(s),
        }
    }
    // Resolve symbolic links: the real file must still be under the (canonical) root.
    let real = full.canonicalize().ok()?;
    if !real.starts_with(root) {
        return None;
    }
    let is_dir = real.is_dir();
    Some((real, is_dir))
}

fn respond(
    shared: &Shared,
    target: &str,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
) -> Answer {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    if !path.starts_with('/') {
        return Answer::status(400, "Bad Request");
    }
    if let Some((to, status)) = shared.redirects.get(path) {
        let mut a = Answer::status(*status, reason(*status));
        a.headers.push(("Location", to.clone()));
        return a;
    }
    let Some((mut file, is_dir)) = resolve(&shared.root, path) else {
        return Answer::status(404, "Not Found");
    };
    if is_dir {
        if !path.ends_with('/') {
            let mut a = Answer::status(301, "Moved Permanently");
            let query = &target[path.len()..];
            a.headers.push(("Location", format!("{path}/{query}")));
            return a;
        }
        file.push("index.html");
    }
    let Ok(f) = File::open(&file) else {
        return Answer::status(404, "Not Found");
    };
    let Ok(meta) = f.metadata() else {
        return Answer::status(404, "Not Found");
    };
    if !meta.is_file() {
        return Answer::status(404, "Not Found");
    }
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{nanos:x}-{:x}\"", meta.len());
    let last_modified = httpdate::fmt_http_date(modified);
    let not_modified = match (if_none_match, if_modified_since) {
        (Some(inm), _) => inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == etag),
        (None, Some(ims)) => httpdate::parse_http_date(ims)
            .map(|since| {
                // HTTP dates have whole seconds.
                let secs = modified
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                since
                    .duration_since(UNIX_EPOCH)
                    .is_ok_and(|s| secs <= s.as_secs())
            })
            .unwrap_or(false),
        (None, None) => false,
    };
    let mut headers = vec![("ETag", etag), ("Last-Modified", last_modified)];
    if not_modified {
        return Answer {
            status: 304,
            reason: "Not Modified",
            headers,
            body: Body::Empty,
        };
    }
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let ctype = match (mime.type_(), mime.get_param(mime_guess::mime::CHARSET)) {
        (mime_guess::mime::TEXT, None) => format!("{mime}; charset=utf-8"),
        _ => mime.to_string(),
    };
    headers.insert(0, ("Content-Type", ctype));
    Answer {
        status: 200,
        reason: "OK",
        headers,
        body: Body::File(f, meta.len()),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        _ => "Redirect",
    }
}

fn simple(stream: &mut TcpStream, status: u16, reason: &'static str) -> io::Result<u64> {
    let mut out = Vec::new();
    Answer::status(status, reason).write(&mut out, stream, false, false)
}
