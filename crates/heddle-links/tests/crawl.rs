//! The crawler against a generated site with known answers, served by a server that
//! misbehaves on purpose: every expected finding, nothing else, one HEAD and at most one
//! GET per URL.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use heddle_links::crawl::{crawl, Config, FindingKind};
use heddle_links::generate::{ExpectedKind, SiteSpec};
use support::TestServer;

fn test_config() -> Config {
    Config {
        workers: 8,
        timeout: Duration::from_secs(2),
        retries: 1,
        retry_base: Duration::from_millis(20),
        max_retry_wait: Duration::from_secs(2),
        ..Config::local()
    }
}

fn kind(k: FindingKind) -> ExpectedKind {
    match k {
        FindingKind::Broken => ExpectedKind::Broken,
        FindingKind::BrokenFragment => ExpectedKind::BrokenFragment,
        FindingKind::Redirects => ExpectedKind::Redirects,
        FindingKind::Unknown => ExpectedKind::Unknown,
    }
}

/// A URL on `origin` as its path (with query and fragment); others unchanged.
fn local(origin: &str, url: &str) -> String {
    match url.strip_prefix(origin) {
        Some(rest) => rest.to_owned(),
        None => url.to_owned(),
    }
}

#[test]
fn finds_every_broken_link_and_nothing_else_with_one_head_and_one_get_at_most_per_url() {
    let external = TestServer::with(
        BTreeMap::from([("/ok".to_owned(), b"fine".to_vec())]),
        HashMap::new(),
    );
    let site = SiteSpec {
        pages: 300,
        links_per_page: 12,
        seed: 42,
        misbehaving: true,
        external: Some(external.origin()),
    }
    .generate();
    let server = TestServer::start(&site);
    let origin = server.origin();
    let mut cfg = test_config();
    cfg.headers.push(("X-Heddle-Test".into(), "yes".into()));
    let report = crawl(&format!("{origin}/"), &cfg, None).unwrap();

    let got: BTreeSet<_> = report
        .findings
        .iter()
        .map(|f| {
            let page = local(&origin, &f.page);
            (page, f.line, local(&origin, &f.target), kind(f.kind))
        })
        .collect();
    let want: BTreeSet<_> = site
        .expected
        .iter()
        .map(|e| (e.page.clone(), e.line, e.target.clone(), e.kind))
        .collect();
    let false_positives: Vec<_> = got.difference(&want).collect();
    let false_negatives: Vec<_> = want.difference(&got).collect();
    assert!(
        false_positives.is_empty() && false_negatives.is_empty(),
        "false positives: {false_positives:#?}\nfalse negatives: {false_negatives:#?}"
    );
    assert_eq!(
        report.findings.len(),
        site.expected.len(),
        "no duplicate findings"
    );
    // Every kind is exercised.
    for k in [
        ExpectedKind::Broken,
        ExpectedKind::BrokenFragment,
        ExpectedKind::Redirects,
        ExpectedKind::Unknown,
    ] {
        assert!(want.iter().any(|w| w.3 == k), "{k:?} not exercised");
    }

    // One HEAD and at most one GET per URL (the GET only after a HEAD refused, or for
    // the anchors a fragment needs), except where the server made the crawler ask again.
    let log = server.log();
    assert!(log.iter().all(|l| l.test_header.as_deref() == Some("yes")));
    let mut per_url: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in &log {
        per_url.entry(&l.target).or_default().push(&l.method);
    }
    let expected_repeats: HashMap<&str, Vec<&str>> = HashMap::from([
        ("/mis/head405.png", vec!["HEAD", "GET"]),
        ("/mis/retry-after.png", vec!["HEAD", "HEAD"]),
        ("/mis/always429.png", vec!["HEAD", "HEAD"]),
        ("/mis/flaky.png", vec!["HEAD", "HEAD"]),
        ("/mis/gone503.png", vec!["HEAD", "HEAD"]),
        ("/mis/endless.html", vec!["GET", "GET"]),
    ]);
    for (url, methods) in &per_url {
        match expected_repeats.get(url) {
            Some(want) => assert_eq!(methods, want, "{url}"),
            None => assert!(
                [&["GET"][..], &["HEAD"], &["HEAD", "GET"]].contains(&methods.as_slice()),
                "{url} fetched {methods:?}"
            ),
        }
    }
    assert_eq!(report.requests as usize, log.len() + external.log().len());
    let ext = external.log();
    assert_eq!(ext.len(), 2, "{ext:?}");
    // Same-site pages are read with GET, images checked with HEAD.
    assert_eq!(per_url["/p/1.html"], ["GET"]);
    assert_eq!(per_url["/img/0.png"], ["HEAD"]);
    // Every page of the site was fetched, and every HTML page fetched was read.
    for i in 1..300 {
        assert!(
            per_url.contains_key(format!("/p/{i}.html").as_str()),
            "page {i}"
        );
    }
    let files = site.by_path();
    let read = per_url
        .keys()
        .filter(|u| {
            **u == "/"
                || (u.ends_with(".html") && files.contains_key(**u))
                || ["/mis/slow.html", "/mis/bigheaders.html"].contains(u)
        })
        .count();
    assert_eq!(report.pages as usize, read);
}

