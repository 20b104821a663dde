//! Tests of the REST API: every endpoint and error through the pure [`handle`], then the real
//! thing over TLS on loopback with a client that trusts only the emulator's CA.

use super::*;
use crate::navien::cloud::accounts::{Account, DEMO_ADDITIONAL, DEMO_EMAIL, DEMO_MAC, DEMO_PASSWORD};
use crate::navien::cloud::registry::Step;
use chrono::{TimeDelta, TimeZone};
use secrecy::SecretString;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// A POST with a JSON body at `now`.
fn call_at(r: &Registry, path: &str, auth: Option<&str>, body: Value, now: DateTime<Utc>) -> (u16, Value) {
    let reply = handle(
        r,
        &Method::POST,
        &format!("{BASE_PATH}{path}"),
        auth,
        Some("application/json"),
        body.to_string().as_bytes(),
        now,
    );
    assert_envelope(&reply.1);
    reply
}

fn call(r: &Registry, path: &str, auth: Option<&str>, body: Value) -> (u16, Value) {
    call_at(r, path, auth, body, t0())
}

fn assert_envelope(v: &Value) {
    let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    assert!(obj["code"].is_u64(), "{v}");
    assert!(obj["msg"].is_string(), "{v}");
    assert!(obj.contains_key("data"), "{v}");
    assert_eq!(obj.len(), 3, "{v}");
}

fn code(v: &Value) -> u64 {
    v["code"].as_u64().unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Signs the demo user in over `handle`; returns the reply's `data.token`.
fn sign_in(r: &Registry) -> Value {
    let (status, v) = call(r, "/user/sign-in", None, json!({"userId": DEMO_EMAIL, "password": DEMO_PASSWORD}));
    assert_eq!((status, code(&v)), (200, 200), "{v}");
    v["data"]["token"].clone()
}

fn user() -> Value {
    json!({"userId": DEMO_EMAIL})
}

const AUTH_ENDPOINTS: [&str; 5] = [
    "/auth/session/refresh",
    "/user/secured-sign-in",
    "/device/list",
    "/device/info",
    "/device/firmware/info",
];

fn device_body() -> Value {
    json!({"macAddress": DEMO_MAC, "additionalValue": DEMO_ADDITIONAL, "userId": DEMO_EMAIL})
}

#[test]
fn sign_in_returns_user_info_all_eight_token_fields_and_legal() {
    let r = Registry::demo();
    let (status, v) = call(&r, "/user/sign-in", None, json!({"userId": DEMO_EMAIL, "password": DEMO_PASSWORD}));
    assert_eq!(status, 200);
    assert_eq!(code(&v), 200);
    assert_eq!(v["msg"], "SUCCESS");
    let data = &v["data"];
    let u = &data["userInfo"];
    assert_eq!(u["userType"], "O");
    assert_eq!(u["userFirstName"], "Demo");
    assert!(u["userLastName"].is_string());
    assert_eq!(u["userStatus"], "NORMAL");
    assert!(u["userSeq"].is_u64());
    assert_eq!(data["legal"], json!([]));
    let t = &data["token"];
    for k in ["idToken", "accessToken", "refreshToken", "secretKey", "sessionToken"] {
        assert!(!s(t, k).is_empty(), "{k}");
    }
    assert!(s(t, "accessKeyId").starts_with("ASIA"));
    assert_eq!(t["authenticationExpiresIn"], 3600);
    assert_eq!(t["authorizationExpiresIn"], 3600);
    assert_eq!(t.as_object().unwrap().len(), 8);
    // The issued key is what the WSS front will find.
    let key = r.aws_key(s(t, "accessKeyId"), t0()).unwrap();
    assert_eq!(key.secret_key.expose_secret(), s(t, "secretKey"));
    assert_eq!(key.session_token.expose_secret(), s(t, "sessionToken"));
    assert_eq!(r.password_sign_ins(), 1);
    assert_eq!(r.calls(Endpoint::SignIn), 1);
}

#[test]
fn a_wrong_password_is_http_200_with_body_code_401_and_one_password_sign_in() {
    let r = Registry::demo();
    let (status, v) = call(&r, "/user/sign-in", None, json!({"userId": DEMO_EMAIL, "password": "wrong"}));
    assert_eq!(status, 200);
    assert_eq!(v, json!({"code": 401, "msg": "Invalid credentials", "data": null}));
    assert_eq!(r.password_sign_ins(), 1);
    assert_eq!(r.rejected_password_sign_ins(), 1);
    // An unknown user gets the same answer.
    let (status, v) = call(
        &r,
        "/user/sign-in",
        None,
        json!({"userId": "x@example.com", "password": DEMO_PASSWORD}),
    );
    assert_eq!((status, code(&v)), (200, 401));
}

#[test]
fn sign_in_with_a_missing_or_mistyped_field_is_a_400_and_checks_no_password() {
    let r = Registry::demo();
    for body in [
        json!({"userId": DEMO_EMAIL}),
        json!({"password": DEMO_PASSWORD}),
        json!({"userId": DEMO_EMAIL, "password": 5}),
        json!({"userId": "", "password": DEMO_PASSWORD}),
    ] {
        let (status, v) = call(&r, "/user/sign-in", None, body.clone());
        assert_eq!((status, code(&v)), (400, 400), "{body}: {v}");
    }
    assert_eq!(r.password_sign_ins(), 0);
    assert_eq!(r.calls(Endpoint::SignIn), 4);
}

#[test]
fn an_unknown_path_is_a_404_envelope() {
    let r = Registry::demo();
    for path in ["/api/v2.1/nope", "/api/v2.1/user/sign-in/", "/nope", "/", "/api/v2/user/sign-in"] {
        let (status, v) = handle(&r, &Method::POST, path, None, Some("application/json"), b"{}", t0());
        assert_eq!((status, code(&v)), (404, 404), "{path}");
        assert_envelope(&v);
        assert!(s(&v, "msg").contains("no such endpoint"), "{v}");
    }
    // Even a GET with no body: the path comes first.
    let (status, _) = handle(&r, &Method::GET, "/favicon.ico", None, None, b"", t0());
    assert_eq!(status, 404);
}

#[test]
fn a_method_other_than_post_is_a_405() {
    let r = Registry::demo();
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        let (status, v) = handle(&r, &m, "/api/v2.1/user/sign-in", None, Some("application/json"), b"{}", t0());
        assert_eq!((status, code(&v)), (405, 405), "{m}");
        assert_envelope(&v);
    }
}

