//! [`ProcessPool`].

use serde::{Deserialize, Serialize};

use super::codec::Channel;

/// What a pool worker is told at start.
#[derive(Serialize, Deserialize)]
pub(crate) struct WorkerConfig {}

/// A pool worker's loop; the exit code.
pub(crate) fn worker_main(_channel: &Channel, _config: WorkerConfig) -> i32 {
    0
}
