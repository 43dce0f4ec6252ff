//! The Lambda functions over several tenancies, a log search and Cloud Guard: the poller and
//! the worker (called directly, no runtime) against two emulated tenancies, a real rsyslogd over
//! RELP and moto (S3 checkpoint, SQS work queue). acme has a VCN flow log search and Cloud Guard
//! problems besides its Audit events; globex's key is revoked. Through the work queue, acme's events and records reach
//! rsyslog exactly once, the poller's error names globex alone, and once globex's key is back
//! the next poll and its worker deliver globex's events too, sending nothing of acme's again.
//!
//! The runners are built as `auditfwd_runtime::build_all` builds them from the same
//! `AUDITFWD_TENANCIES` configuration, but on this moto (the runtime reads the AWS endpoint
//! from the process environment, which a test running beside others must not change).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use auditfwd_checkpoint::{AnyStore, S3Store};
use auditfwd_config::Config;
use auditfwd_e2e::rsyslog::problem_version_id;
use auditfwd_e2e::tenancy::Tenancy;
use auditfwd_lambda::budget::STOP_MARGIN;
use auditfwd_lambda::message::WorkMessage;
use auditfwd_lambda::poller::{self, Trigger};
use auditfwd_lambda::{
    Budget, Deps, Function, Invocation, LambdaError, Live, Metrics, RunnerEntry, RunnerId,
    SqsQueue, worker,
};
use auditfwd_oci::Endpoint;
use auditfwd_oci::auth::{ApiKeyCredentials, OciConfigFile};
use auditfwd_pipeline::{
    CloudGuardSource, LiveSource, LogSearchSource, OciSource, RateLimits, Runner, SystemClock,
};
use auditfwd_runtime::{CLOUD_GUARD_STATE, LOG_SEARCH_STATE, LiveRunner, TenancyRunner};
use auditfwd_syslog::{Encoder, SyslogSender, SyslogSink};
use chrono::Utc;

use crate::lambda_common::{BUCKET, LambdaEnv, PREFIX, sqs_event};
use crate::log_search::{FRESH_LAG, assert_due_exactly_once, everything};

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

/// `AUDITFWD_LOG_SEARCHES` for the seeded flow log.
fn flow_search(tenancy: &Tenancy) -> String {
    let log = tenancy.emu.logs().into_iter().next().expect("a seeded log");
    format!(
        "flow=search \"{}/{}/{}\"",
        log.compartment_id, log.log_group_id, log.id
    )
}

/// The functions' variables for acme (the environment's tenancy, with its flow log search)
/// and globex: per-tenancy credentials, regions and endpoints, as a user sets them.
fn vars(env: &LambdaEnv, globex: &Tenancy) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = env
        .vars("on")
        .into_iter()
        .filter(|(k, _)| {
            ![
                "AUDITFWD_OCI_CONFIG_FILE",
                "AUDITFWD_OCI_REGIONS",
                "AUDITFWD_OCI_AUDIT_ENDPOINT",
                "AUDITFWD_OCI_IDENTITY_ENDPOINT",
            ]
            .contains(&k.as_str())
        })
        .collect();
    vars.push(("AUDITFWD_TENANCIES".into(), "acme,globex".into()));
    vars.push(("AUDITFWD_FRESH_LAG".into(), FRESH_LAG.into()));
    for (name, t) in [("ACME", &env.tenancy), ("GLOBEX", globex)] {
        let base = t.emu.base_url();
        for (rest, value) in [
            ("OCI_CONFIG_FILE", t.cli_config.display().to_string()),
            ("OCI_PROFILE", "DEFAULT".into()),
            ("OCI_REGIONS", t.emu.region()),
            ("OCI_AUDIT_ENDPOINT", base.clone()),
            ("OCI_IDENTITY_ENDPOINT", base.clone()),
            ("OCI_LOGGING_ENDPOINT", base.clone()),
            ("OCI_CLOUD_GUARD_ENDPOINT", base),
        ] {
            vars.push((format!("AUDITFWD_TENANCY_{name}_{rest}"), value));
        }
    }
    vars.push((
        "AUDITFWD_TENANCY_ACME_LOG_SEARCHES".into(),
        flow_search(&env.tenancy),
    ));
    vars.push((
        "AUDITFWD_TENANCY_ACME_CLOUD_GUARD_REGION".into(),
        env.tenancy.emu.region(),
    ));
    vars
}

