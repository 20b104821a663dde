//! Reading the client id of an MQTT 3.1/3.1.1 CONNECT from a client's first bytes, as they
//! arrive, for the [front](super)'s takeover (§3.5): the only part of the MQTT stream the front
//! interprets. Pure, so it is tested on every cut of a CONNECT.

/// What the client's first bytes say about its CONNECT's client id.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Peek {
    /// Not enough bytes yet.
    NeedMore,
    /// A CONNECT with this non-empty client id.
    ClientId(String),
    /// Not a 3.1/3.1.1 CONNECT, malformed, or an empty or non-UTF-8 id: forward, no takeover.
    NoClientId,
}

/// Reads the client id of a CONNECT at the start of `b`: fixed header 0x10, remaining length,
/// protocol name, level, flags, keep-alive, then the id as a length-prefixed string.
pub(super) fn connect_client_id(b: &[u8]) -> Peek {
    let Some(&first) = b.first() else { return Peek::NeedMore };
    if first != 0x10 {
        return Peek::NoClientId;
    }
    // The remaining length: up to four 7-bit groups, least significant first.
    let mut remaining = 0usize;
    let mut body = None;
    for i in 0..4 {
        let Some(&byte) = b.get(1 + i) else { return Peek::NeedMore };
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            body = Some(2 + i);
            break;
        }
    }
    let Some(start) = body else { return Peek::NoClientId };
    let end = start + remaining;
    let u16_at = |at: usize| -> Option<usize> { Some(usize::from(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))) };

    let Some(name_len) = u16_at(start) else { return Peek::NeedMore };
    let level_at = start + 2 + name_len;
    // Level (1 byte), flags (1), keep-alive (2), then the id's length (2).
    let id_len_at = level_at + 4;
    if id_len_at + 2 > end {
        return Peek::NoClientId;
    }
    let Some(&level) = b.get(level_at) else { return Peek::NeedMore };
    if level == 5 {
        // MQTT 5 puts properties before the id; the internal broker speaks 3.1.1 and refuses it.
        return Peek::NoClientId;
    }
    let Some(id_len) = u16_at(id_len_at) else { return Peek::NeedMore };
    let id_at = id_len_at + 2;
    if id_at + id_len > end {
        return Peek::NoClientId;
    }
    let Some(id) = b.get(id_at..id_at + id_len) else {
        return Peek::NeedMore;
    };
    match std::str::from_utf8(id) {
        Ok(id) if !id.is_empty() => Peek::ClientId(id.to_string()),
        _ => Peek::NoClientId,
    }
}
