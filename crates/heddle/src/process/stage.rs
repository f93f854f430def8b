//! A pipeline stage run by worker processes (see [`crate::pipeline`]): each worker
//! takes batches of encoded items from one [`ProcessQueue`], runs a registered function
//! on each, and puts the encoded results on the next.

use serde::{Deserialize, Serialize};

use super::registry::{self, CallError};
use super::{ProcessQueue, Shared};

/// What travels between pipeline stages across processes.
#[derive(Serialize, Deserialize)]
pub(crate) enum RawMsg {
    /// Items with their sequence numbers, each encoded on its own.
    Batch(Vec<(u64, Vec<u8>)>),
    /// No more items (one per consumer).
    End,
}

/// One process stage worker's set-up.
#[derive(Serialize, Deserialize)]
pub(crate) struct StageConfig {
    pub(crate) stage: String,
    pub(crate) function: u32,
    pub(crate) input: ProcessQueue<RawMsg>,
    pub(crate) output: ProcessQueue<RawMsg>,
    /// The first error of any stage goes here, then every queue is shut down.
    pub(crate) errors: ProcessQueue<String>,
    /// Workers of this stage still running; the last one sends the `End`s.
    pub(crate) remaining: Shared<u64>,
    /// How many workers the next stage has (one `End` each).
    pub(crate) consumers: u32,
}

/// Stop every stage: record why, shut the queues around this stage (the others see
/// their puts and gets fail and shut theirs in turn).
pub(crate) fn fail(
    errors: &ProcessQueue<String>,
    stage: &str,
    why: String,
    queues: &[&ProcessQueue<RawMsg>],
) {
    let _ = errors.put(&format!("{stage}\u{0}{why}"));
    for q in queues {
        q.shutdown(true);
    }
}

/// A process stage worker (runs in the child).
pub(crate) fn stage_worker(c: StageConfig) {
    let Some(entry) = registry::get(c.function) else {
        return fail(
            &c.errors,
            &c.stage,
            "the function is not registered".into(),
            &[&c.input, &c.output],
        );
    };
    loop {
        match c.input.get() {
            Ok(RawMsg::Batch(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (seq, bytes) in items {
                    match entry.call(&bytes, Vec::new()) {
                        Ok(encoded) => out.push((seq, encoded.bytes)),
                        Err(CallError::Panicked(m)) => {
                            let why = format!("panicked on item {seq}: {m}");
                            return fail(&c.errors, &c.stage, why, &[&c.input, &c.output]);
                        }
                        Err(CallError::Decode(m) | CallError::Encode(m)) => {
                            let why = format!("item {seq}: {m}");
                            return fail(&c.errors, &c.stage, why, &[&c.input, &c.output]);
                        }
                    }
                }
                if c.output.put(&RawMsg::Batch(out)).is_err() {
                    c.input.shutdown(true);
                    return;
                }
            }
            Ok(RawMsg::End) => break,
            Err(_) => {
                c.output.shutdown(true);
                return;
            }
        }
    }
    if c.remaining.update(|r| {
        *r -= 1;
        *r
    }) == 0
    {
        for _ in 0..c.consumers {
            let _ = c.output.put(&RawMsg::End);
        }
    }
}

super::register!(stage_worker);
