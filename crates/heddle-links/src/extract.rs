//! Link and anchor extraction from HTML (html5ever's tokenizer, fed chunk by chunk) and
//! CSS (cssparser's tokenizer).
//!
//! What counts as a link: `href` of `a`, `area`, `link` (not `rel=preconnect` or
//! `dns-prefetch`, which name origins, not resources) and `base`; `src` of `img`,
//! `script`, `iframe`, `frame`, `embed`, `source`, `audio`, `video`, `track`, `input`;
//! `srcset` of `img` and `source`; `poster` of `video`; `data` of `object`; every CSS
//! `url()` and `@import` string in `style` attributes, `<style>` elements and
//! stylesheets. Anchors: every `id`, and `name` on `a`. Text inside comments, `<script>`,
//! `<textarea>`, `<title>` and other raw-text elements is not markup and yields nothing.
//! Lines are 1-based; an HTML tag's line is the line where the tag ends.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// One reference as written in the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawLink {
    /// The URL as written (not yet resolved).
    pub url: String,
    /// The 1-based line that holds it.
    pub line: u32,
}

/// What a page holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Every reference, in document order.
    pub links: Vec<RawLink>,
    /// Every `id` and `<a name>`, as written.
    pub anchors: Vec<String>,
    /// The first `<base href>`, as written.
    pub base: Option<String>,
}

#[derive(Default)]
struct SinkState {
    out: Extracted,
    /// Inside `<style>`: its text so far and the line of its start tag.
    style: Option<(String, u32)>,
}

struct Sink {
    state: RefCell<SinkState>,
}

fn attr<'a>(tag: &'a html5ever::tokenizer::Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| &*a.value)
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<()> {
        let line = u32::try_from(line_number).unwrap_or(u32::MAX);
        let mut st = self.state.borrow_mut();
        match token {
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => {
                let name = &*tag.name;
                for a in &tag.attrs {
                    match &*a.name.local {
                        "id" if !a.value.is_empty() => st.out.anchors.push(a.value.to_string()),
                        "name" if name == "a" && !a.value.is_empty() => {
                            st.out.anchors.push(a.value.to_string())
                        }
                        "style" => css_links_into(&a.value, line, 0, &mut st.out.links),
                        _ => {}
                    }
                }
                let mut push = |v: Option<&str>| {
                    if let Some(v) = v {
                        st.out.links.push(RawLink {
                            url: v.to_owned(),
                            line,
                        });
                    }
                };
                match name {
                    "a" | "area" => push(attr(&tag, "href")),
                    "link" => {
                        let rel = attr(&tag, "rel").unwrap_or("").to_ascii_lowercase();
                        if !rel.contains("preconnect") && !rel.contains("dns-prefetch") {
                            push(attr(&tag, "href"));
                        }
                    }
                    "img" | "source" => {
                        push(attr(&tag, "src"));
                        if let Some(set) = attr(&tag, "srcset") {
                            for url in srcset_urls(set) {
                                push(Some(url));
                            }
                        }
                    }
                    "script" | "iframe" | "frame" | "embed" | "audio" | "track" | "input" => {
                        push(attr(&tag, "src"))
                    }
                    "video" => {
                        push(attr(&tag, "src"));
                        push(attr(&tag, "poster"));
                    }
                    "object" => push(attr(&tag, "data")),
                    "base" if st.out.base.is_none() => {
                        st.out.base = attr(&tag, "href").map(str::to_owned);
                    }
                    _ => {}
                }
                // Raw-text elements: without a tree builder the tokenizer must be told.
                match name {
                    "style" => {
                        st.style = Some((String::new(), line));
                        TokenSinkResult::RawData(RawKind::Rawtext)
                    }
                    "script" => TokenSinkResult::RawData(RawKind::ScriptData),
                    "textarea" | "title" => TokenSinkResult::RawData(RawKind::Rcdata),
                    "xmp" | "iframe" | "noembed" | "noframes" => {
                        TokenSinkResult::RawData(RawKind::Rawtext)
                    }
                    "plaintext" => TokenSinkResult::Plaintext,
                    _ => TokenSinkResult::Continue,
                }
            }
            Token::TagToken(tag) if &*tag.name == "style" => {
                if let Some((css, start)) = st.style.take() {
                    css_links_into(&css, start, 0, &mut st.out.links);
                }
                TokenSinkResult::Continue
            }
            Token::CharacterTokens(text) => {
                if let Some((css, _)) = st.style.as_mut() {
                    css.push_str(&text);
                }
                TokenSinkResult::Continue
            }
            _ => TokenSinkResult::Continue,
        }
    }
}

