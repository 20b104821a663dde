//! The outbox: publishes made while offline (and QoS ≥ 1 publishes not yet acknowledged), kept in
//! order in a small embedded database (redb) so they survive a crash or `kill -9`.
//!
//! Bounded (`max_messages`, overflow policy), age-limited (`max_age`): the caller turns every drop
//! and expiry into an event. Acknowledged entries are removed from memory at once and from disk in
//! batches of at most 64 ([`Outbox::sync`]): a crash between the two re-sends a few acknowledged
//! messages, which QoS 1's at-least-once allows, and saves an fsync per acknowledgement.

use crate::config::{OutboxConfig, Overflow};
use crate::error::PublishError;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");

/// Acknowledged entries struck from the file together (also every housekeeping tick and when the
/// outbox empties).
const REMOVAL_BATCH: usize = 64;

/// One queued publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Increasing: the order of publishing.
    pub id: u64,
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    /// Wall clock, milliseconds since the Unix epoch (survives restarts, unlike `Instant`).
    pub enqueued_at_ms: u64,
}

impl OutboxEntry {
    /// What it keeps in memory: its topic and payload.
    fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the outbox {path} is in use by another Tether process (the same profile is running elsewhere)")]
    InUse { path: PathBuf },
    #[error("the outbox {path} cannot be opened: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the outbox {path} holds an unreadable entry {id}; it was skipped")]
    Corrupt { path: PathBuf, id: u64 },
}

/// What a push did besides queueing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    pub id: u64,
    /// Oldest entries dropped to make room (overflow policy `drop_oldest`).
    pub dropped: usize,
}

pub struct Outbox {
    /// `None`: memory only (no profile to key it by, or tests). The database is `None` after a
    /// write failed (a full disk): redb refuses everything after an I/O error until it is opened
    /// again, so it is reopened at the next write.
    db: Option<(Option<Database>, PathBuf)>,
    /// The entries in order, each with whether it was handed to the client on this connection.
    entries: VecDeque<(OutboxEntry, bool)>,
    /// Topic and payload bytes of `entries` (what they keep in memory).
    bytes: usize,
    next_id: u64,
    cfg: OutboxConfig,
    /// Ids removed from memory but not yet from disk.
    removed: Vec<u64>,
    /// An unreadable file found at open and moved aside, until reported.
    set_aside: Option<(PathBuf, String)>,
}

/// Open the database at `path` and read its entries.
fn load(path: &Path, entries: &mut VecDeque<(OutboxEntry, bool)>, corrupt: &mut Vec<u64>) -> Result<Database, OutboxError> {
    let open_err = |e: &dyn std::fmt::Display| OutboxError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let db = Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OutboxError::InUse { path: path.to_path_buf() },
        other => open_err(&other),
    })?;
    let tx = db.begin_write().map_err(|e| open_err(&e))?;
    tx.open_table(TABLE).map_err(|e| open_err(&e))?;
    tx.commit().map_err(|e| open_err(&e))?;
    let rx = db.begin_read().map_err(|e| open_err(&e))?;
    let table = rx.open_table(TABLE).map_err(|e| open_err(&e))?;
    for row in table.iter().map_err(|e| open_err(&e))? {
        let (k, v) = row.map_err(|e| open_err(&e))?;
        match decode(k.value(), v.value()) {
            Some(entry) => entries.push_back((entry, false)),
            None => corrupt.push(k.value()),
        }
    }
    drop(table);
    drop(rx);
    Ok(db)
}

impl Outbox {
    /// Open (or create) the outbox at `path`, loading what a previous run left.
    /// Returns the outbox and the ids of entries that could not be decoded (skipped, reported).
    /// A file that cannot be opened at all (corrupt, truncated by a full disk, another format)
    /// is set aside as `<name>.corrupt-<ms>`, kept for the user, and a fresh outbox starts: the
    /// profile must still run. [`Outbox::take_set_aside`] tells where it went.
    pub fn open(path: Option<&Path>, cfg: OutboxConfig) -> Result<(Self, Vec<u64>), OutboxError> {
        let (mut entries, mut corrupt, mut set_aside) = (VecDeque::new(), Vec::new(), None);
        let db = match path {
            None => None,
            Some(path) => {
                if let Some(dir) = path.parent() {
                    crate::paths::private_dir(dir).map_err(|e| OutboxError::Open {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })?;
                }
                let db = match load(path, &mut entries, &mut corrupt) {
                    Ok(db) => db,
                    Err(OutboxError::Open { reason, .. }) if path.exists() => {
                        let aside = path.with_extension(format!("redb.corrupt-{}", now_ms()));
                        std::fs::rename(path, &aside).map_err(|e| OutboxError::Open {
                            path: path.to_path_buf(),
                            reason: format!("{reason}; and it could not be set aside: {e}"),
                        })?;
                        tracing::error!(path = %path.display(), aside = %aside.display(), %reason, "outbox unreadable: set aside, starting a fresh one");
                        set_aside = Some((aside, reason));
                        (entries, corrupt) = (VecDeque::new(), Vec::new());
                        load(path, &mut entries, &mut corrupt)?
                    }
                    Err(e) => return Err(e),
                };
                Some((Some(db), path.to_path_buf()))
            }
        };
        let next_id = entries
            .back()
            .map(|(e, _)| e.id + 1)
            .unwrap_or(1)
            .max(corrupt.iter().max().map(|m| m + 1).unwrap_or(1));
        let bytes = entries.iter().map(|(e, _)| e.size()).sum();
        let mut outbox = Self {
            db,
            entries,
            bytes,
            next_id,
            cfg,
            removed: corrupt.clone(),
            set_aside,
        };
        outbox.sync();
        Ok((outbox, corrupt))
    }

