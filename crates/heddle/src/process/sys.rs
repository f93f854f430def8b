//! The system calls under the process module: socket pairs, whole-message sends and
//! receives (with file descriptors passed alongside), `poll` with a deadline, memory
//! shared between processes (`memfd` + `mmap`) and a process-shared futex.
//!
//! Linux only (memfd, `MSG_CMSG_CLOEXEC`, futex); every descriptor made here is
//! close-on-exec, so a descriptor reaches a child only when heddle sends it.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

/// The most descriptors one message carries.
pub(crate) const MAX_FDS: usize = 200;

/// `Err(last_os_error)` if `r` is -1.
fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A connected pair of Unix sockets of `kind` (`SOCK_STREAM` or `SOCK_SEQPACKET`).
pub(crate) fn socketpair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors the call writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Raise a socket's send and receive buffers towards `bytes` (the kernel caps them).
pub(crate) fn set_buffers(fd: RawFd, bytes: usize) {
    let v = bytes as libc::c_int;
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: a valid option value of the right size; failure only leaves the default.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}

/// A control-message buffer big enough for [`MAX_FDS`] descriptors, suitably aligned.
#[repr(C, align(8))]
struct CmsgBuf([u8; 1024]);

/// Send `parts` (gathered into one message) and `fds` with one `sendmsg`. Returns the
/// bytes sent (a stream socket may take fewer than all).
pub(crate) fn sendmsg(
    fd: RawFd,
    parts: &[&[u8]],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<usize> {
    assert!(
        fds.len() <= MAX_FDS,
        "at most {MAX_FDS} descriptors per message"
    );
    let mut iov: Vec<libc::iovec> = parts
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut _,
            iov_len: p.len(),
        })
        .collect();
    let mut cmsg = CmsgBuf([0; 1024]);
    // SAFETY: a zeroed msghdr is a valid empty one.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    if !fds.is_empty() {
        let data_len = mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure computation.
        let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        msg.msg_control = cmsg.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `msg_control` points to `space` bytes we own (space <= 1024 for
        // MAX_FDS descriptors), so the first header and its data fit.
        unsafe {
            let hdr = libc::CMSG_FIRSTHDR(&msg);
            (*hdr).cmsg_level = libc::SOL_SOCKET;
            (*hdr).cmsg_type = libc::SCM_RIGHTS;
            (*hdr).cmsg_len = libc::CMSG_LEN(data_len) as _;
            ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(hdr).cast(), fds.len());
        }
    }
    loop {
        // SAFETY: `msg` points to live buffers for the duration of the call.
        let r = unsafe { libc::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What one `recvmsg` got.
pub(crate) struct Received {
    /// Bytes read (0 at end of stream).
    pub(crate) len: usize,
    /// The message did not fit the buffer (`MSG_TRUNC`).
    pub(crate) truncated: bool,
}

/// One `recvmsg` into `buf`; descriptors that came with it are appended to `fds`.
pub(crate) fn recvmsg(
    fd: RawFd,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    flags: libc::c_int,
) -> io::Result<Received> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = CmsgBuf([0; 1024]);
    // SAFETY: a zeroed msghdr is a valid empty one.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.0.len() as _;
    let r = loop {
        // SAFETY: `msg` points to live buffers for the duration of the call.
        let r = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_CMSG_CLOEXEC) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled `msg_control` with well-formed headers; we walk them
    // with the CMSG macros and take ownership of each descriptor passed (they are ours
    // now: nobody else in this process knows them).
    unsafe {
        let mut hdr = libc::CMSG_FIRSTHDR(&msg);
        while !hdr.is_null() {
            if (*hdr).cmsg_level == libc::SOL_SOCKET && (*hdr).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(hdr).cast::<RawFd>();
                let n = ((*hdr).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / mem::size_of::<RawFd>();
                for i in 0..n {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            hdr = libc::CMSG_NXTHDR(&msg, hdr);
        }
    }
    Ok(Received {
        len: r,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
    })
}

/// Wait until one of `fds` is ready for `events` (or has hung up) or `deadline`
/// passes; whether one is. Interrupted waits resume.
pub(crate) fn poll(fds: &[RawFd], events: libc::c_short, deadline: Option<Instant>) -> bool {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    loop {
        let timeout = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a wait never ends before its deadline.
                left.as_millis().min(i32::MAX as u128 - 1) as libc::c_int
                    + i32::from(left.subsec_nanos() % 1_000_000 != 0)
            }
        };
        // SAFETY: `pfds` is a live array of `pfds.len()` entries.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as _, timeout) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            continue;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// `poll` on several descriptors; the `revents` of each.
pub(crate) fn poll_many(pfds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `pfds` is a live array of `pfds.len()` entries.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as _, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

/// Duplicate a descriptor (close-on-exec).
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any descriptor; the result is ours.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: just created.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// An eventfd (close-on-exec): readable once written to, until read.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the result is ours.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: just created.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reset an eventfd to zero.
pub(crate) fn eventfd_drain(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64; EAGAIN (already zero) is fine.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

/// Add one to an eventfd (wakes every `poll` on it).
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64; a full counter (EAGAIN) is still readable.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

// ------------------------------------------------------------------------------------
// Shared memory

/// A mapping of a memfd, shared with every process the descriptor is sent to.
pub(crate) struct Mapping {
    fd: OwnedFd,
    addr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; what lives in it is accessed through atomics or
// under the locks that the types built on it provide.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A new zero-filled shared region of `len` bytes.
    pub(crate) fn new(name: &str, len: usize) -> io::Result<Mapping> {
        let cname = std::ffi::CString::new(format!("heddle:{name}")).unwrap_or_default();
        // SAFETY: a valid C string; the result is ours.
        let fd = check(unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: just created.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a valid descriptor and length.
        check(unsafe { libc::ftruncate(fd.as_raw_fd(), len.max(1) as libc::off_t) })?;
        Mapping::map(fd)
    }

    /// Map a region received from another process (its whole length).
    pub(crate) fn map(fd: OwnedFd) -> io::Result<Mapping> {
        // SAFETY: fstat writes into a live struct.
        let mut st: libc::stat = unsafe { mem::zeroed() };
        // SAFETY: as above.
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        let len = st.st_size as usize;
        // SAFETY: a fresh shared mapping of the whole file; checked below.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            fd,
            addr: addr.cast(),
            len,
        })
    }

    /// The start of the region (page-aligned).
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.addr
    }

    /// The region's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The memfd, to send to another process.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; nothing borrows it past the owner.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}

// ------------------------------------------------------------------------------------
// Futex (process-shared: no FUTEX_PRIVATE_FLAG)

/// Sleep while `*word == expected`, until woken or `deadline` (absolute, monotonic).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let ts = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as _,
        }
    });
    let tsp = ts
        .as_ref()
        .map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 (in shared memory or not); the kernel only
    // compares and sleeps. A relative timeout with FUTEX_WAIT.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
        )
    };
}

/// Wake up to `n` sleepers on `word`, in any process.
pub(crate) fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: as in `futex_wait`.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}

/// Whether process `pid` has exited (gone, or a zombie not yet reaped).
pub(crate) fn process_dead(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    // SAFETY: signal 0 only checks existence.
    if unsafe { libc::kill(pid as libc::pid_t, 0) } == -1
        && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return true;
    }
    // A zombie still answers kill(0): look at its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
        Err(_) => true,
    }
}

/// This process's id.
pub(crate) fn getpid() -> u32 {
    std::process::id()
}
