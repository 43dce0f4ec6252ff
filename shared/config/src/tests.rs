//! Parsing whole configurations: defaults, every problem at once, bounds, secrets.

use super::*;
use auditfwd_oci::Service;
use auditfwd_syslog::{Framing, Payload, Roots, SyslogFormat, Transport};

const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../oci/tests/fixtures/oracle-sample-key.pem"
);

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn minimal() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AUDITFWD_OCI_TENANCY", TENANCY),
        ("AUDITFWD_OCI_USER", USER),
        ("AUDITFWD_OCI_KEY_FILE", KEY),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
        ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
    ]
}

/// A tenancy's regions, as ids.
fn region_ids(t: &TenancySettings) -> Vec<&str> {
    t.oci.regions.iter().map(|r| r.id()).collect()
}

/// The problem `err` reports for variable `name`.
fn message(err: &ConfigError, name: &str) -> String {
    err.problems
        .iter()
        .find(|p| p.variable == name)
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no problem for {name}: {err}"))
}

fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
    Config::from_vars(vars(pairs))
        .unwrap_err()
        .problems
        .iter()
        .map(|p| p.variable.clone())
        .collect()
}

#[test]
fn minimal_configuration_gets_the_documented_defaults() {
    let c = Config::from_vars(vars(&minimal())).unwrap();
    assert_eq!(region_ids(&c.tenancies[0]), ["us-ashburn-1"]);
    assert!(c.tenancies[0].oci.endpoints.is_empty());
    assert_eq!(c.syslog.sender.address, "127.0.0.1:10514");
    assert_eq!(
        c.syslog.sender.transport,
        Transport::Tcp {
            framing: Framing::OctetCounting
        }
    );
    assert_eq!(
        (c.syslog.encoder.format, c.syslog.encoder.payload),
        (SyslogFormat::Rfc5424, Payload::Json)
    );
    assert_eq!(c.windows, WindowPolicy::default());
    assert_eq!(
        (
            c.limits.events_per_second,
            c.limits.oci_requests_per_second.get(),
            c.limits.oci_budget_shares.get(),
            c.limits.concurrency,
            c.limits.type_caps.len()
        ),
        (None, 200, 1, 4, 0)
    );
    assert_eq!(c.limits.oci_budget().ceiling(), 200.0);
    assert!(!c.scrub.disabled && c.filter.include_types.is_empty());
    assert_eq!(
        c.tenancies[0]
            .oci
            .auth
            .credentials()
            .unwrap()
            .tenancy()
            .as_str(),
        TENANCY
    );
}

#[test]
fn event_type_caps_parse_and_a_bad_one_names_the_variable() {
    let mut v = minimal();
    v.push((
        "AUDITFWD_EVENT_TYPE_CAPS",
        "*.GetObject=50:drop, com.oraclecloud.ComputeApi.*=200",
    ));
    let c = Config::from_vars(vars(&v)).unwrap();
    assert_eq!(c.limits.type_caps.len(), 2);
    let mut bad = minimal();
    bad.push(("AUDITFWD_EVENT_TYPE_CAPS", "*.GetObject=fast"));
    assert_eq!(problems(&bad), ["AUDITFWD_EVENT_TYPE_CAPS"]);
}

