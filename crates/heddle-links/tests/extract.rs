//! HTML, CSS and srcset extraction: known cases, and properties on malformed input
//! (proptest): no panic, chunking does not change the result, inserted links are found
//! with their lines.

use heddle_links::extract::{css, html, srcset_urls, HtmlExtractor};
use proptest::prelude::*;

fn urls(page: &heddle_links::extract::Extracted) -> Vec<(&str, u32)> {
    page.links
        .iter()
        .map(|l| (l.url.as_str(), l.line))
        .collect()
}

#[test]
fn every_kind_of_link_and_nothing_from_non_markup() {
    let page = html(concat!(
        "<!doctype html><html><head><base href=\"/docs/\">\n",
        "<link rel=stylesheet href=a.css><link rel=preconnect href=https://cdn.example>\n",
        "<style>\nbody { background: url(bg.png) }\n@import \"more.css\";\n</style>\n",
        "<script src=app.js></script><script>var s = '<a href=\"/no1\">';</script>\n",
        "</head><body><!-- <a href=\"/no2\"> -->\n",
        "<textarea><a href=\"/no3\"></textarea><title><img src=/no4></title>\n",
        "<a href=\"p.html#Caf%C3%A9\" id=\"top-link\">x</a><a name=\"n1\"></a>\n",
        "<img src=i.png srcset=\"i2.png 2x, i3.png 3x\"><picture><source srcset=s.webp></picture>\n",
        "<iframe src=f.html></iframe><video src=v.mp4 poster=v.jpg></video><object data=o.svg></object>\n",
        "<div style=\"background-image: url('inline.png')\"></div>\n",
        "<a>no href</a><area href=map.html>\n",
    ));
    assert_eq!(page.base.as_deref(), Some("/docs/"));
    assert_eq!(
        urls(&page),
        [
            ("a.css", 2),
            ("bg.png", 4),
            ("more.css", 5),
            ("app.js", 7),
            ("p.html#Caf%C3%A9", 10),
            ("i.png", 11),
            ("i2.png", 11),
            ("i3.png", 11),
            ("s.webp", 11),
            ("f.html", 12),
            ("v.mp4", 12),
            ("v.jpg", 12),
            ("o.svg", 12),
            ("inline.png", 13),
            ("map.html", 14),
        ]
    );
    assert_eq!(page.anchors, ["top-link", "n1"]);
}

#[test]
fn unterminated_and_broken_markup_still_yields_what_is_there() {
    let page = html("<a href=\"/ok\">x<a href='/also'\n<p id=x><a href=/last");
    assert_eq!(page.links[0].url, "/ok");
    assert!(page.links.iter().all(|l| !l.url.is_empty()));
    let page = html("<style>a { background: url(x.png)");
    assert_eq!(urls(&page), [("x.png", 1)]);
}

#[test]
fn css_urls_with_lines() {
    let links = css("/* url(no.png) */\na { b: url( \"q.png\" ) }\n@media x { .c { d: url(u.png) } }\n@import url(i.css);\n");
    let got: Vec<_> = links.iter().map(|l| (l.url.as_str(), l.line)).collect();
    assert_eq!(got, [("q.png", 2), ("u.png", 3), ("i.css", 4)]);
}

#[test]
fn srcset_edge_cases() {
    assert_eq!(srcset_urls(""), Vec::<&str>::new());
    assert_eq!(srcset_urls(" , ,"), Vec::<&str>::new());
    assert_eq!(srcset_urls("a.png"), ["a.png"]);
    assert_eq!(srcset_urls("a.png 100w,b.png 200w"), ["a.png", "b.png"]);
    assert_eq!(
        srcset_urls("data:x,y 1x, c.png (a, b) 2x, d.png"),
        ["data:x,y", "c.png", "d.png"]
    );
    assert_eq!(srcset_urls("a.png,, b.png"), ["a.png", "b.png"]);
}

fn extract_chunked(bytes: &[u8], cuts: &[usize]) -> heddle_links::extract::Extracted {
    let mut x = HtmlExtractor::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        x.feed(&bytes[start..c.max(start)]);
        start = c.max(start);
    }
    x.feed(&bytes[start..]);
    x.finish()
}

/// Text that is not markup: no `<`, `&` or quotes.
fn plain() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,;:!?\n\u{e9}\u{4e2d}-]{0,40}"
}

/// A URL-ish value without quotes or whitespace.
fn url_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/._#%?=~-]{1,30}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_chunking_changes_nothing(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let whole = extract_chunked(&bytes, &[]);
        let chunked = extract_chunked(&bytes, &cuts);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn markup_soup_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<a href=".to_owned()), Just("<img srcset=\"".to_owned()),
                Just("<style>".to_owned()), Just("</style>".to_owned()),
                Just("url(".to_owned()), Just("<!--".to_owned()), Just("-->".to_owned()),
                Just("<script>".to_owned()), Just("\"".to_owned()), Just("'".to_owned()),
                Just(">".to_owned()), Just("<base href=".to_owned()), Just("&amp;".to_owned()),
                Just("<textarea>".to_owned()), Just("<![CDATA[".to_owned()),
                "[ -~\n]{0,12}",
            ],
            0..40,
        ),
    ) {
        let text = parts.concat();
        let page = html(&text);
        let lines = text.lines().count().max(1) as u32 + 1;
        for l in &page.links {
            prop_assert!(l.line >= 1 && l.line <= lines);
        }
        let _ = css(&text);
        let _ = srcset_urls(&text);
    }

    #[test]
    fn inserted_links_are_found_in_order_with_their_lines(
        items in proptest::collection::vec((plain(), url_value(), 0usize..4), 0..20),
    ) {
        let mut text = String::new();
        let mut want = Vec::new();
        for (junk, url, form) in &items {
            text.push_str(junk);
            let line = text.matches('\n').count() as u32 + 1;
            match form {
                0 => text.push_str(&format!("<a href=\"{url}\">x</a>")),
                1 => text.push_str(&format!("<img alt=x src='{url}'>")),
                2 => text.push_str(&format!("<link href={url} rel=icon>")),
                _ => text.push_str(&format!("<div style=\"b: url({url})\"></div>")),
            }
            want.push((url.clone(), line));
        }
        let page = html(&text);
        let got: Vec<(String, u32)> = page.links.iter().map(|l| (l.url.clone(), l.line)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn srcset_round_trips(
        cands in proptest::collection::vec(("[a-z0-9/._-]{1,12}[a-z0-9]", prop_oneof![Just(""), Just(" 1x"), Just(" 480w"), Just(" 2.5x")]), 1..6),
        // (Per the standard, "a,b" with no space after the comma is one URL.)
        sep in prop_oneof![Just(",\t"), Just(", "), Just(" ,\n ")],
    ) {
        let set: Vec<String> = cands.iter().map(|(u, d)| format!("{u}{d}")).collect();
        let text = set.join(sep);
        let want: Vec<&str> = cands.iter().map(|(u, _)| u.as_str()).collect();
        prop_assert_eq!(srcset_urls(&text), want);
    }
}