/// A runner over `source` with the configured sink, on the bucket under `prefix`.
fn runner(
    env: &LambdaEnv,
    config: &Config,
    source: LiveSource,
    mut rc: auditfwd_pipeline::RunnerConfig,
    prefix: &str,
    owner: &str,
) -> LiveRunner {
    let encoder = Encoder::new(config.syslog.encoder.clone()).unwrap();
    let sender = SyslogSender::new(config.syslog.sender.clone()).unwrap();
    owner.clone_into(&mut rc.owner);
    // Several runners: the poller records freshness over all of them.
    rc.record_gauges = false;
    Runner::new(
        Arc::new(source),
        Arc::new(AnyStore::S3(S3Store::new(
            env.moto.client(),
            BUCKET,
            prefix,
        ))),
        move || SyslogSink::new(encoder.clone(), sender.new_connection()),
        Arc::new(SystemClock),
        rc,
        RateLimits::from(config),
    )
}

/// The handlers' dependencies for `vars`: per tenancy its Audit runner and, when it has
/// searches, its log search runner (under `sources/log-search`), as `build_all` makes them.
fn deps(env: &LambdaEnv, vars: Vec<(String, String)>, owner: &str) -> Deps<Live> {
    let config = Config::from_vars(vars).unwrap();
    let mut entries: Vec<RunnerEntry<Live>> = Vec::new();
    for t in &config.tenancies {
        let credentials = t.oci.auth.credentials().unwrap();
        let regions: Vec<auditfwd_oci::Config> = t
            .oci
            .regions
            .iter()
            .map(|region| {
                let mut b = auditfwd_oci::Config::builder()
                    .credentials(credentials.clone())
                    .region(region.clone())
                    .request_budget(config.limits.oci_budget());
                for (service, endpoint) in &t.oci.endpoints {
                    b = b.endpoint_override(*service, Endpoint::clone(endpoint));
                }
                b.build().unwrap()
            })
            .collect();
        let audit =
            LiveSource::Audit(OciSource::new(credentials.tenancy().clone(), &regions).unwrap());
        entries.push(
            TenancyRunner {
                name: t.name.clone(),
                source: "audit",
                runner: Ok(runner(
                    env,
                    &config,
                    audit,
                    t.runner_config(&config),
                    PREFIX,
                    owner,
                )),
            }
            .into(),
        );
        if !t.log_searches.is_empty() {
            let search = LiveSource::LogSearch(
                LogSearchSource::new(
                    credentials.tenancy().clone(),
                    &regions,
                    t.log_searches.clone(),
                )
                .unwrap(),
            );
            let mut rc = t.runner_config(&config);
            rc.include.clear();
            rc.exclude.clear();
            entries.push(
                TenancyRunner {
                    name: t.name.clone(),
                    source: "log-search",
                    runner: Ok(runner(
                        env,
                        &config,
                        search,
                        rc,
                        &format!("{PREFIX}/{LOG_SEARCH_STATE}"),
                        owner,
                    )),
                }
                .into(),
            );
        }
        if let Some(region) = &t.cloud_guard_region {
            let mut b = auditfwd_oci::Config::builder()
                .credentials(credentials.clone())
                .region(region.clone())
                .request_budget(config.limits.oci_budget());
            for (service, endpoint) in &t.oci.endpoints {
                b = b.endpoint_override(*service, Endpoint::clone(endpoint));
            }
            let source = LiveSource::CloudGuard(CloudGuardSource::new(
                credentials.tenancy().clone(),
                &b.build().unwrap(),
            ));
            let mut rc = t.runner_config(&config);
            rc.include.clear();
            rc.exclude.clear();
            entries.push(
                TenancyRunner {
                    name: t.name.clone(),
                    source: "cloud-guard",
                    runner: Ok(runner(
                        env,
                        &config,
                        source,
                        rc,
                        &format!("{PREFIX}/{CLOUD_GUARD_STATE}"),
                        owner,
                    )),
                }
                .into(),
            );
        }
    }
    Deps::new(
        entries,
        config.fan_out.clone(),
        Some(SqsQueue::new(env.sqs.clone(), env.queue_url.clone())),
        format!("s3://{BUCKET}/{PREFIX}"),
    )
}

fn invocation(function: Function, id: &str) -> Invocation {
    Invocation::new(
        function,
        id,
        Budget::from_remaining(Duration::from_secs(900), STOP_MARGIN),
        Metrics::disabled(),
    )
}

