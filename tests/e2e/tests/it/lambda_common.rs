//! Shared set-up for the Lambda tests: an emulated tenancy, a private rsyslogd (RELP), and one
//! moto server for S3 (the checkpoint), SQS (the work queue) and KMS (the OCI key), as the
//! deployed functions would see them; plus the checks the tests make on what arrived and what
//! was committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use auditfwd_checkpoint::shard_manifest::ShardManifest;
use auditfwd_checkpoint::{AnyStore, IdDigest, S3Store};
use auditfwd_config::Config;
use auditfwd_e2e::checkpoint::{self, Cursors};
use auditfwd_e2e::moto::Moto;
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::Tenancy;
use auditfwd_lambda::{Deps, Live, RunnerEntry, RunnerId, SqsQueue};
use auditfwd_oci::{Endpoint, Region};
use auditfwd_pipeline::limits::Throttle;
use auditfwd_pipeline::{LiveSource, OciSource, RateLimits, Runner, RunnerConfig, SystemClock};
use auditfwd_syslog::{Encoder, SyslogSender, SyslogSink};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::config::{Credentials, Region as AwsRegion};
use oci_emulator::EmulatorBuilder;

pub(crate) const BUCKET: &str = "auditfwd-state";
pub(crate) const PREFIX: &str = "auditfwd";
pub(crate) const QUEUE: &str = "auditfwd-work";

/// What the handlers run on in-process.
pub(crate) type TestDeps = Deps<Live>;

/// A tenancy, rsyslog and moto (S3 bucket and SQS queue created).
pub(crate) struct LambdaEnv {
    pub(crate) tenancy: Tenancy,
    pub(crate) rsyslog: Rsyslog,
    pub(crate) moto: Moto,
    pub(crate) store: AnyStore,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) queue_url: String,
}

impl LambdaEnv {
    pub(crate) async fn start(
        seed: u64,
        shape: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
    ) -> Self {
        let tenancy = Tenancy::backlog(seed, shape).await;
        let rsyslog = Rsyslog::start();
        let moto = Moto::start();
        let s3 = moto.client();
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let sqs = sqs_client(&moto.endpoint());
        let queue_url = sqs
            .create_queue()
            .queue_name(QUEUE)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        LambdaEnv {
            tenancy,
            rsyslog,
            store: AnyStore::S3(S3Store::new(s3, BUCKET, PREFIX)),
            moto,
            sqs,
            queue_url,
        }
    }

