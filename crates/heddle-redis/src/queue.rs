//! [`RedisQueue`]: Python's `queue.Queue` (put, get, `task_done`, `join`, `shutdown`)
//! on a Redis stream and a consumer group, shared by every process that opens the
//! same name on the same server.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant};

use heddle::sync::Lock;
use redis::{Connection, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RedisError;
use crate::link::{Link, Retry};
use crate::{scripts, Options, BLOCK_SLICE};

/// A stream entry as read: its id and its fields.
pub(crate) type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// The consumer group every handle of a queue reads through.
const GROUP: &str = "heddle";

/// The Redis keys of one queue; `{name}` is a hash tag, so a cluster keeps them on one
/// node (the scripts touch several at once).
#[derive(Clone)]
struct Keys {
    stream: String,
    dead: String,
    shutdown: String,
}

impl Keys {
    fn new(name: &str) -> Keys {
        Keys {
            stream: format!("heddle:{{{name}}}:stream"),
            dead: format!("heddle:{{{name}}}:dead"),
            shutdown: format!("heddle:{{{name}}}:shutdown"),
        }
    }
}

/// An item taken from a [`RedisQueue`]: the value, and what
/// [`task_done`](RedisQueue::task_done) needs to mark it done.
///
/// Derefs to the value.
///
/// ```
/// # let server = heddle_redis::server::RedisServer::start().unwrap();
/// # let url = server.url();
/// use heddle_redis::RedisQueue;
///
/// let q = RedisQueue::<String>::connect(&url, "greetings").unwrap();
/// q.put("hello".to_string()).unwrap();
/// let item = q.get().unwrap();
/// assert_eq!(item.len(), 5); // through Deref
/// assert_eq!(item.deliveries(), 1);
/// q.task_done(&item).unwrap();
/// assert_eq!(item.into_value(), "hello");
/// ```
pub struct Delivery<T> {
    value: T,
    id: String,
    deliveries: u64,
}

impl<T> Delivery<T> {
    /// The value.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "v").unwrap();
    /// q.put(7).unwrap();
    /// assert_eq!(*q.get().unwrap().value(), 7);
    /// ```
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, taken out (mark the item done first: this drops its id).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "v").unwrap();
    /// q.put(7).unwrap();
    /// let item = q.get().unwrap();
    /// q.task_done(&item).unwrap();
    /// assert_eq!(item.into_value(), 7);
    /// ```
    pub fn into_value(self) -> T {
        self.value
    }

    /// The stream entry's id (unique in the queue, the same on a redelivery).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "v").unwrap();
    /// q.put(7).unwrap();
    /// assert!(q.get().unwrap().id().contains('-'));
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times the item has been handed out, this time included: more than 1
    /// means an earlier taker did not mark it done in time (it died or hung), so the
    /// work may have been done before.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "v").unwrap();
    /// q.put(7).unwrap();
    /// assert_eq!(q.get().unwrap().deliveries(), 1);
    /// ```
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }
}

impl<T> Deref for Delivery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("value", &self.value)
            .field("id", &self.id)
            .field("deliveries", &self.deliveries)
            .finish()
    }
}

/// An entry of the dead-letter stream: an item taken too many times without being
/// marked done, or one that did not decode.
///
/// ```
/// # let server = heddle_redis::server::RedisServer::start().unwrap();
/// use std::time::Duration;
/// use heddle_redis::{Options, RedisQueue};
///
/// let options = Options { visibility_timeout: Duration::from_millis(50), max_deliveries: 1, ..Options::default() };
/// let q = RedisQueue::<u32>::with_options(&server.url(), "poison", options).unwrap();
/// q.put(13).unwrap();
/// let _forgotten = q.get().unwrap(); // never marked done
/// std::thread::sleep(Duration::from_millis(60));
/// assert!(matches!(q.try_get(), Err(heddle_redis::RedisError::Empty)));
/// let dead = q.dead_letters().unwrap();
/// assert_eq!(dead.len(), 1);
/// assert!(dead[0].reason.contains("never marked done"));
/// q.join().unwrap(); // a dead-lettered item counts as finished
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The entry's id in the queue's stream.
    pub id: String,
    /// Why it was dead-lettered.
    pub reason: String,
    /// How many times it had been handed out.
    pub deliveries: u64,
    /// The encoded value (field `d`), if the entry had one.
    pub payload: Option<Vec<u8>>,
}

