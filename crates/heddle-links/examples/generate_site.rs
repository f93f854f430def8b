//! Write a generated site with known answers to a directory, to serve with `heddle serve`:
//!
//! ```text
//! cargo run --release -p heddle-links --example generate_site -- DIR [PAGES] [LINKS_PER_PAGE] [SEED]
//! ```
//!
//! Prints the number of pages, links and expected findings; writes the answer key to
//! `DIR/_expected.csv` (page,line,target,kind).

use std::fmt::Write as _;

use heddle_links::generate::SiteSpec;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: generate_site DIR [PAGES] [LINKS_PER_PAGE] [SEED]");
        std::process::exit(2);
    };
    let mut num = |default: u64| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let spec = SiteSpec {
        pages: num(10_000) as usize,
        links_per_page: num(10) as usize,
        seed: num(1),
        ..Default::default()
    };
    let site = spec.generate();
    let dir = std::path::Path::new(&dir);
    site.write_to(dir).expect("write the site");
    let mut key = String::from("page,line,target,kind\n");
    for e in &site.expected {
        let _ = writeln!(key, "{},{},{},{:?}", e.page, e.line, e.target, e.kind);
    }
    std::fs::write(dir.join("_expected.csv"), key).expect("write the answer key");
    println!(
        "{} pages, {} links, {} expected findings in {}",
        spec.pages,
        site.links,
        site.expected.len(),
        dir.display()
    );
}
