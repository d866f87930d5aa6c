//! The room on disk: the compatible `.chatroom/` files, loaded at start and written durably.
//!
//! `messages.jsonl` and `summaries.jsonl` are append-only, one compact JSON record a line;
//! `participants.json` (name → participant) and `cursors.json` (name → last read id) are JSON
//! objects replaced atomically (temp file, rename). The owner batches the changes of every
//! request it has queued into one [`Store::persist`] call, which is acknowledged after a single
//! `fdatasync`: of the batch's record in the journal (see `journal`), from which the compatible
//! files are then written without a sync of their own. A checkpoint, once the room is quiet
//! (or the journal has grown large) and at a clean stop, syncs them and empties the journal; a
//! start replays what a crash left in it.
//!
//! Topics add three objects beside the v1 files, each written only once the room has something
//! to put in it, so a room used the v1 way keeps exactly the v1 files: `topics.json` (v2's
//! `id → topic`), `topic_cursors.json` (v2's `name → {topic_id → id}`) and `imports.json`
//! (`fingerprint → import`, see `chatroomd import`).
//!
//! A batch is stored whole or not at all: if any file cannot be written (a full disk, a file-size
//! limit, a read-only directory) the appends already made are cut off again and the JSON objects
//! are left as they were, so the owner can roll the room back and refuse the batch. Damage found
//! at load is repaired where nothing is lost (a torn last line) and set aside where the room can
//! do without the file (a corrupt `participants.json` or `cursors.json`); anything else stops the
//! start and names the place.

mod load;
#[cfg(test)]
mod tests;
mod write;

// The load half and the tests share the write half's helpers (`sync_dir`, `temp_name`, ...).
use write::*;

pub use load::{LoadError, Loaded, Mode, load};
pub(crate) use load::{cursors_of, object_of, participants_of};
pub use write::{PersistError, Store, ensure_gitignored, write_bytes_atomically};

pub const MESSAGES_FILE: &str = "messages.jsonl";
pub const SUMMARIES_FILE: &str = "summaries.jsonl";
pub const PARTICIPANTS_FILE: &str = "participants.json";
pub const CURSORS_FILE: &str = "cursors.json";
pub const TOPICS_FILE: &str = "topics.json";
pub const TOPIC_CURSORS_FILE: &str = "topic_cursors.json";
pub const IMPORTS_FILE: &str = "imports.json";
/// Every JSON object the store replaces whole, in the order a batch writes them.
pub const OBJECT_FILES: [&str; 5] = [
    PARTICIPANTS_FILE,
    CURSORS_FILE,
    TOPICS_FILE,
    TOPIC_CURSORS_FILE,
    IMPORTS_FILE,
];
/// Ours, not the Python server's: the idempotency keys of recent writes (see `dedupe`).
pub const KEYS_FILE: &str = "idempotency.jsonl";