#[test]
fn a_full_configuration_is_read_into_types() {
    let mut pairs = minimal();
    pairs.retain(|(k, _)| !k.starts_with("AUDITFWD_SYSLOG"));
    pairs.extend([
        ("AUDITFWD_OCI_REGIONS", "iad, eu-frankfurt-1,us-ashburn-1"),
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", "http://127.0.0.1:18080"),
        ("AUDITFWD_SYSLOG_URL", "relp+tls://siem.example.com:2514"),
        ("AUDITFWD_SYSLOG_PROFILE", "qradar"),
        ("AUDITFWD_SYSLOG_PAYLOAD", "json"),
        ("AUDITFWD_SYSLOG_TLS_CA", "/etc/siem/ca.pem"),
        ("AUDITFWD_SYSLOG_TLS_CERT", "/etc/siem/client.pem"),
        ("AUDITFWD_SYSLOG_TLS_KEY", "/etc/siem/client.key"),
        ("AUDITFWD_SYSLOG_FACILITY", "local4"),
        ("AUDITFWD_CHECKPOINT_URL", "s3://state-bucket/prod"),
        ("AUDITFWD_FRESH_LAG", "90s"),
        ("AUDITFWD_SETTLE_LAG", "0"),
        ("AUDITFWD_MAX_WINDOW", "5m"),
        (
            "AUDITFWD_COMPARTMENTS_EXCLUDE",
            "sandbox, ocid1.compartment.oc1..x",
        ),
        ("AUDITFWD_EVENT_TYPES_EXCLUDE", "*.Get*,*.List*"),
        ("AUDITFWD_DROP_SERVICE_PRINCIPALS", "yes"),
        ("AUDITFWD_SCRUB_ALLOW", "User-Agent"),
        ("AUDITFWD_EVENTS_PER_SECOND", "500"),
        ("AUDITFWD_CONCURRENCY", "8"),
    ]);
    let c = Config::from_vars(vars(&pairs)).unwrap();
    assert_eq!(
        region_ids(&c.tenancies[0]),
        ["us-ashburn-1", "eu-frankfurt-1"],
        "deduplicated, keys resolved"
    );
    assert_eq!(
        c.tenancies[0].oci.endpoints[&Service::Audit].to_string(),
        "http://127.0.0.1:18080"
    );
    let Transport::Relp {
        tls: Some(tls),
        window,
    } = &c.syslog.sender.transport
    else {
        panic!("{:?}", c.syslog.sender.transport)
    };
    assert_eq!(*window, 128);
    assert!(matches!(tls.roots, Roots::Bundle(_)) && tls.client_identity.is_some());
    // The QRadar profile sets RFC 3164 and 4 KiB; the explicit payload wins over its LEEF.
    assert_eq!(
        (
            c.syslog.encoder.format,
            c.syslog.encoder.payload,
            c.syslog.encoder.max_message_size
        ),
        (SyslogFormat::Rfc3164, Payload::Json, 4096)
    );
    assert_eq!(
        c.checkpoint,
        CheckpointLocation::S3 {
            bucket: "state-bucket".into(),
            prefix: "prod".into()
        }
    );
    assert_eq!(
        (
            c.windows.fresh_lag,
            c.windows.settle_lag,
            c.windows.max_window_minutes
        ),
        (Duration::from_secs(90), Duration::ZERO, 5)
    );
    assert_eq!(c.tenancies[0].compartments_exclude.len(), 2);
    assert_eq!(c.filter.exclude_types.len(), 2);
    assert!(c.filter.drop_service_principals);
    assert!(c.scrub.allow.contains("user-agent"));
    assert_eq!(c.limits.events_per_second, NonZeroU32::new(500));
    assert_eq!(c.limits.concurrency, 8);
}

#[test]
fn an_empty_environment_names_every_required_variable_at_once() {
    let err = Config::from_vars(Vec::new()).unwrap_err();
    let names: Vec<&str> = err.problems.iter().map(|p| p.variable.as_str()).collect();
    assert_eq!(
        names,
        [
            "AUDITFWD_OCI_TENANCY",
            "AUDITFWD_OCI_USER",
            "AUDITFWD_OCI_KEY_FILE",
            "AUDITFWD_OCI_REGIONS",
            "AUDITFWD_SYSLOG_URL",
            "AUDITFWD_CHECKPOINT_URL"
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "invalid configuration:\n  AUDITFWD_OCI_TENANCY: required: the tenancy OCID"
        ),
        "{text}"
    );
}

#[test]
fn bad_values_are_reported_with_their_variable() {
    let mut pairs = minimal();
    pairs.retain(|(k, _)| *k != "AUDITFWD_SYSLOG_URL" && *k != "AUDITFWD_OCI_TENANCY");
    pairs.extend([
        ("AUDITFWD_OCI_TENANCY", "mytenancy"),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1,ashburn"),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", "http://10.0.0.5:8080"),
        ("AUDITFWD_SYSLOG_URL", "tcp://siem:514"),
        ("AUDITFWD_SYSLOG_TLS_CA", "/ca.pem"),
        ("AUDITFWD_FRESH_LAG", "90"),
        ("AUDITFWD_MAX_WINDOW", "90s"),
        ("AUDITFWD_CONCURRENCY", "0"),
        ("AUDITFWD_DROP_SERVICE_PRINCIPALS", "maybe"),
    ]);
    let err = Config::from_vars(vars(&pairs)).unwrap_err();
    let by_var = |n: &str| message(&err, n);
    assert!(by_var("AUDITFWD_OCI_TENANCY").contains("is not an OCID"));
    assert!(by_var("AUDITFWD_OCI_REGIONS").contains("\"ashburn\""));
    assert!(by_var("AUDITFWD_OCI_IDENTITY_ENDPOINT").contains("only for 127.0.0.0/8"));
    assert!(by_var("AUDITFWD_SYSLOG_TLS_CA").contains("tls:// and relp+tls:// only"));
    assert!(by_var("AUDITFWD_FRESH_LAG").contains("expected e.g. 90s"));
    assert!(by_var("AUDITFWD_MAX_WINDOW").contains("whole minutes"));
    assert!(by_var("AUDITFWD_CONCURRENCY").contains("not a whole number from 1 to 256"));
    assert!(by_var("AUDITFWD_DROP_SERVICE_PRINCIPALS").contains("boolean"));
    assert_eq!(
        problems(&[("AUDITFWD_SYSLOG_URL", "relp://siem")])
            .iter()
            .filter(|v| *v == "AUDITFWD_SYSLOG_URL")
            .count(),
        1
    );
}

