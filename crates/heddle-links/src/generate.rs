//! A generated web site with known answers: every broken link and fragment it contains is
//! listed in [`Site::expected`], with the page and line that contain it.
//!
//! The site is deterministic for a given [`SiteSpec`] (page count, link density, seed).
//! Pages live at `/` (page 0, `index.html`) and `/p/{i}.html`; page `i` links to pages
//! `8i+1 ..= 8i+8`, so every page is reachable from the root within `log8(pages)` hops,
//! and to random pages, assets and traps. It exercises every kind of link the crawler
//! reads: `a href` (root-relative, relative, `../`, `./`), fragments against `id` and
//! `<a name>` (one percent-encoded), `img src` and `srcset`, `<picture><source srcset>`,
//! `link href` (stylesheets whose CSS has `url()`s), `script src`, `iframe src`,
//! inline `style` and `<style>` `url()`s, `<base href>` pages whose relative links only
//! exist under the base, redirect chains, a redirect loop and a chain longer than ten hops.
//! Redirects go to a `_redirects` file (`from to status` per line) that
//! [`serve`](crate::serve) honours.
//!
//! With [`SiteSpec::misbehaving`] the root also links to the `/mis/` routes a test server
//! implements on purpose (see [`MISBEHAVING`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// What to generate.
///
/// ```
/// let site = heddle_links::generate::SiteSpec { pages: 50, ..Default::default() }.generate();
/// assert!(site.files.iter().any(|f| f.path == "/index.html"));
/// ```
#[derive(Clone, Debug)]
pub struct SiteSpec {
    /// Number of HTML pages (at least 1: the root).
    pub pages: usize,
    /// Links per page, besides the tree links, head links and fixed sections.
    pub links_per_page: usize,
    /// Seed of the generator: the same spec always gives the same site.
    pub seed: u64,
    /// Link the root to the misbehaving routes of [`MISBEHAVING`].
    pub misbehaving: bool,
    /// An origin (`http://127.0.0.1:1234`) the root links to as an external site:
    /// `{origin}/ok` (expected fine) and `{origin}/gone` (expected broken).
    pub external: Option<String>,
}

impl Default for SiteSpec {
    fn default() -> Self {
        SiteSpec {
            pages: 100,
            links_per_page: 12,
            seed: 1,
            misbehaving: false,
            external: None,
        }
    }
}

/// One file of the site: its URL path (starting with `/`) and its bytes.
#[derive(Clone, Debug)]
pub struct SiteFile {
    /// The URL path, e.g. `/p/3.html`.
    pub path: String,
    /// The file's contents.
    pub body: Vec<u8>,
}

/// A redirect the server answers with (`from` → `to`, a 301/302/307/308 status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The path redirected.
    pub from: String,
    /// The `Location` (a path on the same site).
    pub to: String,
    /// The status code.
    pub status: u16,
}

/// Why a reference is expected to be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExpectedKind {
    /// The target does not exist (404), directly, through redirects or a persistent 5xx.
    Broken,
    /// The page exists but has no such `id` or `<a name>`.
    BrokenFragment,
    /// The redirects loop or exceed the limit.
    Redirects,
    /// Neither fine nor broken: rate limited (429), a bot wall, a timeout.
    Unknown,
}

/// One reference the crawler must report: where it is and what it points to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Expected {
    /// The URL path of the page (or stylesheet) that contains the reference.
    pub page: String,
    /// The 1-based line of the reference.
    pub line: u32,
    /// The target: a path (with `?query` and `#fragment` as resolved), or an absolute
    /// URL for an external target.
    pub target: String,
    /// Why.
    pub kind: ExpectedKind,
}

/// A generated site.
#[derive(Clone, Debug, Default)]
pub struct Site {
    /// Every file, `index.html` first.
    pub files: Vec<SiteFile>,
    /// The redirects (also written to `_redirects`).
    pub redirects: Vec<Redirect>,
    /// Every reference a correct crawler reports, sorted.
    pub expected: Vec<Expected>,
    /// The number of link references in the site (HTML and CSS).
    pub links: usize,
}

