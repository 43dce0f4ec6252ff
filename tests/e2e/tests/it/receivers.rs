//! Issue 11, "must show": receivers that do not take what they are sent. For each misbehaving
//! receiver (accept and close, close after 60 KB, never read; plus, on `tls://`, an rsyslog
//! that requires a client certificate auditfwd was not given), the real `auditfwd run --once`
//! against the OCI emulator exits non-zero, and no window commits an event the receiver's process
//! did not read (the close-after-60 KB receiver reads, then discards, whole windows that fit in
//! its first 60 KB: those were delivered, and their events count as arrived). Once a real rsyslog
//! takes over the same port, every ground-truth event has arrived, duplicates bounded by one
//! window. `auditfwd check` fails at the syslog step against an accept-and-close receiver.

use std::collections::BTreeMap;

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{
    Backend, Checkpoint, Interrupted, assert_cursor_not_ahead,
    assert_duplicates_within_interrupted_ranges,
};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_none_lost};
use auditfwd_test_support::pki::Certs;
use auditfwd_test_support::receivers::{MisbehavingReceiver, Misbehaviour};
use auditfwd_test_support::rsyslog::{Inputs, TlsInput, free_tcp_ports};

/// `AUDITFWD_MAX_WINDOW` of these runs, in minutes (duplicates stay within one listing: one
/// window, or one page).
const MAX_WINDOW_MINUTES: i64 = 10;

/// The emulator's page size for these tenancies.
const PAGE_SIZE: usize = 25;

/// What stands on the port during the failing run.
#[derive(Debug, Clone, Copy)]
enum Bad {
    Receiver(Misbehaviour),
    /// rsyslog whose TLS input requires a client certificate; auditfwd has none.
    RsyslogRequiringClientCert,
}

async fn tenancy(seed: u64) -> Tenancy {
    Tenancy::backlog(seed, |b| {
        b.compartments(3)
            .max_depth(1)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(20))
            .page_size(PAGE_SIZE)
    })
    .await
}

/// One scenario: a failing run against `bad`, then a run against rsyslog on the same port.
async fn scenario(tenancy: &Tenancy, certs: Option<&Certs>, bad: Bad) {
    let what = format!(
        "{bad:?} over {}",
        if certs.is_some() { "tls" } else { "tcp" }
    );
    let port = free_tcp_ports(1)[0];
    let scheme = if certs.is_some() { "tls" } else { "tcp" };
    let checkpoint = Checkpoint::new(Backend::File, tenancy).await;
    let mut auditfwd = Auditfwd::new(
        tenancy,
        &format!("{scheme}://127.0.0.1:{port}"),
        &checkpoint,
    );
    auditfwd.set("AUDITFWD_MAX_WINDOW", format!("{MAX_WINDOW_MINUTES}m"));
    if let Some(c) = certs {
        auditfwd.set("AUDITFWD_SYSLOG_TLS_CA", c.ca.display().to_string());
    }
    let tls_input = |client_cert_required| {
        certs.map(|c| TlsInput {
            port,
            certs: c.clone(),
            client_cert_required,
        })
    };

    let failing = match bad {
        Bad::Receiver(how) => {
            let receiver =
                MisbehavingReceiver::start_on(port, how, certs.map(Certs::server_config));
            let run = auditfwd.run_once().await;
            (run, Some(receiver), None)
        }
        Bad::RsyslogRequiringClientCert => {
            let rsyslog = Rsyslog::start_with(Inputs {
                tls: tls_input(true),
                ..Default::default()
            });
            let run = auditfwd.run_once().await;
            assert!(rsyslog.received().is_empty(), "{what}: rsyslog took events");
            (run, None, Some(rsyslog))
        }
    };
    let (run, receiver, refusing) = failing;
    assert_ne!(run.code, Some(0), "{what}: {}", run.describe());
    assert!(run.code.is_some(), "{what}: killed? {}", run.describe());
    // What the misbehaving receiver's process read whole (close-after-N reads, then discards).
    let read_by_bad = receiver.as_ref().map(read_events).unwrap_or_default();
    if let Some(r) = &receiver {
        assert!(r.accepted() > 0, "{what}: auditfwd never connected");
    }
    // No cursor may have moved past an event no receiver process read.
    let scopes = tenancy.scopes();
    let at_failure = checkpoint.states(&scopes).await;
    let committed = committed_events(tenancy, &at_failure);
    assert!(
        committed.iter().all(|id| read_by_bad.contains_key(id)),
        "{what}: {} events committed, {} of them never read by the receiver",
        committed.len(),
        committed
            .iter()
            .filter(|id| !read_by_bad.contains_key(*id))
            .count()
    );
    drop(receiver);
    drop(refusing);

    // The receiver is fixed: a real rsyslog on the same port.
    let rsyslog = Rsyslog::start_with(match certs {
        Some(_) => Inputs {
            tls: tls_input(false),
            ..Default::default()
        },
        None => Inputs {
            tcp: Some(port),
            ..Default::default()
        },
    });
    let fixed = auditfwd.run_once().await;
    assert!(fixed.complete(), "{what}, fixed: {}", fixed.describe());
    let received = rsyslog.counts();
    let mut anywhere = received.clone();
    for (id, n) in read_by_bad {
        *anywhere.entry(id).or_insert(0) += n;
    }
    assert_none_lost(&tenancy.truth_ids(), &anywhere);
    assert_duplicates_within_interrupted_ranges(
        tenancy,
        &at_failure,
        &anywhere,
        Interrupted::OneListing {
            max_window_minutes: MAX_WINDOW_MINUTES,
            page_size: PAGE_SIZE,
        },
    );
    assert_cursor_not_ahead(tenancy, &checkpoint.states(&scopes).await, &anywhere);
}