/// Values that parse but would break a promise: rejected, each naming its variable and the
/// bounds, all at once.
#[test]
fn absurd_values_are_refused_with_their_bounds() {
    let mut pairs = minimal();
    pairs.retain(|(k, _)| *k != "AUDITFWD_SYSLOG_URL");
    pairs.extend([
        ("AUDITFWD_LEASE_TTL", "0"),
        ("AUDITFWD_AUDIT_RETENTION", "30d"),
        ("AUDITFWD_SYSLOG_RELP_WINDOW", "0"),
        ("AUDITFWD_FRESH_LAG", "5m"),
        ("AUDITFWD_SETTLE_LAG", "2m"),
        (
            "AUDITFWD_SYSLOG_URL",
            "relp://auditfwd:hunter2@siem:2514/x?y",
        ),
    ]);
    let err = Config::from_vars(vars(&pairs)).unwrap_err();
    let by_var = |n: &str| message(&err, n);
    assert_eq!(by_var("AUDITFWD_LEASE_TTL"), "\"0\" is outside 30s..1d");
    assert_eq!(
        by_var("AUDITFWD_AUDIT_RETENTION"),
        "\"30d\" is outside 90d..365d"
    );
    assert!(by_var("AUDITFWD_SYSLOG_RELP_WINDOW").contains("from 1 to 65535"));
    assert!(by_var("AUDITFWD_SETTLE_LAG").contains("below AUDITFWD_FRESH_LAG (5m)"));
    assert!(by_var("AUDITFWD_SYSLOG_URL").contains("user or password"));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!err.is_retryable());

    let mut huge = minimal();
    huge.push(("AUDITFWD_LEASE_TTL", "99999999999d"));
    assert_eq!(problems(&huge), ["AUDITFWD_LEASE_TTL"]);
    // A settle lag of 0 turns the second listing off, whatever the fresh lag.
    let mut off = minimal();
    off.extend([("AUDITFWD_FRESH_LAG", "5m"), ("AUDITFWD_SETTLE_LAG", "0")]);
    assert!(Config::from_vars(vars(&off)).is_ok());
    for (name, value) in [
        ("AUDITFWD_LEASE_TTL", "30s"),
        ("AUDITFWD_LEASE_TTL", "24h"),
        ("AUDITFWD_AUDIT_RETENTION", "365d"),
        ("AUDITFWD_SYSLOG_RELP_WINDOW", "1"),
    ] {
        let mut ok = minimal();
        ok.push((name, value));
        assert!(Config::from_vars(vars(&ok)).is_ok(), "{name}={value}");
    }
}

#[test]
fn without_a_key_the_error_names_every_way_to_give_one() {
    let mut pairs = minimal();
    pairs.retain(|(k, _)| *k != "AUDITFWD_OCI_KEY_FILE");
    let err = Config::from_vars(vars(&pairs)).unwrap_err();
    let message = &err.problems[0].message;
    for name in [
        "AUDITFWD_OCI_KEY_FILE",
        "AUDITFWD_OCI_KEY,",
        "AUDITFWD_OCI_KEY_KMS",
        "AUDITFWD_OCI_KEY_SECRET_ARN",
        "AUDITFWD_OCI_KEY_SSM_PARAMETER",
    ] {
        assert!(message.contains(name), "{name} missing from: {message}");
    }
}

