//! The functions a [`RedisWorker`](crate::RedisWorker) can run, by name.
//!
//! heddle's process registry (`heddle::process::register!`, issue 14) identifies
//! functions by their item type inside one executable and keeps its call path
//! crate-private, so a worker in another crate (or another binary) cannot call
//! through it; this is a small registry of its own, filled at run time: a name, a
//! function of one serde argument, a serde result.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why one call failed on the worker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum CallFailure {
    /// The function panicked with this message.
    Panicked(String),
    /// No function of this name is registered with the worker.
    NotRegistered(String),
    /// The argument (or result) did not decode (encode) as the function's type.
    Codec(String),
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Panicked(m) => write!(f, "the task panicked: {m}"),
            CallFailure::NotRegistered(name) => write!(
                f,
                "no function named {name:?} is registered with the worker that took the \
                 task; register it (Registry::register) in every worker binary"
            ),
            CallFailure::Codec(m) => write!(
                f,
                "the argument or result did not match the registered function's types: {m}"
            ),
        }
    }
}

type Call = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, CallFailure> + Send + Sync>;

/// Functions by name, for a worker to run: each takes one serde argument (a tuple
/// for several) and returns a serde result.
///
/// ```
/// use heddle_redis::Registry;
///
/// let mut registry = Registry::new();
/// registry.register("add", |(a, b): (i64, i64)| a + b);
/// assert!(registry.contains("add"));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    functions: HashMap<String, Call>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.functions.keys().collect();
        names.sort();
        f.debug_struct("Registry")
            .field("functions", &names)
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    ///
    /// ```
    /// assert!(!heddle_redis::Registry::new().contains("anything"));
    /// ```
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The functions `heddle worker` runs out of the box: `heddle.noop` (`()` →
    /// `()`), `heddle.echo` (bytes → the same bytes), `heddle.square` (`i64` →
    /// `i64`), `heddle.sum` (`Vec<i64>` → `i64`), `heddle.sleep_ms` (`u64` → `()`).
    ///
    /// ```
    /// let registry = heddle_redis::Registry::builtins();
    /// assert!(registry.contains("heddle.square"));
    /// ```
    pub fn builtins() -> Registry {
        let mut r = Registry::new();
        r.register("heddle.noop", |(): ()| ());
        r.register("heddle.echo", |b: Vec<u8>| b);
        r.register("heddle.square", |x: i64| x.wrapping_mul(x));
        r.register("heddle.sum", |v: Vec<i64>| {
            v.iter().fold(0i64, |a, b| a.wrapping_add(*b))
        });
        r.register("heddle.sleep_ms", |ms: u64| {
            std::thread::sleep(std::time::Duration::from_millis(ms))
        });
        r
    }

    /// Register `function` as `name` (replacing an earlier one of that name). A
    /// panic in it fails only its task, with the panic's message.
    ///
    /// ```
    /// let mut registry = heddle_redis::Registry::new();
    /// registry.register("greet", |name: String| format!("hello {name}"));
    /// ```
    pub fn register<A, R, F>(&mut self, name: &str, function: F) -> &mut Registry
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let call: Call = Arc::new(move |bytes: &[u8]| {
            let arg: A =
                postcard::from_bytes(bytes).map_err(|e| CallFailure::Codec(e.to_string()))?;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| function(arg)))
                .map_err(|payload| CallFailure::Panicked(panic_text(&*payload)))?;
            postcard::to_stdvec(&result).map_err(|e| CallFailure::Codec(e.to_string()))
        });
        self.functions.insert(name.to_string(), call);
        self
    }

    /// Whether a function is registered as `name`.
    ///
    /// ```
    /// assert!(heddle_redis::Registry::builtins().contains("heddle.noop"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// The registered names, sorted.
    ///
    /// ```
    /// let mut r = heddle_redis::Registry::new();
    /// r.register("b", |(): ()| ()).register("a", |(): ()| ());
    /// assert_eq!(r.names(), ["a", "b"]);
    /// ```
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.functions.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn call(&self, name: &str, arg: &[u8]) -> Result<Vec<u8>, CallFailure> {
        match self.functions.get(name) {
            Some(f) => f(arg),
            None => Err(CallFailure::NotRegistered(name.to_string())),
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}
