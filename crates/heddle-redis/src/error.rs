//! What can go wrong between a heddle client and Redis, as one typed error.

use std::fmt;
use std::time::Duration;

/// An error from [`RedisQueue`](crate::RedisQueue) or [`RedisPool`](crate::RedisPool).
///
/// Every variant that involves the server names its URL (with any password hidden),
/// and says what to do.
///
/// ```
/// use heddle_redis::{RedisError, RedisQueue};
///
/// // Nothing listens on port 1: a clear error at start, naming the URL.
/// let err = RedisQueue::<u32>::connect("redis://127.0.0.1:1/", "jobs").unwrap_err();
/// assert!(matches!(err, RedisError::Connect { .. }));
/// assert!(err.to_string().contains("redis://127.0.0.1:1/"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisError {
    /// The first connection failed (refused, unknown host, bad URL): nothing was sent.
    Connect {
        /// The server's URL.
        url: String,
        /// What the client library said.
        message: String,
    },
    /// The connection was lost and could not be made again within the reconnect
    /// window (see [`Options::reconnect_window`](crate::Options::reconnect_window)).
    /// A read or an acknowledgement was not done; retry later.
    Unavailable {
        /// The server's URL.
        url: String,
        /// The last error seen.
        message: String,
        /// How long the client kept trying.
        waited: Duration,
    },
    /// A put (or a submit) was sent but its reply was lost with the connection: the
    /// item may or may not be in the queue. Never retried silently, since a retry
    /// could add it twice; check and put again if duplicates are acceptable.
    Unconfirmed {
        /// The server's URL.
        url: String,
        /// What the client library said.
        message: String,
    },
    /// The server answered with an error or with a reply heddle did not expect.
    Server {
        /// The server's URL.
        url: String,
        /// The server's message.
        message: String,
    },
    /// The queue (or pool) was shut down: no more puts; gets once it is drained.
    ShutDown,
    /// A bounded queue is full (from `try_put`) or stayed full until the timeout.
    Full,
    /// The queue is empty (from `try_get`).
    Empty,
    /// A timed operation (`get_timeout`, `join_timeout`, `put_timeout`) gave up.
    TimedOut,
    /// A value could not be encoded (serde).
    Encode(String),
    /// A bad argument (for example a function name nobody registered).
    Invalid(String),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Connect { url, message } => write!(
                f,
                "could not connect to Redis at {url} ({message}); is redis-server running \
                 there, and is the URL right?"
            ),
            RedisError::Unavailable {
                url,
                message,
                waited,
            } => write!(
                f,
                "lost the connection to Redis at {url} and could not reconnect in {waited:?} \
                 ({message}); nothing was lost, retry once the server is back"
            ),
            RedisError::Unconfirmed { url, message } => write!(
                f,
                "the put to Redis at {url} was not confirmed ({message}): the item may or may \
                 not be in the queue; put it again only if a duplicate is acceptable"
            ),
            RedisError::Server { url, message } => {
                write!(f, "Redis at {url} answered with an error: {message}")
            }
            RedisError::ShutDown => f.write_str("the queue was shut down"),
            RedisError::Full => f.write_str("the queue is full"),
            RedisError::Empty => f.write_str("the queue is empty"),
            RedisError::TimedOut => f.write_str("timed out"),
            RedisError::Encode(m) => write!(f, "could not encode the value: {m}"),
            RedisError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RedisError {}

/// The URL as shown in messages: a password in it is replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.rsplit_once('@') {
            let user = auth.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1/0"), "redis://h:1/0");
    }
}