#[test]
fn the_request_content_type_must_be_json() {
    let r = Registry::demo();
    let body = json!({"userId": DEMO_EMAIL, "password": DEMO_PASSWORD}).to_string();
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let (status, v) = handle(&r, &Method::POST, "/api/v2.1/user/sign-in", None, ct, body.as_bytes(), t0());
        assert_eq!((status, code(&v)), (415, 415), "{ct:?}");
    }
    for ct in ["application/json", "application/json; charset=utf-8", "Application/JSON"] {
        let (status, _) = handle(&r, &Method::POST, "/api/v2.1/user/sign-in", None, Some(ct), body.as_bytes(), t0());
        assert_eq!(status, 200, "{ct}");
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_a_400() {
    let r = Registry::demo();
    for body in [&b"not json"[..], b"", b"{\"userId\":", b"[1,2]", b"\"x\""] {
        let (status, v) = handle(
            &r,
            &Method::POST,
            "/api/v2.1/user/sign-in",
            None,
            Some("application/json"),
            body,
            t0(),
        );
        assert_eq!((status, code(&v)), (400, 400), "{}", String::from_utf8_lossy(body));
        assert_envelope(&v);
    }
    let (_, v) = handle(
        &r,
        &Method::POST,
        "/api/v2.1/user/sign-in",
        None,
        Some("application/json"),
        b"nope",
        t0(),
    );
    assert!(s(&v, "msg").contains("not JSON"), "{v}");
}

#[test]
fn authenticated_endpoints_want_the_raw_token_and_answer_401_otherwise() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let at = s(&t, "accessToken").to_string();
    let bearer = format!("Bearer {at}");
    let lower_bearer = format!("bearer {at}");
    for path in AUTH_ENDPOINTS {
        for auth in [
            None,
            Some(bearer.as_str()),
            Some(lower_bearer.as_str()),
            Some("eyJunknown"),
            Some(""),
        ] {
            let (status, v) = call(&r, path, auth, device_body());
            assert_eq!((status, code(&v)), (401, 401), "{path} {auth:?}");
        }
        let (status, v) = call(&r, path, Some(&at), device_body());
        assert_eq!((status, code(&v)), (200, 200), "{path}: {v}");
    }
    let (_, v) = call(&r, "/device/list", Some(&bearer), user());
    assert!(s(&v, "msg").contains("without Bearer"), "{v}");
    // No message quotes the token.
    assert!(!v.to_string().contains(&at));
}