/// The misbehaving routes linked when [`SiteSpec::misbehaving`] is set, with what a
/// test server does there and what a crawler must conclude:
///
/// | path | server | verdict |
/// |---|---|---|
/// | `/mis/head405.png` | 405 on HEAD, 200 on GET | fine (one HEAD, one GET) |
/// | `/mis/retry-after.png` | first 429 with `Retry-After: 1`, then 200 | fine |
/// | `/mis/always429.png` | always 429 | unknown |
/// | `/mis/botwall.png` | 403 with `cf-mitigated: challenge` | unknown |
/// | `/mis/slow.html` | answers after 300 ms | fine |
/// | `/mis/flaky.png` | first 500, then 200 | fine |
/// | `/mis/gone503.png` | always 503 | broken |
/// | `/mis/bigheaders.html` | 10 KiB of response headers | fine |
/// | `/mis/endless.html` | a body that never ends | unknown (timeout) |
pub const MISBEHAVING: &[(&str, Option<ExpectedKind>)] = &[
    ("/mis/head405.png", None),
    ("/mis/retry-after.png", None),
    ("/mis/always429.png", Some(ExpectedKind::Unknown)),
    ("/mis/botwall.png", Some(ExpectedKind::Unknown)),
    ("/mis/slow.html", None),
    ("/mis/flaky.png", None),
    ("/mis/gone503.png", Some(ExpectedKind::Broken)),
    ("/mis/bigheaders.html", None),
    ("/mis/endless.html", Some(ExpectedKind::Unknown)),
];

/// Number of stylesheets, images and base-href leaf pages (fixed, small).
const CSS_FILES: usize = 16;
const IMAGES: usize = 32;
const LEAVES: usize = 16;
const REDIRECT_CHAINS: usize = 8;
/// The percent-encoded id every page carries: `ünï`.
const UNICODE_ID: &str = "\u{fc}n\u{ef}";
const UNICODE_ID_ENCODED: &str = "%C3%BCn%C3%AF";

/// splitmix64: a small, good, seedable generator (the site must not depend on a crate's
/// stream staying the same across versions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn page_path(i: usize) -> String {
    if i == 0 {
        "/".to_owned()
    } else {
        format!("/p/{i}.html")
    }
}

/// A page under construction: one reference per line, so the generator knows each line.
struct Page {
    path: String,
    text: String,
    line: u32,
    expected: Vec<Expected>,
    links: usize,
}

impl Page {
    fn new(path: String) -> Self {
        Page {
            path,
            text: String::new(),
            line: 1,
            expected: Vec::new(),
            links: 0,
        }
    }
    /// Append one line (without its newline).
    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
        self.line += 1;
    }
    /// Append a line holding one reference; `bad` records it as expected.
    fn link(&mut self, s: &str, target: &str, bad: Option<ExpectedKind>) {
        self.links += 1;
        if let Some(kind) = bad {
            self.expected.push(Expected {
                page: self.path.clone(),
                line: self.line,
                target: target.to_owned(),
                kind,
            });
        }
        self.line(s);
    }
}

