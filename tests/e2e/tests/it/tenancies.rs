//! Issue 16, "must show": two tenancies from one deployment, one with a revoked key. The other
//! delivers everything exactly once, the run says which tenancy failed and exits non-zero,
//! `status` names the broken tenancy; once the key is back, the next run delivers the broken
//! tenancy's events too, and the healthy one's are not sent again.

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};
use auditfwd_oci::auth::{ApiKeyCredentials, OciConfigFile};

/// The fingerprint of the key in `tenancy`'s OCI CLI config.
fn fingerprint(tenancy: &Tenancy) -> String {
    let profile = OciConfigFile::load(&tenancy.cli_config)
        .and_then(|f| f.profile("DEFAULT"))
        .expect("the CLI config");
    ApiKeyCredentials::from_profile(&profile, None)
        .expect("its key")
        .fingerprint()
        .as_str()
        .to_owned()
}

fn shape(b: oci_emulator::EmulatorBuilder) -> oci_emulator::EmulatorBuilder {
    b.compartments(3)
        .max_depth(1)
        .events_per_minute(3.0)
        .backlog(chrono::Duration::minutes(20))
        .page_size(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenancies_one_with_a_revoked_key_the_other_delivers_all_and_status_names_the_broken_one()
 {
    let acme = Tenancy::backlog(1601, shape).await;
    let globex = Tenancy::backlog(1602, shape).await;
    assert_ne!(acme.emu.tenancy_id(), globex.emu.tenancy_id());
    let (acme_ids, globex_ids) = (acme.truth_ids(), globex.truth_ids());
    assert!(!acme_ids.is_empty() && !globex_ids.is_empty());

    // globex's key is revoked: OCI answers 401 to everything it signs.
    let globex_key = fingerprint(&globex);
    assert!(globex.emu.remove_key(&globex_key));

    let mut rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &acme).await;
    let mut auditfwd = Auditfwd::new(&acme, &rsyslog.relp_url(), &checkpoint);
    auditfwd.tenancies(&[("acme", &acme), ("globex", &globex)]);

    let first = auditfwd.run_once().await;
    assert_eq!(first.code, Some(1), "{}", first.describe());
    let globex_id = globex.emu.tenancy_id();
    assert!(
        first
            .stdout
            .contains(&format!("== tenancy globex ({globex_id})")),
        "{}",
        first.describe()
    );
    assert!(
        first
            .stdout
            .contains("FAILED: cannot list the compartment tree"),
        "{}",
        first.describe()
    );
    // acme delivered everything, exactly once; nothing of globex could be read.
    assert_exactly_once(&acme_ids, &rsyslog.counts());

    // status names the broken tenancy and what is wrong with it; acme is fine.
    let status = auditfwd.command(&["status"]).await;
    assert_eq!(status.code, Some(1), "{}", status.describe());
    let globex_part = status
        .stdout
        .split("== tenancy ")
        .find(|part| part.starts_with("globex"))
        .unwrap_or_else(|| panic!("no globex section: {}", status.describe()));
    assert!(
        globex_part.contains("401") || globex_part.contains("NotAuthenticated"),
        "the tree error names the refusal: {globex_part}"
    );
    let json = auditfwd.command(&["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("status JSON");
    let names: Vec<&str> = v["tenancies"]
        .as_array()
        .expect("tenancies")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    assert!(!v["tenancies"][1]["status"]["tree_error"].is_null(), "{v}");
    assert!(v["tenancies"][0]["status"]["tree_error"].is_null(), "{v}");

    // One tenancy at a time, by name.
    let one = auditfwd.command(&["status", "--tenancy", "acme"]).await;
    assert_eq!(one.code, Some(0), "{}", one.describe());
    let bad = auditfwd.command(&["status", "--tenancy", "nobody"]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.describe());
    assert!(bad.stderr.contains("acme, globex"), "{}", bad.describe());

    // The key is back: globex catches up, acme sends nothing again.
    globex.emu.test_signer().expect("register the key again");
    let second = auditfwd.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.describe());
    let all: std::collections::BTreeSet<String> = acme_ids.union(&globex_ids).cloned().collect();
    assert_exactly_once(&all, &rsyslog.counts());
    let status = auditfwd.command(&["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.describe());
    rsyslog.stop();
}
