use super::*;
use crate::navien::rest::{decode, SignIn};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn fields(v: serde_json::Value, endpoint: Endpoint) -> TokenFields {
    let body = json!({"code": 200, "msg": "SUCCESS", "data": v}).to_string();
    if matches!(endpoint, Endpoint::SignIn | Endpoint::SecuredSignIn) {
        decode::<SignIn>(endpoint, 200, Some("application/json"), body.as_bytes())
            .unwrap()
            .token
    } else {
        decode::<TokenFields>(endpoint, 200, Some("application/json"), body.as_bytes()).unwrap()
    }
}

fn signed_in(jwt_secs: u64, aws_secs: u64) -> TokenSet {
    let token = json!({"idToken": "SEKRIT-id-1", "accessToken": "SEKRIT-access-1", "refreshToken": "SEKRIT-refresh-1",
                       "authenticationExpiresIn": jwt_secs, "accessKeyId": "ASIAONE", "secretKey": "SEKRIT-secret-1",
                       "sessionToken": "SEKRIT-session-1", "authorizationExpiresIn": aws_secs});
    TokenSet::from_sign_in(fields(json!({"userInfo": {}, "token": token}), Endpoint::SignIn), t0()).unwrap()
}

fn exposed(s: &SecretString) -> &str {
    s.expose_secret()
}

fn rejected(step: Step) -> RestError {
    RestError::TokenRejected {
        endpoint: step.endpoint(),
        msg: "Invalid token".into(),
    }
}

#[test]
fn a_sign_in_sets_every_token_and_both_clocks() {
    let s = signed_in(3600, 3600);
    assert_eq!(
        (exposed(&s.id_token), exposed(&s.access_token), exposed(&s.refresh_token)),
        ("SEKRIT-id-1", "SEKRIT-access-1", "SEKRIT-refresh-1")
    );
    let aws = s.aws.as_ref().unwrap();
    assert_eq!(
        (aws.access_key_id.as_str(), exposed(&aws.secret_key), exposed(&aws.session_token)),
        ("ASIAONE", "SEKRIT-secret-1", "SEKRIT-session-1")
    );
    assert_eq!((s.jwt_received_at, s.aws_received_at), (t0(), t0()));
    assert_eq!(
        (s.jwt_lifetime, s.aws_lifetime),
        (Duration::from_secs(3600), Duration::from_secs(3600))
    );
}

#[test]
fn a_sign_in_without_lifetimes_assumes_the_clouds_hour_not_forever() {
    let token = json!({"accessToken": "a", "refreshToken": "r", "accessKeyId": "ASIA", "secretKey": "k", "sessionToken": "s"});
    let s = TokenSet::from_sign_in(fields(json!({"userInfo": {}, "token": token}), Endpoint::SignIn), t0()).unwrap();
    assert_eq!((s.jwt_lifetime, s.aws_lifetime), (DEFAULT_LIFETIME, DEFAULT_LIFETIME));
    assert_eq!(s.aws_stale_at(), Some(t0() + secs(3300)));
}

#[test]
fn a_sign_in_with_incomplete_aws_keys_leaves_them_unset_for_a_session_refresh() {
    let token = json!({"accessToken": "a", "refreshToken": "r", "accessKeyId": "ASIA"});
    let s = TokenSet::from_sign_in(fields(json!({"userInfo": {}, "token": token}), Endpoint::SignIn), t0()).unwrap();
    assert!(s.aws.is_none() && s.aws_stale_at().is_none() && !s.aws_fresh(t0()));
    assert_eq!(plan(Some(&s), t0(), Need::Connect), [Step::SessionRefresh]);
}

#[test]
fn a_3600_s_lifetime_is_stale_at_3300_s() {
    let s = signed_in(3600, 3600);
    assert_eq!(s.jwt_stale_at(), t0() + secs(3300));
    assert_eq!(s.aws_stale_at(), Some(t0() + secs(3300)));
    assert!(s.jwt_fresh(t0() + secs(3299)) && !s.jwt_fresh(t0() + secs(3300)));
    assert!(s.aws_fresh(t0() + secs(3299)) && !s.aws_fresh(t0() + secs(3300)));
}

#[test]
fn a_60_s_lifetime_is_stale_at_30_s() {
    let s = signed_in(60, 60);
    assert_eq!(s.jwt_stale_at(), t0() + secs(30));
    assert_eq!(s.aws_stale_at(), Some(t0() + secs(30)));
    assert_eq!(stale_at(t0(), Duration::from_secs(600)), t0() + secs(300));
    assert_eq!(stale_at(t0(), Duration::ZERO), t0(), "never before receipt");
}

