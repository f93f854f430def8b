//! `heddle-links`: a parallel dead-link crawler on heddle's `Queue` and workers, the
//! static file server it is measured against, and a generator of web sites with known
//! answers to test both.
//!
//! - [`generate`]: a deterministic site (pages, links, traps) and the list of every
//!   broken reference it holds.
//! - [`serve`]: `heddle serve`, a thread-per-connection static file server on heddle's
//!   `ThreadPool`.
#![deny(missing_docs)]

pub mod crawl;
pub mod extract;
pub mod generate;
pub mod report;
pub mod serve;