/// A streaming HTML extractor: feed it bytes as they arrive, then [`finish`](Self::finish).
/// Memory is what the page yields (links and anchors), not the page itself.
///
/// ```
/// use heddle_links::extract::HtmlExtractor;
/// let mut x = HtmlExtractor::new();
/// x.feed(b"<a href=\"/a\">a</a>\n<img src");
/// x.feed(b"=\"b.png\" id=\"pic\">");
/// let page = x.finish();
/// let urls: Vec<_> = page.links.iter().map(|l| (l.url.as_str(), l.line)).collect();
/// assert_eq!(urls, [("/a", 1), ("b.png", 2)]);
/// assert_eq!(page.anchors, ["pic"]);
/// ```
pub struct HtmlExtractor {
    tokenizer: Tokenizer<Sink>,
    input: BufferQueue,
    /// Bytes of a UTF-8 sequence cut by a chunk boundary.
    pending: Vec<u8>,
}

impl Default for HtmlExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl HtmlExtractor {
    /// A fresh extractor.
    ///
    /// ```
    /// assert!(heddle_links::extract::HtmlExtractor::new().finish().links.is_empty());
    /// ```
    pub fn new() -> Self {
        let sink = Sink {
            state: RefCell::new(SinkState::default()),
        };
        HtmlExtractor {
            tokenizer: Tokenizer::new(sink, TokenizerOpts::default()),
            input: BufferQueue::default(),
            pending: Vec::new(),
        }
    }

    /// Feed the next bytes of the document (UTF-8; invalid bytes become U+FFFD).
    ///
    /// ```
    /// let mut x = heddle_links::extract::HtmlExtractor::new();
    /// x.feed("<p id=\"caf\u{e9}\">".as_bytes());
    /// assert_eq!(x.finish().anchors, ["caf\u{e9}"]);
    /// ```
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pending.is_empty() {
            self.push(bytes);
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(bytes);
            self.push(&joined);
        }
    }

    fn push(&mut self, data: &[u8]) {
        let mut text = String::with_capacity(data.len());
        let mut rest = data;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(good).expect("validated"));
                    match e.error_len() {
                        Some(n) => {
                            text.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        None => {
                            // Cut in the middle of a character: keep it for the next chunk.
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        if !text.is_empty() {
            self.input.push_back(StrTendril::from(text));
            let _ = self.tokenizer.feed(&self.input);
        }
    }

    /// End of document: what it held.
    ///
    /// ```
    /// let mut x = heddle_links::extract::HtmlExtractor::new();
    /// x.feed(b"<base href=\"/docs/\"><a href=x.html>");
    /// let page = x.finish();
    /// assert_eq!(page.base.as_deref(), Some("/docs/"));
    /// assert_eq!(page.links[0].url, "x.html");
    /// ```
    pub fn finish(mut self) -> Extracted {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.input.push_back(StrTendril::from("\u{FFFD}"));
            let _ = self.tokenizer.feed(&self.input);
        }
        self.tokenizer.end();
        let sink = &self.tokenizer.sink;
        let mut st = sink.state.borrow_mut();
        if let Some((css, start)) = st.style.take() {
            // An unclosed <style> at the end of the document.
            css_links_into(&css, start, 0, &mut st.out.links);
        }
        std::mem::take(&mut st.out)
    }
}