#[test]
fn the_runner_and_rate_limits_come_from_the_configuration() {
    let mut pairs = minimal();
    pairs.extend([
        ("AUDITFWD_CONCURRENCY", "7"),
        ("AUDITFWD_LEASE_TTL", "2m"),
        ("AUDITFWD_COMPARTMENTS_EXCLUDE", "sandbox"),
        ("AUDITFWD_SCRUB_DISABLE", "true"),
        ("AUDITFWD_EVENTS_PER_SECOND", "100"),
        ("AUDITFWD_EVENT_TYPE_CAPS", "*.GetObject=5:drop"),
    ]);
    let c = Config::from_vars(vars(&pairs)).unwrap();
    let rc = c.tenancies[0].runner_config(&c);
    assert_eq!(rc.windows, c.windows);
    assert_eq!(
        (rc.concurrency, rc.lease_ttl),
        (7, Duration::from_secs(120))
    );
    assert_eq!(rc.exclude.len(), 1);
    assert!(rc.include.is_empty() && rc.scrub.disabled);
    assert!(rc.owner.starts_with("auditfwd-"), "{}", rc.owner);
    let limits = RateLimits::from(&c);
    // OCI requests are limited at the transport (the budget), not in the pipeline.
    assert!(limits.events.is_some() && limits.oci_requests.is_none());
    assert!(!limits.type_caps.is_empty());
    assert!(
        RateLimits::from(&Config::from_vars(vars(&minimal())).unwrap())
            .events
            .is_none()
    );
}

#[test]
fn secrets_never_print() {
    let mut pairs = minimal();
    pairs.retain(|(k, _)| *k != "AUDITFWD_OCI_KEY_FILE");
    pairs.extend([
        (
            "AUDITFWD_OCI_KEY",
            "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END PRIVATE KEY-----",
        ),
        ("AUDITFWD_OCI_KEY_PASSPHRASE", "hunter2"),
    ]);
    let c = Config::from_vars(vars(&pairs)).unwrap();
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("TOPSECRETKEYBYTES") && !dbg.contains("hunter2"),
        "{dbg}"
    );
}

