//! The sources this room has imported (`chatroomd import`), by fingerprint, so that the same
//! source is never imported twice. Kept in `imports.json`, which exists only once a room has
//! imported something.

use serde::{Deserialize, Serialize};

use super::undo::{RecordedMap, Undoable};
use super::{Changes, Room};

/// One import carried out: what it brought and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The fingerprint of the source's content: the key under which it is remembered.
    pub fingerprint: String,
    /// The source directory as it was given.
    pub source: String,
    /// `"v2"` or `"v1"`.
    pub format: String,
    /// UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub imported_at: String,
    pub messages: u64,
    pub summaries: u64,
    pub topics: u64,
    pub cursors: u64,
    pub first_message_id: u64,
    pub last_message_id: u64,
}

/// Every import, by fingerprint.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Imports {
    by_fingerprint: RecordedMap<String, ImportRecord>,
}

impl Imports {
    pub(super) fn restore(records: Vec<ImportRecord>) -> Self {
        Self {
            by_fingerprint: records
                .into_iter()
                .map(|record| (record.fingerprint.clone(), record))
                .collect(),
        }
    }
}

impl Undoable for Imports {
    fn begin(&mut self) {
        self.by_fingerprint.begin();
    }

    fn commit(&mut self) {
        self.by_fingerprint.commit();
    }

    fn roll_back(&mut self) {
        self.by_fingerprint.roll_back();
    }
}

impl Room {
    /// The import of the source with this fingerprint, if the room has done it.
    pub fn imported(&self, fingerprint: &str) -> Option<&ImportRecord> {
        self.imports.by_fingerprint.get(fingerprint)
    }

    /// Every import, by fingerprint.
    pub fn imports(&self) -> Vec<ImportRecord> {
        self.imports
            .by_fingerprint
            .iter()
            .map(|(_, record)| record.clone())
            .collect()
    }

    /// Remembers an import (inside the batch that carries it out, so both or neither persist).
    pub fn record_import(&mut self, record: ImportRecord) -> Changes {
        self.imports
            .by_fingerprint
            .insert(record.fingerprint.clone(), record);
        Changes {
            imports: true,
            ..Changes::default()
        }
    }
}