#[test]
fn the_user_id_must_be_the_tokens_own_account() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let at = s(&t, "accessToken");
    for path in AUTH_ENDPOINTS {
        let mut body = device_body();
        body["userId"] = json!("someone.else@example.com");
        let (status, v) = call(&r, path, Some(at), body);
        assert_eq!((status, code(&v)), (403, 403), "{path}");
        let mut body = device_body();
        body.as_object_mut().unwrap().remove("userId");
        let (status, _) = call(&r, path, Some(at), body);
        assert_eq!(status, 400, "{path}");
    }
}

#[test]
fn refresh_issues_a_new_access_token_and_the_old_refresh_token_stops_working() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let rt = s(&t, "refreshToken");
    let (status, v) = call(&r, "/auth/refresh", None, json!({"refreshToken": rt}));
    assert_eq!((status, code(&v)), (200, 200), "{v}");
    let d = &v["data"];
    assert_eq!(d.as_object().unwrap().len(), 4, "{d}");
    assert_ne!(s(d, "accessToken"), s(&t, "accessToken"));
    assert_ne!(s(d, "refreshToken"), rt);
    assert!(!s(d, "idToken").is_empty());
    assert_eq!(d["authenticationExpiresIn"], 3600);
    // The new access token works; so do the old one and the AWS key, until their own expiry.
    let (status, _) = call(&r, "/device/list", Some(s(d, "accessToken")), user());
    assert_eq!(status, 200);
    let (status, _) = call(&r, "/device/list", Some(s(&t, "accessToken")), user());
    assert_eq!(status, 200);
    assert!(r.aws_key(s(&t, "accessKeyId"), t0()).is_some());
    // The presented refresh token is spent.
    let (status, v) = call(&r, "/auth/refresh", None, json!({"refreshToken": rt}));
    assert_eq!((status, code(&v)), (401, 401));
    // The rotated one works.
    let (status, _) = call(&r, "/auth/refresh", None, json!({"refreshToken": s(d, "refreshToken")}));
    assert_eq!(status, 200);
    let (status, _) = call(&r, "/auth/refresh", None, json!({}));
    assert_eq!(status, 400);
    assert_eq!(r.password_sign_ins(), 1, "refreshing is no password sign-in");
    assert_eq!(r.calls(Endpoint::Refresh), 4);
}

#[test]
fn session_refresh_returns_all_four_aws_fields_and_restarts_the_aws_expiry() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let later = t0() + secs(1800);
    let (status, v) = call_at(&r, "/auth/session/refresh", Some(s(&t, "accessToken")), user(), later);
    assert_eq!((status, code(&v)), (200, 200), "{v}");
    let d = &v["data"];
    assert_eq!(d.as_object().unwrap().len(), 4, "{d}");
    let akid = s(d, "accessKeyId");
    assert!(akid.starts_with("ASIA"));
    assert_ne!(akid, s(&t, "accessKeyId"));
    assert_eq!(s(d, "secretKey").len(), 40);
    assert!(!s(d, "sessionToken").is_empty());
    assert_eq!(d["authorizationExpiresIn"], 3600);
    let key = r.aws_key(akid, later).unwrap();
    assert_eq!(key.expires_at, later + secs(3600));
    assert_eq!(key.secret_key.expose_secret(), s(d, "secretKey"));
    // The sign-in's key still ends at its own time.
    assert!(r.aws_key(s(&t, "accessKeyId"), t0() + secs(3599)).is_some());
    assert!(r.aws_key(s(&t, "accessKeyId"), t0() + secs(3600)).is_none());
    assert!(r.aws_key(akid, t0() + secs(3600)).is_some());
}

