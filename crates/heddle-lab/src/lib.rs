//! placeholder crate: filled by later issues.