/// Python's `queue.Queue` across processes and machines, on a Redis stream and a
/// consumer group: every handle opened with the same server and name is the same
/// queue.
///
/// * **Values** are any `serde` type, encoded with `postcard`.
/// * **Delivery is at least once**: [`get`](Self::get) hands an item to one taker;
///   if it is not marked done ([`task_done`](Self::task_done)) within the
///   [visibility timeout](Options::visibility_timeout) (the taker died, or hangs), a
///   later `get` of any handle takes it over ([`Delivery::deliveries`] counts the
///   hand-outs). After [`max_deliveries`](Options::max_deliveries) it goes to the
///   dead-letter stream with the reason instead ([`dead_letters`](Self::dead_letters)).
///   An entry that does not decode as a `T` is dead-lettered at once, never a panic.
/// * **`join`** returns when every item put, by any process, has been marked done
///   (or dead-lettered): the count of unfinished items is the stream's length, kept
///   exact by server-side scripts.
/// * **Bounded or not**: with [`maxsize`](Options::maxsize), `put` waits while that
///   many items wait to be taken (items taken but not done do not count, as in
///   Python).
/// * **Shutdown** ([`shutdown`](Self::shutdown)), as Python 3.13's: later puts fail
///   with [`RedisError::ShutDown`]; gets drain what is left, then fail; `immediate`
///   also drops the items not yet taken. The flag lives in Redis, for every process.
/// * **Faults**: a connection refused at start is [`RedisError::Connect`] naming the
///   URL; a connection lost later is re-made with back-off for up to
///   [`reconnect_window`](Options::reconnect_window) (gets and acknowledgements are
///   sent again; a put whose reply was lost is [`RedisError::Unconfirmed`], never
///   retried silently).
/// * **Waiting**: `get` blocks in Redis (`XREADGROUP BLOCK`, in slices of at most a
///   second to look for items to take over); `join` polls with back-off (1 to 10 ms), a full
///   bounded `put` too (1 to 50 ms).
/// * **Ordering**: FIFO for first deliveries; a redelivered item comes back later.
///
/// ```
/// # let server = heddle_redis::server::RedisServer::start().unwrap();
/// # let url = server.url();
/// use heddle_redis::RedisQueue;
///
/// let q = RedisQueue::<(u32, String)>::connect(&url, "work").unwrap();
/// for i in 0..3 {
///     q.put((i, format!("job {i}"))).unwrap();
/// }
/// let worker = {
///     let q = RedisQueue::<(u32, String)>::connect(&url, "work").unwrap();
///     std::thread::spawn(move || {
///         let mut sum = 0;
///         while let Ok(item) = q.get() {
///             sum += item.0;
///             q.task_done(&item).unwrap();
///         }
///         sum
///     })
/// };
/// q.join().unwrap();
/// q.shutdown(false).unwrap();
/// assert_eq!(worker.join().unwrap(), 0 + 1 + 2);
/// ```
pub struct RedisQueue<T> {
    pub(crate) link: Link,
    name: String,
    keys: Keys,
    consumer: String,
    options: Options,
    next_claim: Lock<Instant>,
    _values: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for RedisQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("url", &self.link.url)
            .field("name", &self.name)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

/// A name for this handle's consumer in the group: host, process, a counter.
pub(crate) fn consumer_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HANDLES: AtomicU64 = AtomicU64::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        HANDLES.fetch_add(1, Ordering::Relaxed)
    )
}

impl<T: Serialize + DeserializeOwned> RedisQueue<T> {
    /// Open the queue `name` on the server at `url`, unbounded, with the default
    /// [`Options`]. Fails at once with [`RedisError::Connect`], naming the URL, if the
    /// server cannot be reached.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u64>::connect(&server.url(), "numbers").unwrap();
    /// assert_eq!(q.qsize().unwrap(), 0);
    /// ```
    pub fn connect(url: &str, name: &str) -> Result<RedisQueue<T>, RedisError> {
        Self::with_options(url, name, Options::default())
    }

