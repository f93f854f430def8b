//! All-asleep detection for waits with no owner to follow.
//!
//! The seam counts threads in untimed waits that no notifier has taken off their
//! queue. When that count reaches the number of threads in the process, nothing can
//! ever wake any of them: every thread is one of the sleepers. A thread heddle does not
//! see (a std thread, an async runtime's worker, a thread in a system call) is in the
//! process's count but not in heddle's, so the detector stays quiet whenever something
//! outside could still act. Timed waiters are not counted: they will wake.

use std::fmt::Write as _;

use super::cycle;
use super::report::{DeadlockKind, DeadlockReport};
use crate::wait::{local, observe, parker::Parker};

/// Called by a thread asleep in an untimed wait (for 1 ms or more, or poked by an
/// exiting thread): is everyone asleep now?
pub(crate) fn all_asleep() -> Option<DeadlockReport> {
    let blocked = observe::blocked_count();
    // Cheap gate first: fewer sleepers than threads known to heddle cannot be all.
    if (blocked as u64) < local::live_threads() {
        return None;
    }
    // A thread still releasing a lock in its wait (a condition's) may free a sleeper.
    if observe::someone_releasing() {
        return None;
    }
    let threads = os_thread_count()?;
    if blocked < threads {
        return None;
    }
    // Every thread not yet notified. Waits that carry no description (lock waits,
    // joins) count too: a thread blocked on a lock whose holder sleeps on a condition
    // is as stuck as the holder.
    let sleepers = Parker::sleepers();
    // Re-check: a notification between the two reads means someone is awake. (The
    // signal thread of `debug::dump_on_signal`, if any, counts itself as blocked but
    // has no parker.)
    if observe::blocked_count() < threads
        || sleepers.len() + crate::debug::signal_threads() < threads
    {
        return None;
    }
    let mut text = format!(
        "heddle: DEADLOCK: all {threads} threads are blocked with no timeout, so none can \
         wake another:\n"
    );
    let name_of = |id: u64| {
        sleepers
            .iter()
            .find(|(sid, _, _)| *sid == id)
            .map(|(_, name, _)| name.clone())
    };
    for (id, name, what) in &sleepers {
        let what = match what {
            Some(w) => w.to_string(),
            None => cycle::describe(*id, name_of)
                .unwrap_or_else(|| "in a heddle wait with no description (a join?)".to_string()),
        };
        let _ = writeln!(text, "  '{name}' (ident {id}) waits: {what}");
    }
    text.push_str(
        "  fix: make sure whatever each waits for (a notify, a release, a put, a set) is \
         still going to happen, or give the wait a timeout\n",
    );
    let mut report = DeadlockReport::new(DeadlockKind::AllAsleep, text);
    // The reporting thread's own blocking call: its wait's, or its lock wait's.
    let me = local::thread_id();
    let mine = sleepers.iter().find(|(id, _, _)| *id == me);
    if let Some(at) = mine
        .and_then(|(_, _, what)| what.map(|w| w.at))
        .or_else(|| cycle::waiting_at(me))
    {
        report.set_location(at);
    }
    let involved: Vec<u64> = sleepers.iter().map(|(id, _, _)| *id).collect();
    report.append(&crate::debug::dump_of(&involved).to_string());
    Some(report)
}

/// Whether an untimed waiter should re-check every so often: every thread heddle knows
/// is blocked, so only a thread it does not see keeps the process going, and that one
/// may exit without telling anyone.
pub(crate) fn worth_watching() -> bool {
    // Elsewhere the process's thread count is unknown and nothing is ever reported.
    cfg!(target_os = "linux") && observe::blocked_count() as u64 >= local::live_threads()
}

/// Threads in this process (Linux: field 20 of /proc/self/stat).
#[cfg(target_os = "linux")]
fn os_thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Elsewhere heddle cannot tell whether an unseen thread exists: never report.
#[cfg(not(target_os = "linux"))]
fn os_thread_count() -> Option<usize> {
    None
}