#[test]
fn a_lifetime_beyond_the_calendar_saturates_and_schedules_nothing() {
    let s = signed_in(u64::MAX, u64::MAX);
    assert_eq!(s.jwt_stale_at(), DateTime::<Utc>::MAX_UTC);
    assert!(s.jwt_fresh(t0()) && s.next_renewal(t0()).is_none());
}

#[test]
fn a_wall_clock_stepped_back_past_the_receipt_makes_tokens_stale() {
    let s = signed_in(3600, 3600);
    assert!(s.jwt_fresh(t0() - secs(30)), "a little skew is tolerated");
    assert!(!s.jwt_fresh(t0() - secs(3600)) && !s.aws_fresh(t0() - secs(3600)));
    assert_eq!(
        plan(Some(&s), t0() - secs(3600), Need::Connect),
        [Step::Refresh, Step::SessionRefresh]
    );
}

#[test]
fn the_next_renewal_is_the_earlier_half_and_never_in_the_past() {
    let s = signed_in(3600, 1800);
    assert_eq!(s.next_renewal(t0()), Some((t0() + secs(1500), Renewal::Aws)));
    let s = signed_in(1800, 3600);
    assert_eq!(s.next_renewal(t0()), Some((t0() + secs(1500), Renewal::Jwt)));
    assert_eq!(
        s.next_renewal(t0() + secs(4000)),
        Some((t0() + secs(4000), Renewal::Aws)),
        "overdue: now, and the plan covers both"
    );
}

#[test]
fn a_refresh_keeps_the_aws_keys_and_their_expiry() {
    let mut s = signed_in(3600, 3600);
    let later = t0() + secs(3400);
    let f = fields(
        json!({"accessToken": "SEKRIT-access-2", "authenticationExpiresIn": 1800}),
        Endpoint::Refresh,
    );
    s.merge_refresh(f, later).unwrap();
    assert_eq!(exposed(&s.access_token), "SEKRIT-access-2");
    assert_eq!(
        (exposed(&s.refresh_token), exposed(&s.id_token)),
        ("SEKRIT-refresh-1", "SEKRIT-id-1"),
        "omitted fields carried forward"
    );
    assert_eq!((s.jwt_received_at, s.jwt_lifetime), (later, Duration::from_secs(1800)));
    assert_eq!(s.aws.as_ref().unwrap().access_key_id, "ASIAONE");
    assert_eq!(
        (s.aws_received_at, s.aws_stale_at()),
        (t0(), Some(t0() + secs(3300))),
        "AWS expiry untouched"
    );
}

#[test]
fn a_refresh_that_brings_aws_fields_renews_them_too() {
    let mut s = signed_in(3600, 3600);
    let later = t0() + secs(100);
    let f = fields(
        json!({"accessToken": "a2", "refreshToken": "r2", "accessKeyId": "ASIATWO", "authorizationExpiresIn": 900}),
        Endpoint::Refresh,
    );
    s.merge_refresh(f, later).unwrap();
    let aws = s.aws.as_ref().unwrap();
    assert_eq!(
        (aws.access_key_id.as_str(), exposed(&aws.secret_key)),
        ("ASIATWO", "SEKRIT-secret-1")
    );
    assert_eq!(
        (s.aws_received_at, s.aws_lifetime, exposed(&s.refresh_token)),
        (later, Duration::from_secs(900), "r2")
    );
}

#[test]
fn a_refresh_without_an_access_token_changes_nothing() {
    let mut s = signed_in(3600, 3600);
    let err = s
        .merge_refresh(
            TokenFields {
                refresh_token: Some("r2".into()),
                ..Default::default()
            },
            t0() + secs(5),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        RestError::Malformed {
            endpoint: Endpoint::Refresh,
            ..
        }
    ));
    assert_eq!((exposed(&s.refresh_token), s.jwt_received_at), ("SEKRIT-refresh-1", t0()));
}