    /// Open the queue `name` with these [`Options`] (bound, visibility timeout,
    /// deliveries before dead-lettering, reconnect window).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// use heddle_redis::{Options, RedisError, RedisQueue};
    ///
    /// let q = RedisQueue::<u8>::with_options(&server.url(), "small", Options { maxsize: 1, ..Options::default() }).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.try_put(2), Err(RedisError::Full));
    /// ```
    pub fn with_options(
        url: &str,
        name: &str,
        options: Options,
    ) -> Result<RedisQueue<T>, RedisError> {
        let link = Link::connect(url, options.clone())?;
        let queue = RedisQueue {
            link,
            name: name.to_string(),
            keys: Keys::new(name),
            consumer: consumer_name(),
            options,
            next_claim: Lock::new(Instant::now()),
            _values: PhantomData,
        };
        queue.link.run(Retry::Safe, |c| queue.create_group(c))?;
        Ok(queue)
    }

    /// The queue's name.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "n").unwrap();
    /// assert_eq!(q.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    fn create_group(&self, c: &mut Connection) -> redis::RedisResult<()> {
        let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query(c);
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn encode(value: &T) -> Result<Vec<u8>, RedisError> {
        postcard::to_stdvec(value).map_err(|e| RedisError::Encode(e.to_string()))
    }

    fn put_encoded(&self, payloads: &[Vec<u8>]) -> Result<(), RedisError> {
        self.link.run(Retry::Once, |c| {
            let mut call = scripts::PUT.prepare_invoke();
            call.key(&self.keys.stream)
                .key(&self.keys.shutdown)
                .arg(self.options.maxsize)
                .arg(GROUP);
            for p in payloads {
                call.arg(p.as_slice());
            }
            call.invoke::<i64>(c).map(|_| ())
        })
    }

    /// Put `item`, waiting while a bounded queue is full.
    ///
    /// Errors: [`RedisError::ShutDown`] after [`shutdown`](Self::shutdown);
    /// [`RedisError::Unconfirmed`] if the connection broke before the server's reply
    /// (the item may or may not be in).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<String>::connect(&server.url(), "p").unwrap();
    /// q.put("a".to_string()).unwrap();
    /// assert_eq!(q.qsize().unwrap(), 1);
    /// ```
    pub fn put(&self, item: T) -> Result<(), RedisError> {
        let payload = [Self::encode(&item)?];
        self.put_waiting(&payload, None)
    }