#[test]
fn max_depth_include_and_exclude() {
    let site = SiteSpec {
        pages: 60,
        seed: 3,
        ..Default::default()
    }
    .generate();
    let server = TestServer::start(&site);
    let origin = server.origin();

    let mut cfg = test_config();
    cfg.max_depth = Some(0);
    let report = crawl(&format!("{origin}/"), &cfg, None).unwrap();
    assert_eq!(report.pages, 1);
    let gets: Vec<_> = server
        .log()
        .into_iter()
        .filter(|l| l.method == "GET")
        .map(|l| l.target)
        .collect();
    // Only the root is read for links; its same-site links are checked, not followed:
    // a page is fetched with GET only if the root links to it with a fragment to check.
    let root = String::from_utf8(site.files[0].body.clone()).unwrap();
    let with_fragment: BTreeSet<String> = heddle_links::extract::html(&root)
        .links
        .iter()
        .filter_map(|l| l.url.split_once('#'))
        .map(|(u, _)| {
            let u = u.trim_start_matches('/');
            format!("/{u}")
        })
        .collect();
    assert_eq!(gets[0], "/");
    for g in &gets[1..] {
        assert!(with_fragment.contains(g), "{g} read beyond the depth limit");
    }
    for f in &report.findings {
        assert_eq!(local(&origin, &f.page), "/");
    }

    let server = TestServer::start(&site);
    let origin = server.origin();
    let mut cfg = test_config();
    cfg.exclude = vec![regex::Regex::new(r"/img/|/loop/").unwrap()];
    let report = crawl(&format!("{origin}/"), &cfg, None).unwrap();
    assert!(server
        .log()
        .iter()
        .all(|l| !l.target.starts_with("/img/") && !l.target.starts_with("/loop/")));
    assert!(report.findings.iter().all(|f| !f.target.contains("/img/")));
    let want: BTreeSet<_> = site
        .expected
        .iter()
        .filter(|e| !e.target.contains("/img/") && !e.target.starts_with("/loop/"))
        .map(|e| (e.page.clone(), e.line, e.target.clone()))
        .collect();
    let got: BTreeSet<_> = report
        .findings
        .iter()
        .map(|f| (local(&origin, &f.page), f.line, local(&origin, &f.target)))
        .collect();
    assert_eq!(got, want);

    let server = TestServer::start(&site);
    let origin = server.origin();
    let mut cfg = test_config();
    cfg.include = vec![regex::Regex::new(r"^[^#]*(/|\.html|\.css)(#.*)?$").unwrap()];
    crawl(&format!("{origin}/"), &cfg, None).unwrap();
    for l in server.log() {
        let t = l.target.split('?').next().unwrap().to_owned();
        assert!(
            t == "/" || t.ends_with(".html") || t.ends_with(".css"),
            "{t}"
        );
    }
}

