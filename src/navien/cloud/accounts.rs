//! The emulator's accounts (shared/protocol/navien-nwp500.md §2.3): the `--accounts FILE` format
//! and its parser, the users and heaters an accounts file describes, and the demo account used
//! without one. The [`Registry`](super::registry::Registry) that signs these users in and issues
//! their credentials is in [`super::registry`].
//!
//! Written from the spec, independently of the client's `navien::rest` and `navien::tokens`, so
//! that a misreading on either side shows up when the two meet.

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;

use secrecy::SecretString;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The demo account, used when no accounts file is given, and by the embedded demo (`crate::demo`).
/// Not a secret: the README prints it.
pub const DEMO_EMAIL: &str = "demo@tether.invalid";
pub const DEMO_PASSWORD: &str = "tether-demo";
pub const DEMO_MAC: &str = "04786332fca0";
pub const DEMO_DEVICE_NAME: &str = "Demo water heater";
/// What [`additional_value`] gives for [`DEMO_MAC`].
pub const DEMO_ADDITIONAL: &str = "5322";
/// A device without a `name` in the accounts file.
const DEFAULT_DEVICE_NAME: &str = "NWP500";
/// `userSeq` of the first account (the next ones count up), as in the spec's example.
const FIRST_USER_SEQ: u64 = 36283;
/// `homeSeq` of the first account's devices.
const FIRST_HOME_SEQ: u64 = 25004;

/// One water heater on an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Device {
    /// 12 lowercase hex characters.
    pub mac: String,
    /// `deviceName` in the device list.
    pub name: String,
    /// The opaque `additionalValue` clients echo in every request (see [`additional_value`]).
    pub additional_value: String,
    /// `homeSeq` of the account's home.
    pub home_seq: u64,
}

/// The `userInfo` of a sign-in reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserInfo {
    /// `userFirstName`.
    pub first_name: String,
    /// `userLastName` (may be empty).
    pub last_name: String,
    /// `userSeq`.
    pub user_seq: u64,
}

/// A user of the emulated cloud. `Debug` redacts the password.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    /// The sign-in name (`userId`), matched without regard to ASCII case.
    pub email: String,
    /// What `/user/sign-in` checks.
    pub password: SecretString,
    /// Names and sequence number for `userInfo`.
    pub user: UserInfo,
    /// The account's heaters, in the order `/device/list` pages through them.
    pub devices: Vec<Device>,
}

impl Account {
    /// An account numbered `index` (0-based) in its file: names come from the e-mail's local part
    /// (`jane.doe@…` is Jane Doe), `userSeq` and `homeSeq` count up from the spec's examples.
    pub(crate) fn new(index: usize, email: &str, password: SecretString, devices: &[(&str, &str)]) -> Account {
        let (first_name, last_name) = names_from_email(email);
        let n = index as u64;
        Account {
            email: email.to_string(),
            password,
            user: UserInfo {
                first_name,
                last_name,
                user_seq: FIRST_USER_SEQ + n,
            },
            devices: devices
                .iter()
                .map(|(mac, name)| Device {
                    mac: mac.to_ascii_lowercase(),
                    name: name.to_string(),
                    additional_value: additional_value(mac),
                    home_seq: FIRST_HOME_SEQ + n,
                })
                .collect(),
        }
    }
}

/// The account used when no `--accounts` file is given.
pub(crate) fn demo_accounts() -> Vec<Account> {
    vec![Account::new(
        0,
        DEMO_EMAIL,
        SecretString::from(DEMO_PASSWORD),
        &[(DEMO_MAC, DEMO_DEVICE_NAME)],
    )]
}

/// A stable four-digit `additionalValue` for a MAC address: FNV-1a of the lowercase MAC, folded
/// into 1000..=9999 with an offset chosen so that the demo heater gets the `5322` the demo uses.
pub(crate) fn additional_value(mac: &str) -> String {
    /// Makes [`DEMO_MAC`] come out as [`DEMO_ADDITIONAL`].
    const OFFSET: u32 = 916;
    let mut h: u32 = 0x811c_9dc5;
    for b in mac.to_ascii_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{}", 1000 + (h % 9000 + OFFSET) % 9000)
}

fn names_from_email(email: &str) -> (String, String) {
    let local = email.split('@').next().unwrap_or_default();
    let mut parts = local.split(['.', '_', '-', '+']).filter(|p| !p.is_empty()).map(capitalize);
    let first = parts.next().unwrap_or_default();
    let last = parts.collect::<Vec<_>>().join(" ");
    (first, last)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Why an accounts file was refused. No variant quotes a password.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountsError {
    #[error("cannot read the accounts file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    #[error("the accounts file {} is not valid JSON at line {line}, column {column}: {detail}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based.
        column: usize,
        /// The parser's complaint, without the position.
        detail: String,
    },
    #[error("the accounts file {}: {at}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where: "entry 2", "entry 2, field `password`", "entry 1, device 3, field `mac`".
        at: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
}