#[test]
fn a_config_file_profile_is_an_alternative_not_a_mix() {
    let dir = std::env::temp_dir().join(format!("auditfwd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config");
    std::fs::write(
        &file,
        format!("[PROD]\nuser={USER}\ntenancy={TENANCY}\nkey_file={KEY}\nregion=us-phoenix-1\n"),
    )
    .unwrap();
    let mut pairs = minimal();
    pairs.retain(|(k, _)| !k.starts_with("AUDITFWD_OCI_") || *k == "AUDITFWD_OCI_REGIONS");
    let path = file.display().to_string();
    pairs.extend([
        ("AUDITFWD_OCI_CONFIG_FILE", path.as_str()),
        ("AUDITFWD_OCI_PROFILE", "PROD"),
    ]);
    let c = Config::from_vars(vars(&pairs)).unwrap();
    assert_eq!(
        c.tenancies[0]
            .oci
            .auth
            .credentials()
            .unwrap()
            .user()
            .as_str(),
        USER
    );
    pairs.push(("AUDITFWD_OCI_TENANCY", TENANCY));
    assert_eq!(problems(&pairs), ["AUDITFWD_OCI_TENANCY"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn each_process_takes_its_share_of_the_tenancy_request_budget() {
    let mut v = minimal();
    v.push(("AUDITFWD_OCI_REQUESTS_PER_SECOND", "300"));
    v.push(("AUDITFWD_OCI_BUDGET_SHARES", "6"));
    let c = Config::from_vars(vars(&v)).unwrap();
    assert_eq!(c.limits.oci_budget().ceiling(), 50.0);
    let mut zero = minimal();
    zero.push(("AUDITFWD_OCI_BUDGET_SHARES", "0"));
    let e = Config::from_vars(vars(&zero)).unwrap_err().to_string();
    assert!(e.contains("AUDITFWD_OCI_BUDGET_SHARES"), "{e}");
}

/// Two tenancies: one from a profile of the shared config file (named like the tenancy), one
/// from its own variables; regions shared unless given, compartment rules per tenancy.
#[test]
fn several_tenancies_each_with_its_own_credentials_regions_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oci-config");
    std::fs::write(
        &file,
        format!(
            "[acme]\nuser={USER}\nfingerprint=73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7\nkey_file={KEY}\ntenancy={TENANCY}\nregion=us-ashburn-1\n"
        ),
    )
    .unwrap();
    let globex = "ocid1.tenancy.oc1..aaaaaaaaglobexglobexglobexglobexglobexglobexglobexglobex";
    let pairs = vec![
        ("AUDITFWD_TENANCIES", "acme, globex-eu"),
        ("AUDITFWD_OCI_CONFIG_FILE", file.to_str().unwrap()),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ("AUDITFWD_COMPARTMENTS_EXCLUDE", "sandbox"),
        ("AUDITFWD_TENANCY_GLOBEX_EU_OCI_TENANCY", globex),
        ("AUDITFWD_TENANCY_GLOBEX_EU_OCI_USER", USER),
        ("AUDITFWD_TENANCY_GLOBEX_EU_OCI_KEY_FILE", KEY),
        (
            "AUDITFWD_TENANCY_GLOBEX_EU_OCI_REGIONS",
            "eu-frankfurt-1,uk-london-1",
        ),
        ("AUDITFWD_TENANCY_GLOBEX_EU_COMPARTMENTS_INCLUDE", "prod"),
        ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
        ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
    ];
    let c = Config::from_vars(vars(&pairs)).unwrap();
    let names: Vec<&str> = c.tenancies.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["acme", "globex-eu"]);
    let (acme, globex_eu) = (&c.tenancies[0], &c.tenancies[1]);
    match &acme.oci.auth {
        OciAuth::ConfigFile { profile, .. } => assert_eq!(profile, "acme"),
        other => panic!("acme should use the shared file: {other:?}"),
    }
    assert_eq!(
        acme.oci.auth.credentials().unwrap().tenancy().as_str(),
        TENANCY
    );
    assert_eq!(
        globex_eu.oci.auth.credentials().unwrap().tenancy().as_str(),
        globex
    );
    assert_eq!(region_ids(acme), ["us-ashburn-1"]);
    assert_eq!(region_ids(globex_eu), ["eu-frankfurt-1", "uk-london-1"]);
    // Rules: the shared exclude applies to both; the include is globex-eu's alone.
    assert!(acme.compartments_include.is_empty());
    assert_eq!(acme.compartments_exclude.len(), 1);
    assert_eq!(globex_eu.runner_config(&c).include.len(), 1);
    assert_eq!(globex_eu.runner_config(&c).exclude.len(), 1);
    assert!(c.single_tenancy().is_none());
}

#[test]
fn a_tenancys_problems_name_its_own_variables_and_shared_credentials_are_refused() {
    let pairs = vec![
        ("AUDITFWD_TENANCIES", "acme,globex"),
        ("AUDITFWD_OCI_KEY_FILE", KEY),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ("AUDITFWD_TENANCY_ACME_OCI_TENANCY", TENANCY),
        ("AUDITFWD_TENANCY_ACME_OCI_USER", USER),
        ("AUDITFWD_TENANCY_ACME_OCI_KEY_FILE", KEY),
        ("AUDITFWD_TENANCY_GLOBEX_OCI_TENANCY", "not-an-ocid"),
        ("AUDITFWD_TENANCY_GLOBEX_OCI_REGIONS", "mars-1"),
        ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
        ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
    ];
    let err = Config::from_vars(vars(&pairs)).unwrap_err();
    assert!(message(&err, "AUDITFWD_OCI_KEY_FILE").contains("AUDITFWD_TENANCY_<NAME>_"));
    message(&err, "AUDITFWD_TENANCY_GLOBEX_OCI_TENANCY");
    message(&err, "AUDITFWD_TENANCY_GLOBEX_OCI_REGIONS");
    assert!(message(&err, "AUDITFWD_TENANCY_GLOBEX_OCI_USER").starts_with("required"));
    let key = message(&err, "AUDITFWD_TENANCY_GLOBEX_OCI_KEY_FILE");
    assert!(key.contains("AUDITFWD_TENANCY_GLOBEX_OCI_KEY_KMS"), "{key}");
    // acme is fine: nothing is reported against its variables.
    assert!(
        !err.problems.iter().any(|p| p.variable.contains("_ACME_")),
        "{err}"
    );
}

#[test]
fn tenancy_names_must_be_distinct_as_variable_prefixes() {
    let mut pairs = minimal();
    pairs.push(("AUDITFWD_TENANCIES", "acme-eu,ACME_EU"));
    let err = Config::from_vars(vars(&pairs)).unwrap_err();
    assert!(message(&err, "AUDITFWD_TENANCIES").contains("AUDITFWD_TENANCY_ACME_EU_"));
}

#[test]
fn log_searches_are_named_queries_each_in_a_region() {
    let mut pairs = minimal();
    pairs.push((
        "AUDITFWD_LOG_SEARCHES",
        "flow=search \"ocid1.compartment.oc1..a/ocid1.loggroup.oc1..b\" | where type = 'x'; waf@eu-frankfurt-1 = search \"ocid1.compartment.oc1..c\"",
    ));
    let c = Config::from_vars(vars(&pairs)).unwrap();
    let s = &c.tenancies[0].log_searches;
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "flow");
    assert_eq!(
        s[0].query,
        "search \"ocid1.compartment.oc1..a/ocid1.loggroup.oc1..b\" | where type = 'x'"
    );
    assert_eq!(s[0].region, None);
    assert_eq!(s[1].name, "waf");
    assert_eq!(s[1].region.as_deref(), Some("eu-frankfurt-1"));
    for bad in [
        "no-equals-sign",
        "a b=search \"x\"",
        "flow=",
        "x@mars-1=search \"x\"",
        "x=search \"a\"; x=search \"b\"",
    ] {
        let mut pairs = minimal();
        pairs.push(("AUDITFWD_LOG_SEARCHES", bad));
        message(
            &Config::from_vars(vars(&pairs)).unwrap_err(),
            "AUDITFWD_LOG_SEARCHES",
        );
    }
    // With several tenancies a search belongs to one of them.
    let pairs = vec![
        ("AUDITFWD_TENANCIES", "acme"),
        ("AUDITFWD_TENANCY_ACME_OCI_TENANCY", TENANCY),
        ("AUDITFWD_TENANCY_ACME_OCI_USER", USER),
        ("AUDITFWD_TENANCY_ACME_OCI_KEY_FILE", KEY),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ("AUDITFWD_LOG_SEARCHES", "flow=search \"x\""),
        ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
        ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
    ];
    let err = Config::from_vars(vars(&pairs)).unwrap_err();
    assert!(
        message(&err, "AUDITFWD_LOG_SEARCHES").contains("AUDITFWD_TENANCY_<NAME>_LOG_SEARCHES")
    );
}

#[test]
fn cloud_guard_is_collected_in_the_region_named_and_inherited_by_tenancies() {
    let c = Config::from_vars(vars(&minimal())).unwrap();
    assert_eq!(c.tenancies[0].cloud_guard_region, None, "off by default");

    let mut pairs = minimal();
    pairs.push(("AUDITFWD_CLOUD_GUARD_REGION", "eu-frankfurt-1"));
    pairs.push(("AUDITFWD_OCI_CLOUD_GUARD_ENDPOINT", "http://127.0.0.1:9"));
    let c = Config::from_vars(vars(&pairs)).unwrap();
    let t = &c.tenancies[0];
    assert_eq!(
        t.cloud_guard_region.as_ref().map(|r| r.id()),
        Some("eu-frankfurt-1"),
        "need not be one of the collected regions"
    );
    assert!(
        t.oci
            .endpoints
            .contains_key(&auditfwd_oci::Service::CloudGuard)
    );

    let mut pairs = minimal();
    pairs.push(("AUDITFWD_CLOUD_GUARD_REGION", "mars-1"));
    message(
        &Config::from_vars(vars(&pairs)).unwrap_err(),
        "AUDITFWD_CLOUD_GUARD_REGION",
    );

    // A tenancy inherits the shared region, or names its own.
    let pairs = vec![
        ("AUDITFWD_TENANCIES", "acme,globex"),
        ("AUDITFWD_TENANCY_ACME_OCI_TENANCY", TENANCY),
        ("AUDITFWD_TENANCY_ACME_OCI_USER", USER),
        ("AUDITFWD_TENANCY_ACME_OCI_KEY_FILE", KEY),
        ("AUDITFWD_TENANCY_GLOBEX_OCI_TENANCY", TENANCY),
        ("AUDITFWD_TENANCY_GLOBEX_OCI_USER", USER),
        ("AUDITFWD_TENANCY_GLOBEX_OCI_KEY_FILE", KEY),
        ("AUDITFWD_TENANCY_GLOBEX_CLOUD_GUARD_REGION", "uk-london-1"),
        ("AUDITFWD_CLOUD_GUARD_REGION", "us-ashburn-1"),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
        ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
    ];
    let c = Config::from_vars(vars(&pairs)).unwrap();
    let regions: Vec<Option<&str>> = c
        .tenancies
        .iter()
        .map(|t| t.cloud_guard_region.as_ref().map(|r| r.id()))
        .collect();
    assert_eq!(regions, [Some("us-ashburn-1"), Some("uk-london-1")]);
}
