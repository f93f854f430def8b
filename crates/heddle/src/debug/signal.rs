//! Print the thread dump when the process receives a signal (opt-in), as the JVM does
//! on SIGQUIT and Python's `faulthandler.register(signal.SIGUSR1)` does.
//!
//! A signal handler may only do async-signal-safe things, and building a dump takes
//! locks and allocates. So the handler writes one byte to a pipe, and a thread started
//! for the purpose reads it and prints the dump to stderr. That thread spends its life
//! blocked in `read`, outside heddle; it counts itself as blocked (and is counted in
//! [`signal_threads`]) so that the all-asleep detector, which needs every thread of the
//! process blocked, still works in a program that opted in.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Which signal prints the dump.
///
/// ```
/// use heddle::debug::DumpSignal;
/// assert_ne!(DumpSignal::Quit, DumpSignal::User1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DumpSignal {
    /// `SIGQUIT` (Ctrl-\ on a terminal), the JVM's choice.
    Quit,
    /// `SIGUSR1` (`kill -USR1 PID`), the usual choice with `faulthandler`.
    User1,
}

/// The pipe's write end, for the handler; -1 until installed.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static THREADS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: Mutex<Vec<DumpSignal>> = Mutex::new(Vec::new());

/// Threads started by [`dump_on_signal`] (they block outside heddle, counted as asleep).
pub(crate) fn signal_threads() -> usize {
    THREADS.load(Ordering::SeqCst)
}

/// From now on, print [`dump()`](super::dump) to stderr each time the process receives
/// `signal`. Calling it again for the same signal does nothing.
///
/// # Errors
///
/// The OS error if the pipe, the thread or the handler cannot be set up; and
/// `Unsupported` on platforms other than Unix.
///
/// ```
/// use heddle::debug::{dump_on_signal, DumpSignal};
/// dump_on_signal(DumpSignal::User1).unwrap();
/// // `kill -USR1 <pid>` now prints every heddle thread, what it holds and waits for.
/// ```
pub fn dump_on_signal(signal: DumpSignal) -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed.contains(&signal) {
        return Ok(());
    }
    imp::install(signal)?;
    installed.push(signal);
    Ok(())
}

#[cfg(unix)]
mod imp {
    use super::*;

    extern "C" fn on_signal(_: libc::c_int) {
        let fd = PIPE_WRITE.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = 1u8;
            // SAFETY: `write` is async-signal-safe; the buffer is a local byte. The pipe
            // is non-blocking, so a full pipe (dumps already pending) drops the byte.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    }

    pub(super) fn install(signal: DumpSignal) -> io::Result<()> {
        if PIPE_WRITE.load(Ordering::SeqCst) < 0 {
            start_thread()?;
        }
        let signo = match signal {
            DumpSignal::Quit => libc::SIGQUIT,
            DumpSignal::User1 => libc::SIGUSR1,
        };
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler is an
        // `extern "C" fn(c_int)` that only calls async-signal-safe functions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signo, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    fn start_thread() -> io::Result<()> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let (read_end, write_end) = (fds[0], fds[1]);
        // SAFETY: plain fcntl calls on descriptors we own.
        unsafe {
            libc::fcntl(read_end, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(write_end, libc::F_SETFD, libc::FD_CLOEXEC);
            let flags = libc::fcntl(write_end, libc::F_GETFL);
            libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        // Counted as blocked before it exists, so the all-asleep detector never sees
        // one thread more than it counts.
        THREADS.fetch_add(1, Ordering::SeqCst);
        crate::wait::observe::blocked(1);
        let started = std::thread::Builder::new()
            .name("heddle-dump-signal".into())
            .spawn(move || loop {
                let mut byte = 0u8;
                // SAFETY: reads one byte into a local buffer from our pipe.
                let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
                if n == 1 {
                    eprintln!("{}", super::super::dump());
                } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                } else {
                    return;
                }
            });
        if let Err(e) = started {
            THREADS.fetch_sub(1, Ordering::SeqCst);
            crate::wait::observe::blocked(-1);
            return Err(e);
        }
        PIPE_WRITE.store(write_end, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;

    pub(super) fn install(_signal: DumpSignal) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "heddle can dump on a signal only on Unix",
        ))
    }
}
