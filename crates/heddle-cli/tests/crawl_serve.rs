//! `heddle serve` and `heddle crawl` as a user runs them: exit codes, formats, no
//! progress output off a terminal, Ctrl-C stopping the server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use heddle_links::generate::SiteSpec;

const HEDDLE: &str = env!("CARGO_BIN_EXE_heddle");

struct Serving {
    child: Child,
    url: String,
}

fn serve(dir: &std::path::Path) -> Serving {
    serve_with(dir, &[])
}

fn serve_with(dir: &std::path::Path, extra: &[&str]) -> Serving {
    let mut child = Command::new(HEDDLE)
        .args([
            "serve",
            dir.to_str().unwrap(),
            "--port",
            "0",
            "--workers",
            "8",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    Serving { child, url }
}

impl Serving {
    /// Ctrl-C, then the exit status and stderr.
    fn interrupt(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("heddle-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn crawl_a_served_site_exit_codes_and_formats() {
    let dir = temp("site");
    let site = SiteSpec {
        pages: 120,
        seed: 5,
        ..Default::default()
    }
    .generate();
    site.write_to(&dir).unwrap();
    let srv = serve(&dir);

    let out = Command::new(HEDDLE)
        .args(["crawl", &srv.url, "--local", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "broken links: exit 1");
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), site.expected.len() + 1);
    assert!(out.stderr.is_empty(), "no progress display off a terminal");

    for format in ["text", "json", "markdown", "junit", "sarif"] {
        let out = Command::new(HEDDLE)
            .args(["crawl", &srv.url, "--local", "-f", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{format}");
        let text = String::from_utf8(out.stdout).unwrap();
        let needle = &site.expected[0].target;
        assert!(text.contains(needle.as_str()), "{format} lacks {needle}");
    }

    let (ok, stderr) = srv.interrupt();
    assert!(ok, "Ctrl-C stops the server cleanly: {stderr}");
    assert!(stderr.contains("stopped after"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_clean_site_exits_0_and_bad_usage_exits_2() {
    let dir = temp("clean");
    std::fs::write(
        dir.join("index.html"),
        "<a href=\"/a.html#x\">a</a><img src=\"pic.png\" srcset=\"pic.png 2x\">",
    )
    .unwrap();
    std::fs::write(
        dir.join("a.html"),
        "<h1 id=\"x\">a</h1><a href=\"/\">home</a>",
    )
    .unwrap();
    std::fs::write(dir.join("pic.png"), b"png").unwrap();
    let srv = serve(&dir);
    let out = Command::new(HEDDLE)
        .args(["crawl", &srv.url, "--local"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("0 broken references, 0 unknown; 2 pages, 3 URLs"),
        "{text}"
    );

    for args in [
        vec!["crawl", "not a url"],
        vec!["crawl", &srv.url, "--format", "yaml"],
        vec!["crawl", &srv.url, "--exclude", "("],
        vec!["crawl", &srv.url, "-H", "no colon"],
        vec!["crawl", "http://127.0.0.1:1/", "--retries", "0"],
        vec!["serve", "/definitely/not/a/dir", "--port", "0"],
    ] {
        let out = Command::new(HEDDLE).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    drop(srv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_logs_one_line_per_request_with_log() {
    use std::io::{Read, Write};
    let dir = temp("log");
    std::fs::write(dir.join("index.html"), "hi").unwrap();
    let srv = serve_with(&dir, &["--log"]);
    let addr = srv
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    for path in ["/", "/missing.html"] {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
    }
    let (ok, stderr) = srv.interrupt();
    assert!(ok);
    assert!(
        stderr.contains("127.0.0.1 \"GET / HTTP/1.1\" 200 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"GET /missing.html HTTP/1.1\" 404"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped after 2 requests"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
