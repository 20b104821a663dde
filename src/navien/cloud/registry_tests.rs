//! Tests of the registry: issuing, lifetimes, rotation, revocation and the test switches, all
//! with explicit times.

use super::*;
use crate::navien::cloud::accounts::{DEMO_EMAIL, DEMO_PASSWORD};
use chrono::{TimeDelta, TimeZone};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn signed_in(r: &Registry) -> SignedIn {
    r.sign_in(DEMO_EMAIL, DEMO_PASSWORD, t0()).unwrap()
}

#[test]
fn sign_in_issues_distinct_well_formed_credentials() {
    let r = Registry::demo();
    let a = signed_in(&r);
    let b = signed_in(&r);
    assert_eq!(a.jwt.expires_in, 3600);
    assert_eq!(a.aws.expires_in, 3600);
    assert!(a.jwt.access_token.expose_secret().starts_with("eyJ"));
    assert!(a.jwt.id_token.expose_secret().starts_with("eyJ"));
    assert!(a.jwt.refresh_token.expose_secret().starts_with("eyJ"));
    let akid = &a.aws.access_key_id;
    assert!(akid.starts_with("ASIA") && akid.len() == 20, "{akid}");
    assert!(akid.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{akid}");
    assert_eq!(a.aws.secret_key.expose_secret().len(), 40);
    let st = a.aws.session_token.expose_secret();
    assert!(st.len() > 300 && st.contains('+') && st.contains('/') && st.ends_with('='));
    assert_ne!(a.jwt.access_token.expose_secret(), b.jwt.access_token.expose_secret());
    assert_ne!(a.jwt.access_token.expose_secret(), a.jwt.refresh_token.expose_secret());
    assert_ne!(a.aws.access_key_id, b.aws.access_key_id);
    assert_eq!(a.user.first_name, "Demo");
    assert_eq!(r.password_sign_ins(), 2);
    assert_eq!(r.rejected_password_sign_ins(), 0);
    // Both sign-ins' tokens are live: a sign-in does not end earlier sessions.
    assert_eq!(
        r.account_for_access_token(a.jwt.access_token.expose_secret(), t0()).as_deref(),
        Some(DEMO_EMAIL)
    );
    assert_eq!(
        r.account_for_access_token(b.jwt.access_token.expose_secret(), t0()).as_deref(),
        Some(DEMO_EMAIL)
    );
}

#[test]
fn sign_in_refuses_a_wrong_password_or_an_unknown_email_and_counts_both() {
    let r = Registry::demo();
    assert_eq!(r.sign_in(DEMO_EMAIL, "wrong", t0()).unwrap_err(), Denied::BadCredentials);
    assert_eq!(
        r.sign_in("nobody@example.com", DEMO_PASSWORD, t0()).unwrap_err(),
        Denied::BadCredentials
    );
    assert_eq!(r.password_sign_ins(), 2);
    assert_eq!(r.rejected_password_sign_ins(), 2);
    // The e-mail is matched without case.
    assert!(r.sign_in("Demo@Tether.Invalid", DEMO_PASSWORD, t0()).is_ok());
}

#[test]
fn an_access_token_lives_its_lifetime_and_no_longer() {
    let r = Registry::demo();
    r.set_lifetimes(Duration::from_secs(600), Duration::from_secs(900));
    assert_eq!(r.lifetimes(), (Duration::from_secs(600), Duration::from_secs(900)));
    let s = signed_in(&r);
    assert_eq!(s.jwt.expires_in, 600);
    assert_eq!(s.aws.expires_in, 900);
    let at = s.jwt.access_token.expose_secret();
    assert!(r.account_for_access_token(at, t0() + secs(599)).is_some());
    assert!(r.account_for_access_token(at, t0() + secs(600)).is_none());
    assert!(r.account_for_access_token("eyJnope", t0()).is_none());
}

#[test]
fn lifetimes_are_at_least_a_second() {
    let r = Registry::demo();
    r.set_lifetimes(Duration::ZERO, Duration::from_millis(1500));
    assert_eq!(r.lifetimes(), (Duration::from_secs(1), Duration::from_secs(1)));
}

#[test]
fn refresh_issues_a_new_access_token_and_rotates_the_refresh_token() {
    let r = Registry::demo();
    let s = signed_in(&r);
    let rt = s.jwt.refresh_token.expose_secret();
    let later = t0() + secs(100);
    let j = r.refresh(rt, later).unwrap();
    assert_ne!(j.access_token.expose_secret(), s.jwt.access_token.expose_secret());
    assert_ne!(j.refresh_token.expose_secret(), rt);
    assert_eq!(j.expires_in, 3600);
    // The new access token counts from the refresh.
    let new_at = j.access_token.expose_secret();
    assert!(r.account_for_access_token(new_at, later + secs(3599)).is_some());
    assert!(r.account_for_access_token(new_at, later + secs(3600)).is_none());
    // The old refresh token is spent; the new one works, once.
    assert_eq!(r.refresh(rt, later).unwrap_err(), Denied::TokenRejected);
    let j2 = r.refresh(j.refresh_token.expose_secret(), later).unwrap();
    assert_eq!(
        r.refresh(j.refresh_token.expose_secret(), later).unwrap_err(),
        Denied::TokenRejected
    );
    assert!(r.refresh(j2.refresh_token.expose_secret(), later).is_ok());
    // The old access token and the AWS key stay valid until their own expiry.
    assert!(r.account_for_access_token(s.jwt.access_token.expose_secret(), later).is_some());
    assert!(r.aws_key(&s.aws.access_key_id, later).is_some());
    // An access token is not a refresh token.
    assert_eq!(r.refresh(new_at, later).unwrap_err(), Denied::TokenRejected);
}

#[test]
fn a_refresh_token_expires_after_its_own_lifetime() {
    let r = Registry::demo();
    let s = signed_in(&r);
    let end = t0() + TimeDelta::from_std(REFRESH_LIFETIME).unwrap();
    assert_eq!(
        r.refresh(s.jwt.refresh_token.expose_secret(), end).unwrap_err(),
        Denied::TokenRejected
    );
}

#[test]
fn session_refresh_issues_a_new_aws_key_with_a_fresh_expiry() {
    let r = Registry::demo();
    let s = signed_in(&r);
    let at = s.jwt.access_token.expose_secret();
    let later = t0() + secs(1000);
    let aws = r.session_refresh(at, DEMO_EMAIL, later).unwrap();
    assert_ne!(aws.access_key_id, s.aws.access_key_id);
    assert_eq!(aws.expires_in, 3600);
    let key = r.aws_key(&aws.access_key_id, later).unwrap();
    assert_eq!(key.expires_at, later + secs(3600));
    assert_eq!(key.secret_key.expose_secret(), aws.secret_key.expose_secret());
    assert_eq!(key.session_token.expose_secret(), aws.session_token.expose_secret());
    // The first key still ends at its own expiry.
    assert_eq!(r.aws_key(&s.aws.access_key_id, later).unwrap().expires_at, t0() + secs(3600));
    assert_eq!(r.aws_key_owner(&aws.access_key_id, later).as_deref(), Some(DEMO_EMAIL));
}

#[test]
fn session_refresh_rejects_an_expired_or_unknown_token_and_another_users_id() {
    let r = Registry::demo();
    let s = signed_in(&r);
    let at = s.jwt.access_token.expose_secret();
    assert_eq!(
        r.session_refresh(at, DEMO_EMAIL, t0() + secs(3600)).unwrap_err(),
        Denied::TokenRejected
    );
    assert_eq!(
        r.session_refresh("eyJunknown", DEMO_EMAIL, t0()).unwrap_err(),
        Denied::TokenRejected
    );
    assert_eq!(r.session_refresh(at, "someone@example.com", t0()).unwrap_err(), Denied::WrongUser);
    assert!(r.session_refresh(at, "DEMO@tether.invalid", t0()).is_ok());
}

#[test]
fn secured_sign_in_gives_user_info_and_new_aws_keys() {
    let r = Registry::demo();
    let s = signed_in(&r);
    let at = s.jwt.access_token.expose_secret();
    let got = r.secured_sign_in(at, DEMO_EMAIL, t0()).unwrap();
    assert_eq!(got.user, s.user);
    assert!(r.aws_key(&got.aws.access_key_id, t0()).is_some());
    assert_eq!(r.secured_sign_in("eyJx", DEMO_EMAIL, t0()).unwrap_err(), Denied::TokenRejected);
    // Not a password sign-in.
    assert_eq!(r.password_sign_ins(), 1);
}

#[test]
fn aws_key_returns_the_issued_key_until_its_expiry_then_none() {
    let r = Registry::demo();
    r.set_lifetimes(Duration::from_secs(3600), Duration::from_secs(120));
    let s = signed_in(&r);
    let key = r.aws_key(&s.aws.access_key_id, t0() + secs(119)).unwrap();
    assert_eq!(key.expires_at, t0() + secs(120));
    assert_eq!(key.secret_key.expose_secret(), s.aws.secret_key.expose_secret());
    assert_eq!(key.session_token.expose_secret(), s.aws.session_token.expose_secret());
    assert!(r.aws_key(&s.aws.access_key_id, t0() + secs(120)).is_none());
    assert!(r.aws_key_owner(&s.aws.access_key_id, t0() + secs(120)).is_none());
    assert!(r.aws_key("ASIAUNKNOWN0000000000", t0()).is_none());
}

#[test]
fn expire_all_revokes_every_token_and_key_but_not_the_password() {
    let r = Registry::demo();
    let s = signed_in(&r);
    r.expire_all();
    let at = s.jwt.access_token.expose_secret();
    assert!(r.account_for_access_token(at, t0()).is_none());
    assert_eq!(
        r.refresh(s.jwt.refresh_token.expose_secret(), t0()).unwrap_err(),
        Denied::TokenRejected
    );
    assert_eq!(r.session_refresh(at, DEMO_EMAIL, t0()).unwrap_err(), Denied::TokenRejected);
    assert_eq!(r.secured_sign_in(at, DEMO_EMAIL, t0()).unwrap_err(), Denied::TokenRejected);
    assert!(r.aws_key(&s.aws.access_key_id, t0()).is_none());
    let again = signed_in(&r);
    assert!(r.account_for_access_token(again.jwt.access_token.expose_secret(), t0()).is_some());
}

#[test]
fn set_password_changes_what_sign_in_accepts_and_keeps_tokens() {
    let r = Registry::demo();
    let s = signed_in(&r);
    assert!(r.set_password(DEMO_EMAIL, SecretString::from("new-password")));
    assert_eq!(r.sign_in(DEMO_EMAIL, DEMO_PASSWORD, t0()).unwrap_err(), Denied::BadCredentials);
    assert!(r.sign_in(DEMO_EMAIL, "new-password", t0()).is_ok());
    assert!(r.account_for_access_token(s.jwt.access_token.expose_secret(), t0()).is_some());
    assert!(!r.set_password("nobody@example.com", SecretString::from("x")));
}

#[test]
fn refuse_switches_turn_each_step_away_until_switched_off() {
    let r = Registry::demo();
    let s = signed_in(&r);
    let at = s.jwt.access_token.expose_secret();
    let rt = s.jwt.refresh_token.expose_secret();
    r.refuse(Step::Refresh, true);
    assert_eq!(r.refresh(rt, t0()).unwrap_err(), Denied::Refused);
    assert!(r.session_refresh(at, DEMO_EMAIL, t0()).is_ok());
    r.refuse(Step::SessionRefresh, true);
    assert_eq!(r.session_refresh(at, DEMO_EMAIL, t0()).unwrap_err(), Denied::Refused);
    assert!(r.secured_sign_in(at, DEMO_EMAIL, t0()).is_ok());
    r.refuse(Step::SecuredSignIn, true);
    assert_eq!(r.secured_sign_in(at, DEMO_EMAIL, t0()).unwrap_err(), Denied::Refused);
    // A password sign-in still works, and the token itself is still fine.
    assert!(signed_in(&r).jwt.expires_in > 0);
    assert!(r.account_for_access_token(at, t0()).is_some());
    r.refuse(Step::Refresh, false);
    r.refuse(Step::SessionRefresh, false);
    r.refuse(Step::SecuredSignIn, false);
    // A refused refresh did not spend the refresh token.
    assert!(r.refresh(rt, t0()).is_ok());
    assert!(r.session_refresh(at, DEMO_EMAIL, t0()).is_ok());
    assert!(r.secured_sign_in(at, DEMO_EMAIL, t0()).is_ok());
}

#[test]
fn an_outage_lasts_until_its_end() {
    let r = Registry::demo();
    assert!(!r.in_outage(t0()));
    r.outage(t0() + secs(30));
    assert!(r.in_outage(t0()));
    assert!(r.in_outage(t0() + secs(29)));
    assert!(!r.in_outage(t0() + secs(30)));
    r.outage(t0() + secs(60));
    r.outage(t0() - secs(1));
    assert!(!r.in_outage(t0()));
}

#[test]
fn calls_are_counted_per_endpoint_across_clones() {
    let r = Registry::demo();
    let c = r.clone();
    c.record_call(Endpoint::SignIn);
    c.record_call(Endpoint::SignIn);
    r.record_call(Endpoint::DeviceList);
    assert_eq!(r.calls(Endpoint::SignIn), 2);
    assert_eq!(r.calls(Endpoint::DeviceList), 1);
    assert_eq!(r.calls(Endpoint::Refresh), 0);
}

#[test]
fn devices_and_user_info_are_found_by_email_without_case() {
    let r = Registry::demo();
    assert_eq!(r.devices("DEMO@tether.invalid").len(), 1);
    assert!(r.devices("nobody@example.com").is_empty());
    assert_eq!(r.user_info(DEMO_EMAIL).unwrap().first_name, "Demo");
    assert_eq!(r.emails(), vec![DEMO_EMAIL.to_string()]);
}

#[test]
fn expired_credentials_are_pruned_as_new_ones_are_issued() {
    let r = Registry::demo();
    for i in 0..50 {
        r.sign_in(DEMO_EMAIL, DEMO_PASSWORD, t0() + secs(i * 4000)).unwrap();
    }
    let s = r.lock();
    assert_eq!(s.access.len(), 1);
    assert_eq!(s.aws.len(), 1);
}

#[test]
fn endpoints_round_trip_through_their_paths() {
    for e in Endpoint::ALL {
        assert_eq!(Endpoint::from_path(e.path()), Some(e));
    }
    assert_eq!(Endpoint::from_path("/user/sign-in/"), None);
    assert!(!Endpoint::SignIn.needs_auth() && !Endpoint::Refresh.needs_auth());
    assert!(Endpoint::DeviceList.needs_auth() && Endpoint::SessionRefresh.needs_auth());
}
