//! Tests of the accounts file: parsing and its messages, the demo account and the
//! `additionalValue`s.

use super::*;
use secrecy::ExposeSecret;
use std::collections::HashSet;

fn parse(text: &str) -> Result<Vec<Account>, AccountsError> {
    parse_accounts(text, Path::new("/tmp/accounts.json"))
}

fn parse_err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}
#[test]
fn a_good_file_parses_with_lowercase_macs_names_and_additional_values() {
    let text = r#"[
        {"email":"jane.doe@example.com","password":"pw1","devices":[{"mac":"04786332FCA0","name":"Garage"},{"mac":"aabbccddeeff"}]},
        {"email":"bob@example.com","password":"pw2","devices":[]},
        {"email":"carol@example.com","password":"pw3"}
    ]"#;
    let accounts = parse(text).unwrap();
    assert_eq!(accounts.len(), 3);
    let jane = &accounts[0];
    assert_eq!(jane.email, "jane.doe@example.com");
    assert_eq!(jane.password.expose_secret(), "pw1");
    assert_eq!(jane.user.first_name, "Jane");
    assert_eq!(jane.user.last_name, "Doe");
    assert_eq!(jane.devices[0].mac, "04786332fca0");
    assert_eq!(jane.devices[0].name, "Garage");
    assert_eq!(jane.devices[0].additional_value, DEMO_ADDITIONAL);
    assert_eq!(jane.devices[1].name, "NWP500");
    assert_eq!(jane.devices[1].additional_value, additional_value("aabbccddeeff"));
    assert_ne!(accounts[0].user.user_seq, accounts[1].user.user_seq);
    assert_eq!(accounts[1].user.first_name, "Bob");
    assert_eq!(accounts[1].user.last_name, "");
    assert!(accounts[2].devices.is_empty());
    // The password never shows in Debug.
    assert!(!format!("{jane:?}").contains("pw1"));
}

#[test]
fn the_demo_account_matches_the_demo_device() {
    let accounts = demo_accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].email, DEMO_EMAIL);
    assert_eq!(accounts[0].password.expose_secret(), DEMO_PASSWORD);
    let d = &accounts[0].devices[0];
    assert_eq!(d.mac, crate::demo::DEMO_MAC);
    assert_eq!(d.additional_value, crate::demo::DEMO_ADDITIONAL);
    assert_eq!(d.name, DEMO_DEVICE_NAME);
}

#[test]
fn additional_values_are_stable_four_digit_strings() {
    assert_eq!(additional_value("04786332fca0"), "5322");
    assert_eq!(additional_value("04786332FCA0"), "5322");
    let mut seen = HashSet::new();
    for i in 0..200u32 {
        let v = additional_value(&format!("0000{i:08x}"));
        assert_eq!(v.len(), 4, "{v}");
        assert!(v.bytes().all(|b| b.is_ascii_digit()) && !v.starts_with('0'), "{v}");
        seen.insert(v);
    }
    assert!(seen.len() > 180, "too many clashes: {}", seen.len());
}

#[test]
fn bad_json_names_the_file_line_and_column() {
    let e = parse("[\n  {\"email\": \"a@b\",\n  \"password\": \"x\"\n  \"devices\": []}\n]");
    match e {
        Err(AccountsError::Syntax { line, column, .. }) => {
            assert_eq!(line, 4);
            assert!(column > 0);
        }
        other => panic!("{other:?}"),
    }
    let msg = parse_err("[{\"email\": \"a@b\",, }]");
    assert!(msg.contains("/tmp/accounts.json") && msg.contains("line 1, column"), "{msg}");
    assert!(!msg.contains(" at line 1 column"), "position given twice: {msg}");
}

#[test]
fn a_missing_field_names_the_entry_and_the_field() {
    let msg = parse_err(r#"[{"email":"a@example.com","password":"x"},{"email":"b@example.com"}]"#);
    assert!(msg.contains("/tmp/accounts.json"), "{msg}");
    assert!(msg.contains("entry 2, field `password`: is missing"), "{msg}");
    let msg = parse_err(r#"[{"password":"x"}]"#);
    assert!(msg.contains("entry 1, field `email`: is missing"), "{msg}");
    let msg = parse_err(r#"[{"email":"a@example.com","password":"x","devices":[{"name":"n"}]}]"#);
    assert!(msg.contains("entry 1, device 1, field `mac`: is missing"), "{msg}");
}

#[test]
fn wrong_types_and_unknown_keys_are_errors_that_never_quote_the_password() {
    let msg = parse_err(r#"[{"email":"a@example.com","password":12345678}]"#);
    assert!(msg.contains("field `password`: must be a string"), "{msg}");
    assert!(!msg.contains("12345678"), "{msg}");
    let msg = parse_err(r#"[{"email":"a@example.com","pasword":"hunter2"}]"#);
    assert!(msg.contains("field `pasword`: is not a known key"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let msg = parse_err(r#"[{"email":"a@example.com","password":"x","devices":{}}]"#);
    assert!(msg.contains("field `devices`: must be an array"), "{msg}");
    assert!(parse_err("{}").contains("must be an array of accounts"));
    assert!(parse_err("[]").contains("has no accounts"));
    assert!(parse_err(r#"[{"email":"nobody","password":"x"}]"#).contains("must be an e-mail address"));
    assert!(parse_err(r#"[{"email":"a@example.com","password":""}]"#).contains("`password`: is empty"));
}

#[test]
fn a_bad_mac_is_an_error() {
    for mac in ["04:78:63:32:fc:a0", "04786332fca", "04786332fca0a", "04786332fcag", ""] {
        let text = format!(r#"[{{"email":"a@example.com","password":"x","devices":[{{"mac":"aabbccddeeff"}},{{"mac":"{mac}"}}]}}]"#);
        let msg = parse_err(&text);
        assert!(msg.contains("entry 1, device 2, field `mac`"), "{mac}: {msg}");
    }
    let msg = parse_err(r#"[{"email":"a@example.com","password":"x","devices":[{"mac":12}]}]"#);
    assert!(msg.contains("field `mac`: must be a string"), "{msg}");
}

#[test]
fn a_mac_used_twice_is_an_error() {
    let text = r#"[{"email":"a@example.com","password":"x","devices":[{"mac":"aabbccddeeff"}]},
                   {"email":"b@example.com","password":"y","devices":[{"mac":"AABBCCDDEEFF"}]}]"#;
    let msg = parse_err(text);
    assert!(
        msg.contains("entry 2, device 1, field `mac`: is already used by entry 1, device 1"),
        "{msg}"
    );
}

#[test]
fn a_duplicate_email_is_an_error() {
    let text = r#"[{"email":"a@example.com","password":"x"},{"email":"b@example.com","password":"y"},
                   {"email":"A@Example.com","password":"z"}]"#;
    let msg = parse_err(text);
    assert!(msg.contains("entry 3, field `email`: is the same as entry 1's"), "{msg}");
}

#[test]
fn load_accounts_reads_a_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("tether-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("accounts.json");
    std::fs::write(
        &path,
        r#"[{"email":"a@example.com","password":"x","devices":[{"mac":"aabbccddeeff","name":"N"}]}]"#,
    )
    .unwrap();
    assert_eq!(load_accounts(&path).unwrap()[0].devices[0].name, "N");
    let missing = dir.join("nope.json");
    let msg = load_accounts(&missing).unwrap_err().to_string();
    assert!(msg.contains("cannot read the accounts file") && msg.contains("nope.json"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}
