//! Tests of the SigV4 presigner and verifier against the reference vectors of §3.4.

use super::*;
use chrono::TimeZone;

const AKID: &str = "ASIAEXAMPLEEXAMPLE01";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE+/token==";
const ENCODED_TOKEN: &str = "X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2Ftoken%3D%3D";
const AWS_HOST: &str = "a1t30mldyslmuq-ats.iot.us-east-1.amazonaws.com";

fn creds() -> AwsCredentials {
    AwsCredentials {
        access_key_id: AKID.into(),
        secret_key: SecretString::from(SECRET),
        session_token: SecretString::from(TOKEN),
    }
}

/// 2026-01-15T12:00:00Z, the date of every vector.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).single().expect("a valid date")
}

fn presign(host: &str, signed_headers: SignedHeaders, expires: Option<u32>) -> Presign<'_> {
    Presign {
        host,
        path: "/mqtt",
        region: REGION,
        service: SERVICE,
        signed_headers,
        expires,
    }
}

/// The four vectors: presign, host, expected signature.
fn vectors() -> [(Presign<'static>, &'static str); 4] {
    [
        (
            presign(AWS_HOST, SignedHeaders::Host, None),
            "8ae0be1bfbadea86bc87d65cf6e4990687bf820e4ca2cbd64bd04fed035e045d",
        ),
        (
            presign(AWS_HOST, SignedHeaders::Host, Some(86400)),
            "b77e4e930863ce9036f6b9cbe40a09bc0da43801dadbbb3b590cfba1727958d6",
        ),
        (
            presign(AWS_HOST, SignedHeaders::ConnectionHost, None),
            "15c31e136f5e3c20d1b2a4c8f07875ffb3c75f55bc928929009846a06920f7e0",
        ),
        (
            presign("127.0.0.1", SignedHeaders::Host, None),
            "a917aac12602abdb4fe9d8e05e86b903b0298a67f5e1f997f843815b47a08daf",
        ),
    ]
}

fn issued(expires_at: DateTime<Utc>) -> IssuedKey {
    IssuedKey {
        secret_key: SecretString::from(SECRET),
        session_token: SecretString::from(TOKEN),
        expires_at,
    }
}

/// A key store that knows only AKID, valid for another hour after `at()`.
fn known(id: &str) -> Option<IssuedKey> {
    (id == AKID).then(|| issued(at() + TimeDelta::hours(1)))
}

