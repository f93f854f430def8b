//! Values on the wire: postcard encoding, with the descriptors that handles
//! ([`Pipe`](super::Pipe), [`ProcessQueue`](super::ProcessQueue), shared memory) carry
//! passed beside the bytes, and [`Channel`], whole frames over a stream socket.
//!
//! A handle serializes as an index into the message's descriptor list: while a value is
//! encoded, [`encode`] collects (duplicates of) the descriptors its handles name; the
//! sender passes them with `SCM_RIGHTS`; [`decode`] hands them to the handles'
//! `Deserialize`. Outside a heddle message a handle refuses to serialize.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ChannelError;
use super::sys;

thread_local! {
    static OUTGOING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// An encoded value: its bytes and the descriptors its handles carry.
#[derive(Default)]
pub(crate) struct Encoded {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

impl Encoded {
    pub(crate) fn raw_fds(&self) -> Vec<RawFd> {
        self.fds.iter().map(|f| f.as_raw_fd()).collect()
    }
}

/// Encode `value`, collecting the descriptors of the handles inside it.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Encoded, String> {
    let previous = OUTGOING.with(|o| o.replace(Some(Vec::new())));
    let bytes = postcard::to_stdvec(value).map_err(|e| e.to_string());
    let fds = OUTGOING.with(|o| o.replace(previous)).unwrap_or_default();
    Ok(Encoded { bytes: bytes?, fds })
}

/// Decode a `T` from `bytes`, giving the handles inside it `fds`. Trailing bytes or a
/// descriptor nobody took make it malformed.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, String> {
    let previous = INCOMING.with(|i| i.replace(Some(fds.into_iter().map(Some).collect())));
    let result = postcard::take_from_bytes::<T>(bytes);
    INCOMING.with(|i| i.replace(previous));
    match result {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} unexpected trailing bytes", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// Serialize a handle's descriptor: an index into the message's descriptor list.
pub(crate) fn serialize_fd<S: serde::Serializer>(fd: RawFd, s: S) -> Result<S::Ok, S::Error> {
    let index = OUTGOING.with(|o| {
        let mut o = o.borrow_mut();
        let list = o.as_mut()?;
        let dup = sys::dup(fd).ok()?;
        list.push(dup);
        Some(list.len() as u32 - 1)
    });
    match index {
        Some(i) => s.serialize_u32(i),
        None => Err(serde::ser::Error::custom(
            "a heddle process handle can only be sent to another process through heddle \
             (a Process argument, a Pipe or a ProcessQueue)",
        )),
    }
}

/// Deserialize a handle's descriptor (see [`serialize_fd`]).
pub(crate) fn deserialize_fd<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    let index = <u32 as serde::Deserialize>::deserialize(d)? as usize;
    INCOMING
        .with(|i| {
            i.borrow_mut()
                .as_mut()
                .and_then(|list| list.get_mut(index))
                .and_then(Option::take)
        })
        .ok_or_else(|| {
            serde::de::Error::custom(
                "the message names a descriptor it did not carry (malformed, or decoded \
                 outside heddle)",
            )
        })
}

// ------------------------------------------------------------------------------------
// Frames over a stream socket

/// The most one frame may carry: a larger length is taken for garbage.
const MAX_FRAME: usize = 1 << 30;
const HEADER: usize = 8;

/// One message read from a [`Channel`].
pub(crate) struct Frame {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

struct Rx {
    buf: Vec<u8>,
    start: usize,
    fds: VecDeque<OwnedFd>,
    eof: bool,
}

/// Whole frames (`[len: u32][descriptors: u32][bytes]`, descriptors passed alongside)
/// over one end of a stream socket pair. Sends and receives each take their own lock,
/// so one channel serves many threads.
pub(crate) struct Channel {
    fd: OwnedFd,
    tx: Mutex<()>,
    rx: Mutex<Rx>,
}

impl Channel {
    pub(crate) fn new(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            tx: Mutex::new(()),
            rx: Mutex::new(Rx {
                buf: Vec::new(),
                start: 0,
                fds: VecDeque::new(),
                eof: false,
            }),
        }
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send one frame. Blocks while the peer's buffer is full; returns once the whole
    /// frame is in the kernel (so it survives this process exiting right after).
    pub(crate) fn send(&self, bytes: &[u8], fds: &[RawFd]) -> Result<(), ChannelError> {
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&(fds.len() as u32).to_le_bytes());
        let _tx = self.tx.lock();
        let total = HEADER + bytes.len();
        let mut sent =
            sys::sendmsg(self.raw_fd(), &[&header, bytes], fds, 0).map_err(ChannelError::io)?;
        while sent < total {
            let n = if sent < HEADER {
                sys::sendmsg(self.raw_fd(), &[&header[sent..], bytes], &[], 0)
            } else {
                sys::sendmsg(self.raw_fd(), &[&bytes[sent - HEADER..]], &[], 0)
            };
            sent += n.map_err(ChannelError::io)?;
        }
        Ok(())
    }