    /// Where an unreadable outbox file was moved at open, and why it could not be read (once).
    pub fn take_set_aside(&mut self) -> Option<(PathBuf, String)> {
        self.set_aside.take()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Topic and payload bytes held (bounded by `max_bytes`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queue a publish, persisted before this returns.
    pub fn push(&mut self, topic: String, payload: Bytes, qos: u8, retain: bool) -> Result<Pushed, PublishError> {
        // Choose what overflow evicts first, but change nothing until the new entry is on disk:
        // a failed write must leave the outbox as it was, with nothing dropped unreported.
        let size = topic.len() + payload.len();
        let full = || match self.entries.len() < self.cfg.max_messages {
            true => PublishError::OutboxBytesFull(self.cfg.max_bytes),
            false => PublishError::OutboxFull(self.cfg.max_messages),
        };
        let count_excess = (self.entries.len() + 1).saturating_sub(self.cfg.max_messages);
        let byte_excess = (self.bytes + size).saturating_sub(self.cfg.max_bytes);
        let mut evict = Vec::new();
        let mut freed = 0;
        if count_excess > 0 || byte_excess > 0 {
            if self.cfg.overflow == Overflow::RefuseNew {
                return Err(full());
            }
            // Never drop what is on the wire (its acknowledgement would find nothing); QoS 0
            // first, oldest first: a burst of telemetry must not push out a queued command.
            let queued = || self.entries.iter().filter(|(_, in_flight)| !in_flight).map(|(e, _)| e);
            for e in queued().filter(|e| e.qos == 0).chain(queued().filter(|e| e.qos > 0)) {
                if evict.len() >= count_excess && freed >= byte_excess {
                    break;
                }
                evict.push(e.id);
                freed += e.size();
            }
            if evict.len() < count_excess || freed < byte_excess {
                return Err(full());
            }
        }
        let entry = OutboxEntry {
            id: self.next_id,
            topic,
            payload,
            qos,
            retain,
            enqueued_at_ms: now_ms(),
        };
        if let Some((slot, path)) = &mut self.db {
            let refused = |e: redb::Error| PublishError::Storage(storage_failure(path, &e));
            let db = match slot {
                Some(db) => db,
                None => slot.insert(Database::create(&*path).map_err(|e| refused(e.into()))?),
            };
            // One transaction for the new entry and any pending removals: one fsync.
            let write = || -> Result<(), redb::Error> {
                let tx = db.begin_write()?;
                {
                    let mut t = tx.open_table(TABLE)?;
                    t.insert(entry.id, encode(&entry).as_slice())?;
                    for id in self.removed.iter().chain(&evict) {
                        t.remove(id)?;
                    }
                }
                tx.commit()?;
                Ok(())
            };
            if let Err(e) = write() {
                // Nothing was committed; what is on disk stays as it was, and so does memory.
                // redb refuses everything after an I/O error until reopened: reopened at once, so
                // the file's lock is let go only for that moment (another process could take
                // the outbox in between); if that fails too, at the next write.
                *slot = None;
                *slot = Database::create(&*path).ok();
                return Err(refused(e));
            }
        }
        self.removed.clear();
        // A set: one large push may evict thousands of small entries from a long queue.
        let evicted: std::collections::HashSet<u64> = evict.iter().copied().collect();
        self.entries.retain(|(e, _)| !evicted.contains(&e.id));
        self.bytes = self.bytes - freed + size;
        self.next_id += 1;
        let id = entry.id;
        self.entries.push_back((entry, false));
        Ok(Pushed { id, dropped: evict.len() })
    }

    /// Entries not yet handed to the client on this connection, oldest first.
    pub fn unsent(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries.iter().filter(|(_, f)| !f).map(|(e, _)| e)
    }

    /// The entry `id`, wherever it is in the queue.
    pub fn get(&self, id: u64) -> Option<&OutboxEntry> {
        self.entries.iter().find(|(e, _)| e.id == id).map(|(e, _)| e)
    }

    /// The oldest entry handed to the client on this connection and not acknowledged yet.
    pub fn oldest_in_flight(&self) -> Option<&OutboxEntry> {
        self.entries.iter().find(|(_, f)| *f).map(|(e, _)| e)
    }

    pub fn mark_in_flight(&mut self, id: u64) {
        if let Some((_, f)) = self.entries.iter_mut().find(|(e, _)| e.id == id) {
            *f = true;
        }
    }

    /// The connection dropped: whatever was in flight must be sent again.
    pub fn reset_in_flight(&mut self) {
        for (_, f) in self.entries.iter_mut() {
            *f = false;
        }
    }

    /// Acknowledged (or written, for QoS 0): forget it. Returns whether it was there.
    pub fn remove(&mut self, id: u64) -> bool {
        // Acks arrive in order almost always: look from the front.
        match self.entries.iter().position(|(e, _)| e.id == id) {
            Some(pos) => {
                if let Some((e, _)) = self.entries.remove(pos) {
                    self.bytes -= e.size();
                }
                self.removed.push(id);
                // A crash re-sends what was acknowledged but not yet struck from the file: keep
                // that to a batch, or a process killed again and again mid-flush re-sends its
                // whole backlog each time and never gets through it. (One fsync per batch; each
                // publish already costs one.)
                if self.removed.len() >= REMOVAL_BATCH {
                    self.sync();
                }
                true
            }
            None => false,
        }
    }

    /// Drop queued (not in flight) entries older than `max_age`. Returns how many.
    pub fn expire(&mut self) -> usize {
        let limit = now_ms().saturating_sub(self.cfg.max_age.as_millis() as u64);
        let before = self.entries.len();
        let (removed, bytes) = (&mut self.removed, &mut self.bytes);
        self.entries.retain(|(e, in_flight)| {
            let keep = *in_flight || e.enqueued_at_ms >= limit;
            if !keep {
                removed.push(e.id);
                *bytes -= e.size();
            }
            keep
        });
        before - self.entries.len()
    }

    /// Write pending removals to disk (batched; see the module docs). Failures are logged: the
    /// worst outcome is a duplicate after a restart.
    /// Sync, then let go of the file, so a link started next for the same profile can open it
    /// while this one's task is still winding down. What stays in memory is not written again.
    pub fn close(&mut self) {
        self.sync();
        self.db = None;
    }

    pub fn sync(&mut self) {
        let Some((slot, path)) = &mut self.db else {
            self.removed.clear();
            return;
        };
        if self.removed.is_empty() {
            return;
        }
        let db = match slot {
            Some(db) => db,
            None => match Database::create(&*path) {
                Ok(db) => slot.insert(db),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "outbox: could not reopen to write removals; will retry");
                    return;
                }
            },
        };
        let write = || -> Result<(), redb::Error> {
            // Durable (fsync), once per batch: redb keeps a `Durability::None` commit only until
            // the process ends, so a crash, or an exit with no publish after the flush, re-sent
            // every acknowledged entry since the last publish at the next start.
            let tx = db.begin_write()?;
            {
                let mut t = tx.open_table(TABLE)?;
                for id in &self.removed {
                    t.remove(id)?;
                }
            }
            tx.commit()?;
            Ok(())
        };
        match write() {
            Ok(()) => self.removed.clear(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "outbox: could not write removals; will retry");
                *slot = None;
                *slot = Database::create(&*path).ok();
            }
        }
    }

    pub fn max_age(&self) -> Duration {
        self.cfg.max_age
    }
}

