//! `template.yaml` held to the code it deploys: the metrics its alarms and dashboard read are
//! ones the code emits (names from `auditfwd_telemetry::METRICS`, dimension sets from the EMF
//! allow-list), `docs/metrics.md` lists exactly its alarms, a guided deploy takes empty answers
//! for every optional parameter, every secret parameter reaches its fixed variable, and the
//! functions delete nothing but leases.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use auditfwd_telemetry::emf::DIMENSIONS;
use auditfwd_telemetry::{METRICS, freshness};
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn resources_of_type<'a>(t: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    t["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

/// A metric as CloudWatch identifies it: name and the names of its dimensions.
type MetricUse = (String, BTreeSet<String>);

/// Every (name, dimension set) the code publishes in CloudWatch: each metric without
/// dimensions (the totals), and with the labels it carries that are EMF dimensions.
fn emitted() -> BTreeSet<MetricUse> {
    let mut out = BTreeSet::new();
    for m in METRICS {
        out.insert((m.name.to_owned(), BTreeSet::new()));
        let dims: BTreeSet<String> = m
            .labels
            .iter()
            .filter(|l| DIMENSIONS.contains(l))
            .map(|l| (*l).to_owned())
            .collect();
        if !dims.is_empty() {
            out.insert((m.name.to_owned(), dims));
        }
    }
    out
}

/// The uses that are not emitted, as readable lines.
fn not_emitted(uses: &BTreeSet<MetricUse>, emitted: &BTreeSet<MetricUse>) -> Vec<String> {
    uses.iter()
        .filter(|u| !emitted.contains(*u))
        .map(|(name, dims)| format!("{name} with dimensions {dims:?}"))
        .collect()
}

