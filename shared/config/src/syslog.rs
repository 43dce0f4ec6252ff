//! The syslog destination: `AUDITFWD_SYSLOG_URL` and the variables that shape messages.

use std::path::PathBuf;

use auditfwd_syslog::encode::{DEFAULT_STREAM_MAX, DEFAULT_UDP_MAX};
use auditfwd_syslog::transport::DEFAULT_RELP_WINDOW;
use auditfwd_syslog::{
    ClientIdentity, Encoder, EncoderConfig, Facility, Framing, Payload, Pem, ReceiverProfile,
    Roots, SenderConfig, SyslogFormat, TlsConfig, Transport,
};

use crate::vars::Vars;

/// Where events go and what they look like.
#[derive(Debug, Clone)]
pub struct SyslogSettings {
    /// `AUDITFWD_SYSLOG_URL` as given (it carries no secret).
    pub url: String,
    /// Destination, transport, TLS, timeouts.
    pub sender: SenderConfig,
    /// Format, payload, facility, names, size limit.
    pub encoder: EncoderConfig,
}

const TLS_VARS: [&str; 4] = [
    "AUDITFWD_SYSLOG_TLS_CA",
    "AUDITFWD_SYSLOG_TLS_CERT",
    "AUDITFWD_SYSLOG_TLS_KEY",
    "AUDITFWD_SYSLOG_TLS_SERVER_NAME",
];

fn facility(name: &str) -> Result<Facility, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "user" => Facility::User,
        "daemon" => Facility::Daemon,
        "auth" => Facility::Auth,
        "authpriv" => Facility::AuthPriv,
        "syslog" => Facility::Syslog,
        "logaudit" | "audit" => Facility::LogAudit,
        "logalert" => Facility::LogAlert,
        "local0" => Facility::Local0,
        "local1" => Facility::Local1,
        "local2" => Facility::Local2,
        "local3" => Facility::Local3,
        "local4" => Facility::Local4,
        "local5" => Facility::Local5,
        "local6" => Facility::Local6,
        "local7" => Facility::Local7,
        _ => {
            return Err(format!(
                "{name:?} is not a facility (expected local0..local7, user, daemon, auth, authpriv, syslog or logaudit)"
            ));
        }
    })
}