    /// [`put`](Self::put), giving up with [`RedisError::TimedOut`] if a bounded queue
    /// stays full that long.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// use std::time::Duration;
    /// use heddle_redis::{Options, RedisError, RedisQueue};
    /// let q = RedisQueue::<u8>::with_options(&server.url(), "b", Options { maxsize: 1, ..Options::default() }).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.put_timeout(2, Duration::from_millis(20)), Err(RedisError::TimedOut));
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), RedisError> {
        let payload = [Self::encode(&item)?];
        self.put_waiting(&payload, Some(Instant::now() + timeout))
    }

    /// Put `item` only if there is room now: [`RedisError::Full`] otherwise.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "t").unwrap();
    /// q.try_put(1).unwrap(); // unbounded: never full
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), RedisError> {
        self.put_encoded(&[Self::encode(&item)?])
    }

    /// Put every item of `items`, several per round trip (one script call per
    /// [`Options::batch`] items, atomically each): the fast path for producers. On a
    /// bounded queue each batch waits until it fits whole (a batch is at most
    /// `maxsize` items). Returns how many were put; on an error, the items before
    /// the failed batch are in.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u32>::connect(&server.url(), "many").unwrap();
    /// assert_eq!(q.put_many(0..100).unwrap(), 100);
    /// assert_eq!(q.qsize().unwrap(), 100);
    /// ```
    pub fn put_many(&self, items: impl IntoIterator<Item = T>) -> Result<usize, RedisError> {
        let mut batch_size = self.options.batch.max(1);
        if self.options.maxsize > 0 {
            batch_size = batch_size.min(self.options.maxsize);
        }
        let mut put = 0;
        let mut batch = Vec::with_capacity(batch_size);
        for item in items {
            batch.push(Self::encode(&item)?);
            if batch.len() == batch_size {
                self.put_waiting(&batch, None)?;
                put += batch.len();
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.put_waiting(&batch, None)?;
            put += batch.len();
        }
        Ok(put)
    }

    fn put_waiting(
        &self,
        payloads: &[Vec<u8>],
        deadline: Option<Instant>,
    ) -> Result<(), RedisError> {
        let mut pause = Duration::from_millis(1);
        loop {
            match self.put_encoded(payloads) {
                Err(RedisError::Full) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(RedisError::TimedOut);
                    }
                    let nap = deadline.map_or(pause, |d| pause.min(d - now));
                    std::thread::sleep(nap);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Take the next item, waiting for one; mark it done with
    /// [`task_done`](Self::task_done) when its work is finished. Fails with
    /// [`RedisError::ShutDown`] once the queue is shut down and nothing is left to
    /// take (at once after an immediate shutdown).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "g").unwrap();
    /// q.put(1).unwrap();
    /// let item = q.get().unwrap();
    /// assert_eq!(*item, 1);
    /// q.task_done(&item).unwrap();
    /// ```
    pub fn get(&self) -> Result<Delivery<T>, RedisError> {
        self.take_waiting(1, None).map(|mut v| v.remove(0))
    }

    /// [`get`](Self::get), giving up with [`RedisError::TimedOut`].
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// use std::time::Duration;
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "gt").unwrap();
    /// let got = q.get_timeout(Duration::from_millis(10));
    /// assert_eq!(got.unwrap_err(), heddle_redis::RedisError::TimedOut);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Delivery<T>, RedisError> {
        self.take_waiting(1, Some(Instant::now() + timeout))
            .map(|mut v| v.remove(0))
    }

    /// Take an item if one is there now: [`RedisError::Empty`] otherwise
    /// ([`RedisError::ShutDown`] if shut down and drained).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "tg").unwrap();
    /// assert_eq!(q.try_get().unwrap_err(), heddle_redis::RedisError::Empty);
    /// ```
    pub fn try_get(&self) -> Result<Delivery<T>, RedisError> {
        let mut got = self.take(1, None)?;
        if got.is_empty() {
            return Err(RedisError::Empty);
        }
        Ok(got.remove(0))
    }

    /// Take between 1 and `max` items in one round trip, waiting (up to `timeout`,
    /// if given) for the first: the fast path for consumers. Each must be marked
    /// done, for example with [`task_done_many`](Self::task_done_many).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u32>::connect(&server.url(), "gm").unwrap();
    /// q.put_many(0..10).unwrap();
    /// let items = q.get_many(4, None).unwrap();
    /// assert_eq!(items.iter().map(|i| **i).collect::<Vec<_>>(), [0, 1, 2, 3]);
    /// assert_eq!(q.task_done_many(&items).unwrap(), 4);
    /// ```
    pub fn get_many(
        &self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<Delivery<T>>, RedisError> {
        self.take_waiting(max.max(1), timeout.map(|t| Instant::now() + t))
    }

    fn take_waiting(
        &self,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<Delivery<T>>, RedisError> {
        loop {
            let slice = match deadline {
                None => BLOCK_SLICE,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // One last look that does not wait.
                        let got = self.take(max, None)?;
                        return if got.is_empty() {
                            Err(RedisError::TimedOut)
                        } else {
                            Ok(got)
                        };
                    }
                    (d - now).min(BLOCK_SLICE)
                }
            };
            let got = self.take(max, Some(slice))?;
            if !got.is_empty() {
                return Ok(got);
            }
        }
    }

    /// One attempt: items to take over first (when a check is due), then new ones,
    /// waiting up to `block` for those. Empty if none came; `ShutDown` if shut down
    /// and nothing came.
    fn take(&self, max: usize, block: Option<Duration>) -> Result<Vec<Delivery<T>>, RedisError> {
        let claimed = self.claim(max)?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        // First without waiting, with the shutdown flag in the same round trip.
        let (flag, entries): (Option<String>, Value) = self.link.run(Retry::Safe, |c| {
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&self.keys.shutdown);
            pipe.add_command(self.read_command(max, None));
            self.with_group(c, |c| pipe.query(c))
        })?;
        let got = self.accept(parse_read(entries))?;
        if !got.is_empty() {
            return Ok(got);
        }
        if flag.is_some() {
            return Err(RedisError::ShutDown);
        }
        let Some(block) = block.filter(|b| !b.is_zero()) else {
            return Ok(Vec::new());
        };
        let entries: Value = self.link.run(Retry::Safe, |c| {
            self.with_group(c, |c| self.read_command(max, Some(block)).query(c))
        })?;
        self.accept(parse_read(entries))
    }

    fn read_command(&self, max: usize, block: Option<Duration>) -> redis::Cmd {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max);
        if let Some(b) = block {
            cmd.arg("BLOCK").arg(b.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(&self.keys.stream).arg(">");
        cmd
    }

    /// Run `op`; if the group is missing (a server restarted without its data),
    /// create it and run `op` again.
    fn with_group<R>(
        &self,
        c: &mut Connection,
        mut op: impl FnMut(&mut Connection) -> redis::RedisResult<R>,
    ) -> redis::RedisResult<R> {
        match op(c) {
            Err(e) if e.code() == Some("NOGROUP") => {
                self.create_group(c)?;
                op(c)
            }
            other => other,
        }
    }

    /// Take over up to `max` items handed out longer than the visibility timeout ago
    /// and never marked done; dead-letter those handed out too often. Looks only
    /// every quarter of the visibility timeout per handle.
    fn claim(&self, max: usize) -> Result<Vec<Delivery<T>>, RedisError> {
        {
            let mut next = self.next_claim.lock();
            let now = Instant::now();
            if now < *next {
                return Ok(Vec::new());
            }
            *next = now + (self.options.visibility_timeout / 4).max(Duration::from_millis(5));
        }
        let idle = self.options.visibility_timeout.as_millis() as u64;
        let reply: Value = self.link.run(Retry::Safe, |c| {
            self.with_group(c, |c| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.keys.stream)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(idle)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(max)
                    .query(c)
            })
        })?;
        let entries = match reply {
            Value::Array(mut parts) if parts.len() >= 2 => parse_entries(parts.swap_remove(1)),
            _ => Vec::new(),
        };
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Found some: look again soon, there may be more.
        *self.next_claim.lock() = Instant::now();
        // The delivery count of each (XAUTOCLAIM does not return it).
        let counts: Vec<Value> = self.link.run(Retry::Safe, |c| {
            let mut pipe = redis::pipe();
            for (id, _) in &entries {
                pipe.cmd("XPENDING")
                    .arg(&self.keys.stream)
                    .arg(GROUP)
                    .arg(id)
                    .arg(id)
                    .arg(1);
            }
            pipe.query(c)
        })?;
        let mut out = Vec::new();
        for ((id, fields), count) in entries.into_iter().zip(counts) {
            let deliveries = pending_count(&count).unwrap_or(2);
            if deliveries > u64::from(self.options.max_deliveries) {
                let reason = format!(
                    "handed out {} times and never marked done within the visibility timeout \
                     ({:?}); max_deliveries is {}",
                    deliveries - 1,
                    self.options.visibility_timeout,
                    self.options.max_deliveries
                );
                self.dead_letter(&id, &reason, deliveries - 1)?;
                continue;
            }
            if let Some(item) = self.decode(id, fields, deliveries)? {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Decode read entries; dead-letter the malformed ones.
    fn accept(&self, entries: Vec<Entry>) -> Result<Vec<Delivery<T>>, RedisError> {
        let mut out = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            if let Some(item) = self.decode(id, fields, 1)? {
                out.push(item);
            }
        }
        Ok(out)
    }

    fn decode(
        &self,
        id: String,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        deliveries: u64,
    ) -> Result<Option<Delivery<T>>, RedisError> {
        let payload = fields.iter().find(|(k, _)| k == b"d").map(|(_, v)| v);
        let reason = match payload {
            None => "malformed entry: no field 'd' (not put by heddle?)".to_string(),
            Some(bytes) => match postcard::from_bytes::<T>(bytes) {
                Ok(value) => {
                    return Ok(Some(Delivery {
                        value,
                        id,
                        deliveries,
                    }))
                }
                Err(e) => format!(
                    "malformed entry: field 'd' is not a postcard-encoded {} ({e})",
                    std::any::type_name::<T>()
                ),
            },
        };
        self.dead_letter(&id, &reason, deliveries)?;
        Ok(None)
    }

    fn dead_letter(&self, id: &str, reason: &str, deliveries: u64) -> Result<(), RedisError> {
        self.link.run(Retry::Safe, |c| {
            scripts::DEAD
                .key(&self.keys.stream)
                .key(&self.keys.dead)
                .arg(GROUP)
                .arg(id)
                .arg(reason)
                .arg(deliveries)
                .arg(&self.consumer)
                .invoke::<i64>(c)
        })?;
        Ok(())
    }

    /// Mark a taken item done: `Ok(true)` if this call finished it; `Ok(false)` if it
    /// was already finished (a slow taker whose item was handed to another after the
    /// visibility timeout, and that one finished first; or it was dead-lettered).
    /// Sent again after a reconnection (marking done twice is harmless).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "d").unwrap();
    /// q.put(1).unwrap();
    /// let item = q.get().unwrap();
    /// assert!(q.task_done(&item).unwrap());
    /// assert!(!q.task_done(&item).unwrap()); // already done
    /// q.join().unwrap();
    /// ```
    pub fn task_done(&self, item: &Delivery<T>) -> Result<bool, RedisError> {
        Ok(self.task_done_many(std::slice::from_ref(item))? == 1)
    }

    /// Mark several taken items done in one round trip; returns how many this call
    /// finished (see [`task_done`](Self::task_done)).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "dm").unwrap();
    /// q.put_many([1, 2, 3]).unwrap();
    /// let items = q.get_many(3, None).unwrap();
    /// assert_eq!(q.task_done_many(&items).unwrap(), 3);
    /// ```
    pub fn task_done_many<'a>(
        &self,
        items: impl IntoIterator<Item = &'a Delivery<T>>,
    ) -> Result<usize, RedisError>
    where
        T: 'a,
    {
        let done: Vec<&Delivery<T>> = items.into_iter().collect();
        if done.is_empty() {
            return Ok(0);
        }
        let command = self.done_command(done);
        let acked: i64 = self.link.run(Retry::Safe, |c| command.query(c))?;
        Ok(acked as usize)
    }

    /// The `DONE` script for these items (at least one).
    fn done_command<'a>(&self, items: impl IntoIterator<Item = &'a Delivery<T>>) -> redis::Cmd
    where
        T: 'a,
    {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(scripts::DONE)
            .arg(1)
            .arg(&self.keys.stream)
            .arg(GROUP);
        for item in items {
            cmd.arg(item.id.as_str());
        }
        cmd
    }

    /// Mark `done` done and take up to `max` items that are waiting now, in one round
    /// trip: the consumer's loop at one round trip per batch instead of two. Returns
    /// how many of `done` this call finished (as [`task_done_many`](Self::task_done_many))
    /// and the items taken, possibly none: then wait for more with
    /// [`get_many`](Self::get_many), which also reports a shutdown. The
    /// acknowledgement and the read are sent again together after a reconnection
    /// (marking done twice is harmless; items of a read whose reply was lost come
    /// back after the visibility timeout, as with every take).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u32>::connect(&server.url(), "loop").unwrap();
    /// q.put_many(0..40).unwrap();
    /// let (mut seen, mut batch) = (0, q.get_many(16, None).unwrap());
    /// while !batch.is_empty() {
    ///     seen += batch.len();
    ///     let (finished, next) = q.task_done_and_try_get_many(&batch, 16).unwrap();
    ///     assert_eq!(finished, batch.len());
    ///     batch = next;
    /// }
    /// assert_eq!(seen, 40);
    /// q.join().unwrap();
    /// ```
    pub fn task_done_and_try_get_many(
        &self,
        done: &[Delivery<T>],
        max: usize,
    ) -> Result<(usize, Vec<Delivery<T>>), RedisError> {
        let max = max.max(1);
        let claimed = self.claim(max)?;
        if !claimed.is_empty() {
            return Ok((self.task_done_many(done)?, claimed));
        }
        let (acked, entries): (i64, Value) = self.link.run(Retry::Safe, |c| {
            let mut pipe = redis::pipe();
            if done.is_empty() {
                // Keeps the reply's shape: nothing acknowledged.
                pipe.cmd("ECHO").arg(0);
            } else {
                pipe.add_command(self.done_command(done));
            }
            pipe.add_command(self.read_command(max, None));
            self.with_group(c, |c| pipe.query(c))
        })?;
        Ok((acked as usize, self.accept(parse_read(entries))?))
    }

    /// Wait until every item put (by any process) has been marked done or
    /// dead-lettered.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "j").unwrap();
    /// q.join().unwrap(); // nothing put: returns at once
    /// ```
    pub fn join(&self) -> Result<(), RedisError> {
        self.join_until(None)
    }

    /// [`join`](Self::join), giving up with [`RedisError::TimedOut`].
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// use std::time::Duration;
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "jt").unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.join_timeout(Duration::from_millis(20)), Err(heddle_redis::RedisError::TimedOut));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), RedisError> {
        self.join_until(Some(Instant::now() + timeout))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<(), RedisError> {
        let mut pause = Duration::from_millis(1);
        loop {
            if self.unfinished()? == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(RedisError::TimedOut);
            }
            std::thread::sleep(deadline.map_or(pause, |d| pause.min(d - now)));
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Items put and not yet marked done (or dead-lettered), across all processes.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "u").unwrap();
    /// q.put(1).unwrap();
    /// let item = q.get().unwrap();
    /// assert_eq!((q.qsize().unwrap(), q.unfinished().unwrap()), (0, 1));
    /// q.task_done(&item).unwrap();
    /// assert_eq!(q.unfinished().unwrap(), 0);
    /// ```
    pub fn unfinished(&self) -> Result<usize, RedisError> {
        self.link.run(Retry::Safe, |c| {
            redis::cmd("XLEN").arg(&self.keys.stream).query::<usize>(c)
        })
    }

    /// Items waiting to be taken (not counting those taken and not yet done).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "q").unwrap();
    /// q.put_many([1, 2]).unwrap();
    /// assert_eq!(q.qsize().unwrap(), 2);
    /// ```
    pub fn qsize(&self) -> Result<usize, RedisError> {
        self.link
            .run(Retry::Safe, |c| {
                scripts::QSIZE
                    .key(&self.keys.stream)
                    .arg(GROUP)
                    .invoke::<i64>(c)
            })
            .map(|n| n.max(0) as usize)
    }

    /// The bound (`0`: unbounded).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "m").unwrap();
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.options.maxsize
    }

    /// Shut the queue down for every process: later puts fail with
    /// [`RedisError::ShutDown`]; gets take what is left, then fail. With
    /// `immediate`, the items not yet taken are dropped (and count as done for
    /// `join`), and gets fail at once. Returns how many items were dropped.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// use heddle_redis::{RedisError, RedisQueue};
    /// let q = RedisQueue::<u8>::connect(&server.url(), "s").unwrap();
    /// q.put_many([1, 2]).unwrap();
    /// assert_eq!(q.shutdown(true).unwrap(), 2);
    /// assert_eq!(q.put(3), Err(RedisError::ShutDown));
    /// assert_eq!(q.get().unwrap_err(), RedisError::ShutDown);
    /// q.join().unwrap();
    /// ```
    pub fn shutdown(&self, immediate: bool) -> Result<usize, RedisError> {
        self.link.run(Retry::Safe, |c| {
            scripts::SHUTDOWN
                .key(&self.keys.stream)
                .key(&self.keys.shutdown)
                .arg(GROUP)
                .arg(if immediate { "1" } else { "0" })
                .invoke::<usize>(c)
        })
    }

    /// Whether [`shutdown`](Self::shutdown) was called (by any process).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "is").unwrap();
    /// assert!(!q.is_shut_down().unwrap());
    /// q.shutdown(false).unwrap();
    /// assert!(q.is_shut_down().unwrap());
    /// ```
    pub fn is_shut_down(&self) -> Result<bool, RedisError> {
        self.link.run(Retry::Safe, |c| {
            redis::cmd("EXISTS")
                .arg(&self.keys.shutdown)
                .query::<bool>(c)
        })
    }

    /// The dead-letter stream's entries, oldest first.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "dl").unwrap();
    /// assert!(q.dead_letters().unwrap().is_empty());
    /// ```
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, RedisError> {
        let reply: Value = self.link.run(Retry::Safe, |c| {
            redis::cmd("XRANGE")
                .arg(&self.keys.dead)
                .arg("-")
                .arg("+")
                .query(c)
        })?;
        Ok(parse_entries(reply)
            .into_iter()
            .map(|(_, fields)| {
                let field = |name: &[u8]| {
                    fields
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let text = |name: &[u8]| {
                    field(name)
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                        .unwrap_or_default()
                };
                DeadLetter {
                    id: text(b"heddle-id"),
                    reason: text(b"heddle-reason"),
                    deliveries: text(b"heddle-deliveries").parse().unwrap_or(0),
                    payload: field(b"d"),
                }
            })
            .collect())
    }

    /// Delete the queue from the server: its items, dead letters, group and
    /// shutdown flag (for tests and clean-ups; other handles see an empty queue).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "del").unwrap();
    /// q.put(1).unwrap();
    /// q.shutdown(false).unwrap();
    /// q.destroy().unwrap();
    /// let q = heddle_redis::RedisQueue::<u8>::connect(&server.url(), "del").unwrap();
    /// assert_eq!((q.qsize().unwrap(), q.is_shut_down().unwrap()), (0, false));
    /// ```
    pub fn destroy(self) -> Result<(), RedisError> {
        self.link.run(Retry::Safe, |c| {
            redis::cmd("DEL")
                .arg(&self.keys.stream)
                .arg(&self.keys.dead)
                .arg(&self.keys.shutdown)
                .query::<i64>(c)
        })?;
        Ok(())
    }
}