#[test]
fn a_session_refresh_keeps_the_jwts_and_restarts_the_aws_expiry() {
    let mut s = signed_in(3600, 3600);
    let later = t0() + secs(3400);
    let f = fields(
        json!({"accessKeyId": "ASIATWO", "secretKey": "SEKRIT-secret-2", "sessionToken": "SEKRIT-session-2", "authorizationExpiresIn": 3600}),
        Endpoint::SessionRefresh,
    );
    s.merge_session_refresh(f, later).unwrap();
    let aws = s.aws.as_ref().unwrap();
    assert_eq!(
        (aws.access_key_id.as_str(), exposed(&aws.session_token)),
        ("ASIATWO", "SEKRIT-session-2")
    );
    assert_eq!(s.aws_stale_at(), Some(later + secs(3300)));
    assert_eq!(
        (exposed(&s.access_token), s.jwt_received_at),
        ("SEKRIT-access-1", t0()),
        "JWT untouched"
    );
}

#[test]
fn a_session_refresh_ignores_jwt_fields_and_merges_only_the_keys_present() {
    let mut s = signed_in(3600, 3600);
    let f = TokenFields {
        access_token: Some("SEKRIT-stray".into()),
        session_token: Some("SEKRIT-session-2".into()),
        ..Default::default()
    };
    s.merge_session_refresh(f, t0() + secs(10)).unwrap();
    assert_eq!(exposed(&s.access_token), "SEKRIT-access-1");
    let aws = s.aws.as_ref().unwrap();
    assert_eq!(
        (exposed(&aws.secret_key), exposed(&aws.session_token)),
        ("SEKRIT-secret-1", "SEKRIT-session-2")
    );
}

