//! The end-to-end tests: the real `chatroom-shim` and `chatroomd` binaries driven in fresh
//! temporary repositories through the harness in `tests/src/lib.rs`. One module per area, all
//! in one test binary, so the harness, rmcp and tokio are linked once rather than once per file.
//! Run one area with a filter: `cargo test -p chatroom-tests --test e2e -- tools::`.

mod abuse;
mod access;
mod bounds;
mod claims;
mod claims_cli;
mod claims_hooks;
mod daemon;
mod demo;
mod discovery;
mod disk;
mod docs;
mod faults;
mod hostile;
mod human;
mod import;
mod journal;
mod liveness;
mod load;
mod persistence;
mod python_sdk;
mod reach;
mod replay;
mod search;
mod setup;
mod shim;
mod skew;
mod surfaces;
mod tools;
mod topics;
mod wait;