/// `[[id, count...]]` from `XPENDING key group id id 1`: the delivery count.
fn pending_count(v: &Value) -> Option<u64> {
    let Value::Array(rows) = v else { return None };
    let Value::Array(row) = rows.first()? else {
        return None;
    };
    match row.get(3)? {
        Value::Int(n) => Some(*n as u64),
        _ => None,
    }
}

/// An `XREADGROUP` reply (`[[stream, entries]]` or nil) as entries.
fn parse_read(v: Value) -> Vec<Entry> {
    match v {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => parse_entries(pair.swap_remove(1)),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams
            .into_iter()
            .flat_map(|(_, entries)| parse_entries(entries))
            .collect(),
        _ => Vec::new(),
    }
}

/// `[[id, [field, value, ...]], ...]` as (id, fields); an entry without fields (a
/// deleted one) gets none.
pub(crate) fn parse_entries(v: Value) -> Vec<Entry> {
    let Value::Array(entries) = v else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let Value::Array(mut pair) = e else {
                return None;
            };
            if pair.len() != 2 {
                return None;
            }
            let fields = pair.pop()?;
            let id = bytes(pair.pop()?)?;
            let mut out = Vec::new();
            if let Value::Array(flat) = fields {
                let mut it = flat.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    if let (Some(k), Some(v)) = (bytes(k), bytes(v)) {
                        out.push((k, v));
                    }
                }
            }
            Some((String::from_utf8_lossy(&id).into_owned(), out))
        })
        .collect()
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}