/// Extract from a whole HTML document at once.
///
/// ```
/// let page = heddle_links::extract::html("<a name=top></a><a href='#top'>up</a>");
/// assert_eq!(page.anchors, ["top"]);
/// assert_eq!(page.links[0].url, "#top");
/// ```
pub fn html(text: &str) -> Extracted {
    let mut x = HtmlExtractor::new();
    x.feed(text.as_bytes());
    x.finish()
}

/// Every `url()` and `@import "..."` of a stylesheet, lines 1-based.
///
/// ```
/// let links = heddle_links::extract::css("a{}\n.b { background: url( 'x.png' ) }\n@import \"y.css\";");
/// let urls: Vec<_> = links.iter().map(|l| (l.url.as_str(), l.line)).collect();
/// assert_eq!(urls, [("x.png", 2), ("y.css", 3)]);
/// ```
pub fn css(text: &str) -> Vec<RawLink> {
    let mut out = Vec::new();
    css_links_into(text, 1, 0, &mut out);
    out
}

/// CSS `text` whose first line is line `first_line` of its document.
fn css_links_into(text: &str, first_line: u32, depth: u32, out: &mut Vec<RawLink>) {
    let mut parser = cssparser::Parser::new(text);
    walk_css(&mut parser, first_line, depth, out);
}

fn walk_css(parser: &mut cssparser::Parser<'_>, first: u32, depth: u32, out: &mut Vec<RawLink>) {
    use cssparser::Token as T;
    let mut after_import = false;
    loop {
        let line = first + parser.current_source_location().line;
        let token = match parser.next_including_whitespace_and_comments() {
            Ok(t) => t.clone(),
            Err(_) => break,
        };
        match token {
            T::UnquotedUrl(ref u) => out.push(RawLink {
                url: u.to_string(),
                line,
            }),
            T::QuotedString(ref s) if after_import => out.push(RawLink {
                url: s.to_string(),
                line,
            }),
            T::Function(ref name) if name.eq_ignore_ascii_case("url") => {
                let _ = parser.parse_nested_block(|p| -> Result<(), cssparser::ParseError<()>> {
                    let line = first + p.current_source_location().line;
                    if let Ok(s) = p.expect_string() {
                        out.push(RawLink {
                            url: s.to_string(),
                            line,
                        });
                    }
                    Ok(())
                });
            }
            T::Function(_) | T::ParenthesisBlock | T::SquareBracketBlock | T::CurlyBracketBlock
                if depth < 64 =>
            {
                let _ = parser.parse_nested_block(|p| -> Result<(), cssparser::ParseError<()>> {
                    walk_css(p, first, depth + 1, out);
                    Ok(())
                });
            }
            _ => {}
        }
        after_import = match token {
            T::AtKeyword(ref k) => k.eq_ignore_ascii_case("import"),
            T::WhiteSpace(_) | T::Comment(_) => after_import,
            _ => false,
        };
    }
}

/// The URLs of a `srcset` attribute, following the HTML standard's parsing: candidates
/// are separated by commas; a URL runs to the next whitespace (trailing commas end the
/// candidate); descriptors run to the next comma outside parentheses.
///
/// ```
/// let urls = heddle_links::extract::srcset_urls("a.png 1x, b,c.png 2x,d.png");
/// assert_eq!(urls, ["a.png", "b,c.png", "d.png"]);
/// ```
pub fn srcset_urls(set: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    let b = set.as_bytes();
    let mut i = 0;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    while i < b.len() {
        while i < b.len() && (ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !ws(b[i]) {
            i += 1;
        }
        let mut url = &set[start..i];
        if url.ends_with(',') {
            url = url.trim_end_matches(',');
            if !url.is_empty() {
                urls.push(url);
            }
            continue;
        }
        urls.push(url);
        // Skip the descriptors up to a comma outside parentheses.
        let mut paren = false;
        while i < b.len() {
            match b[i] {
                b'(' => paren = true,
                b')' => paren = false,
                b',' if !paren => break,
                _ => {}
            }
            i += 1;
        }
    }
    urls
}