pub(crate) fn parse(v: &mut Vars) -> Option<SyslogSettings> {
    const URL: &str = "AUDITFWD_SYSLOG_URL";
    let raw = v.required(URL, "the syslog destination, e.g. relp+tls://siem.example.com:2514, tls://host:6514, tcp://host:514, udp://host:514")?;
    let url = match url::Url::parse(&raw) {
        Ok(u) => u,
        Err(e) => {
            v.problem(
                URL,
                format!("{raw:?} is not a URL ({e}); expected e.g. tcp://host:514"),
            );
            return None;
        }
    };
    let scheme = url.scheme().to_owned();
    let default_port = match scheme.as_str() {
        "udp" | "tcp" => Some(514),
        "tls" => Some(6514),
        "relp" | "relp+tls" => None,
        other => {
            v.problem(URL, format!("unsupported scheme {other:?}; expected udp://, tcp://, tls://, relp:// or relp+tls://"));
            return None;
        }
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()).map(str::to_owned) else {
        v.problem(URL, "no host; expected e.g. tcp://host:514");
        return None;
    };
    let Some(port) = url.port().or(default_port) else {
        v.problem(
            URL,
            "RELP has no standard port: give one, e.g. relp://host:2514",
        );
        return None;
    };
    let address = format!("{host}:{port}");
    let is_tls = matches!(scheme.as_str(), "tls" | "relp+tls");
    let is_stream = matches!(scheme.as_str(), "tcp" | "tls");

    let profile = v.parse("AUDITFWD_SYSLOG_PROFILE", |s| {
        s.parse::<ReceiverProfile>().map_err(|e| e.to_string())
    });
    let defaults = profile.map(ReceiverProfile::defaults);
    let framing = v
        .parse("AUDITFWD_SYSLOG_FRAMING", |s| {
            match s.to_ascii_lowercase().as_str() {
                "octet-counting" | "octet_counting" | "octets" => Ok(Framing::OctetCounting),
                "lf" | "newline" => Ok(Framing::Lf),
                _ => Err(format!(
                    "{s:?} is not a framing (expected octet-counting or lf)"
                )),
            }
        })
        .or(defaults.map(|d| d.framing))
        .unwrap_or_default();
    if v.is_set("AUDITFWD_SYSLOG_FRAMING") && !is_stream {
        v.problem(
            "AUDITFWD_SYSLOG_FRAMING",
            format!("applies to tcp:// and tls:// only ({scheme}:// frames its own messages)"),
        );
    }

    let tls = if is_tls {
        let roots = v
            .get("AUDITFWD_SYSLOG_TLS_CA")
            .map_or(Roots::System, |ca| Roots::Bundle(pem_value(ca)));
        let client_identity = match (
            v.get("AUDITFWD_SYSLOG_TLS_CERT"),
            v.get("AUDITFWD_SYSLOG_TLS_KEY"),
        ) {
            (Some(cert), Some(key)) => Some(ClientIdentity {
                cert_chain: pem_value(cert),
                key: pem_value(key),
            }),
            (None, None) => None,
            (Some(_), None) => {
                v.problem(
                    "AUDITFWD_SYSLOG_TLS_KEY",
                    "required with AUDITFWD_SYSLOG_TLS_CERT: the client key for mutual TLS",
                );
                None
            }
            (None, Some(_)) => {
                v.problem(
                    "AUDITFWD_SYSLOG_TLS_CERT",
                    "required with AUDITFWD_SYSLOG_TLS_KEY: the client certificate for mutual TLS",
                );
                None
            }
        };
        let server_name = v.get("AUDITFWD_SYSLOG_TLS_SERVER_NAME").map(str::to_owned);
        Some(TlsConfig {
            roots,
            server_name,
            client_identity,
        })
    } else {
        for name in TLS_VARS {
            if v.is_set(name) {
                v.problem(name, format!("applies to tls:// and relp+tls:// only, but AUDITFWD_SYSLOG_URL is {scheme}://"));
            }
        }
        None
    };
    let window = v
        .number::<usize>("AUDITFWD_SYSLOG_RELP_WINDOW", "a whole number of messages")
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_RELP_WINDOW);
    let transport = match (scheme.as_str(), tls) {
        ("udp", _) => Transport::Udp,
        ("tcp", _) => Transport::Tcp { framing },
        ("tls", Some(tls)) => Transport::Tls { framing, tls },
        ("relp+tls", tls) => Transport::Relp { tls, window },
        _ => Transport::Relp { tls: None, window },
    };

    let mut encoder = profile
        .map(ReceiverProfile::encoder_config)
        .unwrap_or_default();
    if profile.is_none() {
        encoder.max_message_size = if scheme == "udp" {
            DEFAULT_UDP_MAX
        } else {
            DEFAULT_STREAM_MAX
        };
    }
    if let Some(f) = v.parse("AUDITFWD_SYSLOG_FORMAT", |s| {
        match s.to_ascii_lowercase().as_str() {
            "rfc5424" | "5424" => Ok(SyslogFormat::Rfc5424),
            "rfc3164" | "3164" | "bsd" => Ok(SyslogFormat::Rfc3164),
            _ => Err(format!(
                "{s:?} is not a syslog format (expected rfc5424 or rfc3164)"
            )),
        }
    }) {
        encoder.format = f;
    }
    if let Some(p) = v.parse("AUDITFWD_SYSLOG_PAYLOAD", |s| {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Payload::Json),
            "cef" => Ok(Payload::Cef),
            "leef" => Ok(Payload::Leef),
            _ => Err(format!(
                "{s:?} is not a payload (expected json, cef or leef)"
            )),
        }
    }) {
        encoder.payload = p;
    }
    if let Some(f) = v.parse("AUDITFWD_SYSLOG_FACILITY", facility) {
        encoder.facility = f;
    }
    if let Some(h) = v.get("AUDITFWD_SYSLOG_HOSTNAME") {
        h.clone_into(&mut encoder.hostname);
    }
    if let Some(a) = v.get("AUDITFWD_SYSLOG_APP_NAME") {
        a.clone_into(&mut encoder.app_name);
    }
    if let Some(n) = v.number::<usize>("AUDITFWD_SYSLOG_MAX_MESSAGE_SIZE", "a size in bytes") {
        encoder.max_message_size = n;
    }
    // The encoder validates names, SD-ID and size: check now, not at the first event.
    if let Err(e) = Encoder::new(encoder.clone()) {
        v.problem("AUDITFWD_SYSLOG_*", e.to_string());
    }
    Some(SyslogSettings {
        url: raw.clone(),
        sender: SenderConfig::new(address, transport),
        encoder,
    })
}

/// A TLS variable's value: PEM text itself (as KMS-decrypted secrets arrive), or a file path.
fn pem_value(value: &str) -> Pem {
    if value.trim_start().starts_with("-----BEGIN") {
        Pem::Inline(value.as_bytes().to_vec())
    } else {
        Pem::File(PathBuf::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_variables_take_pem_text_or_a_path() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQ==\n-----END PRIVATE KEY-----\n";
        assert!(matches!(pem_value(pem), Pem::Inline(b) if b == pem.as_bytes()));
        assert!(
            matches!(pem_value("/etc/auditfwd/client.key"), Pem::File(p) if p == std::path::Path::new("/etc/auditfwd/client.key"))
        );
    }
}