    /// The functions' configuration variables (OCI through the emulator's CLI config, RELP to
    /// rsyslog, the S3 checkpoint, fan-out as given, fast limits).
    pub(crate) fn vars(&self, fan_out: &str) -> Vec<(String, String)> {
        let emu = &self.tenancy.emu;
        let base = emu.base_url();
        [
            (
                "AUDITFWD_OCI_CONFIG_FILE",
                self.tenancy.cli_config.display().to_string(),
            ),
            ("AUDITFWD_OCI_REGIONS", emu.region()),
            ("AUDITFWD_OCI_AUDIT_ENDPOINT", base.clone()),
            ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base.clone()),
            ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base),
            ("AUDITFWD_SYSLOG_URL", self.rsyslog.relp_url()),
            ("AUDITFWD_CHECKPOINT_URL", format!("s3://{BUCKET}/{PREFIX}")),
            ("AUDITFWD_S3_FORCE_PATH_STYLE", "true".into()),
            ("AUDITFWD_OCI_REQUESTS_PER_SECOND", "1000".into()),
            ("AUDITFWD_CONCURRENCY", "4".into()),
            ("AUDITFWD_FAN_OUT", fan_out.into()),
            ("AUDITFWD_WORK_QUEUE_URL", self.queue_url.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The handlers' dependencies, built as `auditfwd_runtime::build` builds them, but on this
    /// moto (the runtime reads the AWS endpoint from the process environment, which a test
    /// running beside others must not change).
    pub(crate) fn deps(&self, vars: Vec<(String, String)>, owner: &str) -> TestDeps {
        self.deps_at(vars, owner, PREFIX)
    }

    /// [`Self::deps`] with the checkpoint under another prefix of the bucket.
    pub(crate) fn deps_at(
        &self,
        vars: Vec<(String, String)>,
        owner: &str,
        prefix: &str,
    ) -> TestDeps {
        let config = Config::from_vars(vars).unwrap();
        let credentials = config.tenancies[0].oci.auth.credentials().unwrap();
        let emu = &self.tenancy.emu;
        let oci = auditfwd_oci::Config::builder()
            .credentials(credentials.clone())
            .region(Region::parse(&emu.region()).unwrap())
            .endpoint_override_all(Endpoint::parse(&emu.base_url()).unwrap())
            .build()
            .unwrap();
        let source =
            LiveSource::Audit(OciSource::new(credentials.tenancy().clone(), &[oci]).unwrap());
        let encoder = Encoder::new(config.syslog.encoder.clone()).unwrap();
        let sender = SyslogSender::new(config.syslog.sender.clone()).unwrap();
        let mut rc = RunnerConfig::new(config.windows.clone(), owner);
        rc.concurrency = config.limits.concurrency;
        rc.lease_ttl = config.limits.lease_ttl;
        let limits = RateLimits {
            oci_requests: Some(Throttle::per_second(
                "oci_requests",
                config.limits.oci_requests_per_second,
            )),
            ..RateLimits::default()
        };
        let runner = Runner::new(
            Arc::new(source),
            Arc::new(AnyStore::S3(S3Store::new(
                self.moto.client(),
                BUCKET,
                prefix,
            ))),
            move || SyslogSink::new(encoder.clone(), sender.new_connection()),
            Arc::new(SystemClock),
            rc,
            limits,
        );
        Deps::new(
            vec![RunnerEntry::ready(
                RunnerId::new("default", "audit"),
                runner,
            )],
            config.fan_out.clone(),
            Some(SqsQueue::new(self.sqs.clone(), self.queue_url.clone())),
            format!("s3://{BUCKET}/{prefix}"),
        )
    }

    /// Every message on the work queue now (received, so invisible for moto's 30 s).
    pub(crate) async fn receive_all(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return out;
            }
            out.extend(got);
        }
    }

    /// Deletes `messages` from the queue, as Lambda does with those a batch did not fail.
    pub(crate) async fn delete(&self, messages: &[aws_sdk_sqs::types::Message], failed: &[&str]) {
        for m in messages {
            if failed.contains(&m.message_id().unwrap()) {
                continue;
            }
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    /// Every compartment's cursor, from its shard's state.
    pub(crate) async fn states(&self) -> Cursors {
        checkpoint::cursors(&self.store, &self.tenancy.scopes()).await
    }

    /// Every shard manifest.
    pub(crate) async fn manifests(&self) -> Vec<ShardManifest> {
        checkpoint::manifests(&self.store, &self.tenancy.scopes()).await
    }

    /// Shards whose lease is held now, with the lease's owner.
    pub(crate) async fn leases(&self) -> Vec<(String, String)> {
        checkpoint::shards(&self.store, &self.tenancy.scopes())
            .await
            .states
            .into_iter()
            .filter_map(|(id, s)| Some((id.to_string(), s?.lease?.owner)))
            .collect()
    }
}

/// An SQS client for moto (static test credentials).
pub(crate) fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(AwsRegion::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// The SQS event Lambda would deliver for `messages` (the shape of `fixtures/sqs-batch.json`).
pub(crate) fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    serde_json::from_value(sqs_event_json(messages)).unwrap()
}

/// [`sqs_event`] as the JSON Lambda sends.
pub(crate) fn sqs_event_json(messages: &[aws_sdk_sqs::types::Message]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id().unwrap(),
                "receiptHandle": m.receipt_handle().unwrap(),
                "body": m.body().unwrap(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795370000000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1795370000001"
                },
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{QUEUE}"),
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Fails unless every committed range's events (all of them: the backlog is frozen) were
/// received, and the manifests' per-window digests, merged per compartment, equal the digest
/// of exactly those events: nothing was committed that the receiver did not get, and each was
/// recorded as forwarded once. Returns the ids committed.
pub(crate) fn assert_manifests_delivered(
    tenancy: &Tenancy,
    manifests: &[ShardManifest],
    received: &BTreeMap<String, usize>,
) -> BTreeSet<String> {
    let truth = tenancy.truth();
    let mut committed = BTreeSet::new();
    let mut recorded: BTreeMap<&str, IdDigest> = BTreeMap::new();
    for r in manifests.iter().flat_map(|m| &m.ranges) {
        let start = r.range.start().as_datetime();
        let end = r.range.end().as_datetime();
        let ids: Vec<&str> = truth
            .iter()
            .filter(|e| e.compartment == r.compartment && e.time >= start && e.time < end)
            .map(|e| e.id.as_str())
            .collect();
        let missing: Vec<&&str> = ids
            .iter()
            .filter(|id| !received.contains_key(**id))
            .collect();
        assert!(
            missing.is_empty(),
            "range {} of {} committed, but {} of its events never arrived (e.g. {:?})",
            r.range,
            r.compartment,
            missing.len(),
            missing.first()
        );
        let digest = recorded.entry(r.compartment.as_str()).or_default();
        for t in &r.windows {
            let d = IdDigest::from_hex(&t.digest)
                .unwrap_or_else(|| panic!("manifest digest {:?} is not hex", t.digest));
            digest.merge(&d);
        }
        committed.extend(ids.into_iter().map(str::to_owned));
    }
    for (compartment, digest) in &recorded {
        let mut expected = IdDigest::default();
        for e in truth
            .iter()
            .filter(|e| e.compartment == *compartment && committed.contains(&e.id))
        {
            expected.add(&e.id);
        }
        assert_eq!(
            digest.to_hex(),
            expected.to_hex(),
            "{compartment}: the manifests' forwarded ids are not the committed events, once each"
        );
    }
    committed
}

/// Sets (or replaces) one variable.
pub(crate) fn set(vars: &mut Vec<(String, String)>, name: &str, value: &str) {
    vars.retain(|(k, _)| k != name);
    vars.push((name.to_owned(), value.to_owned()));
}

/// A fixture event from `tests/fixtures/lambda/`.
pub(crate) fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/lambda/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}