#[test]
fn an_expired_jwt_is_a_401_on_session_refresh() {
    let r = Registry::demo();
    r.set_lifetimes(std::time::Duration::from_secs(600), std::time::Duration::from_secs(3600));
    let t = sign_in(&r);
    let at = s(&t, "accessToken");
    let (status, _) = call_at(&r, "/auth/session/refresh", Some(at), user(), t0() + secs(599));
    assert_eq!(status, 200);
    let (status, v) = call_at(&r, "/auth/session/refresh", Some(at), user(), t0() + secs(600));
    assert_eq!((status, code(&v)), (401, 401));
    let (status, _) = call_at(&r, "/user/secured-sign-in", Some(at), user(), t0() + secs(600));
    assert_eq!(status, 401);
}

#[test]
fn secured_sign_in_has_the_sign_in_shape_with_new_aws_credentials_only() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let (status, v) = call(&r, "/user/secured-sign-in", Some(s(&t, "accessToken")), user());
    assert_eq!((status, code(&v)), (200, 200), "{v}");
    let d = &v["data"];
    assert_eq!(d["userInfo"]["userFirstName"], "Demo");
    assert_eq!(d["legal"], json!([]));
    let tok = d["token"].as_object().unwrap();
    let mut keys: Vec<&str> = tok.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["accessKeyId", "authorizationExpiresIn", "secretKey", "sessionToken"]);
    assert_ne!(s(&d["token"], "accessKeyId"), s(&t, "accessKeyId"));
    assert!(r.aws_key(s(&d["token"], "accessKeyId"), t0()).is_some());
    assert_eq!(r.password_sign_ins(), 1, "a secured sign-in is no password sign-in");
    assert_eq!(r.calls(Endpoint::SecuredSignIn), 1);
}

#[test]
fn each_refuse_switch_makes_its_step_answer_401() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let at = s(&t, "accessToken");
    let rt = s(&t, "refreshToken");
    let refresh = || call(&r, "/auth/refresh", None, json!({"refreshToken": rt}));
    let session = || call(&r, "/auth/session/refresh", Some(at), user());
    let secured = || call(&r, "/user/secured-sign-in", Some(at), user());
    r.refuse(Step::Refresh, true);
    r.refuse(Step::SessionRefresh, true);
    r.refuse(Step::SecuredSignIn, true);
    for (name, reply) in [("refresh", refresh()), ("session", session()), ("secured", secured())] {
        assert_eq!((reply.0, code(&reply.1)), (401, 401), "{name}");
    }
    // Other calls with the same token are fine: only the steps are refused.
    assert_eq!(call(&r, "/device/list", Some(at), user()).0, 200);
    r.refuse(Step::SessionRefresh, false);
    assert_eq!(session().0, 200);
    assert_eq!(secured().0, 401);
    r.refuse(Step::SecuredSignIn, false);
    assert_eq!(secured().0, 200);
    assert_eq!(refresh().0, 401);
    r.refuse(Step::Refresh, false);
    assert_eq!(refresh().0, 200, "a refused refresh does not spend the token");
}

#[test]
fn an_outage_answers_503_everywhere_until_its_end() {
    let r = Registry::demo();
    let t = sign_in(&r);
    r.outage(t0() + secs(60));
    let paths = ["/user/sign-in", "/auth/refresh", "/device/list", "/auth/session/refresh", "/nope"];
    for path in paths {
        let (status, v) = call(&r, path, Some(s(&t, "accessToken")), user());
        assert_eq!((status, code(&v)), (503, 503), "{path}");
        assert!(v["data"].is_null());
    }
    assert_eq!(r.calls(Endpoint::DeviceList), 1, "calls in an outage are counted");
    let (status, _) = call_at(&r, "/device/list", Some(s(&t, "accessToken")), user(), t0() + secs(60));
    assert_eq!(status, 200);
    assert_eq!(r.password_sign_ins(), 1, "the sign-in in the outage checked no password");
}