#[test]
fn a_partial_session_refresh_without_stored_keys_fails_and_changes_nothing() {
    let mut s = signed_in(3600, 3600);
    s.aws = None;
    let err = s
        .merge_session_refresh(
            TokenFields {
                access_key_id: Some("ASIA".into()),
                ..Default::default()
            },
            t0(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("secretKey"), "{err}");
    assert!(s.aws.is_none());
    assert!(
        s.merge_session_refresh(TokenFields::default(), t0()).is_err(),
        "no key at all fails"
    );
}

#[test]
fn a_secured_sign_in_merges_the_aws_keys_and_keeps_the_jwts() {
    let mut s = signed_in(3600, 3600);
    let token = json!({"accessKeyId": "ASIATHREE", "secretKey": "k3", "sessionToken": "s3", "authorizationExpiresIn": 1200});
    let later = t0() + secs(50);
    let merged = apply(
        Some(s.clone()),
        Step::SecuredSignIn,
        fields(json!({"userInfo": {}, "token": token}), Endpoint::SecuredSignIn),
        later,
    )
    .unwrap();
    assert_eq!(
        (merged.aws.as_ref().unwrap().access_key_id.as_str(), merged.aws_received_at),
        ("ASIATHREE", later)
    );
    assert_eq!((exposed(&merged.access_token), merged.jwt_received_at), ("SEKRIT-access-1", t0()));
    s.merge_secured_sign_in(
        TokenFields {
            access_token: Some("a4".into()),
            ..Default::default()
        },
        later,
    )
    .unwrap();
    assert_eq!(
        (exposed(&s.access_token), s.jwt_received_at, s.aws_received_at),
        ("a4", later, t0())
    );
}

#[test]
fn apply_replaces_the_set_on_a_password_sign_in() {
    let old = signed_in(3600, 3600);
    let f = TokenFields {
        access_token: Some("new-a".into()),
        refresh_token: Some("new-r".into()),
        ..Default::default()
    };
    let s = apply(Some(old), Step::PasswordSignIn, f, t0() + secs(9)).unwrap();
    assert!(s.aws.is_none() && exposed(&s.access_token) == "new-a" && s.jwt_received_at == t0() + secs(9));
}

#[test]
fn without_tokens_every_need_plans_a_password_sign_in() {
    for need in [Need::Connect, Need::Proactive, Need::Forced401, Need::Deep] {
        assert_eq!(plan(None, t0(), need), [Step::PasswordSignIn], "{need:?}");
    }
}

#[test]
fn fresh_tokens_are_used_as_they_are() {
    let s = signed_in(3600, 3600);
    assert!(plan(Some(&s), t0() + secs(60), Need::Connect).is_empty());
    assert!(plan(Some(&s), t0() + secs(60), Need::Proactive).is_empty());
}

#[test]
fn a_stale_jwt_with_fresh_aws_keys_plans_a_refresh() {
    let s = signed_in(1200, 3600);
    assert_eq!(plan(Some(&s), t0() + secs(1000), Need::Connect), [Step::Refresh]);
    assert_eq!(plan(Some(&s), t0() + secs(1000), Need::Proactive), [Step::Refresh]);
}

#[test]
fn stale_aws_keys_with_a_fresh_jwt_plan_a_session_refresh() {
    let s = signed_in(3600, 1200);
    assert_eq!(plan(Some(&s), t0() + secs(1000), Need::Proactive), [Step::SessionRefresh]);
}

#[test]
fn both_stale_plan_a_refresh_before_the_session_refresh() {
    let s = signed_in(3600, 3600);
    assert_eq!(
        plan(Some(&s), t0() + secs(3500), Need::Connect),
        [Step::Refresh, Step::SessionRefresh]
    );
}

#[test]
fn a_401_plans_one_forced_refresh_even_with_fresh_tokens() {
    let s = signed_in(3600, 3600);
    assert_eq!(plan(Some(&s), t0(), Need::Forced401), [Step::Refresh]);
}

#[test]
fn a_deep_reconnect_forces_a_refresh_and_a_session_refresh() {
    let s = signed_in(3600, 3600);
    assert_eq!(plan(Some(&s), t0(), Need::Deep), [Step::Refresh, Step::SessionRefresh]);
}

#[test]
fn a_failed_refresh_falls_back_to_the_password() {
    let s = signed_in(3600, 3600);
    for need in [Need::Connect, Need::Proactive] {
        assert_eq!(
            fallback(need, Step::Refresh, &rejected(Step::Refresh), Some(&s), t0()),
            Some(Step::PasswordSignIn)
        );
    }
    assert_eq!(
        fallback(Need::Connect, Step::PasswordSignIn, &rejected(Step::PasswordSignIn), Some(&s), t0()),
        None,
        "the chain ends"
    );
}

#[test]
fn a_failed_session_refresh_falls_back_to_secured_sign_in_then_the_password() {
    let s = signed_in(3600, 3600);
    let malformed = RestError::Malformed {
        endpoint: Endpoint::SessionRefresh,
        detail: "no keys".into(),
    };
    assert_eq!(
        fallback(Need::Connect, Step::SessionRefresh, &malformed, Some(&s), t0()),
        Some(Step::SecuredSignIn)
    );
    let err = rejected(Step::SecuredSignIn);
    assert_eq!(
        fallback(Need::Connect, Step::SecuredSignIn, &err, Some(&s), t0()),
        Some(Step::PasswordSignIn)
    );
}

#[test]
fn secured_sign_in_is_skipped_once_the_access_token_has_expired() {
    let s = signed_in(3600, 3600);
    let err = rejected(Step::SessionRefresh);
    assert_eq!(
        fallback(Need::Connect, Step::SessionRefresh, &err, Some(&s), t0() + secs(3500)),
        Some(Step::SecuredSignIn),
        "stale but live"
    );
    assert_eq!(
        fallback(Need::Connect, Step::SessionRefresh, &err, Some(&s), t0() + secs(3600)),
        Some(Step::PasswordSignIn)
    );
}

#[test]
fn a_deep_reconnect_whose_refresh_fails_tries_secured_sign_in_while_the_token_lives() {
    let s = signed_in(3600, 3600);
    let err = rejected(Step::Refresh);
    assert_eq!(fallback(Need::Deep, Step::Refresh, &err, Some(&s), t0()), Some(Step::SecuredSignIn));
    assert_eq!(
        fallback(Need::Deep, Step::SessionRefresh, &err, Some(&s), t0()),
        Some(Step::SecuredSignIn)
    );
    assert_eq!(
        fallback(Need::Deep, Step::Refresh, &err, Some(&s), t0() + secs(4000)),
        Some(Step::PasswordSignIn)
    );
}

#[test]
fn a_failed_forced_refresh_after_a_401_reports_the_original_401() {
    let s = signed_in(3600, 3600);
    assert_eq!(
        fallback(Need::Forced401, Step::Refresh, &rejected(Step::Refresh), Some(&s), t0()),
        None
    );
}

#[test]
fn bad_credentials_are_fatal() {
    let err = RestError::BadCredentials {
        endpoint: Endpoint::SignIn,
        msg: "Invalid credentials".into(),
    };
    for step in [Step::Refresh, Step::SessionRefresh, Step::SecuredSignIn, Step::PasswordSignIn] {
        assert_eq!(fallback(Need::Connect, step, &err, None, t0()), None);
    }
}

#[test]
fn a_network_failure_is_retried_later_rather_than_escalated() {
    let s = signed_in(3600, 3600);
    let down = RestError::Network {
        endpoint: Endpoint::Refresh,
        detail: "unreachable".into(),
    };
    assert_eq!(fallback(Need::Connect, Step::Refresh, &down, Some(&s), t0()), None);
    let slow = RestError::Timeout {
        endpoint: Endpoint::SessionRefresh,
    };
    assert_eq!(fallback(Need::Deep, Step::SessionRefresh, &slow, Some(&s), t0()), None);
    let server = RestError::Server {
        endpoint: Endpoint::Refresh,
        code: 500,
        msg: String::new(),
    };
    // An outage or a rate limit (5xx, 429) is waited out: answering it with the password would
    // POST it again and again while the cloud is down (review finding 6).
    assert_eq!(fallback(Need::Connect, Step::Refresh, &server, Some(&s), t0()), None);
    assert_eq!(fallback(Need::Deep, Step::SessionRefresh, &server, Some(&s), t0()), None);
}

#[test]
fn a_token_set_survives_the_keychain_round_trip() {
    let s = signed_in(3600, 1800);
    let back = TokenSet::from_keychain_json(&s.to_keychain_json(ISSUER), ISSUER).unwrap();
    assert_eq!(
        (exposed(&back.id_token), exposed(&back.access_token), exposed(&back.refresh_token)),
        ("SEKRIT-id-1", "SEKRIT-access-1", "SEKRIT-refresh-1")
    );
    let aws = back.aws.as_ref().unwrap();
    assert_eq!(
        (aws.access_key_id.as_str(), exposed(&aws.secret_key), exposed(&aws.session_token)),
        ("ASIAONE", "SEKRIT-secret-1", "SEKRIT-session-1")
    );
    assert_eq!(
        (back.jwt_received_at, back.jwt_lifetime, back.aws_received_at, back.aws_lifetime),
        (t0(), s.jwt_lifetime, t0(), s.aws_lifetime)
    );
    let mut no_aws = s.clone();
    no_aws.aws = None;
    assert!(TokenSet::from_keychain_json(&no_aws.to_keychain_json(ISSUER), ISSUER)
        .unwrap()
        .aws
        .is_none());
}

const ISSUER: &str = "https://nlus.naviensmartcontrol.com/api/v2.1 owner@example.com";

/// Review finding 9b: a profile edited to another cloud (or account) must not send the tokens
/// of the first to the second: they are stored with where they came from, and read back only
/// for the same.
#[test]
fn stored_tokens_are_read_back_only_for_the_cloud_and_account_that_issued_them() {
    let blob = signed_in(3600, 1800).to_keychain_json(ISSUER);
    assert!(TokenSet::from_keychain_json(&blob, ISSUER).is_ok());
    for other in [
        "https://127.0.0.1:9443/api/v2.1 owner@example.com",
        "https://nlus.naviensmartcontrol.com/api/v2.1 someone@example.com",
    ] {
        let err = TokenSet::from_keychain_json(&blob, other).unwrap_err();
        assert!(err.to_string().contains("another cloud or account"), "{err}");
    }
}

#[test]
fn a_stored_blob_that_does_not_parse_is_an_error_that_says_so_without_quoting_it() {
    for blob in [
        "",
        "not json",
        r#"{"v":1,"idToken":"SEKRIT-x","accessToken":5}"#,
        r#"{"v":1,"idToken":{"SEKRIT":1}}"#,
    ] {
        let err = TokenSet::from_keychain_json(&SecretString::from(blob), ISSUER).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("cannot be read") && !shown.contains("SEKRIT"), "{shown}");
    }
    let mut future: serde_json::Value = serde_json::from_str(signed_in(60, 60).to_keychain_json(ISSUER).expose_secret()).unwrap();
    future["v"] = json!(9);
    let err = TokenSet::from_keychain_json(&SecretString::from(future.to_string()), ISSUER).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");
}

#[test]
fn debug_of_a_token_set_its_keychain_blob_and_merge_errors_never_shows_a_token() {
    let s = signed_in(3600, 3600);
    let mut partial = s.clone();
    partial.aws = None;
    let err = partial
        .merge_session_refresh(
            TokenFields {
                session_token: Some("SEKRIT-s".into()),
                ..Default::default()
            },
            t0(),
        )
        .unwrap_err();
    let shown = format!("{s:?} {:?} {:?} {err} {err:?}", s.aws, s.to_keychain_json(ISSUER));
    assert!(!shown.contains("SEKRIT"), "{shown}");
}