impl SiteSpec {
    /// Build the site in memory.
    ///
    /// ```
    /// use heddle_links::generate::SiteSpec;
    /// let a = SiteSpec { pages: 20, seed: 7, ..Default::default() }.generate();
    /// let b = SiteSpec { pages: 20, seed: 7, ..Default::default() }.generate();
    /// assert_eq!(a.expected, b.expected);
    /// assert!(!a.expected.is_empty());
    /// ```
    pub fn generate(&self) -> Site {
        let pages = self.pages.max(1);
        let mut rng = Rng(self.seed ^ 0x6865_6464_6c65);
        let mut site = Site::default();
        // Redirects: chains of two hops to a page, chains to a missing page, a loop, and
        // one chain of twelve hops (over a limit of ten).
        for k in 0..REDIRECT_CHAINS {
            let target = if pages > 1 {
                page_path(1 + k % (pages - 1))
            } else {
                "/".to_owned()
            };
            site.redirects.push(Redirect {
                from: format!("/r/{k}"),
                to: format!("/r/{k}b"),
                status: 301,
            });
            site.redirects.push(Redirect {
                from: format!("/r/{k}b"),
                to: target,
                status: 302,
            });
            site.redirects.push(Redirect {
                from: format!("/r/bad{k}"),
                to: format!("/p/gone-{k}.html"),
                status: 308,
            });
        }
        site.redirects.push(Redirect {
            from: "/loop/a".into(),
            to: "/loop/b".into(),
            status: 302,
        });
        site.redirects.push(Redirect {
            from: "/loop/b".into(),
            to: "/loop/a".into(),
            status: 302,
        });
        for h in 0..12 {
            site.redirects.push(Redirect {
                from: format!("/long/{h}"),
                to: if h == 11 {
                    "/".into()
                } else {
                    format!("/long/{}", h + 1)
                },
                status: 307,
            });
        }

        // Stylesheets: each uses two images; every fourth also a missing one.
        for c in 0..CSS_FILES {
            let mut css = Page::new(format!("/css/{c}.css"));
            css.line(&format!("/* stylesheet {c} */"));
            css.line("body { margin: 0 }");
            let a = rng.below(IMAGES);
            css.link(
                &format!(".a{{background:url(../img/{a}.png)}}"),
                &format!("/img/{a}.png"),
                None,
            );
            let b = rng.below(IMAGES);
            css.link(
                &format!(".b{{background-image:url(\"/img/{b}.png\")}}"),
                &format!("/img/{b}.png"),
                None,
            );
            if c % 4 == 0 {
                css.link(
                    &format!(
                        "@media screen {{ .c{{background:url('../img/missing-css-{c}.png')}} }}"
                    ),
                    &format!("/img/missing-css-{c}.png"),
                    Some(ExpectedKind::Broken),
                );
            }
            site.links += css.links;
            site.expected.append(&mut css.expected);
            site.files.push(SiteFile {
                path: css.path,
                body: css.text.into_bytes(),
            });
        }
        for i in 0..IMAGES {
            site.files.push(SiteFile {
                path: format!("/img/{i}.png"),
                body: format!("\u{89}PNG image {i}").into_bytes(),
            });
        }
        site.files.push(SiteFile {
            path: "/js/app.js".into(),
            body: b"console.log('heddle');\n".to_vec(),
        });
        for l in 0..LEAVES {
            site.files.push(SiteFile {
                path: format!("/b/leaf{l}.html"),
                body: format!(
                    "<!doctype html><title>leaf {l}</title><h1 id=\"top\">leaf {l}</h1>\n"
                )
                .into_bytes(),
            });
        }

        let mut bodies = Vec::with_capacity(pages);
        for i in 0..pages {
            let mut p = Page::new(page_path(i));
            self.page(i, pages, &mut rng, &mut p);
            site.links += p.links;
            site.expected.append(&mut p.expected);
            bodies.push(SiteFile {
                path: if i == 0 { "/index.html".into() } else { p.path },
                body: p.text.into_bytes(),
            });
        }
        bodies.append(&mut site.files);
        site.files = bodies;
        site.expected.sort();
        site
    }

