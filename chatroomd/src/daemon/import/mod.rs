//! `chatroomd import`: bringing a Python server's state directory into this room.
//!
//! [`source`] reads and checks a source into plain records with a fingerprint of its history
//! (the only part that touches the disk, and only to read); [`plan`] decides, purely, which ids
//! the records get here and where each cursor lands. The room applies a plan as one batch
//! (`room/import.rs`), so an import is persisted whole before its reply, like every write, or
//! not at all.

pub mod plan;
pub mod source;

pub use plan::{Plan, PlanError, PlannedCursor, Target, plan};
pub use source::{Format, Source, SourceCursor, SourceError, read};
