//! The connections of one client: a small pool of blocking connections to one
//! server, re-made with back-off when the server goes away.

use std::time::{Duration, Instant};

use heddle::sync::Lock;
use redis::{Client, Connection, RedisResult};

use crate::error::{redact, RedisError};
use crate::Options;

/// Whether an operation may be sent again after its connection broke.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Idempotent or harmless to repeat (reads, acknowledgements): reconnect and send
    /// again until the reconnect window closes.
    Safe,
    /// Not safe to repeat (a put): a connection lost after sending is
    /// [`RedisError::Unconfirmed`].
    Once,
}

pub(crate) struct Link {
    pub(crate) url: String,
    client: Client,
    idle: Lock<Vec<Connection>>,
    options: Options,
}

impl Link {
    /// A link to `url`; fails at once, naming the URL, if the first connection does.
    pub(crate) fn connect(url: &str, options: Options) -> Result<Link, RedisError> {
        let shown = redact(url);
        let client = Client::open(url).map_err(|e| RedisError::Connect {
            url: shown.clone(),
            message: e.to_string(),
        })?;
        let link = Link {
            url: shown,
            client,
            idle: Lock::new(Vec::new()),
            options,
        };
        let mut first = link.open().map_err(|e| RedisError::Connect {
            url: link.url.clone(),
            message: e.to_string(),
        })?;
        redis::cmd("PING")
            .query::<String>(&mut first)
            .map_err(|e| RedisError::Connect {
                url: link.url.clone(),
                message: e.to_string(),
            })?;
        link.idle.lock().push(first);
        Ok(link)
    }

    fn open(&self) -> RedisResult<Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(self.options.connect_timeout)?;
        // A blocking read is at most `BLOCK_SLICE` long: a reply later than that plus
        // the margin means the connection is gone.
        connection.set_read_timeout(Some(crate::BLOCK_SLICE + self.options.io_timeout))?;
        connection.set_write_timeout(Some(self.options.io_timeout))?;
        Ok(connection)
    }

    /// Run `op` on a connection of the pool. A connection that fails with a
    /// connection-level error is dropped; with [`Retry::Safe`] the operation is sent
    /// again on a new connection, with exponential back-off, until the reconnect
    /// window closes ([`RedisError::Unavailable`]).
    pub(crate) fn run<R>(
        &self,
        retry: Retry,
        mut op: impl FnMut(&mut Connection) -> RedisResult<R>,
    ) -> Result<R, RedisError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let taken = self.idle.lock().pop();
            let mut connection = match taken {
                Some(c) => c,
                None => match self.open() {
                    Ok(c) => c,
                    Err(e) => {
                        // Nothing was sent: always safe to try again.
                        self.pause_or_give_up(started, &mut pause, &e)?;
                        continue;
                    }
                },
            };
            match op(&mut connection) {
                Ok(value) => {
                    self.idle.lock().push(connection);
                    return Ok(value);
                }
                // A server still loading its data refused the command without running
                // it: safe to send again, whatever the operation.
                Err(e) if e.kind() == redis::ErrorKind::BusyLoadingError => {
                    self.idle.lock().push(connection);
                    self.pause_or_give_up(started, &mut pause, &e)?;
                }
                Err(e) if is_connection_error(&e) => {
                    drop(connection);
                    if retry == Retry::Once {
                        return Err(RedisError::Unconfirmed {
                            url: self.url.clone(),
                            message: e.to_string(),
                        });
                    }
                    self.pause_or_give_up(started, &mut pause, &e)?;
                }
                Err(e) => {
                    self.idle.lock().push(connection);
                    return Err(self.server_error(e));
                }
            }
        }
    }

    fn pause_or_give_up(
        &self,
        started: Instant,
        pause: &mut Duration,
        error: &redis::RedisError,
    ) -> Result<(), RedisError> {
        let waited = started.elapsed();
        if waited >= self.options.reconnect_window {
            return Err(RedisError::Unavailable {
                url: self.url.clone(),
                message: error.to_string(),
                waited,
            });
        }
        std::thread::sleep((*pause).min(self.options.reconnect_window - waited));
        *pause = (*pause * 2).min(Duration::from_millis(500));
        Ok(())
    }

    /// A server's error reply as heddle's error; the queue's own refusals (raised by
    /// its scripts with a `HEDDLE_*` code) as their variants.
    pub(crate) fn server_error(&self, e: redis::RedisError) -> RedisError {
        match e.code() {
            Some("HEDDLE_SHUTDOWN") => RedisError::ShutDown,
            Some("HEDDLE_FULL") => RedisError::Full,
            _ => RedisError::Server {
                url: self.url.clone(),
                message: e.to_string(),
            },
        }
    }
}

/// Whether `e` means the connection is unusable (as opposed to an error reply).
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}