/// Event ids of the whole octet-counted messages the receiver's process read, with counts.
fn read_events(receiver: &MisbehavingReceiver) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for stream in receiver.read_streams() {
        let mut rest = &stream[..];
        while let Some(sp) = rest.iter().position(|&b| b == b' ') {
            let Some(len) = std::str::from_utf8(&rest[..sp])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                break;
            };
            let Some(msg) = rest.get(sp + 1..sp + 1 + len) else {
                break; // cut by the close: not read whole
            };
            let text = String::from_utf8_lossy(msg);
            if let Some(id) = text
                .split_once("eventId=\"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(id, _)| id.to_owned())
            {
                *out.entry(id).or_insert(0) += 1;
            }
            rest = &rest[sp + 1 + len..];
        }
    }
    out
}

/// Ids of the events behind their compartment's cursor, outside its gap ledger: committed.
fn committed_events(tenancy: &Tenancy, states: &auditfwd_e2e::checkpoint::Cursors) -> Vec<String> {
    tenancy
        .truth()
        .into_iter()
        .filter(|e| {
            let Some(Some(st)) = states.get(&e.compartment) else {
                return false;
            };
            e.time < st.delivered_until.as_datetime()
                && !st.gaps.iter().any(|g| {
                    e.time >= g.window.start().as_datetime()
                        && e.time < g.window.end().as_datetime()
                })
        })
        .map(|e| e.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_receivers_over_tcp_commit_nothing_unconfirmed_and_lose_nothing_once_fixed() {
    let tenancy = tenancy(1101).await;
    // Independent checkpoints and ports: the scenarios run at once (never-read waits out
    // auditfwd's I/O timeout on every attempt).
    tokio::join!(
        scenario(&tenancy, None, Bad::Receiver(Misbehaviour::AcceptAndClose)),
        scenario(
            &tenancy,
            None,
            Bad::Receiver(Misbehaviour::CloseAfter(60_000))
        ),
        scenario(&tenancy, None, Bad::Receiver(Misbehaviour::NeverRead)),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_receivers_over_tls_commit_nothing_unconfirmed_and_lose_nothing_once_fixed() {
    let tenancy = tenancy(1102).await;
    let dir = tempfile::tempdir().unwrap();
    let certs = Some(Certs::generate(dir.path()));
    let certs = certs.as_ref();
    tokio::join!(
        scenario(&tenancy, certs, Bad::Receiver(Misbehaviour::AcceptAndClose)),
        scenario(
            &tenancy,
            certs,
            Bad::Receiver(Misbehaviour::CloseAfter(60_000))
        ),
        scenario(&tenancy, certs, Bad::Receiver(Misbehaviour::NeverRead)),
        scenario(&tenancy, certs, Bad::RsyslogRequiringClientCert),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_at_the_syslog_step_against_a_receiver_that_accepts_and_closes() {
    let tenancy = tenancy(1103).await;
    let receiver = MisbehavingReceiver::start(Misbehaviour::AcceptAndClose, None);
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let auditfwd = Auditfwd::new(
        &tenancy,
        &format!("tcp://127.0.0.1:{}", receiver.port()),
        &checkpoint,
    );
    let check = auditfwd.command(&["check"]).await;
    assert_eq!(check.code, Some(1), "{}", check.describe());
    let line = check
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL  syslog destination"))
        .unwrap_or_else(|| panic!("no failing syslog step: {}", check.describe()));
    assert!(line.contains("cannot deliver the test message"), "{line}");
    assert!(
        check.stdout.contains("PASS  checkpoint store"),
        "{}",
        check.describe()
    );
    assert!(receiver.accepted() > 0, "check never connected");
}