    fn page(&self, i: usize, pages: usize, rng: &mut Rng, p: &mut Page) {
        let here_dir = if i == 0 { "/" } else { "/p/" };
        let base = i % 10 == 9;
        p.line("<!DOCTYPE html>");
        p.line("<html lang=\"en\">");
        p.line("<head>");
        p.line("<meta charset=\"utf-8\">");
        p.line(&format!("<title>Page {i}</title>"));
        if base {
            // Relative links below resolve against /b/, where only the leaves exist.
            p.link("<base href=\"/b/\">", "/b/", None);
        }
        let css = rng.below(CSS_FILES);
        let css_href = if base {
            format!("/css/{css}.css")
        } else if i == 0 {
            format!("css/{css}.css")
        } else {
            format!("../css/{css}.css")
        };
        p.link(
            &format!("<link rel=\"stylesheet\" href=\"{css_href}\">"),
            &format!("/css/{css}.css"),
            None,
        );
        p.link("<script src=\"/js/app.js\"></script>", "/js/app.js", None);
        let img = rng.below(IMAGES);
        p.line("<style>");
        p.line("h1 { color: navy }");
        p.link(
            &format!("header {{ background: url( /img/{img}.png ) no-repeat }}"),
            &format!("/img/{img}.png"),
            None,
        );
        if i % 97 == 5 {
            p.link(
                &format!("footer {{ background: url(/img/missing-style-{i}.png) }}"),
                &format!("/img/missing-style-{i}.png"),
                Some(ExpectedKind::Broken),
            );
        }
        p.line("</style>");
        p.line("</head>");
        p.line("<body>");
        p.line(&format!("<h1 id=\"s0\">Page {i}</h1>"));
        p.line("<p id=\"s1\">A paragraph &amp; an <a name=\"n0\">anchor</a>.</p>");
        p.line(&format!("<h2 id=\"{UNICODE_ID}\">Unicode</h2>"));
        p.line("<!-- <a href=\"/p/commented-out.html\">not a link</a> -->");
        p.line("<script>document.write('<a href=\"/p/in-script.html\">')</script>");
        p.line("<textarea><a href=\"/p/in-textarea.html\"></textarea>");

        if base {
            let l = rng.below(LEAVES);
            p.link(
                &format!("<a href=\"leaf{l}.html\">leaf</a>"),
                &format!("/b/leaf{l}.html"),
                None,
            );
            p.link(
                &format!("<a href=\"leaf{l}.html#top\">leaf top</a>"),
                &format!("/b/leaf{l}.html#top"),
                None,
            );
            if i % 30 == 9 {
                p.link(
                    &format!("<a href=\"no-leaf-{i}.html\">missing leaf</a>"),
                    &format!("/b/no-leaf-{i}.html"),
                    Some(ExpectedKind::Broken),
                );
            }
        }
        // Tree links: every page is reachable.
        for c in (8 * i + 1)..=(8 * i + 8) {
            if c < pages {
                p.link(
                    &format!("<a href=\"/p/{c}.html\">child {c}</a>"),
                    &format!("/p/{c}.html"),
                    None,
                );
            }
        }
        if i == 0 {
            self.root_extras(p);
        }
        let rel = |j: usize, form: usize| -> String {
            // Forms of a link to page j (j >= 1) that resolve to /p/{j}.html.
            if base {
                return format!("/p/{j}.html");
            }
            match (i == 0, form % 4) {
                (_, 0) => format!("/p/{j}.html"),
                (true, _) => format!("p/{j}.html"),
                (false, 1) => format!("{j}.html"),
                (false, 2) => format!("../p/{j}.html"),
                (false, _) => format!("./{j}.html"),
            }
        };
        for n in 0..self.links_per_page {
            let roll = rng.below(1000);
            let j = 1 + rng.below(pages.saturating_sub(1).max(1));
            let j_exists = j < pages;
            let form = rng.below(4);
            let _ = here_dir;
            if !j_exists {
                // A one-page site: link to the root instead.
                p.link("<a href=\"/\">home</a>", "/", None);
                continue;
            }
            match roll {
                // Broken internal link.
                0..=4 => {
                    let href = rel(j, form).replace(".html", &format!("-gone{n}.html"));
                    p.link(
                        &format!("<a href=\"{href}\">gone</a>"),
                        &format!("/p/{j}-gone{n}.html"),
                        Some(ExpectedKind::Broken),
                    );
                }
                // Broken fragment.
                5..=9 => {
                    let href = rel(j, form);
                    p.link(
                        &format!("<a href=\"{href}#nope{n}\">bad fragment</a>"),
                        &format!("/p/{j}.html#nope{n}"),
                        Some(ExpectedKind::BrokenFragment),
                    );
                }
                // Broken image in srcset.
                10..=12 => {
                    let a = rng.below(IMAGES);
                    p.link(
                        &format!(
                            "<img src=\"/img/{a}.png\" srcset=\"/img/{a}.png 1x, /img/missing-{i}-{n}.png 2x\" alt=\"\">"
                        ),
                        &format!("/img/missing-{i}-{n}.png"),
                        Some(ExpectedKind::Broken),
                    );
                }
                // Broken inline-style url().
                13..=14 => p.link(
                    &format!(
                        "<div style=\"background:url('/img/missing-inline-{i}-{n}.png')\"></div>"
                    ),
                    &format!("/img/missing-inline-{i}-{n}.png"),
                    Some(ExpectedKind::Broken),
                ),
                // A redirect chain to a missing page.
                15..=17 => {
                    let k = rng.below(REDIRECT_CHAINS);
                    p.link(
                        &format!("<a href=\"/r/bad{k}\">moved away</a>"),
                        &format!("/r/bad{k}"),
                        Some(ExpectedKind::Broken),
                    );
                }
                // Good fragments (id, a name, percent-encoded id).
                18..=199 => {
                    let frag = match rng.below(4) {
                        0 => "s0".to_owned(),
                        1 => "s1".to_owned(),
                        2 => "n0".to_owned(),
                        _ => UNICODE_ID_ENCODED.to_owned(),
                    };
                    let href = rel(j, form);
                    p.link(
                        &format!("<a href=\"{href}#{frag}\">section</a>"),
                        &format!("/p/{j}.html#{frag}"),
                        None,
                    );
                }
                // Images, srcset, picture source, iframe.
                200..=299 => {
                    let a = rng.below(IMAGES);
                    let b = rng.below(IMAGES);
                    let s = match roll % 4 {
                        0 => format!("<img src=\"/img/{a}.png\" alt=\"\">"),
                        1 => format!(
                            "<img src=\"/img/{a}.png\" srcset=\"/img/{b}.png 480w,/img/{a}.png 800w\" alt=\"\">"
                        ),
                        2 => format!(
                            "<picture><source srcset=\"/img/{b}.png\" type=\"image/png\"><img src=\"/img/{a}.png\" alt=\"\"></picture>"
                        ),
                        _ => format!("<iframe src=\"/b/leaf{}.html\"></iframe>", a % LEAVES),
                    };
                    p.link(&s, "", None);
                }
                // Redirect chains to a page.
                300..=309 => {
                    let k = rng.below(REDIRECT_CHAINS);
                    p.link(&format!("<a href=\"/r/{k}\">moved</a>"), "", None);
                }
                // A query string: a distinct URL for the server, the same file.
                310..=319 => {
                    let a = rng.below(IMAGES);
                    p.link(
                        &format!("<img src=\"/img/{a}.png?v={}\" alt=\"\">", n % 3),
                        "",
                        None,
                    );
                }
                // Plain page links.
                _ => {
                    let href = rel(j, form);
                    p.link(&format!("<a href=\"{href}\">page {j}</a>"), "", None);
                }
            }
        }
        if i % 500 == 7 {
            p.link(
                "<a href=\"/loop/a\">loop</a>",
                "/loop/a",
                Some(ExpectedKind::Redirects),
            );
        }
        if i % 500 == 8 {
            p.link(
                "<a href=\"/long/0\">long chain</a>",
                "/long/0",
                Some(ExpectedKind::Redirects),
            );
        }
        // Links the crawler must not check.
        p.line("<a href=\"mailto:someone@example.invalid\">mail</a>");
        p.line("<a href=\"javascript:void(0)\">js</a>");
        p.line("<a href=\"tel:+100\">tel</a>");
        if !base {
            // (Under <base href="/b/">, "#" would be /b/, which has no index.)
            p.line("<a href=\"#\">top</a>");
        }
        p.line("<a>no href</a>");
        p.line("</body>");
        p.line("</html>");
    }