fn many_devices(n: usize) -> Registry {
    let macs: Vec<(String, String)> = (0..n).map(|i| (format!("0000000000{i:02x}"), format!("Heater {i}"))).collect();
    let devices: Vec<(&str, &str)> = macs.iter().map(|(m, n)| (m.as_str(), n.as_str())).collect();
    Registry::new(vec![Account::new(0, DEMO_EMAIL, SecretString::from(DEMO_PASSWORD), &devices)])
}

#[test]
fn device_list_pages_with_offset_and_count() {
    let r = many_devices(25);
    let t = sign_in(&r);
    let at = s(&t, "accessToken");
    let page = |offset: u64, count: u64| {
        let (status, v) = call(
            &r,
            "/device/list",
            Some(at),
            json!({"offset": offset, "count": count, "userId": DEMO_EMAIL}),
        );
        assert_eq!((status, code(&v)), (200, 200), "{v}");
        v["data"].as_array().unwrap().clone()
    };
    let first = page(0, 20);
    let second = page(20, 20);
    assert_eq!(first.len(), 20);
    assert_eq!(second.len(), 5);
    assert_eq!(first[0]["deviceInfo"]["macAddress"], "000000000000");
    assert_eq!(second[0]["deviceInfo"]["macAddress"], "000000000014");
    assert_eq!(second[4]["deviceInfo"]["deviceName"], "Heater 24");
    assert!(page(25, 20).is_empty());
    assert_eq!(page(3, 2).len(), 2);
    for count in [0, 21] {
        let (status, v) = call(
            &r,
            "/device/list",
            Some(at),
            json!({"offset": 0, "count": count, "userId": DEMO_EMAIL}),
        );
        assert_eq!((status, code(&v)), (400, 400), "count {count}");
    }
    let (status, _) = call(
        &r,
        "/device/list",
        Some(at),
        json!({"offset": -1, "count": 5, "userId": DEMO_EMAIL}),
    );
    assert_eq!(status, 400);
    // Without offset and count: the first page.
    let (_, v) = call(&r, "/device/list", Some(at), user());
    assert_eq!(v["data"].as_array().unwrap().len(), 20);
}

#[test]
fn device_entries_have_device_info_and_location() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let (_, v) = call(
        &r,
        "/device/list",
        Some(s(&t, "accessToken")),
        json!({"offset": 0, "count": 20, "userId": DEMO_EMAIL}),
    );
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let info = &list[0]["deviceInfo"];
    assert_eq!(info["macAddress"], DEMO_MAC);
    assert_eq!(info["additionalValue"], DEMO_ADDITIONAL);
    assert_eq!(info["deviceType"], 52);
    assert_eq!(info["connected"], 2);
    assert_eq!(info["installType"], "R");
    assert_eq!(info["deviceName"], "Demo water heater");
    assert!(info["homeSeq"].is_u64());
    assert!(list[0]["location"].is_object());
    assert!(list[0]["location"].as_object().unwrap().contains_key("altitude"));
}