fn dimension_names(dimensions: &Yaml) -> BTreeSet<String> {
    dimensions
        .as_vec()
        .map(|ds| {
            ds.iter()
                .map(|d| d["Name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `auditfwd` metrics the alarms read (plain and metric-math alarms).
fn alarm_uses(t: &Yaml) -> BTreeSet<MetricUse> {
    let mut uses = BTreeSet::new();
    for (_, alarm) in resources_of_type(t, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        if p["Namespace"].as_str() == Some("auditfwd") {
            let name = p["MetricName"].as_str().unwrap().to_owned();
            uses.insert((name, dimension_names(&p["Dimensions"])));
        }
        for m in p["Metrics"].as_vec().into_iter().flatten() {
            let metric = &m["MetricStat"]["Metric"];
            if metric["Namespace"].as_str() == Some("auditfwd") {
                let name = metric["MetricName"].as_str().unwrap().to_owned();
                uses.insert((name, dimension_names(&metric["Dimensions"])));
            }
        }
    }
    uses
}

/// The dashboard body (its `!Sub` template with every `${...}` replaced by a number).
fn dashboard(t: &Yaml) -> serde_json::Value {
    let (_, d) = resources_of_type(t, "AWS::CloudWatch::Dashboard")[0];
    let body = d["Properties"]["DashboardBody"][0].as_str().unwrap();
    let body = regex::Regex::new(r"\$\{[^}]+\}")
        .unwrap()
        .replace_all(body, "1");
    serde_json::from_str(&body).unwrap()
}

/// The `auditfwd` metrics the dashboard's metric widgets read, SEARCH expressions included.
fn dashboard_uses(body: &serde_json::Value) -> BTreeSet<MetricUse> {
    let search =
        regex::Regex::new(r#"SEARCH\('\{auditfwd((?:,\s*\w+)*)\}\s+MetricName="(\w+)""#).unwrap();
    let mut uses = BTreeSet::new();
    for w in body["widgets"].as_array().unwrap() {
        for row in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().unwrap();
            if let Some(expr) = row[0]["expression"].as_str() {
                for c in search.captures_iter(expr) {
                    let dims = c[1]
                        .split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned)
                        .collect();
                    uses.insert((c[2].to_owned(), dims));
                }
                assert!(
                    !expr.contains("{auditfwd") || search.is_match(expr),
                    "a SEARCH this test cannot read: {expr}"
                );
            } else if row[0] == "auditfwd" {
                let name = row[1].as_str().unwrap().to_owned();
                // [namespace, name, dim, value, dim, value, ..., {options}?]
                let dims = row[2..]
                    .iter()
                    .take_while(|v| v.is_string())
                    .step_by(2)
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                uses.insert((name, dims));
            }
        }
    }
    uses
}

#[test]
fn alarms_and_dashboard_read_only_metrics_and_dimension_sets_the_code_emits() {
    let t = template();
    let emitted = emitted();
    let alarms = alarm_uses(&t);
    let widgets = dashboard_uses(&dashboard(&t));
    assert!(
        alarms.len() >= 4 && widgets.len() >= 10,
        "{alarms:?} {widgets:?}"
    );
    let wrong: Vec<String> = not_emitted(&alarms, &emitted)
        .into_iter()
        .chain(not_emitted(&widgets, &emitted))
        .collect();
    assert!(
        wrong.is_empty(),
        "template.yaml reads metrics the code does not emit: {wrong:#?}"
    );
}

/// The check above fails on the dashboard bug it was written for: forwarded events searched
/// by `{auditfwd,region}` while they are published by `pass` and `region`.
#[test]
fn a_search_by_the_wrong_dimension_set_is_caught() {
    let body = serde_json::json!({"widgets": [{"properties": {"metrics": [[{"expression":
        "SEARCH('{auditfwd,region} MetricName=\"auditfwd_events_forwarded_total\"', 'Sum', 300)"}]]}}]});
    let uses = dashboard_uses(&body);
    assert_eq!(
        not_emitted(&uses, &emitted()),
        ["auditfwd_events_forwarded_total with dimensions {\"region\"}"]
    );
    let body = serde_json::json!({"widgets": [{"properties": {"metrics": [
        ["auditfwd", "auditfwd_events_forwarded", {"label": "a typo"}],
        ["auditfwd", "auditfwd_open_gaps", "region", "eu-frankfurt-1"]
    ]}}]});
    let uses = dashboard_uses(&body);
    assert_eq!(
        not_emitted(&uses, &emitted()),
        ["auditfwd_events_forwarded with dimensions {}"]
    );
}

#[test]
fn the_furthest_behind_table_reads_the_lines_the_code_logs() {
    let body = dashboard(&template());
    let logs: Vec<&str> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "log")
        .map(|w| w["properties"]["query"].as_str().unwrap())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let query = logs[0];
    assert!(
        query.contains(&format!("message = '{}'", freshness::LOG_MESSAGE)),
        "{query}"
    );
    let fields = regex::Regex::new(r"latest\((\w+)\)|by (\w+)").unwrap();
    for c in fields.captures_iter(query) {
        let field = c.get(1).or(c.get(2)).unwrap().as_str();
        assert!(
            freshness::LOG_FIELDS.contains(&field),
            "the query reads {field}, which the 'compartment lag' lines do not have"
        );
    }
}

/// The rows of the alarm table in `docs/metrics.md` (names in the first cell, backticked).
fn documented_alarms() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Alarms\n"))
        .expect("docs/metrics.md has an `## Alarms` section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.trim_matches('|').split('|').next().unwrap();
            first
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn docs_metrics_md_lists_exactly_the_template_alarms() {
    let t = template();
    let alarms: BTreeSet<String> = resources_of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(documented_alarms(), alarms);
}

#[test]
fn no_parameter_is_no_echo_and_every_default_passes_its_own_constraints() {
    let t = template();
    let mut problems = Vec::new();
    for (key, p) in t["Parameters"].as_hash().unwrap() {
        let key = key.as_str().unwrap();
        // `sam deploy --guided` prompts a NoEcho parameter without a default and re-prompts
        // an empty answer: a NoEcho parameter with an empty default cannot be left empty.
        if p["NoEcho"].as_bool() == Some(true) || p["NoEcho"].as_str() == Some("true") {
            problems.push(format!("{key} is NoEcho"));
        }
        let default = match &p["Default"] {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            Yaml::BadValue => continue,
            other => panic!("{key}: default {other:?}"),
        };
        if let Some(pattern) = p["AllowedPattern"].as_str() {
            let full = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
            if p["Type"].as_str() == Some("String") && !full.is_match(&default) {
                problems.push(format!(
                    "{key}: default {default:?} does not match {pattern}"
                ));
            }
        }
        if let Some(values) = p["AllowedValues"].as_vec() {
            let values: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    other => panic!("{key}: allowed value {other:?}"),
                })
                .collect();
            if !values.contains(&default) {
                problems.push(format!("{key}: default {default:?} is not in {values:?}"));
            }
        }
        if let (Some(min), Ok(d)) = (p["MinValue"].as_i64(), default.parse::<i64>())
            && d < min
        {
            problems.push(format!("{key}: default {d} below {min}"));
        }
        if let (Some(max), Ok(d)) = (p["MaxValue"].as_i64(), default.parse::<i64>())
            && d > max
        {
            problems.push(format!("{key}: default {d} above {max}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `sam deploy --guided`'s own prompts, run without a terminal by `scripts/check-guided-deploy`
/// (with the SAM CLI from `.venv-sam`): empty answers for every optional parameter make a set
/// SAM resolves and CloudFormation accepts.
#[test]
fn a_guided_deploy_takes_empty_answers_for_every_optional_parameter() {
    let python = root().join(".venv-sam/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-dev",
        python.display()
    );
    let out = Command::new(python)
        .arg("scripts/check-guided-deploy")
        .arg("template.yaml")
        .current_dir(root())
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("deployable"), "{text}");
}

#[test]
fn each_secret_parameter_sets_its_fixed_variable_and_is_readable_by_the_functions() {
    let t = template();
    let vars = &t["Globals"]["Function"]["Environment"]["Variables"];
    let secrets: BTreeMap<&str, &str> = [
        ("OciKeyCiphertext", "AUDITFWD_OCI_KEY_KMS"),
        ("OciKeySecretArn", "AUDITFWD_OCI_KEY_SECRET_ARN"),
        ("OciKeySsmParameter", "AUDITFWD_OCI_KEY_SSM_PARAMETER"),
        (
            "OciKeyPassphraseCiphertext",
            "AUDITFWD_OCI_KEY_PASSPHRASE_KMS",
        ),
        (
            "OciKeyPassphraseSecretArn",
            "AUDITFWD_OCI_KEY_PASSPHRASE_SECRET_ARN",
        ),
        (
            "OciKeyPassphraseSsmParameter",
            "AUDITFWD_OCI_KEY_PASSPHRASE_SSM_PARAMETER",
        ),
        ("SyslogTlsKeyCiphertext", "AUDITFWD_SYSLOG_TLS_KEY_KMS"),
        (
            "SyslogTlsKeySecretArn",
            "AUDITFWD_SYSLOG_TLS_KEY_SECRET_ARN",
        ),
        (
            "SyslogTlsKeySsmParameter",
            "AUDITFWD_SYSLOG_TLS_KEY_SSM_PARAMETER",
        ),
    ]
    .into_iter()
    .collect();
    for (param, var) in &secrets {
        assert!(
            !t["Parameters"][*param].is_badvalue(),
            "no parameter {param}"
        );
        // !If [HasX, !Ref Param, !Ref AWS::NoValue]: set only when given.
        let v = vars[*var].as_vec().unwrap_or_else(|| panic!("{var} unset"));
        assert_eq!(v[1].as_str(), Some(*param), "{var}");
        assert_eq!(v[2].as_str(), Some("AWS::NoValue"), "{var}");
    }
    // The policy reads exactly the secrets and parameters named.
    let policy = format!(
        "{:?}",
        t["Resources"]["SecretSourcesPolicy"]["Properties"]["PolicyDocument"]
    );
    for param in secrets.keys().filter(|p| !p.ends_with("Ciphertext")) {
        assert!(
            policy.contains(param),
            "SecretSourcesPolicy ignores {param}"
        );
    }
    assert!(!policy.contains("\"*\""), "no wildcard resources: {policy}");
}

#[test]
fn the_functions_delete_nothing_but_leases() {
    let t = template();
    // Where the checkpoint store keeps leases, from the code: leases/<tenancy>/...
    let scope = auditfwd_checkpoint::Scope::new(
        auditfwd_oci::Ocid::parse("ocid1.tenancy.oc1..aaaaaaaaexample").unwrap(),
        "eu-frankfurt-1",
        auditfwd_oci::Ocid::parse("ocid1.compartment.oc1..aaaaaaaaexample").unwrap(),
    );
    let lease = scope.lease_key().unwrap().to_string();
    let leases = lease.split('/').next().unwrap();
    let prefix = t["Outputs"]["CheckpointUrl"]["Value"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let mut deletes = Vec::new();
    for (name, policy) in resources_of_type(&t, "AWS::IAM::ManagedPolicy")
        .into_iter()
        .chain(resources_of_type(&t, "AWS::IAM::Role"))
    {
        let text = format!("{policy:?}");
        for statement in find_statements(policy) {
            let actions = format!("{:?}", statement["Action"]);
            if actions.contains("s3:DeleteObject") || actions.contains("s3:*") {
                deletes.push((name, format!("{:?}", statement["Resource"])));
            }
        }
        assert!(!text.contains("s3:Delete*"), "{name}");
    }
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(
        deletes[0]
            .1
            .contains(&format!("${{StateBucket.Arn}}/{prefix}/{leases}/*")),
        "{deletes:?}"
    );
}

/// Every IAM statement (a mapping with `Effect`) anywhere under `y`.
fn find_statements(y: &Yaml) -> Vec<&Yaml> {
    match y {
        Yaml::Hash(h) if !y["Effect"].is_badvalue() => vec![y]
            .into_iter()
            .chain(h.values().flat_map(find_statements))
            .collect(),
        Yaml::Hash(h) => h.values().flat_map(find_statements).collect(),
        Yaml::Array(a) => a.iter().flat_map(find_statements).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_roles_take_the_path_and_the_permissions_boundary() {
    let t = template();
    let roles = resources_of_type(&t, "AWS::IAM::Role");
    assert_eq!(roles.len(), 3);
    for (name, role) in roles {
        let p = &role["Properties"];
        assert_eq!(p["Path"].as_str(), Some("RolePath"), "{name}");
        let boundary = p["PermissionsBoundary"].as_vec().unwrap();
        assert_eq!(
            boundary[1].as_str(),
            Some("PermissionsBoundaryArn"),
            "{name}"
        );
    }
}