    fn root_extras(&self, p: &mut Page) {
        p.link("<a href=\"#s1\">own section</a>", "/#s1", None);
        p.link(
            "<a href=\"#missing-here\">own missing section</a>",
            "/#missing-here",
            Some(ExpectedKind::BrokenFragment),
        );
        p.link(
            "<a href=\"/loop/a\">loop</a>",
            "/loop/a",
            Some(ExpectedKind::Redirects),
        );
        p.link(
            "<a href=\"/long/0\">long chain</a>",
            "/long/0",
            Some(ExpectedKind::Redirects),
        );
        p.link("<a href=\"/r/0\">moved</a>", "/r/0", None);
        if self.misbehaving {
            for (path, verdict) in MISBEHAVING {
                let s = if path.ends_with(".html") {
                    format!("<a href=\"{path}\">m</a>")
                } else {
                    format!("<img src=\"{path}\" alt=\"\">")
                };
                p.link(&s, path, *verdict);
            }
        }
        if let Some(ext) = &self.external {
            let ext = ext.trim_end_matches('/');
            p.link(
                &format!("<a href=\"{ext}/ok\">external</a>"),
                &format!("{ext}/ok"),
                None,
            );
            p.link(
                &format!("<a href=\"{ext}/gone\">external gone</a>"),
                &format!("{ext}/gone"),
                Some(ExpectedKind::Broken),
            );
        }
    }
}

impl Site {
    /// The files by path (`/` maps to `/index.html`'s bytes too).
    ///
    /// ```
    /// let site = heddle_links::generate::SiteSpec::default().generate();
    /// let files = site.by_path();
    /// assert!(files.contains_key("/p/1.html"));
    /// ```
    pub fn by_path(&self) -> BTreeMap<&str, &[u8]> {
        self.files
            .iter()
            .map(|f| (f.path.as_str(), f.body.as_slice()))
            .collect()
    }

    /// The `_redirects` file: `from to status`, one a line.
    ///
    /// ```
    /// let site = heddle_links::generate::SiteSpec::default().generate();
    /// assert!(site.redirects_file().contains("/loop/a /loop/b 302"));
    /// ```
    pub fn redirects_file(&self) -> String {
        let mut s = String::from("# from to status\n");
        for r in &self.redirects {
            let _ = writeln!(s, "{} {} {}", r.from, r.to, r.status);
        }
        s
    }

    /// Write the site under `dir` (created if needed), with its `_redirects` file.
    ///
    /// # Errors
    ///
    /// Any I/O error creating directories or writing files.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("heddle-gen-doc-{}", std::process::id()));
    /// let site = heddle_links::generate::SiteSpec { pages: 3, ..Default::default() }.generate();
    /// site.write_to(&dir).unwrap();
    /// assert!(dir.join("p/2.html").is_file());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        for f in &self.files {
            let path = dir.join(f.path.trim_start_matches('/'));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &f.body)?;
        }
        std::fs::write(dir.join("_redirects"), self.redirects_file())
    }
}
