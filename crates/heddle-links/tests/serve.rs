//! `heddle serve` behaviours, over raw TCP so every byte on the wire is checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use heddle_links::serve::{ServeConfig, ServeStats, Server, ShutdownHandle};

struct Running {
    addr: SocketAddr,
    stop: ShutdownHandle,
    thread: Option<JoinHandle<ServeStats>>,
    dir: PathBuf,
}

impl Running {
    fn stop(mut self) -> ServeStats {
        self.stop.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(name: &str) -> Running {
    start_with(name, 4, Duration::from_secs(5))
}

fn start_with(name: &str, workers: usize, keep_alive: Duration) -> Running {
    let dir = std::env::temp_dir().join(format!("heddle-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(root.join("sub/index.html"), "sub").unwrap();
    std::fs::write(root.join("style.css"), "body{}").unwrap();
    std::fs::write(root.join("pic.png"), [0x89u8, b'P', b'N', b'G']).unwrap();
    std::fs::write(root.join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    std::fs::write(
        root.join("_redirects"),
        "/old /index.html 301\n/tmp /sub/ 302\n",
    )
    .unwrap();
    std::fs::write(dir.join("secret.txt"), "outside").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.txt")).unwrap();
    let mut cfg = ServeConfig::new(&root);
    cfg.addr = "127.0.0.1:0".parse().unwrap();
    cfg.workers = workers;
    cfg.keep_alive = keep_alive;
    let server = Server::bind(cfg).unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let thread = Some(std::thread::spawn(move || server.run().unwrap()));
    Running {
        addr,
        stop,
        thread,
        dir,
    }
}

/// A response: status, headers (lower-case names), body.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_response(r: &mut BufReader<TcpStream>, head: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = resp.header("content-length").unwrap().parse().unwrap();
    if !head && status != 304 {
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).unwrap();
    }
    resp
}

fn request(addr: SocketAddr, raw: &str) -> Resp {
    let s = TcpStream::connect(addr).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    (&s).write_all(raw.as_bytes()).unwrap();
    read_response(&mut r, raw.starts_with("HEAD"))
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, &format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"))
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection_and_pipelined_ones() {
    let srv = start("keepalive");
    let s = TcpStream::connect(srv.addr).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..5 {
        (&s).write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"body{}");
        assert_eq!(resp.header("connection"), Some("keep-alive"));
    }
    // Three pipelined requests in one write.
    (&s).write_all(
        b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\nHEAD /pic.png HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut r, false).body, b"<h1>home</h1>");
    let head = read_response(&mut r, true);
    assert_eq!(head.header("content-length"), Some("4"));
    let last = read_response(&mut r, false);
    assert_eq!(last.body, b"sub");
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server closed after Connection: close");
    drop(s);
    assert_eq!(srv.stop().requests, 8);
}

#[test]
fn content_types_head_and_large_files() {
    let srv = start("types");
    let html = get(srv.addr, "/");
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        get(srv.addr, "/style.css").header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(
        get(srv.addr, "/pic.png").header("content-type"),
        Some("image/png")
    );
    let big = get(srv.addr, "/big.bin");
    assert_eq!(big.body.len(), 1 << 20);
    assert!(big.body.iter().all(|&b| b == 7));
    let head = request(srv.addr, "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1048576"));
    assert_eq!(
        request(
            srv.addr,
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        )
        .status,
        405
    );
}

#[test]
fn conditional_get_with_etag_and_last_modified() {
    let srv = start("conditional");
    let first = get(srv.addr, "/index.html");
    let etag = first.header("etag").unwrap().to_owned();
    let lm = first.header("last-modified").unwrap().to_owned();
    let again = request(
        srv.addr,
        &format!("GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n"),
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let since = request(
        srv.addr,
        &format!("GET /index.html HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {lm}\r\n\r\n"),
    );
    assert_eq!(since.status, 304);
    let stale = request(
        srv.addr,
        "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\"\r\n\r\n",
    );
    assert_eq!(stale.status, 200);
    let old = request(
        srv.addr,
        "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n",
    );
    assert_eq!(old.status, 200);
}

#[test]
fn missing_files_and_escapes_are_404() {
    let srv = start("escape");
    for path in [
        "/nope.html",
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/link.txt",
        "/index.html%00",
    ] {
        let r = get(srv.addr, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("outside"),
            "{path}"
        );
    }
    assert_eq!(get(srv.addr, "/./index.html").status, 200);
    assert_eq!(get(srv.addr, "/sub/%69ndex.html").body, b"sub");
}

#[test]
fn directories_and_redirects() {
    let srv = start("redirects");
    let d = get(srv.addr, "/sub?x=1");
    assert_eq!(d.status, 301);
    assert_eq!(d.header("location"), Some("/sub/?x=1"));
    let r = get(srv.addr, "/old");
    assert_eq!((r.status, r.header("location")), (301, Some("/index.html")));
    let t = get(srv.addr, "/tmp");
    assert_eq!((t.status, t.header("location")), (302, Some("/sub/")));
}

#[test]
fn bad_and_oversized_requests_get_4xx() {
    let srv = start("bad");
    assert_eq!(request(srv.addr, "GARBAGE\r\n\r\n").status, 400);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(request(srv.addr, &huge).status, 431);
}

#[test]
fn shutdown_finishes_the_request_in_flight() {
    let srv = start("shutdown");
    let s = TcpStream::connect(srv.addr).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    // Half a request: the worker is reading it when the shutdown comes.
    (&s).write_all(b"GET /index.html HTTP/1.1\r\nHo").unwrap();
    // Make sure the server has the connection (a whole request answered first).
    let probe = get(srv.addr, "/style.css");
    assert_eq!(probe.status, 200);
    let addr = srv.addr;
    let stopper = srv.stop.clone();
    stopper.shutdown();
    (&s).write_all(b"st: t\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"<h1>home</h1>");
    assert_eq!(resp.header("connection"), Some("close"));
    let stats = srv.stop();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.connections, 2);
    // Nobody listens any more.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn an_idle_connection_yields_its_worker_to_a_waiting_one() {
    // One worker, keep-alive of an hour: the second connection is served only because
    // the first, idle, gives the worker up.
    let srv = start_with("yield", 1, Duration::from_secs(3600));
    let a = TcpStream::connect(srv.addr).unwrap();
    let mut ra = BufReader::new(a.try_clone().unwrap());
    (&a).write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut ra, false).status, 200);
    let b = TcpStream::connect(srv.addr).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rb = BufReader::new(b.try_clone().unwrap());
    (&b).write_all(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut rb, false).body, b"<h1>home</h1>");
    // The idle connection was closed, not dropped mid-request.
    let mut rest = Vec::new();
    ra.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}
