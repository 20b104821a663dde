//! The token set in the keychain, in pieces: Windows' Credential Manager refuses a secret over
//! 2,560 bytes of UTF-16 (1,280 characters), and a real Navien set is 4-5 KB of JSON. The set is
//! one JSON blob cut into chunks of [`CHUNK`] characters: `<profile>/navien-tokens` holds the
//! first with a header saying how many there are, `<profile>/navien-tokens.1`, `.2`, ... the rest.

use crate::credentials::{account, CredentialError, SecretStore};
use secrecy::{ExposeSecret, SecretString};

/// The keychain account of a profile's Navien tokens (beside its `password`).
pub const TOKENS_SECRET: &str = "navien-tokens";
/// Characters per entry: well under every platform's limit (Windows: 1,280).
pub(crate) const CHUNK: usize = 1000;
/// More than any token set needs; a header claiming more is not believed.
const MAX_CHUNKS: usize = 32;

fn entry(profile: &str, i: usize) -> String {
    if i == 0 {
        account(profile, TOKENS_SECRET)
    } else {
        account(profile, &format!("{TOKENS_SECRET}.{i}"))
    }
}

/// Store `blob` for `profile`, replacing what was there (extra old chunks are deleted).
pub(crate) fn save(store: &dyn SecretStore, profile: &str, blob: &SecretString) -> Result<(), CredentialError> {
    let text = blob.expose_secret();
    let chars: Vec<char> = text.chars().collect();
    let chunks: Vec<String> = chars.chunks(CHUNK).map(|c| c.iter().collect()).collect();
    let n = chunks.len().max(1);
    // The later chunks first: a reader never sees a header whose chunks are not there yet.
    for (i, c) in chunks.iter().enumerate().skip(1) {
        store.set(&entry(profile, i), &SecretString::from(c.clone()))?;
    }
    let first = chunks.first().cloned().unwrap_or_default();
    store.set(&entry(profile, 0), &SecretString::from(format!("{n}:{first}")))?;
    for i in n..MAX_CHUNKS {
        if !store.delete(&entry(profile, i))? {
            break;
        }
    }
    Ok(())
}

/// The stored blob of `profile`, `None` if there is none. A broken set (a chunk missing, a bad
/// header) is an error: the caller signs in again rather than trust half a token.
pub(crate) fn load(store: &dyn SecretStore, profile: &str) -> Result<Option<SecretString>, CredentialError> {
    let Some(head) = store.get(&entry(profile, 0))? else {
        return Ok(None);
    };
    let head = head.expose_secret();
    let bad = |why: &str| CredentialError::Access(format!("the stored Navien tokens are incomplete ({why})"));
    let (count, first) = head.split_once(':').ok_or_else(|| bad("no header"))?;
    let count: usize = count.parse().map_err(|_| bad("a bad header"))?;
    if count == 0 || count > MAX_CHUNKS {
        return Err(bad("a bad chunk count"));
    }
    let mut text = first.to_string();
    for i in 1..count {
        let c = store.get(&entry(profile, i))?.ok_or_else(|| bad("a chunk is missing"))?;
        text.push_str(c.expose_secret());
    }
    Ok(Some(SecretString::from(text)))
}

/// Delete every entry of `profile`'s tokens. Returns whether anything was there.
pub fn forget(store: &dyn SecretStore, profile: &str) -> Result<bool, CredentialError> {
    let mut any = false;
    for i in 0..MAX_CHUNKS {
        let deleted = store.delete(&entry(profile, i))?;
        any |= deleted;
        if !deleted && i > 0 {
            break;
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::MemoryStore;

    /// A store that refuses what Windows' Credential Manager refuses.
    #[derive(Default)]
    struct Windowsish(MemoryStore);

    impl SecretStore for Windowsish {
        fn get(&self, a: &str) -> Result<Option<SecretString>, CredentialError> {
            self.0.get(a)
        }
        fn set(&self, a: &str, s: &SecretString) -> Result<(), CredentialError> {
            if s.expose_secret().encode_utf16().count() * 2 > 2560 {
                return Err(CredentialError::Access("secret too long".into()));
            }
            self.0.set(a, s)
        }
        fn delete(&self, a: &str) -> Result<bool, CredentialError> {
            self.0.delete(a)
        }
    }

    #[test]
    fn a_five_kilobyte_token_set_fits_a_store_that_refuses_long_secrets() {
        let store = Windowsish::default();
        let blob: String = (0..5000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        // As one entry it is refused (the defect this module exists for)...
        assert!(store.set("p/whole", &SecretString::from(blob.clone())).is_err());
        // ...in chunks it is stored and read back whole.
        save(&store, "p", &SecretString::from(blob.clone())).unwrap();
        assert_eq!(load(&store, "p").unwrap().unwrap().expose_secret(), blob);
    }

    #[test]
    fn a_shorter_set_replaces_a_longer_one_and_forget_removes_every_chunk() {
        let store = MemoryStore::default();
        save(&store, "p", &SecretString::from("x".repeat(3500))).unwrap();
        save(&store, "p", &SecretString::from("short")).unwrap();
        assert_eq!(load(&store, "p").unwrap().unwrap().expose_secret(), "short");
        assert!(store.get(&entry("p", 1)).unwrap().is_none(), "old chunks are gone");
        save(&store, "p", &SecretString::from("y".repeat(2500))).unwrap();
        assert!(forget(&store, "p").unwrap());
        for i in 0..4 {
            assert!(store.get(&entry("p", i)).unwrap().is_none(), "chunk {i}");
        }
        assert!(!forget(&store, "p").unwrap());
        assert!(load(&store, "p").unwrap().is_none());
    }

    #[test]
    fn a_missing_chunk_or_a_bad_header_is_an_error_not_half_a_token() {
        let store = MemoryStore::default();
        save(&store, "p", &SecretString::from("z".repeat(2500))).unwrap();
        store.delete(&entry("p", 2)).unwrap();
        assert!(load(&store, "p").is_err());
        store.set(&entry("p", 0), &SecretString::from("no header")).unwrap();
        assert!(load(&store, "p").is_err());
        store.set(&entry("p", 0), &SecretString::from("999:x")).unwrap();
        assert!(load(&store, "p").is_err());
    }
}