/// Takes every message off the queue, works it in batches of five (as Lambda's event source
/// mapping does) and deletes what did not fail; returns the runners the messages named.
async fn work_queue(env: &LambdaEnv, deps: &Deps<Live>, round: &str) -> BTreeSet<RunnerId> {
    let messages = env.receive_all().await;
    let mut runners = BTreeSet::new();
    for m in &messages {
        let w = WorkMessage::parse(m.body().unwrap()).unwrap();
        runners.insert(w.runner.expect("a current message names its runner"));
    }
    for (i, batch) in messages.chunks(5).enumerate() {
        let r = worker::work(
            deps,
            sqs_event(batch),
            &invocation(Function::Worker, &format!("{round}-{i}")),
        )
        .await
        .unwrap();
        assert!(r.failed_ids().is_empty(), "{:?}", r.failures);
        env.delete(batch, &r.failed_ids()).await;
    }
    runners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenancies_one_revoked_and_a_log_search_through_the_poller_and_the_worker() {
    let env = LambdaEnv::start(1801, |b| {
        b.compartments(3)
            .max_depth(1)
            .events_per_minute(2.0)
            .backlog(chrono::Duration::minutes(20))
            .page_size(10)
            .log_records(150)
            .problems(60)
    })
    .await;
    let globex = Tenancy::backlog(1802, |b| {
        b.compartments(3)
            .max_depth(1)
            .events_per_minute(2.0)
            .backlog(chrono::Duration::minutes(20))
            .page_size(10)
    })
    .await;
    assert_ne!(env.tenancy.emu.tenancy_id(), globex.emu.tenancy_id());
    // globex's key is revoked: OCI answers 401 to everything it signs.
    assert!(globex.emu.remove_key(&fingerprint(&globex)));

    let vars = vars(&env, &globex);
    let poller_deps = deps(&env, vars.clone(), "poller");
    let worker_deps = deps(&env, vars, "worker");
    let acme = RunnerId::new("acme", "audit");
    let acme_search = RunnerId::new("acme", "log-search");
    let acme_cloud_guard = RunnerId::new("acme", "cloud-guard");
    let globex_audit = RunnerId::new("globex", "audit");
    assert_eq!(
        poller_deps
            .runners
            .entries()
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        [
            acme.clone(),
            acme_search.clone(),
            acme_cloud_guard.clone(),
            globex_audit.clone()
        ]
    );

    // The poller: acme's runners fan out; globex's fails, and the error names it alone.
    let started = Utc::now();
    let e = poller::poll(
        &poller_deps,
        &Trigger::manual(),
        &invocation(Function::Poller, "p-1"),
    )
    .await
    .unwrap_err();
    let LambdaError::Runners { failed, total } = &e else {
        panic!("not the failed runners' error: {e:?}");
    };
    assert_eq!(*total, 4);
    assert_eq!(
        failed.iter().map(|f| &f.runner).collect::<Vec<_>>(),
        [&globex_audit]
    );
    let text = e.to_string();
    assert!(
        text.contains("globex/audit")
            && text.contains("cannot list the compartment tree")
            && (text.contains("401") || text.contains("NotAuthenticated")),
        "{text}"
    );
    assert!(!text.contains("acme"), "{text}");
    assert_eq!(e.error_type(), "auditfwd.Retryable.Runners");

    // The worker, through SQS: each message to the runner it names.
    let named = work_queue(&env, &worker_deps, "w-1").await;
    assert_eq!(
        named,
        BTreeSet::from([acme.clone(), acme_search.clone(), acme_cloud_guard.clone()]),
        "acme's Audit, log search and Cloud Guard runners, each sent its shards"
    );
    let mut acme_items = everything(&env.tenancy);
    acme_items.extend(
        env.tenancy
            .emu
            .problems()
            .iter()
            .map(|p| (problem_version_id(p), p.time_last_detected)),
    );
    let records: BTreeSet<String> = env
        .tenancy
        .emu
        .log_records()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(records.len() > 100, "the flow log has records");
    let received = env.rsyslog.counts();
    assert_due_exactly_once(&acme_items, started, &received);
    assert!(
        received.keys().filter(|id| records.contains(*id)).count() > 100,
        "the search's records were delivered through the work queue"
    );
    assert!(
        received
            .keys()
            .filter(|id| id.starts_with("ocid1.cloudguardproblem."))
            .count()
            > 30,
        "the problems were delivered through the work queue"
    );
    let globex_ids = globex.truth_ids();
    assert!(
        received.keys().all(|id| !globex_ids.contains(id)),
        "nothing of globex could be read"
    );

    // globex's key is back: the next poll succeeds for every runner, and its worker delivers
    // globex's events; acme's are not sent again.
    globex.emu.test_signer().expect("register the key again");
    let started = Utc::now();
    let r = poller::poll(
        &poller_deps,
        &Trigger::manual(),
        &invocation(Function::Poller, "p-2"),
    )
    .await
    .unwrap();
    assert!(r.complete, "{}", r.summary);
    assert_eq!(r.runners.len(), 4);
    // The Cloud Guard runner swept what is open (the poller does it; nothing closed here).
    assert!(r.summary.contains("sweep: 60 open"), "{}", r.summary);
    assert!(
        r.summary.contains("== tenancy globex audit"),
        "{}",
        r.summary
    );
    let named = work_queue(&env, &worker_deps, "w-2").await;
    assert!(named.contains(&globex_audit), "{named:?}");
    let mut all = acme_items;
    all.extend(everything(&globex));
    assert_due_exactly_once(&all, started, &env.rsyslog.counts());
}