#[test]
fn device_info_gives_one_entry_with_installer_alarm_info_and_descaling() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let at = s(&t, "accessToken");
    let (status, v) = call(&r, "/device/info", Some(at), device_body());
    assert_eq!((status, code(&v)), (200, 200), "{v}");
    let d = &v["data"];
    assert_eq!(d["deviceInfo"]["macAddress"], DEMO_MAC);
    assert!(d["location"].is_object());
    assert!(d["installer"].as_object().unwrap().values().all(Value::is_null));
    assert_eq!(d["alarmInfo"], json!({"isErrorAlarm": 2, "isDescalingAlarm": 2, "isEtcAlarm": 2}));
    assert!(d["descaling"].is_object());
    assert!(d.get("error").is_none());

    let mut body = device_body();
    body["macAddress"] = json!("aabbccddeeff");
    assert_eq!(call(&r, "/device/info", Some(at), body).0, 404);
    let mut body = device_body();
    body["macAddress"] = json!(DEMO_MAC.to_uppercase());
    assert_eq!(call(&r, "/device/info", Some(at), body).0, 404, "the MAC must be lowercase");
    let mut body = device_body();
    body["additionalValue"] = json!("0000");
    assert_eq!(call(&r, "/device/info", Some(at), body).0, 400);
    let mut body = device_body();
    body.as_object_mut().unwrap().remove("additionalValue");
    assert_eq!(call(&r, "/device/info", Some(at), body).0, 400);
}

#[test]
fn firmware_info_lists_the_devices_firmware() {
    let r = Registry::demo();
    let t = sign_in(&r);
    let (status, v) = call(&r, "/device/firmware/info", Some(s(&t, "accessToken")), device_body());
    assert_eq!((status, code(&v)), (200, 200), "{v}");
    let fw = &v["data"]["firmwares"][0];
    assert_eq!(fw["macAddress"], DEMO_MAC);
    assert_eq!(fw["additionalValue"], DEMO_ADDITIONAL);
    assert_eq!(fw["deviceType"], 52);
    for k in ["curSwCode", "curVersion", "downloadedVersion", "deviceGroup"] {
        assert!(!fw[k].is_null(), "{k}");
    }
}

#[test]
fn expire_all_rejects_every_token_and_key_but_password_sign_in_works() {
    let r = Registry::demo();
    let t = sign_in(&r);
    r.expire_all();
    let at = s(&t, "accessToken");
    for path in AUTH_ENDPOINTS {
        assert_eq!(call(&r, path, Some(at), device_body()).0, 401, "{path}");
    }
    assert_eq!(
        call(&r, "/auth/refresh", None, json!({"refreshToken": s(&t, "refreshToken")})).0,
        401
    );
    assert!(r.aws_key(s(&t, "accessKeyId"), t0()).is_none());
    let t2 = sign_in(&r);
    assert_eq!(call(&r, "/device/list", Some(s(&t2, "accessToken")), user()).0, 200);
}

#[test]
fn set_password_makes_the_old_password_bad_credentials() {
    let r = Registry::demo();
    assert!(r.set_password(DEMO_EMAIL, SecretString::from("changed")));
    let (status, v) = call(&r, "/user/sign-in", None, json!({"userId": DEMO_EMAIL, "password": DEMO_PASSWORD}));
    assert_eq!((status, code(&v)), (200, 401));
    let (_, v) = call(&r, "/user/sign-in", None, json!({"userId": DEMO_EMAIL, "password": "changed"}));
    assert_eq!(code(&v), 200);
}

#[test]
fn error_messages_never_quote_passwords() {
    let r = Registry::demo();
    let (_, v) = call(&r, "/user/sign-in", None, json!({"userId": DEMO_EMAIL, "password": "s3cret-pass"}));
    assert!(!v.to_string().contains("s3cret-pass"));
    let (_, v) = handle(
        &r,
        &Method::POST,
        "/api/v2.1/user/sign-in",
        None,
        Some("application/json"),
        b"{\"password\":\"s3cret-pass\"",
        t0(),
    );
    assert!(!v.to_string().contains("s3cret-pass"), "{v}");
}

// Over the network.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

fn client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let mut pem = ca_pem.as_bytes();
    for c in rustls_pemfile::certs(&mut pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Sends `head` (the request line and headers, without the blank line) and `body` over TLS to
/// 127.0.0.1, with `Connection: close`, and reads the whole reply.
async fn raw_request(port: u16, client: &Arc<rustls::ClientConfig>, head: &str, body: &[u8]) -> RawReply {
    let sock = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client.clone());
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, sock).await.unwrap();
    let mut req = format!("{head}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    // The server may answer (and close) before it has read all of an oversized body.
    let _ = tls.write_all(&req).await;
    let _ = tls.flush().await;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
            .await
            .expect("reply timed out")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    RawReply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn post(path: &str, extra_headers: &str, body: &str) -> (String, Vec<u8>) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nUser-Agent: tether-test\r\nContent-Length: {}{extra_headers}",
        body.len()
    );
    (head, body.as_bytes().to_vec())
}

