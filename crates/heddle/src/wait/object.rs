//! How the seam names what a thread waits on, for the checker's traces and the
//! deadlock detector's reports.

use std::fmt;
use std::panic::Location;

/// A heddle object a thread acts on or waits for: its kind, identity and creation site.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object {
    pub(crate) kind: &'static str,
    pub(crate) addr: usize,
    pub(crate) site: Option<&'static Location<'static>>,
}

impl Object {
    pub(crate) fn new<T: ?Sized>(
        kind: &'static str,
        ptr: *const T,
        site: Option<&'static Location<'static>>,
    ) -> Self {
        Object {
            kind,
            addr: ptr as *const () as usize,
            site,
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.site {
            Some(site) => write!(f, "{} (created {})", self.kind, short(site)),
            None => write!(f, "{} @{:#x}", self.kind, self.addr),
        }
    }
}

/// What a blocked thread is doing: the operation, on what, from where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitFor {
    pub(crate) what: &'static str,
    pub(crate) object: Object,
    pub(crate) at: &'static Location<'static>,
}

impl fmt::Display for WaitFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} at {}", self.what, self.object, short(self.at))
    }
}

/// `file:line`, the path cut to the crate folder and what follows `src/`, `tests/`…
pub(crate) fn short(at: &Location<'_>) -> String {
    let file = at.file();
    let cut = ["/src/", "/tests/", "/examples/", "/benches/"]
        .iter()
        .filter_map(|m| file.rfind(m))
        .max();
    let file = match cut {
        // Keep the crate folder for context: crates/heddle/src/x.rs -> heddle/src/x.rs
        Some(i) => match file[..i].rfind('/') {
            Some(j) => &file[j + 1..],
            None => file,
        },
        None => file,
    };
    format!("{}:{}", file, at.line())
}
