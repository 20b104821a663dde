//! The desktop app's Navien side without a window, against the cloud emulator in this process
//! (real HTTPS, TLS and SigV4-presigned MQTT over WSS on loopback): the profile form (sign-in
//! checked by field, the account's devices listed and picked, secrets to the keychain), one card
//! per device with its controls confirmed by the heater, token state in Diagnostics, and the
//! demo's new faults. The keychain is the in-memory store here (tests/navien_cli.rs and
//! app/tests/keychain.rs run against the real Secret Service).

mod support;

use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tether::credentials::{account, MemoryStore, SecretStore};
use tether::navien::cloud::{Cloud, CloudOptions};
use tether::profiles::Paths;
use tether_app::controller::Controller;
use tether_app::ipc::{CommandOutcome, DeviceCommand, Fault, NavienProfileInput, NavienSignIn};

const T: Duration = Duration::from_secs(30);

fn paths(home: &std::path::Path) -> Paths {
    Paths {
        config_dir: home.join("config"),
        data_dir: home.join("data"),
    }
}

struct Rig {
    cloud: Cloud,
    ctl: Controller,
    keychain: Arc<MemoryStore>,
    _home: tempfile::TempDir,
}

/// The emulator with one account of two heaters, and the app on the demo (no profile yet).
async fn rig() -> Rig {
    let home = tempfile::tempdir().unwrap();
    let accounts = home.path().join("accounts.json");
    std::fs::write(
        &accounts,
        r#"[{"email": "owner@example.com", "password": "correct horse", "devices": [
            {"mac": "04786332fca0", "name": "Garage"}, {"mac": "aabbccddeeff", "name": "Cabin"}]}]"#,
    )
    .unwrap();
    let cloud = Cloud::start(CloudOptions {
        accounts: Some(accounts),
        ca_file: Some(home.path().join("ca.pem")),
        ..CloudOptions::default()
    })
    .await
    .expect("the emulator starts");
    let keychain = Arc::new(MemoryStore::default());
    let ctl = Controller::new(paths(home.path()), keychain.clone(), Ok(()), recorder(false));
    ctl.start().await.expect("the app starts (on the demo)");
    Rig {
        cloud,
        ctl,
        keychain,
        _home: home,
    }
}

fn sign_in(r: &Rig, name: &str, email: &str, password: &str) -> NavienSignIn {
    let info = r.cloud.info();
    NavienSignIn {
        name: name.into(),
        email: email.into(),
        password: SecretString::from(password.to_string()),
        rest_url: Some(info.rest_url.clone()),
        iot_host: Some(info.mqtt_host.clone()),
        iot_port: Some(info.mqtt_port),
        ca_file: Some(info.ca_file.display().to_string()),
    }
}

