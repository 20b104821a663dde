use super::*;
use crate::policy::RecoveryStrategy;

fn machine(strategy: RecoveryStrategy, attempts: u32, cycles: u32) -> Machine {
    let reconnect = ReconnectPolicy {
        max_reconnect_attempts: attempts,
        jitter: false,
        ..Default::default()
    };
    let recovery = RecoveryPolicy {
        strategy,
        max_recovery_attempts: cycles,
        ..Default::default()
    };
    Machine::new(reconnect, recovery)
}

fn fail(m: &mut Machine) -> Decision {
    m.on_failure(FailureKind::Retryable, false, 0.0)
}

#[test]
fn a_failure_worth_a_long_wait_starts_at_the_top_of_the_schedule_and_still_escalates() {
    let mut m = machine(RecoveryStrategy::Backoff, 3, 2);
    let cap = ReconnectPolicy::default().max_reconnect_delay;
    for attempt in 1..=3 {
        match m.on_failure(FailureKind::RetryLong, false, 0.0) {
            Decision::Reconnect { attempt: a, delay } => {
                assert_eq!(a, attempt);
                assert_eq!(delay, cap, "attempt {attempt}");
            }
            d => panic!("attempt {attempt}: {d:?}"),
        }
    }
    assert!(matches!(
        m.on_failure(FailureKind::RetryLong, false, 0.0),
        Decision::Recover {
            reconnection_failed: Some(3),
            ..
        }
    ));
}

#[test]
fn tier1_backs_off_then_reports_reconnection_failed_once_and_recovers() {
    let mut m = machine(RecoveryStrategy::Backoff, 3, 2);
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 1,
            delay: Duration::from_secs(1)
        }
    );
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 2,
            delay: Duration::from_secs(2)
        }
    );
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 3,
            delay: Duration::from_secs(4)
        }
    );
    assert_eq!(
        fail(&mut m),
        Decision::Recover {
            cycle: 1,
            delay: Duration::from_secs(60),
            recreate: true,
            refresh: false,
            reconnection_failed: Some(3)
        }
    );
    // A failed recovery cycle does not report reconnection_failed again.
    assert_eq!(
        fail(&mut m),
        Decision::Recover {
            cycle: 2,
            delay: Duration::from_secs(120),
            recreate: true,
            refresh: false,
            reconnection_failed: None
        }
    );
    assert_eq!(fail(&mut m), Decision::GiveUp { reconnection_failed: None });
}

#[test]
fn simple_retry_runs_tier1_again_and_reports_each_exhaustion() {
    let mut m = machine(RecoveryStrategy::SimpleRetry, 2, 2);
    fail(&mut m);
    fail(&mut m);
    let d = fail(&mut m);
    assert!(
        matches!(
            d,
            Decision::Recover {
                cycle: 1,
                recreate: false,
                reconnection_failed: Some(2),
                ..
            }
        ),
        "{d:?}"
    );
    // The cycle's attempt failed: tier 1 starts over with its own backoff.
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 1,
            delay: Duration::from_secs(1)
        }
    );
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 2,
            delay: Duration::from_secs(2)
        }
    );
    let d = fail(&mut m);
    assert!(
        matches!(
            d,
            Decision::Recover {
                cycle: 2,
                reconnection_failed: Some(2),
                ..
            }
        ),
        "{d:?}"
    );
    fail(&mut m);
    fail(&mut m);
    assert_eq!(
        fail(&mut m),
        Decision::GiveUp {
            reconnection_failed: Some(2)
        }
    );
}

#[test]
fn refresh_and_recreate_refreshes_every_cycle() {
    let mut m = machine(RecoveryStrategy::RefreshAndRecreate, 1, 3);
    fail(&mut m);
    for cycle in 1..=3 {
        let d = fail(&mut m);
        assert!(
            matches!(
                d,
                Decision::Recover {
                    refresh: true,
                    recreate: true,
                    ..
                }
            ),
            "cycle {cycle}: {d:?}"
        );
    }
}