/// Why a write to the outbox at `path` failed, in words for the user: a full disk is named as such.
fn storage_failure(path: &Path, e: &redb::Error) -> String {
    let full = matches!(e, redb::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded));
    if full {
        format!(
            "the outbox {} could not store it: the disk is full ({e}); free some space and publish again",
            path.display()
        )
    } else {
        format!("the outbox {} could not store it: {e}", path.display())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// Layout: qos u8 | retain u8 | enqueued_at_ms u64 LE | topic_len u32 LE | topic | payload.
fn encode(e: &OutboxEntry) -> Vec<u8> {
    let mut v = Vec::with_capacity(14 + e.topic.len() + e.payload.len());
    v.push(e.qos);
    v.push(e.retain as u8);
    v.extend_from_slice(&e.enqueued_at_ms.to_le_bytes());
    v.extend_from_slice(&(e.topic.len() as u32).to_le_bytes());
    v.extend_from_slice(e.topic.as_bytes());
    v.extend_from_slice(&e.payload);
    v
}

fn decode(id: u64, v: &[u8]) -> Option<OutboxEntry> {
    let qos = *v.first()?;
    let retain = *v.get(1)? != 0;
    let enqueued_at_ms = u64::from_le_bytes(v.get(2..10)?.try_into().ok()?);
    let tlen = u32::from_le_bytes(v.get(10..14)?.try_into().ok()?) as usize;
    let topic = std::str::from_utf8(v.get(14..14 + tlen)?).ok()?.to_string();
    let payload = Bytes::copy_from_slice(v.get(14 + tlen..)?);
    // A topic that cannot be published would block everything queued behind it.
    (qos <= 2 && crate::config::validate_topic(&topic).is_ok()).then_some(OutboxEntry {
        id,
        topic,
        payload,
        qos,
        retain,
        enqueued_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: usize, overflow: Overflow) -> OutboxConfig {
        OutboxConfig {
            max_messages: max,
            max_age: Duration::from_secs(300),
            overflow,
            ..OutboxConfig::default()
        }
    }

    #[test]
    fn entries_survive_reopening_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        {
            let (mut o, _) = Outbox::open(Some(&path), cfg(10, Overflow::DropOldest)).unwrap();
            for i in 0..5 {
                o.push("t/a".into(), Bytes::from(format!("m{i}")), 1, false).unwrap();
            }
            assert!(o.remove(1));
            o.sync();
        }
        let (o, corrupt) = Outbox::open(Some(&path), cfg(10, Overflow::DropOldest)).unwrap();
        assert!(corrupt.is_empty());
        let payloads: Vec<_> = o.unsent().map(|e| e.payload.clone()).collect();
        assert_eq!(payloads, [&b"m1"[..], b"m2", b"m3", b"m4"].map(Bytes::from_static));
        assert_eq!(o.unsent().next().unwrap().id, 2);
    }

    #[test]
    fn an_unreadable_file_is_set_aside_and_a_fresh_outbox_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(&path, &garbage).unwrap();
        let (mut o, corrupt) = Outbox::open(Some(&path), OutboxConfig::default()).expect("opens anyway");
        assert!(o.is_empty() && corrupt.is_empty());
        let (aside, reason) = o.take_set_aside().expect("reported");
        assert!(!reason.is_empty());
        assert!(
            aside.file_name().unwrap().to_string_lossy().starts_with("p.redb.corrupt-"),
            "{aside:?}"
        );
        assert_eq!(std::fs::read(&aside).unwrap(), garbage, "kept as it was");
        o.push("t".into(), Bytes::from("1"), 1, false).unwrap();
        o.close();
        let (o, _) = Outbox::open(Some(&path), OutboxConfig::default()).unwrap();
        assert_eq!(o.len(), 1, "the fresh one works");
    }

    #[test]
    fn a_second_process_on_the_same_outbox_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        let _first = Outbox::open(Some(&path), OutboxConfig::default()).unwrap();
        let err = Outbox::open(Some(&path), OutboxConfig::default()).err().unwrap();
        assert!(matches!(err, OutboxError::InUse { .. }), "{err}");
    }

    #[test]
    fn overflow_drops_the_oldest_and_says_so() {
        let (mut o, _) = Outbox::open(None, cfg(2, Overflow::DropOldest)).unwrap();
        o.push("t".into(), Bytes::from("1"), 1, false).unwrap();
        o.push("t".into(), Bytes::from("2"), 1, false).unwrap();
        let p = o.push("t".into(), Bytes::from("3"), 1, false).unwrap();
        assert_eq!(p.dropped, 1);
        let left: Vec<_> = o.unsent().map(|e| e.payload.clone()).collect();
        assert_eq!(left, [&b"2"[..], b"3"].map(Bytes::from_static));
    }

    #[test]
    fn overflow_evicts_queued_qos0_before_any_qos1() {
        // A telemetry burst offline must not push out the command queued before it (L6).
        let (mut o, _) = Outbox::open(None, cfg(10, Overflow::DropOldest)).unwrap();
        o.push("cmd".into(), Bytes::from("setpoint"), 1, false).unwrap();
        for i in 0..20 {
            o.push("tele".into(), Bytes::from(format!("{i}")), 0, false).unwrap();
        }
        assert_eq!(o.len(), 10);
        assert_eq!(
            o.unsent().next().map(|e| e.topic.as_str()),
            Some("cmd"),
            "the QoS 1 command survives"
        );
        // With nothing of QoS 0 left to drop, the oldest QoS 1 goes.
        let (mut o, _) = Outbox::open(None, cfg(2, Overflow::DropOldest)).unwrap();
        for p in ["a", "b", "c"] {
            o.push("t".into(), Bytes::from(p), 1, false).unwrap();
        }
        let left: Vec<_> = o.unsent().map(|e| e.payload.clone()).collect();
        assert_eq!(left, [&b"b"[..], b"c"].map(Bytes::from_static));
    }

    #[test]
    fn the_outbox_is_bounded_in_bytes_too() {
        let mut c = cfg(1000, Overflow::DropOldest);
        c.max_bytes = 10 * 1024;
        let (mut o, _) = Outbox::open(None, c.clone()).unwrap();
        let mut dropped = 0;
        for _ in 0..30 {
            dropped += o.push("t".into(), Bytes::from(vec![0u8; 1024]), 1, false).unwrap().dropped;
        }
        assert!(o.bytes() <= 10 * 1024, "{} bytes held", o.bytes());
        assert_eq!(o.len() + dropped, 30, "each one dropped is counted");
        c.overflow = Overflow::RefuseNew;
        let (mut o, _) = Outbox::open(None, c).unwrap();
        for _ in 0..10 {
            o.push("t".into(), Bytes::from(vec![0u8; 1000]), 1, false).unwrap();
        }
        assert!(matches!(
            o.push("t".into(), Bytes::from(vec![0u8; 1000]), 1, false),
            Err(PublishError::OutboxBytesFull(_))
        ));
    }

    #[test]
    fn overflow_can_refuse_the_new_one() {
        let (mut o, _) = Outbox::open(None, cfg(1, Overflow::RefuseNew)).unwrap();
        o.push("t".into(), Bytes::from("1"), 1, false).unwrap();
        assert_eq!(o.push("t".into(), Bytes::from("2"), 1, false), Err(PublishError::OutboxFull(1)));
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn expiry_spares_messages_in_flight() {
        let mut c = cfg(10, Overflow::DropOldest);
        c.max_age = Duration::ZERO;
        let (mut o, _) = Outbox::open(None, c).unwrap();
        o.push("t".into(), Bytes::from("1"), 1, false).unwrap();
        o.push("t".into(), Bytes::from("2"), 1, false).unwrap();
        o.mark_in_flight(1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(o.expire(), 1);
        assert_eq!(o.len(), 1);
        o.reset_in_flight();
        assert_eq!(o.unsent().count(), 1);
    }

    #[test]
    fn encoding_round_trips() {
        let e = OutboxEntry {
            id: 7,
            topic: "a/b".into(),
            payload: Bytes::from_static(b"\x00\xffbin"),
            qos: 2,
            retain: true,
            enqueued_at_ms: 123,
        };
        assert_eq!(decode(7, &encode(&e)), Some(e));
        assert_eq!(decode(1, &[1, 0, 1]), None);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any record (a torn write, a file from elsewhere) decodes to an entry that can be sent,
        /// or to nothing (the caller sets it aside with an event); never a panic.
        #[test]
        fn any_record_decodes_to_a_sendable_entry_or_to_nothing(v in prop::collection::vec(any::<u8>(), 0..64), tlen in any::<u32>(), cut in 0usize..80) {
            let _ = decode(1, &v);
            // Near-valid: a real header with any topic length, cut anywhere.
            let mut r = vec![1, 0];
            r.extend_from_slice(&5u64.to_le_bytes());
            r.extend_from_slice(&tlen.to_le_bytes());
            r.extend_from_slice(&v);
            r.truncate(cut.min(r.len()));
            for rec in [&v, &r] {
                if let Some(e) = decode(3, rec) {
                    prop_assert!(e.qos <= 2 && crate::config::validate_topic(&e.topic).is_ok());
                    prop_assert_eq!(decode(3, &encode(&e)), Some(e));
                }
            }
        }

        /// Whatever is queued reads back as it was written.
        #[test]
        fn any_entry_round_trips(topic in "[a-z0-9]{1,8}(/[a-zA-Z0-9 é_-]{0,8}){0,4}", payload in prop::collection::vec(any::<u8>(), 0..300), qos in 0u8..=1, retain: bool, at: u64) {
            let e = OutboxEntry { id: 9, topic, payload: Bytes::from(payload), qos, retain, enqueued_at_ms: at };
            prop_assert_eq!(decode(9, &encode(&e)), Some(e));
        }
    }
}
