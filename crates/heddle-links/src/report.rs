//! A crawl [`Report`] as text, JSON, CSV, Markdown, JUnit XML or SARIF 2.1.0.
//!
//! Text groups the findings by target, each with the pages and lines that hold it;
//! the machine formats list one record per reference. Unknown findings (429, bot walls,
//! timeouts) are listed but never count as failures: in JUnit they are `skipped`, in
//! SARIF their level is `warning`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::str::FromStr;

use crate::crawl::{Finding, Report};

/// An output format.
///
/// ```
/// use heddle_links::report::Format;
/// assert_eq!("sarif".parse::<Format>().unwrap(), Format::Sarif);
/// assert!("yaml".parse::<Format>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For people: findings grouped by target, then a summary.
    Text,
    /// One JSON object: `start`, `summary`, `findings`.
    Json,
    /// `page,line,target,kind,reason`, with a header row.
    Csv,
    /// A Markdown table and a summary line.
    Markdown,
    /// JUnit XML: a test case per finding (broken: failure, unknown: skipped).
    Junit,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "text" => Format::Text,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "markdown" | "md" => Format::Markdown,
            "junit" => Format::Junit,
            "sarif" => Format::Sarif,
            _ => {
                return Err(format!(
                    "unknown format {s:?}: use text, json, csv, markdown, junit or sarif"
                ))
            }
        })
    }
}

/// Write `report` in `format`.
///
/// # Errors
///
/// Any error writing to `out`.
///
/// ```
/// use heddle_links::crawl::{Finding, FindingKind, Report};
/// use heddle_links::report::{write, Format};
/// let mut report = Report::default();
/// report.findings.push(Finding {
///     page: "http://h/".into(), line: 3, target: "http://h/x".into(),
///     kind: FindingKind::Broken, reason: "404 Not Found".into(),
/// });
/// let mut out = Vec::new();
/// write(&report, Format::Csv, &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(),
///     "page,line,target,kind,reason\nhttp://h/,3,http://h/x,broken,404 Not Found\n");
/// ```
pub fn write(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    let text = match format {
        Format::Text => text(report),
        Format::Json => json(report),
        Format::Csv => csv(report),
        Format::Markdown => markdown(report),
        Format::Junit => junit(report),
        Format::Sarif => sarif(report),
    };
    out.write_all(text.as_bytes())
}

fn summary(r: &Report) -> String {
    let broken = r.broken();
    let unknown = r.findings.len() - broken;
    format!(
        "{broken} broken reference{}, {unknown} unknown; {} pages, {} URLs, {} links, {} requests in {:.2} s",
        if broken == 1 { "" } else { "s" },
        r.pages,
        r.urls,
        r.links,
        r.requests,
        r.elapsed.as_secs_f64()
    )
}

fn text(r: &Report) -> String {
    let mut by_target: BTreeMap<(&str, &str, &str), Vec<&Finding>> = BTreeMap::new();
    for f in &r.findings {
        by_target
            .entry((f.kind.name(), &f.target, &f.reason))
            .or_default()
            .push(f);
    }
    let mut s = String::new();
    for ((kind, target, reason), refs) in by_target {
        let _ = writeln!(s, "{:<9} {target}  ({reason})", kind.to_uppercase());
        for f in refs {
            let _ = writeln!(s, "          in {}:{}", f.page, f.line);
        }
    }
    let _ = writeln!(s, "{}", summary(r));
    s
}

/// JSON string escape (RFC 8259).
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json(r: &Report) -> String {
    let mut s = format!(
        "{{\"start\":{},\"summary\":{{\"broken\":{},\"unknown\":{},\"pages\":{},\"urls\":{},\"links\":{},\"requests\":{},\"seconds\":{:.3}}},\"findings\":[",
        js(&r.start),
        r.broken(),
        r.findings.len() - r.broken(),
        r.pages,
        r.urls,
        r.links,
        r.requests,
        r.elapsed.as_secs_f64()
    );
    for (i, f) in r.findings.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"page\":{},\"line\":{},\"target\":{},\"kind\":\"{}\",\"reason\":{}}}",
            if i == 0 { "" } else { "," },
            js(&f.page),
            f.line,
            js(&f.target),
            f.kind.name(),
            js(&f.reason)
        );
    }
    s.push_str("]}\n");
    s
}

/// CSV field (RFC 4180): quoted if it holds a comma, quote or line break.
fn cs(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv(r: &Report) -> String {
    let mut s = String::from("page,line,target,kind,reason\n");
    for f in &r.findings {
        let _ = writeln!(
            s,
            "{},{},{},{},{}",
            cs(&f.page),
            f.line,
            cs(&f.target),
            f.kind.name(),
            cs(&f.reason)
        );
    }
    s
}

/// Markdown table cell: pipes escaped, line breaks flattened.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown(r: &Report) -> String {
    let mut s = format!("# Link check of {}\n\n", md(&r.start));
    if !r.findings.is_empty() {
        s.push_str("| page | line | target | kind | reason |\n|---|---:|---|---|---|\n");
        for f in &r.findings {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md(&f.page),
                f.line,
                md(&f.target),
                f.kind.name(),
                md(&f.reason)
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{}", summary(r));
    s
}

/// XML text and attribute escape.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

fn junit(r: &Report) -> String {
    let broken = r.broken();
    let skipped = r.findings.len() - broken;
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"heddle crawl\" tests=\"{}\" failures=\"{broken}\" skipped=\"{skipped}\" time=\"{:.3}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{broken}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
        r.findings.len().max(1),
        r.elapsed.as_secs_f64(),
        xml(&r.start),
        r.findings.len().max(1),
        r.elapsed.as_secs_f64()
    );
    if r.findings.is_empty() {
        let _ = writeln!(
            s,
            "    <testcase classname=\"{}\" name=\"all links\"/>",
            xml(&r.start)
        );
    }
    for f in &r.findings {
        let _ = write!(
            s,
            "    <testcase classname=\"{}\" name=\"{} (line {})\">",
            xml(&f.page),
            xml(&f.target),
            f.line
        );
        if f.kind.is_broken() {
            let _ = write!(
                s,
                "<failure type=\"{}\" message=\"{}\"/>",
                f.kind.name(),
                xml(&f.reason)
            );
        } else {
            let _ = write!(s, "<skipped message=\"{}\"/>", xml(&f.reason));
        }
        s.push_str("</testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

fn sarif(r: &Report) -> String {
    let rules = [
        ("broken", "The link's target is missing."),
        ("fragment", "The target page has no such id or name."),
        ("redirects", "The link's redirects loop or are too many."),
        (
            "unknown",
            "The link could not be checked (rate limit, bot wall, timeout).",
        ),
    ];
    let mut s = String::from(
        "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"heddle crawl\",\"rules\":[",
    );
    for (i, (id, text)) in rules.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"id\":\"{id}\",\"shortDescription\":{{\"text\":{}}}}}",
            if i == 0 { "" } else { "," },
            js(text)
        );
    }
    s.push_str("]}},\"results\":[");
    for (i, f) in r.findings.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"ruleId\":\"{}\",\"level\":\"{}\",\"message\":{{\"text\":{}}},\"locations\":[{{\"physicalLocation\":{{\"artifactLocation\":{{\"uri\":{}}},\"region\":{{\"startLine\":{}}}}}}}]}}",
            if i == 0 { "" } else { "," },
            f.kind.name(),
            if f.kind.is_broken() { "error" } else { "warning" },
            js(&format!("{}: {}", f.target, f.reason)),
            js(&f.page),
            f.line.max(1)
        );
    }
    s.push_str("]}]}\n");
    s
}