#[test]
fn backoff_refreshes_on_the_third_cycle() {
    let mut m = machine(RecoveryStrategy::Backoff, 0, 4);
    let refreshes: Vec<bool> = (0..4)
        .map(|_| match fail(&mut m) {
            Decision::Recover { refresh, .. } => refresh,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(refreshes, vec![false, false, true, false]);
}

#[test]
fn auto_reconnect_off_goes_straight_to_tier2() {
    let mut m = machine(RecoveryStrategy::Recreate, 10, 1);
    m.reconnect.auto_reconnect = false;
    assert!(matches!(
        fail(&mut m),
        Decision::Recover {
            cycle: 1,
            reconnection_failed: Some(0),
            ..
        }
    ));
}

#[test]
fn a_trigger_resets_the_backoff() {
    let mut m = machine(RecoveryStrategy::Backoff, 2, 1);
    fail(&mut m);
    fail(&mut m);
    fail(&mut m);
    assert_eq!(fail(&mut m), Decision::GiveUp { reconnection_failed: None });
    m.on_trigger();
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 1,
            delay: Duration::from_secs(1)
        }
    );
}

#[test]
fn a_connection_that_proved_stable_resets_everything() {
    let mut m = machine(RecoveryStrategy::Backoff, 2, 3);
    fail(&mut m);
    fail(&mut m);
    fail(&mut m);
    assert!(m.in_recovery());
    m.on_stable();
    assert!(!m.in_recovery());
    assert_eq!(
        fail(&mut m),
        Decision::Reconnect {
            attempt: 1,
            delay: Duration::from_secs(1)
        }
    );
}

#[test]
fn jittered_attempts_are_never_later_than_the_plain_schedule_and_do_not_drift() {
    let mut m = machine(RecoveryStrategy::Backoff, 10, 1);
    m.reconnect.jitter = true;
    let plain: Vec<f64> = (1..=10).map(|n| m.reconnect.delay(n).as_secs_f64()).collect();
    let units = [0.9, 0.1, 0.99, 0.0, 0.5, 0.95, 0.3, 0.7, 0.05, 0.6];
    let (mut t, mut s) = (0.0, 0.0);
    for (i, u) in units.iter().enumerate() {
        let Decision::Reconnect { delay, .. } = m.on_failure(FailureKind::Retryable, false, *u) else {
            panic!("tier 1")
        };
        t += delay.as_secs_f64();
        s += plain[i];
        let early = s - t;
        assert!(early >= -1e-9, "attempt {} at {t} after the plain {s}", i + 1);
        assert!(
            early <= 1.0 + 1e-9 && early <= 0.2 * plain[i] + 1e-9,
            "attempt {} {early}s early",
            i + 1
        );
    }
}

#[test]
fn auth_refusal_refreshes_once_then_stops() {
    let mut m = machine(RecoveryStrategy::Backoff, 10, 10);
    assert_eq!(m.on_failure(FailureKind::Auth, true, 0.0), Decision::RefreshAndRetry);
    assert_eq!(m.on_failure(FailureKind::Auth, true, 0.0), Decision::AuthRejected);
}

/// Found by app/tests/navien.rs: credentials renewed, connected with them, revoked again
/// before the connection counted as stable: the second refusal was taken for a failed
/// renewal (auth_rejected) although the renewal had worked.
#[test]
fn a_connect_with_renewed_credentials_allows_one_more_renewal_and_the_backoff_still_climbs() {
    let mut m = machine(RecoveryStrategy::Backoff, 10, 10);
    assert_eq!(m.on_failure(FailureKind::Auth, true, 0.0), Decision::RefreshAndRetry);
    m.on_connected();
    assert!(matches!(
        m.on_failure(FailureKind::Retryable, true, 0.0),
        Decision::Reconnect { attempt: 1, .. }
    ));
    assert_eq!(m.on_failure(FailureKind::Auth, true, 0.0), Decision::RefreshAndRetry);
    assert_eq!(m.on_failure(FailureKind::Auth, true, 0.0), Decision::AuthRejected);
    m.on_connected();
    // Not a reset of the schedule: a broker that accepts and drops at once still backs off.
    assert!(matches!(
        m.on_failure(FailureKind::Retryable, true, 0.0),
        Decision::Reconnect { attempt: 2, .. }
    ));
}

#[test]
fn auth_refusal_without_a_token_source_stops_at_once() {
    let mut m = machine(RecoveryStrategy::Backoff, 10, 10);
    assert_eq!(m.on_failure(FailureKind::Auth, false, 0.0), Decision::AuthRejected);
    assert_eq!(m.on_failure(FailureKind::Fatal, false, 0.0), Decision::Fatal);
}