/// Runs the verifier with the request headers of an upgrade to `host`, found case-insensitively.
fn verify_with(query: &str, host: &str, now: DateTime<Utc>, keys: &dyn Fn(&str) -> Option<IssuedKey>) -> Result<VerifiedKey, VerifyError> {
    let request_headers = [
        ("Host", host.to_string()),
        ("Upgrade", "websocket".into()),
        ("Connection", "Upgrade".into()),
    ];
    let header = move |name: &str| {
        request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    verify(query, "/mqtt", &header, now, keys)
}

fn vector_query(n: usize) -> (String, &'static str) {
    let (p, _) = vectors()[n];
    (presign_query(&creds(), &p, at()), p.host)
}

fn assert_vector(n: usize) {
    let (p, signature) = vectors()[n];
    let query = presign_query(&creds(), &p, at());
    assert!(query.contains(ENCODED_TOKEN), "{query}");
    assert!(query.ends_with(&format!("&X-Amz-Signature={signature}")), "{query}");
}

#[test]
fn reproduces_vector_1_host_only() {
    assert_vector(0);
}

#[test]
fn reproduces_vector_2_with_expires() {
    assert_vector(1);
    assert!(vector_query(1).0.contains("&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&"));
}

#[test]
fn reproduces_vector_3_connection_and_host() {
    assert_vector(2);
    assert!(vector_query(2).0.contains("&X-Amz-SignedHeaders=connection%3Bhost&"));
}

#[test]
fn reproduces_vector_4_loopback_host() {
    assert_vector(3);
}

#[test]
fn the_query_is_in_the_reference_client_order() {
    assert_eq!(
        vector_query(0).0,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=ASIAEXAMPLEEXAMPLE01%2F20260115%2Fus-east-1%2Fiotdevicegateway%2Faws4_request\
         &X-Amz-Date=20260115T120000Z&X-Amz-SignedHeaders=host\
         &X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2Ftoken%3D%3D\
         &X-Amz-Signature=8ae0be1bfbadea86bc87d65cf6e4990687bf820e4ca2cbd64bd04fed035e045d"
    );
}

#[test]
fn the_signing_key_matches_the_reference_intermediate() {
    let k = signing_key(&SecretString::from(SECRET), "20260115", REGION, SERVICE);
    assert_eq!(hex(&k), "9625c99053014efcae29b9628366b2b8ce1655168bb91921b9d37d44d8797037");
}

fn vector_canonical_request(headers: &[(&str, &str)], list: &str) -> String {
    let credential = format!("{AKID}/20260115/us-east-1/iotdevicegateway/aws4_request");
    let params = [
        (P_ALGORITHM, ALGORITHM),
        (P_CREDENTIAL, credential.as_str()),
        (P_DATE, "20260115T120000Z"),
        (P_SIGNED_HEADERS, list),
    ];
    canonical_request("/mqtt", &canonical_query(&params), headers)
}

#[test]
fn the_canonical_request_of_vector_1_is_exactly_the_spec_text() {
    let expected = "GET\n/mqtt\n\
        X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLEEXAMPLE01%2F20260115%2Fus-east-1%2Fiotdevicegateway%2Faws4_request\
        &X-Amz-Date=20260115T120000Z&X-Amz-SignedHeaders=host\n\
        host:a1t30mldyslmuq-ats.iot.us-east-1.amazonaws.com\n\
        \n\
        host\n\
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(vector_canonical_request(&[("host", AWS_HOST)], "host"), expected);
}

#[test]
fn the_canonical_request_hashes_match_vectors_1_and_3() {
    let sha = |s: String| hex(digest::digest(&digest::SHA256, s.as_bytes()).as_ref());
    assert_eq!(
        sha(vector_canonical_request(&[("host", AWS_HOST)], "host")),
        "e38a9be779ddf86758618a32dea34e9add73ded030cd09452195509614e1ceab"
    );
    assert_eq!(
        sha(vector_canonical_request(
            &[("connection", "Upgrade"), ("host", AWS_HOST)],
            "connection;host"
        )),
        "02a0c5cd749b8ac1fb230efbed3609f2ec7d5d3403a07a16b5e90e9e6d4fcd73"
    );
}

#[test]
fn header_values_are_trimmed_and_space_runs_collapsed() {
    let r = canonical_request("/mqtt", "", &[("host", "  a   b  ")]);
    assert!(r.contains("\nhost:a b\n"), "{r}");
}

#[test]
fn encoding_escapes_slash_semicolon_plus_equals_space_and_keeps_tilde() {
    assert_eq!(encode("/;+= ~"), "%2F%3B%2B%3D%20~");
    assert_eq!(encode("AZaz09-_.~"), "AZaz09-_.~");
    assert_eq!(encode("é"), "%C3%A9");
}

#[test]
fn decoding_undoes_encoding_and_reads_plus_as_a_space() {
    assert_eq!(decode("%2F%3b+~%C3%A9%2B").as_deref(), Ok("/; ~é+"));
    for bad in ["%", "%4", "%G1", "a%zz", "%FF"] {
        assert_eq!(decode(bad), Err(VerifyError::BadEscape), "{bad}");
    }
}

#[test]
fn the_verifier_accepts_every_reference_vector() {
    for n in 0..4 {
        let (query, host) = vector_query(n);
        let ok = verify_with(&query, host, at(), &known).unwrap_or_else(|e| panic!("vector {}: {e}", n + 1));
        assert_eq!(
            ok,
            VerifiedKey {
                access_key_id: AKID.into(),
                signed_at: at()
            }
        );
    }
}

#[test]
fn the_verifier_accepts_parameters_in_any_order() {
    for n in 0..4 {
        let (query, host) = vector_query(n);
        let mut parts: Vec<&str> = query.split('&').collect();
        parts.reverse();
        parts.swap(0, 2);
        assert_eq!(
            verify_with(&parts.join("&"), host, at(), &known).map(|k| k.access_key_id),
            Ok(AKID.into()),
            "vector {}",
            n + 1
        );
    }
}

#[test]
fn the_verifier_accepts_a_host_with_a_port_when_that_was_signed() {
    let query = presign_query(&creds(), &presign("127.0.0.1:18443", SignedHeaders::Host, None), at());
    assert!(verify_with(&query, "127.0.0.1:18443", at(), &known).is_ok());
    // The same presign against a Host without the port is a different canonical request.
    assert_eq!(
        verify_with(&query, "127.0.0.1", at(), &known),
        Err(VerifyError::BadSignature(AKID.into()))
    );
}

#[test]
fn a_presign_round_trips_through_the_verifier_for_the_loopback_emulator() {
    let now = Utc::now();
    let keys = |id: &str| (id == AKID).then(|| issued(now + TimeDelta::hours(1)));
    for signed_headers in [SignedHeaders::Host, SignedHeaders::ConnectionHost] {
        let query = presign_query(&creds(), &presign("127.0.0.1:18443", signed_headers, Some(86400)), now);
        let got = verify_with(&query, "127.0.0.1:18443", now + TimeDelta::seconds(5), &keys);
        assert_eq!(got.map(|k| k.access_key_id), Ok(AKID.into()), "{signed_headers:?}");
    }
}

#[test]
fn rejects_a_tampered_signature() {
    let (query, host) = vector_query(0);
    let tampered = query.replace("X-Amz-Signature=8ae0", "X-Amz-Signature=8ae1");
    assert_eq!(
        verify_with(&tampered, host, at(), &known),
        Err(VerifyError::BadSignature(AKID.into()))
    );
    let short = query.replace("X-Amz-Signature=8ae0", "X-Amz-Signature=8ae");
    assert_eq!(verify_with(&short, host, at(), &known), Err(VerifyError::MalformedSignature));
}

#[test]
fn rejects_a_host_other_than_the_signed_one() {
    let (query, _) = vector_query(0);
    assert_eq!(
        verify_with(&query, "evil.example.com", at(), &known),
        Err(VerifyError::BadSignature(AKID.into()))
    );
}

#[test]
fn rejects_a_signed_connection_header_the_request_lacks() {
    let (query, host) = vector_query(2);
    let header = |name: &str| (name == "host").then(|| host.to_string());
    assert_eq!(
        verify(&query, "/mqtt", &header, at(), &known),
        Err(VerifyError::MissingHeader("connection".into()))
    );
}

#[test]
fn rejects_a_wrong_token() {
    let (query, host) = vector_query(0);
    let wrong = query.replace(ENCODED_TOKEN, "X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2Ftoken%3D");
    assert_eq!(verify_with(&wrong, host, at(), &known), Err(VerifyError::WrongToken(AKID.into())));
}

#[test]
fn rejects_a_token_sent_without_percent_encoding() {
    // A client that forgets to encode the token sends its `+` raw; AWS reads that as a space, so
    // the token no longer matches. The emulator must catch this client bug too.
    let (query, host) = vector_query(0);
    let raw = query.replace(ENCODED_TOKEN, "X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE+/token==");
    assert!(verify_with(&raw, host, at(), &known).is_err(), "{raw}");
}

#[test]
fn rejects_a_missing_token() {
    let (query, host) = vector_query(0);
    let without = query.replace(&format!("{ENCODED_TOKEN}&"), "");
    let err = verify_with(&without, host, at(), &known).unwrap_err();
    assert_eq!(err, VerifyError::MissingParameter("X-Amz-Security-Token"));
    assert_eq!(err.to_string(), "the presigned query has no X-Amz-Security-Token parameter");
}

#[test]
fn rejects_a_repeated_parameter() {
    let (query, host) = vector_query(0);
    let twice = format!("{query}&X-Amz-Date=20260115T120000Z");
    assert_eq!(
        verify_with(&twice, host, at(), &known),
        Err(VerifyError::DuplicateParameter("X-Amz-Date"))
    );
}

#[test]
fn rejects_an_unknown_key() {
    let (query, host) = vector_query(0);
    assert_eq!(
        verify_with(&query, host, at(), &|_| None),
        Err(VerifyError::UnknownKey(AKID.into()))
    );
}

#[test]
fn rejects_an_expired_key() {
    let (query, host) = vector_query(0);
    let expired_at = at() - TimeDelta::seconds(1);
    let keys = |_: &str| Some(issued(expired_at));
    assert_eq!(
        verify_with(&query, host, at(), &keys),
        Err(VerifyError::ExpiredKey {
            access_key_id: AKID.into(),
            expired_at
        })
    );
}

#[test]
fn rejects_a_date_16_minutes_off_either_way_and_accepts_15() {
    let (query, host) = vector_query(0);
    let keys = |_: &str| Some(issued(at() + TimeDelta::hours(2)));
    for minutes in [-16, 16] {
        let now = at() + TimeDelta::minutes(minutes);
        assert_eq!(
            verify_with(&query, host, now, &keys),
            Err(VerifyError::StaleDate {
                date: "20260115T120000Z".into(),
                skew_seconds: minutes * 60
            }),
            "{minutes} min"
        );
    }
    for minutes in [-15, 15] {
        assert!(
            verify_with(&query, host, at() + TimeDelta::minutes(minutes), &keys).is_ok(),
            "{minutes} min"
        );
    }
}

#[test]
fn rejects_a_malformed_date() {
    let (query, host) = vector_query(0);
    let bad = query.replace("X-Amz-Date=20260115T120000Z", "X-Amz-Date=20260115T1200Z");
    assert_eq!(
        verify_with(&bad, host, at(), &known),
        Err(VerifyError::BadDate("20260115T1200Z".into()))
    );
}

#[test]
fn rejects_a_presign_past_its_expires() {
    let query = presign_query(&creds(), &presign(AWS_HOST, SignedHeaders::Host, Some(60)), at());
    assert!(verify_with(&query, AWS_HOST, at() + TimeDelta::seconds(60), &known).is_ok());
    assert_eq!(
        verify_with(&query, AWS_HOST, at() + TimeDelta::seconds(61), &known),
        Err(VerifyError::ExpiredPresign(at() + TimeDelta::seconds(60)))
    );
}

#[test]
fn rejects_a_wrong_region_or_service_in_the_scope() {
    for (region, service, scope) in [
        ("eu-west-1", SERVICE, "20260115/eu-west-1/iotdevicegateway/aws4_request"),
        (REGION, "iotdata", "20260115/us-east-1/iotdata/aws4_request"),
    ] {
        let p = Presign {
            region,
            service,
            ..presign(AWS_HOST, SignedHeaders::Host, None)
        };
        let query = presign_query(&creds(), &p, at());
        assert_eq!(
            verify_with(&query, AWS_HOST, at(), &known),
            Err(VerifyError::WrongScope(scope.into()))
        );
    }
}

#[test]
fn rejects_a_malformed_percent_escape() {
    let (query, host) = vector_query(0);
    let bad = query.replace("token%3D%3D", "token%3D%G3");
    assert_eq!(verify_with(&bad, host, at(), &known), Err(VerifyError::BadEscape));
}

#[test]
fn debug_and_error_text_never_show_the_secret_or_token() {
    let shown = format!("{:?} {:?}", creds(), issued(at()));
    let (query, host) = vector_query(0);
    let mut errors = vec![
        verify_with(&query.replace("=8ae0", "=8ae1"), host, at(), &known),
        verify_with(&query.replace("token%3D%3D", "token"), host, at(), &known),
        verify_with(&query, host, at(), &|_| Some(issued(at()))),
        verify_with(&query, "other", at(), &known),
    ];
    errors.push(verify_with(&query, host, at() + TimeDelta::hours(1), &known));
    let mut text = shown.clone();
    for e in errors {
        let e = e.expect_err("each case fails");
        text.push_str(&format!("{e} {e:?} "));
    }
    assert!(shown.contains(AKID));
    for secret in [SECRET, TOKEN, "IQoJb3JpZ2luX2VjEXAMPLE", "wJalrXUtnFEMI", "8ae0be1b"] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
}