#[test]
fn start_errors_are_typed() {
    let cfg = test_config();
    assert!(matches!(
        crawl("not a url", &cfg, None),
        Err(heddle_links::crawl::CrawlError::BadStart(_))
    ));
    assert!(matches!(
        crawl("ftp://example.invalid/", &cfg, None),
        Err(heddle_links::crawl::CrawlError::BadStart(_))
    ));
    let site = SiteSpec {
        pages: 2,
        ..Default::default()
    }
    .generate();
    let server = TestServer::start(&site);
    assert!(matches!(
        crawl(&format!("{}/nothing-here", server.origin()), &cfg, None),
        Err(heddle_links::crawl::CrawlError::StartFailed(_))
    ));
}

#[test]
fn one_fetch_per_normalised_url() {
    // Relative, dot-segment and fragment variants of one URL, and a start URL with an
    // upper-case scheme and host: one request each.
    let index = concat!(
        "<a href=\"/p/1.html\">a</a>\n",
        "<a href=\"p/1.html#s0\">b</a>\n",
        "<a href=\"/p/./1.html\">c</a>\n",
        "<a href=\"/x/../p/1.html#S0\">d</a>\n",
        "<a href=\"/p/1.html#\">e</a>\n",
        "<img src=\"/img/a.png\"><img src=\"img/a.png\"><img src=\"/img/x/../a.png\">\n",
    );
    let files = BTreeMap::from([
        ("/index.html".to_owned(), index.as_bytes().to_vec()),
        (
            "/p/1.html".to_owned(),
            b"<h1 id=s0>one</h1><a href=\"../#top\">".to_vec(),
        ),
        ("/img/a.png".to_owned(), b"png".to_vec()),
    ]);
    let server = TestServer::with(files, HashMap::new());
    let origin = server.origin();
    let mut cfg = test_config();
    cfg.check_external = false;
    let report = crawl(
        &format!("{}/", origin.to_uppercase().replace("HTTP://", "HtTp://")),
        &cfg,
        None,
    )
    .unwrap();
    let log: Vec<_> = server
        .log()
        .into_iter()
        .map(|l| (l.method, l.target))
        .collect();
    let mut sorted = log.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("GET".to_owned(), "/".to_owned()),
            ("GET".to_owned(), "/p/1.html".to_owned()),
            ("HEAD".to_owned(), "/img/a.png".to_owned()),
        ],
        "{log:?}"
    );
    // The one wrong fragment (#S0: fragments are case-sensitive) is reported.
    let got: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.line, local(&origin, &f.target)))
        .collect();
    assert_eq!(got, [(4, "/p/1.html#S0".to_owned())]);
}

#[test]
fn per_host_concurrency_is_bounded() {
    let site = SiteSpec {
        pages: 40,
        seed: 9,
        ..Default::default()
    }
    .generate();
    let crawl_with = |host_concurrency: usize| {
        let server = TestServer::start(&site);
        // Slow answers, so that fetches overlap whenever the crawler lets them.
        server.set_delay(Duration::from_millis(5));
        let mut cfg = test_config();
        cfg.workers = 8;
        cfg.host_concurrency = host_concurrency;
        let report = crawl(&format!("{}/", server.origin()), &cfg, None).unwrap();
        assert_eq!(report.findings.len(), site.expected.len());
        server.max_in_flight()
    };
    assert_eq!(crawl_with(1), 1);
    let two = crawl_with(2);
    assert!((1..=2).contains(&two), "{two} in flight with a limit of 2");
    // Without the limit the same crawl does overlap (so the bound above is the gate's).
    assert!(crawl_with(8) > 2);
}

