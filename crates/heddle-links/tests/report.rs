//! Every output format is well-formed and carries every finding.

use std::time::Duration;

use heddle_links::crawl::{Finding, FindingKind, Report};
use heddle_links::report::{write, Format};

fn sample() -> Report {
    let f = |page: &str, line, target: &str, kind, reason: &str| Finding {
        page: page.into(),
        line,
        target: target.into(),
        kind,
        reason: reason.into(),
    };
    Report {
        start: "http://h/".into(),
        findings: vec![
            f(
                "http://h/",
                3,
                "http://h/a,b\"c",
                FindingKind::Broken,
                "404 Not Found",
            ),
            f(
                "http://h/p<1>.html",
                9,
                "http://h/x#n&o",
                FindingKind::BrokenFragment,
                "no id \"n&o\"\nhere",
            ),
            f(
                "http://h/p|2.html",
                1,
                "http://h/loop",
                FindingKind::Redirects,
                "redirect loop",
            ),
            f(
                "http://h/",
                4,
                "http://h/rate",
                FindingKind::Unknown,
                "429 Too Many Requests",
            ),
        ],
        pages: 3,
        urls: 10,
        links: 40,
        requests: 11,
        elapsed: Duration::from_millis(1500),
    }
}

fn render(r: &Report, f: Format) -> String {
    let mut out = Vec::new();
    write(r, f, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn json_is_valid_and_complete() {
    let v: serde_json::Value = serde_json::from_str(&render(&sample(), Format::Json)).unwrap();
    assert_eq!(v["summary"]["broken"], 3);
    assert_eq!(v["summary"]["unknown"], 1);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4);
    assert_eq!(findings[1]["reason"], "no id \"n&o\"\nhere");
    assert_eq!(findings[0]["target"], "http://h/a,b\"c");
    assert_eq!(findings[3]["kind"], "unknown");
}

#[test]
fn sarif_is_valid_with_a_result_per_finding() {
    let v: serde_json::Value = serde_json::from_str(&render(&sample(), Format::Sarif)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["level"], "error");
    assert_eq!(results[3]["level"], "warning");
    let loc = &results[1]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "http://h/p<1>.html");
    assert_eq!(loc["region"]["startLine"], 9);
}

#[test]
fn junit_is_well_formed_xml_with_failures_and_skips() {
    let text = render(&sample(), Format::Junit);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 4);
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        3
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("skipped"))
            .count(),
        1
    );
    assert_eq!(cases[1].attribute("classname"), Some("http://h/p<1>.html"));
    let empty = render(&Report::default(), Format::Junit);
    let doc = roxmltree::Document::parse(&empty).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        1
    );
}

#[test]
fn csv_quotes_fields_and_has_a_row_per_finding() {
    let text = render(&sample(), Format::Csv);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], "page,line,target,kind,reason");
    assert_eq!(
        lines[1],
        "http://h/,3,\"http://h/a,b\"\"c\",broken,404 Not Found"
    );
    // The reason with a line break stays one quoted field.
    assert!(text.contains("\"no id \"\"n&o\"\"\nhere\""));
}

#[test]
fn text_groups_by_target_and_markdown_escapes_pipes() {
    let text = render(&sample(), Format::Text);
    assert!(text.contains("BROKEN    http://h/a,b\"c  (404 Not Found)\n          in http://h/:3\n"));
    assert!(
        text.contains("3 broken references, 1 unknown; 3 pages, 10 URLs, 40 links, 11 requests")
    );
    let md = render(&sample(), Format::Markdown);
    assert!(md.contains("| http://h/p\\|2.html | 1 | http://h/loop | redirects | redirect loop |"));
    assert_eq!(md.lines().filter(|l| l.starts_with("| http")).count(), 4);
}
