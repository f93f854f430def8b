//! heddle beyond one machine: the same [`Queue`](heddle::queue::Queue) model (`put`,
//! `get`, `task_done`, `join`, `shutdown`) on Redis Streams, shared by every process
//! that opens the same name on the same server, with at-least-once delivery,
//! redelivery of what a dead or hung consumer took, and a dead-letter stream.
//!
//! | Python | heddle-redis |
//! | --- | --- |
//! | `queue.Queue(maxsize)` shared through RQ/Celery's broker | [`RedisQueue::connect`], [`RedisQueue::with_options`] with [`Options::maxsize`] |
//! | `q.put(x)`, `q.get()`, `q.task_done()`, `q.join()`, `q.shutdown(immediate)` | [`RedisQueue::put`], [`RedisQueue::get`], [`RedisQueue::task_done`] (with the item taken), [`RedisQueue::join`], [`RedisQueue::shutdown`] |
//!
//! The core crate keeps no network dependency: this crate holds the client
//! ([`redis`], blocking connections only).
//!
//! ```
//! # let server = heddle_redis::server::RedisServer::start().unwrap();
//! # let url = server.url();
//! use heddle_redis::RedisQueue;
//!
//! let q = RedisQueue::<String>::connect(&url, "emails").unwrap();
//! q.put("hello@example.com".to_string()).unwrap();
//! let item = q.get().unwrap();
//! assert_eq!(*item, "hello@example.com");
//! q.task_done(&item).unwrap();
//! q.join().unwrap();
//! ```
#![deny(missing_docs)]

use std::time::Duration;

mod error;
mod link;
mod pool;
mod queue;
mod registry;
mod scripts;
pub mod server;

pub use error::RedisError;
pub use pool::{RedisMap, RedisPool, RedisWorker};
pub use queue::{DeadLetter, Delivery, RedisQueue};
pub use registry::Registry;

/// The longest a single blocking read waits in Redis, so that a waiting `get` looks
/// for items to take over (and at the shutdown flag) at least this often.
pub(crate) const BLOCK_SLICE: Duration = Duration::from_millis(500);

/// How a [`RedisQueue`] behaves: its bound, redelivery and reconnection.
///
/// ```
/// use std::time::Duration;
/// use heddle_redis::Options;
///
/// let options = Options {
///     maxsize: 1000,
///     visibility_timeout: Duration::from_secs(60),
///     ..Options::default()
/// };
/// assert_eq!(options.max_deliveries, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// At most this many items wait to be taken; `put` waits for room (`0`, the
    /// default: unbounded).
    pub maxsize: usize,
    /// An item taken and not marked done within this long is handed to another
    /// consumer (default 30 s). Longer than the longest task, or the task runs twice.
    pub visibility_timeout: Duration,
    /// After this many hand-outs without being marked done, an item goes to the
    /// dead-letter stream instead of a consumer (default 5).
    pub max_deliveries: u32,
    /// How long a lost connection is re-made, with back-off, before an operation
    /// fails with [`RedisError::Unavailable`] (default 30 s).
    pub reconnect_window: Duration,
    /// The time allowed to open one connection (default 2 s).
    pub connect_timeout: Duration,
    /// The time allowed for one reply (beyond a blocking read's own wait) before the
    /// connection counts as lost (default 5 s).
    pub io_timeout: Duration,
    /// Items per round trip in [`RedisQueue::put_many`] (default 64).
    pub batch: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            maxsize: 0,
            visibility_timeout: Duration::from_secs(30),
            max_deliveries: 5,
            reconnect_window: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(5),
            batch: 64,
        }
    }
}