/// Links to URLs checked with HEAD first (an external host, a page past the depth limit)
/// that later come with fragments: the fragments are still checked, with one GET per URL.
#[test]
fn fragments_on_urls_first_checked_with_head_are_checked() {
    let external_files = || {
        BTreeMap::from([
            (
                "/doc.html".to_owned(),
                b"<h1 id=good>doc</h1><a name=named>n</a>".to_vec(),
            ),
            ("/pic.png".to_owned(), b"\x89PNG".to_vec()),
        ])
    };
    // The root (depth 0) reads /p/2.html and /p/4.html (depth 1); /p/3.html (depth 2) is
    // past the limit, so it is checked with HEAD, first from /p/2.html without fragment.
    // With one worker the queue's order is fixed: the external HEADs complete before
    // /p/2.html is read (fragments arrive at a URL checked), and /p/4.html is read
    // before /p/3.html's HEAD (fragments arrive at a URL being checked).
    let site = |ext: &str| {
        let index = format!(
            concat!(
                "<a href=\"{ext}/doc.html\">doc</a>\n",
                "<img src=\"{ext}/pic.png\">\n",
                "<a href=\"/p/2.html\">2</a>\n",
                "<a href=\"/p/4.html\">4</a>\n",
            ),
            ext = ext
        );
        let two = format!(
            concat!(
                "<a href=\"/p/3.html\">3</a>\n",
                "<a href=\"{ext}/doc.html#bad\">bad</a>\n",
                "<a href=\"{ext}/doc.html#good\">good</a>\n",
                "<a href=\"{ext}/doc.html#named\">named</a>\n",
                "<a href=\"{ext}/doc.html#bad\">bad again</a>\n",
                "<a href=\"{ext}/doc.html#top\">top</a>\n",
                "<a href=\"{ext}/pic.png#xywh=0,0,1,1\">not html: not checked</a>\n",
            ),
            ext = ext
        );
        let four = concat!(
            "<a href=\"/p/3.html#here\">here</a>\n",
            "<a href=\"/p/3.html#nope\">nope</a>\n",
            "<a href=\"/p/3.html\">plain</a>\n",
        );
        BTreeMap::from([
            ("/index.html".to_owned(), index.into_bytes()),
            ("/p/2.html".to_owned(), two.into_bytes()),
            ("/p/3.html".to_owned(), b"<p id=here>three</p>".to_vec()),
            ("/p/4.html".to_owned(), four.as_bytes().to_vec()),
        ])
    };
    for workers in [1, 4] {
        let external = TestServer::with(external_files(), HashMap::new());
        let ext = external.origin();
        let server = TestServer::with(site(&ext), HashMap::new());
        let origin = server.origin();
        let mut cfg = test_config();
        cfg.workers = workers;
        cfg.max_depth = Some(1);
        let report = crawl(&format!("{origin}/"), &cfg, None).unwrap();
        let got: Vec<_> = report
            .findings
            .iter()
            .map(|f| {
                (
                    local(&origin, &f.page),
                    f.line,
                    local(&origin, &f.target),
                    f.kind,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/p/2.html".to_owned(),
                    2,
                    format!("{ext}/doc.html#bad"),
                    FindingKind::BrokenFragment
                ),
                (
                    "/p/2.html".to_owned(),
                    5,
                    format!("{ext}/doc.html#bad"),
                    FindingKind::BrokenFragment
                ),
                (
                    "/p/4.html".to_owned(),
                    2,
                    "/p/3.html#nope".to_owned(),
                    FindingKind::BrokenFragment
                ),
            ],
            "{workers} workers"
        );
        let requests = |s: &TestServer| {
            let mut log: Vec<_> = s.log().into_iter().map(|l| (l.method, l.target)).collect();
            log.sort();
            log
        };
        let pair = |m: &str, t: &str| (m.to_owned(), t.to_owned());
        // One HEAD and at most one GET per URL; no GET for the image (not HTML). With
        // more workers /p/4.html may be read first, and /p/3.html then read by GET alone.
        let mut local_log = requests(&server);
        if workers > 1 && !local_log.contains(&pair("HEAD", "/p/3.html")) {
            local_log.push(pair("HEAD", "/p/3.html"));
        }
        assert_eq!(
            local_log,
            [
                pair("GET", "/"),
                pair("GET", "/p/2.html"),
                pair("GET", "/p/3.html"),
                pair("GET", "/p/4.html"),
                pair("HEAD", "/p/3.html"),
            ],
            "{workers} workers"
        );
        assert_eq!(
            requests(&external),
            [
                pair("GET", "/doc.html"),
                pair("HEAD", "/doc.html"),
                pair("HEAD", "/pic.png"),
            ],
            "{workers} workers"
        );
        assert_eq!(
            report.requests as usize,
            server.log().len() + external.log().len()
        );
        assert_eq!(report.pages, 3, "/p/3.html is read for ids, not for links");
    }
}