async fn confirmed(ctl: &Controller, mac: &str, c: DeviceCommand) -> tether_app::ipc::DeviceStatus {
    match ctl.device_command(mac, c.clone()).await {
        Ok(CommandOutcome::Confirmed { status }) => status,
        other => panic!("{c:?}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_navien_form_signs_in_by_field_saves_the_picked_device_and_its_card_controls_it() {
    let r = rig().await;
    let ctl = &r.ctl;
    // Each bad input is reported by its field, before or by the sign-in.
    for (input, field) in [
        (sign_in(&r, "home", "owner@example.com", "wrong"), "password"),
        (sign_in(&r, "home", "not an email", "correct horse"), "email"),
        (sign_in(&r, "bad name!", "owner@example.com", "correct horse"), "name"),
        (
            NavienSignIn {
                rest_url: Some("http://127.0.0.1:1/api/v2.1".into()),
                ..sign_in(&r, "home", "owner@example.com", "correct horse")
            },
            "rest_url",
        ),
        (
            NavienSignIn {
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..sign_in(&r, "home", "owner@example.com", "correct horse")
            },
            "ca_file",
        ),
        (sign_in(&r, "home", "owner@example.com", ""), "password"),
    ] {
        let e = ctl.navien_sign_in(input).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{e:?}");
    }
    assert_eq!(r.cloud.stats()["rejected_password_sign_ins"], 1, "one refused sign-in, no retries");
    assert!(
        r.keychain.get(&account("home", "password")).unwrap().is_none(),
        "nothing stored yet"
    );

    let acct = ctl
        .navien_sign_in(sign_in(&r, "home", "owner@example.com", "correct horse"))
        .await
        .expect("signed in");
    let names: Vec<&str> = acct.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Garage", "Cabin"]);
    let e = ctl
        .save_navien_profile(NavienProfileInput {
            name: "home".into(),
            devices: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("devices"), "{e:?}");
    let view = ctl
        .save_navien_profile(NavienProfileInput {
            name: "home".into(),
            devices: vec!["aabbccddeeff".into()],
        })
        .await
        .expect("saved (the pick kept after the refusal)");
    assert_eq!((view.kind.as_str(), view.active), ("navien", true));
    assert_eq!(view.email.as_deref(), Some("owner@example.com"));
    assert_eq!(view.devices, ["Cabin"]);
    assert!(r.keychain.get(&account("home", "password")).unwrap().is_some());
    assert!(r
        .keychain
        .get(&account("home", tether::navien::client::TOKENS_SECRET))
        .unwrap()
        .is_some());

    wait_connected(ctl, T).await;
    let mac = "aabbccddeeff";
    let deadline = std::time::Instant::now() + T;
    let card = loop {
        let ov = ctl.overview().await.unwrap();
        assert!(!ov.demo);
        assert_eq!(ov.devices.len(), 1, "only the picked device");
        let c = ov.devices[0].clone();
        if c.status.is_some() && c.controls.known {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "no status and features: {c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((card.mac.as_str(), card.name.as_str()), (mac, "Cabin"));
    assert!(card.controls.setpoint && card.controls.modes && card.controls.power);
    assert_eq!((card.controls.setpoint_min_f, card.controls.setpoint_max_f), (105.0, 150.0));

    let s = confirmed(ctl, mac, DeviceCommand::Setpoint { fahrenheit: 125.0 }).await;
    assert_eq!(s.setpoint_f, 124.7, "125 °F is 51.7 °C: 103.3 half-°C, rounded to 103");
    assert_eq!(r.cloud.heater_setpoint(mac), Some(103), "the cloud's heater took it");
    let s = confirmed(
        ctl,
        mac,
        DeviceCommand::Mode {
            mode: "energy_saver".into(),
        },
    )
    .await;
    assert_eq!(s.mode_code, 3);
    let s = confirmed(ctl, mac, DeviceCommand::Vacation { days: 5 }).await;
    assert_eq!((s.mode_code, s.vacation_days), (5, Some(5)));
    let s = confirmed(ctl, mac, DeviceCommand::Power { on: false }).await;
    assert!(!s.power_on);
    let s = confirmed(ctl, mac, DeviceCommand::Power { on: true }).await;
    assert!(s.power_on);
    let s = confirmed(ctl, mac, DeviceCommand::AntiLegionella { period_days: Some(14) }).await;
    assert_eq!(s.anti_legionella_days, Some(14));
    // Refused before anything is sent, by the control's field.
    let e = ctl
        .device_command(mac, DeviceCommand::Setpoint { fahrenheit: 200.0 })
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("setpoint"), "{e:?}");
    assert!(e.message.contains("105-150"), "{}", e.message);
    let e = ctl
        .device_command("04786332fca0", DeviceCommand::Power { on: true })
        .await
        .unwrap_err();
    assert_eq!(e.kind, "no_device", "the device not picked is not ours");

    // The link started on the tokens the form stored: the only password sign-in was the form's.
    let d = ctl.diagnostics().await.expect("a link");
    let tokens = d.tokens.expect("a Navien link reports its tokens");
    assert_eq!(tokens.password_sign_ins, 0, "{tokens:?}");
    assert!(tokens.jwt_valid_until.is_some() && tokens.aws_valid_until.is_some(), "{tokens:?}");
    let stats = r.cloud.stats();
    let (all, refused) = (stats["password_sign_ins"].as_u64(), stats["rejected_password_sign_ins"].as_u64());
    assert_eq!((all, refused), (Some(2), Some(1)), "the wrong password's and the form's: {stats}");
    ctl.shutdown().await;
    r.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_through_the_emulated_cloud_and_its_new_faults_recover() {
    let home = tempfile::tempdir().unwrap();
    let ctl = Controller::new(paths(home.path()), Arc::new(MemoryStore::default()), Ok(()), recorder(false));
    ctl.start().await.unwrap();
    wait_connected(&ctl, T).await;
    let d = ctl.diagnostics().await.unwrap();
    assert!(d.tokens.is_some(), "the demo signs in like a real account");
    let ov = ctl.overview().await.unwrap();
    assert!(ov.demo);
    let mac = ov.devices[0].mac.clone();
    // A setpoint from the card, once the features are in.
    let deadline = std::time::Instant::now() + T;
    while !ctl.overview().await.unwrap().devices[0].controls.known {
        assert!(std::time::Instant::now() < deadline, "no features");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = confirmed(&ctl, &mac, DeviceCommand::Setpoint { fahrenheit: 130.0 }).await;
    assert_eq!(s.setpoint_f, 130.1);

    // A changed password: auth_rejected; Clear enters the new one and the link is back.
    ctl.demo_fault(Fault::ChangePassword).await.unwrap();
    let deadline = std::time::Instant::now() + T;
    while !matches!(ctl.overview().await.unwrap().state, tether::LinkState::AuthRejected { .. }) {
        assert!(std::time::Instant::now() < deadline, "not auth_rejected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctl.demo_fault(Fault::Clear).await.unwrap();
    wait_connected(&ctl, T).await;
    // Revoked tokens: renewed, and connected again with no refusal on the way.
    let before = ctl.diagnostics().await.unwrap().tokens.unwrap().password_sign_ins;
    ctl.demo_fault(Fault::ExpireTokens).await.unwrap();
    let deadline = std::time::Instant::now() + T;
    loop {
        let t = ctl.diagnostics().await.unwrap().tokens.unwrap();
        if t.password_sign_ins > before && ctl.overview().await.unwrap().state.is_connected() {
            break;
        }
        assert!(
            !matches!(ctl.overview().await.unwrap().state, tether::LinkState::AuthRejected { .. }),
            "revoked tokens are renewed, not refused"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not renewed and reconnected: {t:?}, {:?}, recent: {:?}",
            ctl.overview().await.unwrap().state,
            ctl.overview()
                .await
                .unwrap()
                .recent_events
                .iter()
                .rev()
                .take(8)
                .map(|e| e.kind.name())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctl.shutdown().await;
}