    /// Receive one frame, waiting until `deadline` (`None`: forever; a past deadline:
    /// only what is already there). End of stream before a frame is
    /// [`ChannelError::Closed`]; in the middle of one, [`ChannelError::Malformed`].
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<Frame, ChannelError> {
        let mut rx = self.rx.lock();
        loop {
            if let Some(frame) = rx.parse()? {
                return Ok(frame);
            }
            if rx.eof {
                return if rx.buf.len() > rx.start {
                    let left = rx.buf.len() - rx.start;
                    rx.buf.clear();
                    rx.start = 0;
                    Err(ChannelError::Malformed {
                        message: format!("the stream ended {left} bytes into a message (its sender died mid-write)"),
                    })
                } else {
                    Err(ChannelError::Closed)
                };
            }
            let waited_past = deadline.is_some_and(|d| Instant::now() >= d);
            let flags = if deadline.is_none() {
                0
            } else {
                libc::MSG_DONTWAIT
            };
            if deadline.is_some()
                && !waited_past
                && !sys::poll(&[self.raw_fd()], libc::POLLIN, deadline)
            {
                return Err(ChannelError::TimedOut);
            }
            if rx.start > 0 && rx.start == rx.buf.len() {
                rx.buf.clear();
                rx.start = 0;
            }
            let old = rx.buf.len();
            rx.buf.resize(old + 64 * 1024, 0);
            let Rx { buf, fds, .. } = &mut *rx;
            let mut got = Vec::new();
            let r = sys::recvmsg(self.raw_fd(), &mut buf[old..], &mut got, flags);
            fds.extend(got);
            match r {
                Ok(r) => {
                    rx.buf.truncate(old + r.len);
                    if r.len == 0 {
                        rx.eof = true;
                    }
                }
                Err(e) => {
                    rx.buf.truncate(old);
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        if waited_past {
                            return Err(ChannelError::TimedOut);
                        }
                        continue;
                    }
                    if e.raw_os_error() == Some(libc::ECONNRESET) {
                        rx.eof = true;
                        continue;
                    }
                    return Err(ChannelError::io(e));
                }
            }
        }
    }

    /// Whether a frame (or the end of the stream) can be read without waiting.
    pub(crate) fn ready(&self) -> bool {
        let rx = self.rx.lock();
        rx.complete() || sys::poll(&[self.raw_fd()], libc::POLLIN, Some(Instant::now()))
    }
}

impl Rx {
    fn complete(&self) -> bool {
        let avail = self.buf.len() - self.start;
        avail >= HEADER && {
            let len = u32::from_le_bytes(self.buf[self.start..self.start + 4].try_into().unwrap())
                as usize;
            avail >= HEADER + len
        }
    }

    /// Take one whole frame from the buffer, if there is one.
    fn parse(&mut self) -> Result<Option<Frame>, ChannelError> {
        let avail = self.buf.len() - self.start;
        if avail < HEADER {
            return Ok(None);
        }
        let h = &self.buf[self.start..self.start + HEADER];
        let len = u32::from_le_bytes(h[..4].try_into().unwrap()) as usize;
        let nfds = u32::from_le_bytes(h[4..].try_into().unwrap()) as usize;
        if len > MAX_FRAME || nfds > sys::MAX_FDS {
            // Garbage: nothing after it can be trusted to be aligned on a frame.
            self.buf.clear();
            self.start = 0;
            self.fds.clear();
            return Err(ChannelError::Malformed {
                message: format!("a frame header claims {len} bytes and {nfds} descriptors"),
            });
        }
        if avail < HEADER + len {
            self.buf.reserve(HEADER + len - avail);
            return Ok(None);
        }
        let bytes = self.buf[self.start + HEADER..self.start + HEADER + len].to_vec();
        self.start += HEADER + len;
        if self.fds.len() < nfds {
            return Err(ChannelError::Malformed {
                message: format!("a frame announced {nfds} descriptors but fewer arrived"),
            });
        }
        let fds = self.fds.drain(..nfds).collect();
        Ok(Some(Frame { bytes, fds }))
    }
}
