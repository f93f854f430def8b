//! How the seam names what a thread waits on, for the checker's traces and the
//! deadlock detector's reports.

//!
//! Objects created at one site (locks built in a loop, accounts from one constructor)
//! are told apart by an instance number per site, `Lock#3 (created src/bank.rs:40)`:
//! the order in which heddle first named them. Inside a checked execution the numbers
//! are the execution's own (reset when it starts), so a replay of the same schedule
//! names every object the same way; outside, they are process-wide.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;

use parking_lot::Mutex;

/// A heddle object a thread acts on or waits for: its kind, identity and creation site.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object {
    pub(crate) kind: &'static str,
    pub(crate) addr: usize,
    pub(crate) site: Option<&'static Location<'static>>,
    /// The instance number among objects of its site (1-based), 0 until named.
    pub(crate) instance: u32,
}

/// Instance numbers: address → (site, number), and the last number given per site.
#[derive(Default)]
struct Numbers {
    given: HashMap<usize, (usize, u32)>,
    last: HashMap<usize, u32>,
}

/// Names remembered outside the checker before numbering stops (with no number shown).
const MAX_NUMBERED: usize = 1 << 16;

impl Numbers {
    fn number(&mut self, site: &'static Location<'static>, addr: usize) -> u32 {
        let site = site as *const Location<'static> as usize;
        match self.given.get(&addr) {
            Some(&(s, n)) if s == site => return n,
            _ => {}
        }
        if self.given.len() >= MAX_NUMBERED {
            return 0;
        }
        let last = self.last.entry(site).or_default();
        *last += 1;
        self.given.insert(addr, (site, *last));
        *last
    }
}

static NUMBERS: Mutex<Option<Numbers>> = parking_lot::const_mutex(None);

thread_local! {
    /// The running checked execution's numbers (on the checker's OS thread).
    static CHECKED_NUMBERS: RefCell<Numbers> = RefCell::new(Numbers::default());
}

/// A checked execution starts: its objects are numbered afresh.
pub(crate) fn reset_checked_numbers() {
    let _ = CHECKED_NUMBERS.try_with(|n| *n.borrow_mut() = Numbers::default());
}

/// `object` with its instance number (given now if it had none). Objects with no
/// creation site (threads) are named otherwise and get none.
pub(crate) fn numbered(mut object: Object) -> Object {
    if object.instance != 0 {
        return object;
    }
    let Some(site) = object.site else {
        return object;
    };
    object.instance = if checker_active() {
        CHECKED_NUMBERS
            .try_with(|n| n.borrow_mut().number(site, object.addr))
            .unwrap_or(0)
    } else {
        NUMBERS
            .lock()
            .get_or_insert_with(Numbers::default)
            .number(site, object.addr)
    };
    object
}

/// Whether a checked execution runs on this thread (never in a loom build, which has
/// no checker).
fn checker_active() -> bool {
    #[cfg(not(loom))]
    return crate::check::active();
    #[cfg(loom)]
    return false;
}

/// The name of the heddle thread whose handle lives at `addr` (a loom build has none).
fn thread_name(addr: usize) -> Option<String> {
    #[cfg(not(loom))]
    return crate::thread::name_of(addr);
    #[cfg(loom)]
    return {
        let _ = addr;
        None
    };
}

/// `object` numbered among the running checked execution's objects (called by the
/// scheduler, which runs outside any checked thread).
pub(crate) fn numbered_checked(mut object: Object) -> Object {
    if let (0, Some(site)) = (object.instance, object.site) {
        object.instance = CHECKED_NUMBERS
            .try_with(|n| n.borrow_mut().number(site, object.addr))
            .unwrap_or(0);
    }
    object
}

/// Forget a dropped lock's number outside the checker (a new lock at its address is
/// another lock, and gets a number of its own).
pub(crate) fn forget_number(addr: usize) {
    if let Some(n) = NUMBERS.lock().as_mut() {
        n.given.remove(&addr);
    }
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
            instance: 0,
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = numbered(*self);
        match (named.site, named.instance) {
            (Some(site), 0) => write!(f, "{} (created {})", self.kind, short(site)),
            (Some(site), n) => write!(f, "{}#{n} (created {})", self.kind, short(site)),
            (None, _) => match thread_name(self.addr) {
                Some(name) if self.kind == "Thread" => write!(f, "thread '{name}'"),
                _ => write!(f, "{} @{:#x}", self.kind, self.addr),
            },
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
