//! Deadlock reports: what was found, in words a person can act on.

use std::fmt;
use std::panic::Location;
use std::sync::Once;

/// Which detector produced a [`DeadlockReport`].
///
/// ```
/// use heddle::deadlock::DeadlockKind;
/// assert_ne!(DeadlockKind::LockCycle, DeadlockKind::PotentialLockOrder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlockKind {
    /// Threads wait for locks in a cycle: a real deadlock, just closed.
    LockCycle,
    /// Every thread is blocked in heddle with no timeout.
    AllAsleep,
    /// Lock-order mode: two lock classes were taken in both orders. No thread is
    /// blocked (yet): this is a deadlock waiting for an unlucky schedule.
    PotentialLockOrder,
}

/// A deadlock (or potential deadlock) report. It is also the panic payload with
/// [`Action::Panic`](super::Action::Panic), so `catch_unwind` can inspect it.
///
/// ```
/// use heddle::deadlock::{DeadlockKind, DeadlockReport};
/// fn describe(r: &DeadlockReport) -> String {
///     format!("{:?}: {}", r.kind(), r)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DeadlockReport {
    kind: DeadlockKind,
    text: String,
    at: Option<&'static Location<'static>>,
}

impl DeadlockReport {
    pub(crate) fn new(kind: DeadlockKind, text: String) -> Self {
        DeadlockReport {
            kind,
            text,
            at: None,
        }
    }

    /// Where the reporting thread called into heddle (the blocking call).
    pub(crate) fn set_location(&mut self, at: &'static Location<'static>) {
        self.at = Some(at);
    }

    /// The caller's source location of the blocking call (or, in lock-order mode, of the
    /// acquisition) that found the deadlock, if heddle knows it; `None` for a wait that
    /// records no call site (a thread join). An uncaught report names this location as
    /// where the thread panicked; a panic hook of your own finds it here (the hook's own
    /// location is inside heddle).
    ///
    /// ```
    /// # fn f(r: &heddle::deadlock::DeadlockReport) {
    /// if let Some(at) = r.location() {
    ///     eprintln!("deadlocked at {}:{}", at.file(), at.line());
    /// }
    /// # }
    /// ```
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.at
    }

    /// Add a section (the thread dump of the threads involved: debug hook).
    pub(crate) fn append(&mut self, section: &str) {
        self.text.push_str(section);
    }

    /// Which detector found it.
    ///
    /// ```
    /// # fn f(r: &heddle::deadlock::DeadlockReport) {
    /// println!("{:?}", r.kind());
    /// # }
    /// ```
    pub fn kind(&self) -> DeadlockKind {
        self.kind
    }

    /// The full text (the same as `Display`).
    ///
    /// ```
    /// # fn f(r: &heddle::deadlock::DeadlockReport) {
    /// assert_eq!(r.text(), r.to_string());
    /// # }
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DeadlockReport {}

static HOOK: Once = Once::new();

/// Make an uncaught report print once, as the panic message, instead of the default
/// hook's `Box<dyn Any>` line next to a copy printed beforehand. Installed the first
/// time a report panics; it wraps whatever hook is there and hands it every other
/// panic, and the panics of checked threads (the checker reports those itself, once
/// per exploration, not once per re-execution while it shrinks and replays).
pub(crate) fn print_when_uncaught() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            match info.payload().downcast_ref::<DeadlockReport>() {
                Some(report) if !crate::check::active() => {
                    let name = crate::thread::current().name().to_string();
                    // The user's call, not the `panic_any` inside heddle.
                    let at = report
                        .location()
                        .or(info.location())
                        .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                        .unwrap_or_default();
                    eprintln!("\nthread '{name}' panicked{at}:\n{report}");
                }
                _ => previous(info),
            }
        }));
    });
}