/// Reads an accounts file: `[{"email","password","devices":[{"mac","name"}]}]`.
pub(crate) fn load_accounts(path: &Path) -> Result<Vec<Account>, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_accounts(&text, path)
}

/// Parses an accounts file's text; `path` is for the messages. Rules: a non-empty array of
/// objects; `email` (a string with an `@`, unique without regard to case) and `password` (a
/// non-empty string) required; `devices` optional (an array of `{"mac","name"}`, `mac` 12 hex
/// digits without separators, stored lowercase and unique across the file, `name` optional).
/// Unknown keys are errors, so a misspelt `pasword` is not silently ignored.
pub(crate) fn parse_accounts(text: &str, path: &Path) -> Result<Vec<Account>, AccountsError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let full = e.to_string();
        AccountsError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            detail: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
        }
    })?;
    let invalid = |at: String, problem: &str| AccountsError::Invalid {
        path: path.to_path_buf(),
        at,
        problem: problem.to_string(),
    };
    let Value::Array(entries) = root else {
        return Err(invalid("the top level".into(), "must be an array of accounts"));
    };
    if entries.is_empty() {
        return Err(invalid("the top level".into(), "has no accounts"));
    }
    let mut accounts = Vec::with_capacity(entries.len());
    let mut emails: Vec<String> = Vec::new();
    let mut macs: HashMap<String, String> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("entry {}", i + 1);
        let field = |name: &str| format!("{at}, field `{name}`");
        let Value::Object(obj) = entry else {
            return Err(invalid(at, "must be an object with email, password and devices"));
        };
        check_keys(obj, &["email", "password", "devices"])
            .map_err(|k| invalid(field(&k), "is not a known key (email, password, devices)"))?;
        let email = required_string(obj, "email").map_err(|p| invalid(field("email"), p))?;
        if !email.contains('@') || email.trim() != email {
            return Err(invalid(field("email"), "must be an e-mail address, without spaces around it"));
        }
        let lower = email.to_ascii_lowercase();
        if let Some(first) = emails.iter().position(|e| *e == lower) {
            return Err(invalid(
                field("email"),
                &format!("is the same as entry {}'s (e-mails are compared without case)", first + 1),
            ));
        }
        emails.push(lower);
        let password = required_string(obj, "password").map_err(|p| invalid(field("password"), p))?;
        let mut devices: Vec<(String, String)> = Vec::new();
        match obj.get("devices") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (j, dev) in list.iter().enumerate() {
                    let at = format!("{at}, device {}", j + 1);
                    let dfield = |name: &str| format!("{at}, field `{name}`");
                    let Value::Object(d) = dev else {
                        return Err(invalid(at, "must be an object with mac and name"));
                    };
                    check_keys(d, &["mac", "name"]).map_err(|k| invalid(dfield(&k), "is not a known key (mac, name)"))?;
                    let mac = required_string(d, "mac").map_err(|p| invalid(dfield("mac"), p))?;
                    if mac.len() != 12 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(invalid(
                            dfield("mac"),
                            "must be 12 hexadecimal digits, without separators (like 04786332fca0)",
                        ));
                    }
                    let mac = mac.to_ascii_lowercase();
                    let name = match d.get("name") {
                        None | Some(Value::Null) => DEFAULT_DEVICE_NAME.to_string(),
                        Some(Value::String(s)) if !s.is_empty() => s.clone(),
                        Some(_) => return Err(invalid(dfield("name"), "must be a non-empty string")),
                    };
                    if let Some(other) = macs.insert(mac.clone(), at.clone()) {
                        return Err(invalid(dfield("mac"), &format!("is already used by {other}")));
                    }
                    devices.push((mac, name));
                }
            }
            Some(_) => return Err(invalid(field("devices"), "must be an array of {\"mac\",\"name\"} objects")),
        }
        let devices: Vec<(&str, &str)> = devices.iter().map(|(m, n)| (m.as_str(), n.as_str())).collect();
        accounts.push(Account::new(i, &email, SecretString::from(password), &devices));
    }
    Ok(accounts)
}

/// The first key of `obj` not in `known`.
fn check_keys(obj: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(k.clone()),
        None => Ok(()),
    }
}

fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String, &'static str> {
    match obj.get(key) {
        None | Some(Value::Null) => Err("is missing"),
        Some(Value::String(s)) if s.is_empty() => Err("is empty"),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err("must be a string"),
    }
}
