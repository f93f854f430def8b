//! [`Pipe`]: Python's `multiprocessing.Pipe()`, a duplex, typed connection between two
//! processes.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec::{self, Channel};
use super::error::ChannelError;
use super::sys;

/// One end of a duplex pipe carrying `T`s: what one end sends, the other receives, in
/// order. Python's `multiprocessing.Pipe(duplex=True)` connection.
///
/// Send an end to a child inside a [`Process`](super::Process)'s argument (or through
/// another pipe or queue); the parent's copy inside the argument is closed when
/// `start` returns, so when the child exits the parent's end sees
/// [`ChannelError::Closed`] once it has read everything the child sent.
///
/// * `send` returns once the message is in the kernel's buffer: it is delivered even if
///   the sender exits right after. It blocks while the buffer is full. There is no size
///   limit.
/// * `recv` blocks until a message comes; a message cut short (its sender died
///   mid-write) or one that does not decode as a `T` is [`ChannelError::Malformed`].
/// * Both ends may be used from several threads (sends and receives each take a lock).
///
/// ```
/// use heddle::process::{Pipe, Process};
///
/// fn doubler(end: Pipe<i64>) {
///     while let Ok(x) = end.recv() {
///         end.send(&(2 * x)).unwrap();
///     }
/// }
/// heddle::process::register!(doubler);
///
/// # fn main() {
/// let (here, there) = Pipe::new().unwrap();
/// let mut child = Process::new(doubler, there).start().unwrap();
/// for x in 1..=3 {
///     here.send(&x).unwrap();
///     assert_eq!(here.recv(), Ok(2 * x));
/// }
/// drop(here); // the child's recv sees Closed, and it returns
/// child.join().unwrap();
/// # }
/// ```
pub struct Pipe<T> {
    channel: Channel,
    _items: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> Pipe<T> {
    /// A connected pair of ends.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Io`] if the system has no descriptors left.
    ///
    /// ```
    /// let (a, b) = heddle::process::Pipe::<String>::new().unwrap();
    /// a.send(&"ping".to_string()).unwrap();
    /// assert_eq!(b.recv().unwrap(), "ping");
    /// ```
    pub fn new() -> Result<(Pipe<T>, Pipe<T>), ChannelError> {
        let (a, b) = sys::socketpair(libc::SOCK_STREAM).map_err(ChannelError::io)?;
        Ok((
            Pipe::from_channel(Channel::new(a)),
            Pipe::from_channel(Channel::new(b)),
        ))
    }

    fn from_channel(channel: Channel) -> Self {
        Pipe {
            channel,
            _items: PhantomData,
        }
    }

    /// Send `item` to the other end.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Closed`] if the other end is gone, [`ChannelError::Encode`] if
    /// the item does not encode.
    ///
    /// ```
    /// let (a, b) = heddle::process::Pipe::new().unwrap();
    /// a.send(&vec![1, 2]).unwrap();
    /// assert_eq!(b.recv(), Ok(vec![1, 2]));
    /// ```
    pub fn send(&self, item: &T) -> Result<(), ChannelError> {
        let encoded = codec::encode(item).map_err(|message| ChannelError::Encode { message })?;
        self.channel.send(&encoded.bytes, &encoded.raw_fds())
    }

    /// Receive the next item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Closed`] once the other end is gone and everything it sent has
    /// been read; [`ChannelError::Malformed`] for a cut or undecodable message.
    ///
    /// ```
    /// let (a, b) = heddle::process::Pipe::<u8>::new().unwrap();
    /// a.send(&1).unwrap();
    /// drop(a);
    /// assert_eq!(b.recv(), Ok(1));
    /// assert_eq!(b.recv(), Err(heddle::process::ChannelError::Closed));
    /// ```
    pub fn recv(&self) -> Result<T, ChannelError> {
        self.recv_until(None)
    }

    /// [`recv`](Self::recv) for at most `timeout` ([`ChannelError::TimedOut`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = heddle::process::Pipe::<u8>::new().unwrap();
    /// assert_eq!(a.recv_timeout(Duration::from_millis(1)), Err(heddle::process::ChannelError::TimedOut));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, ChannelError> {
        self.recv_until(Some(Instant::now() + timeout))
    }

    /// Receive an item only if one is already there ([`ChannelError::Empty`] if not).
    ///
    /// ```
    /// let (a, b) = heddle::process::Pipe::<u8>::new().unwrap();
    /// assert_eq!(b.try_recv(), Err(heddle::process::ChannelError::Empty));
    /// a.send(&5).unwrap();
    /// assert_eq!(b.try_recv(), Ok(5));
    /// ```
    pub fn try_recv(&self) -> Result<T, ChannelError> {
        match self.recv_until(Some(Instant::now())) {
            Err(ChannelError::TimedOut) => Err(ChannelError::Empty),
            other => other,
        }
    }

    /// Whether a `recv` would not block now (an item, or the end of the stream, is
    /// there): Python's `poll()`.
    ///
    /// ```
    /// let (a, b) = heddle::process::Pipe::<u8>::new().unwrap();
    /// assert!(!b.poll());
    /// a.send(&1).unwrap();
    /// assert!(b.poll());
    /// ```
    pub fn poll(&self) -> bool {
        self.channel.ready()
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, ChannelError> {
        let frame = self.channel.recv(deadline)?;
        codec::decode(&frame.bytes, frame.fds)
            .map_err(|message| ChannelError::Malformed { message })
    }
}

impl<T> Serialize for Pipe<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        codec::serialize_fd(self.channel.raw_fd(), s)
    }
}

impl<'de, T> Deserialize<'de> for Pipe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Pipe {
            channel: Channel::new(codec::deserialize_fd(d)?),
            _items: PhantomData,
        })
    }
}

/// The end's socket: Python's `fileno()`, for `poll`/`select` with other descriptors.
/// Reading or writing it directly bypasses the framing; the next `recv` reports what
/// it finds as [`ChannelError::Malformed`].
///
/// ```
/// use std::os::fd::AsRawFd;
/// let (a, _b) = heddle::process::Pipe::<u8>::new().unwrap();
/// assert!(a.as_raw_fd() >= 0);
/// ```
impl<T> std::os::fd::AsRawFd for Pipe<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.channel.raw_fd()
    }
}

impl<T> fmt::Debug for Pipe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe")
            .field("fd", &self.channel.raw_fd())
            .finish()
    }
}