#[tokio::test]
async fn over_tls_a_client_trusting_only_the_ca_signs_in_and_gets_json_errors() {
    let pki = crate::navien::cloud::pki::generate().unwrap();
    let registry = Registry::demo();
    let shutdown = CancellationToken::new();
    let server = start(0, pki.server.clone(), registry.clone(), shutdown.clone()).await.unwrap();
    let port = server.port();
    assert_ne!(port, 0);
    assert_eq!(server.rest_url(), format!("https://127.0.0.1:{port}/api/v2.1"));
    let client = client_config(&pki.ca_pem);

    // Sign-in.
    let body = json!({"userId": DEMO_EMAIL, "password": DEMO_PASSWORD}).to_string();
    let (head, body) = post("/api/v2.1/user/sign-in", "", &body);
    let reply = raw_request(port, &client, &head, &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    assert_eq!(code(&v), 200);
    let token = &v["data"]["token"];
    let at = s(token, "accessToken").to_string();
    assert!(s(token, "accessKeyId").starts_with("ASIA"));
    assert_eq!(registry.password_sign_ins(), 1);

    // An authenticated call, with the header name in another case.
    let body = json!({"offset": 0, "count": 20, "userId": DEMO_EMAIL}).to_string();
    let (head, body) = post("/api/v2.1/device/list", &format!("\r\nAUTHORIZATION: {at}"), &body);
    let reply = raw_request(port, &client, &head, &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"][0]["deviceInfo"]["macAddress"], DEMO_MAC);

    // Bearer: 401, JSON.
    let (head, body) = post(
        "/api/v2.1/device/list",
        &format!("\r\nAuthorization: Bearer {at}"),
        &body_of(&user()),
    );
    let reply = raw_request(port, &client, &head, &body).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(code(&reply.json()), 401);

    // Unknown path and wrong method: JSON too.
    let reply = raw_request(port, &client, "GET /nope HTTP/1.1", b"").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(code(&reply.json()), 404);
    let reply = raw_request(port, &client, "GET /api/v2.1/device/list HTTP/1.1", b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert_eq!(code(&reply.json()), 405);

    // A query string does not change the path.
    let (head, body) = post("/api/v2.1/user/sign-in?x=1", "", "{}");
    assert_eq!(raw_request(port, &client, &head, &body).await.status, 400);

    // Oversized bodies, declared and chunked: 413, JSON.
    let big = vec![b' '; MAX_BODY + 1000];
    let head = format!(
        "POST /api/v2.1/user/sign-in HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        big.len()
    );
    let reply = raw_request(port, &client, &head, &big).await;
    assert_eq!(reply.status, 413);
    assert_eq!(code(&reply.json()), 413);
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let head = "POST /api/v2.1/user/sign-in HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked";
    let reply = raw_request(port, &client, head, &chunked).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("content-type"), Some("application/json"));

    // Shutdown ends the accept loop and frees the port.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.join()).await.unwrap();
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

fn body_of(v: &Value) -> String {
    v.to_string()
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_the_handshake_and_the_server_carries_on() {
    let pki = crate::navien::cloud::pki::generate().unwrap();
    let other = crate::navien::cloud::pki::generate().unwrap();
    let shutdown = CancellationToken::new();
    let server = start(0, pki.server.clone(), Registry::demo(), shutdown.clone()).await.unwrap();
    let sock = tokio::net::TcpStream::connect(("127.0.0.1", server.port())).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_config(&other.ca_pem));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    assert!(connector.connect(name, sock).await.is_err());
    let reply = raw_request(server.port(), &client_config(&pki.ca_pem), "GET / HTTP/1.1", b"").await;
    assert_eq!(reply.status, 404);
    shutdown.cancel();
}
