//! The syslog destination: `AUDITFWD_SYSLOG_URL` and the variables that shape messages, turned
//! into the syslog crate's sender and encoder configurations.

use std::fmt;
use std::path::PathBuf;

use auditfwd_syslog::encode::{DEFAULT_STREAM_MAX, DEFAULT_UDP_MAX};
use auditfwd_syslog::{
    ClientIdentity, Encoder, EncoderConfig, Facility, Framing, Payload, Pem, ReceiverProfile,
    Roots, SenderConfig, SyslogFormat, TlsConfig, Transport,
};
use secrecy::ExposeSecret as _;

use crate::reader::Reader;
use crate::table::{
    SYSLOG_APP_NAME, SYSLOG_FACILITY, SYSLOG_FORMAT, SYSLOG_FRAMING, SYSLOG_HOSTNAME,
    SYSLOG_MAX_MESSAGE_SIZE, SYSLOG_PAYLOAD, SYSLOG_PROFILE, SYSLOG_RELP_WINDOW, SYSLOG_TLS_CA,
    SYSLOG_TLS_CERT, SYSLOG_TLS_KEY, SYSLOG_TLS_SERVER_NAME, SYSLOG_URL,
};

/// Where events go and what they look like.
#[derive(Debug, Clone)]
pub struct SyslogSettings {
    /// `AUDITFWD_SYSLOG_URL`, checked: it carries no user, password, path or query.
    pub url: String,
    /// Destination, transport, TLS, timeouts.
    pub sender: SenderConfig,
    /// Format, payload, facility, names, size limit.
    pub encoder: EncoderConfig,
}

/// The transports `AUDITFWD_SYSLOG_URL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `udp://`.
    Udp,
    /// `tcp://`.
    Tcp,
    /// `tls://`.
    Tls,
    /// `relp://`.
    Relp,
    /// `relp+tls://`.
    RelpTls,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Udp => "udp",
            Scheme::Tcp => "tcp",
            Scheme::Tls => "tls",
            Scheme::Relp => "relp",
            Scheme::RelpTls => "relp+tls",
        }
    }

    fn is_tls(self) -> bool {
        matches!(self, Scheme::Tls | Scheme::RelpTls)
    }

    fn is_stream(self) -> bool {
        matches!(self, Scheme::Tcp | Scheme::Tls)
    }
}

/// A checked `AUDITFWD_SYSLOG_URL`: a transport, a host and a port, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogUrl {
    /// The transport.
    pub scheme: Scheme,
    /// The host (an IPv6 address in brackets).
    pub host: String,
    /// The port (the transport's standard one when the URL gives none; RELP has none).
    pub port: u16,
}

impl fmt::Display for SyslogUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.name(), self.host, self.port)
    }
}

const EXAMPLE: &str = "e.g. relp+tls://siem.example.com:2514, tls://host:6514, tcp://host:514";

/// Parses `AUDITFWD_SYSLOG_URL`. Messages never repeat the URL: it might hold a password.
pub(crate) fn url(raw: &str) -> Result<SyslogUrl, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e}); expected {EXAMPLE}"))?;
    let scheme = match url.scheme() {
        "udp" => Scheme::Udp,
        "tcp" => Scheme::Tcp,
        "tls" => Scheme::Tls,
        "relp" => Scheme::Relp,
        "relp+tls" => Scheme::RelpTls,
        other => {
            return Err(format!(
                "unsupported scheme {other:?}; expected udp://, tcp://, tls://, relp:// or relp+tls://"
            ));
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry a user or password: syslog receivers take none (remove the part before @)"
                .into(),
        );
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "must be only scheme://host:port, without a path, query or fragment; expected {EXAMPLE}"
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("no host; expected {EXAMPLE}"))?
        .to_owned();
    let port = match (url.port(), scheme) {
        (Some(0), _) => return Err("port 0 is not a port; give the receiver's port".into()),
        (Some(p), _) => p,
        (None, Scheme::Udp | Scheme::Tcp) => 514,
        (None, Scheme::Tls) => 6514,
        (None, Scheme::Relp | Scheme::RelpTls) => {
            return Err("RELP has no standard port: give one, e.g. relp://host:2514".into());
        }
    };
    Ok(SyslogUrl { scheme, host, port })
}

pub(crate) fn profile(s: &str) -> Result<ReceiverProfile, String> {
    s.parse::<ReceiverProfile>().map_err(|e| e.to_string())
}

pub(crate) fn format(s: &str) -> Result<SyslogFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "rfc5424" | "5424" => Ok(SyslogFormat::Rfc5424),
        "rfc3164" | "3164" | "bsd" => Ok(SyslogFormat::Rfc3164),
        _ => Err(format!(
            "{s:?} is not a syslog format (expected rfc5424 or rfc3164)"
        )),
    }
}

pub(crate) fn payload(s: &str) -> Result<Payload, String> {
    match s.to_ascii_lowercase().as_str() {
        "json" => Ok(Payload::Json),
        "cef" => Ok(Payload::Cef),
        "leef" => Ok(Payload::Leef),
        _ => Err(format!(
            "{s:?} is not a payload (expected json, cef or leef)"
        )),
    }
}

pub(crate) fn framing(s: &str) -> Result<Framing, String> {
    match s.to_ascii_lowercase().as_str() {
        "octet-counting" | "octet_counting" | "octets" => Ok(Framing::OctetCounting),
        "lf" | "newline" => Ok(Framing::Lf),
        _ => Err(format!(
            "{s:?} is not a framing (expected octet-counting or lf)"
        )),
    }
}

pub(crate) fn facility(name: &str) -> Result<Facility, String> {
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

/// A TLS variable's value: PEM text itself (as secrets fetched at start-up arrive), or a path.
pub(crate) fn pem(value: &str) -> Result<Pem, String> {
    Ok(if value.trim_start().starts_with("-----BEGIN") {
        Pem::Inline(value.as_bytes().to_vec())
    } else {
        Pem::File(PathBuf::from(value))
    })
}

fn tls(v: &mut Reader) -> Option<TlsConfig> {
    let roots = v.get(&SYSLOG_TLS_CA).map_or(Roots::System, Roots::Bundle);
    let cert = v.get(&SYSLOG_TLS_CERT);
    let key = v.get(&SYSLOG_TLS_KEY);
    let client_identity = match (cert, key) {
        (Some(cert_chain), Some(key)) => Some(ClientIdentity {
            cert_chain,
            key: pem(key.expose_secret()).ok()?,
        }),
        (None, None) => None,
        (Some(_), None) => {
            v.problem(
                &SYSLOG_TLS_KEY,
                "required with AUDITFWD_SYSLOG_TLS_CERT: the client key for mutual TLS",
            );
            None
        }
        (None, Some(_)) => {
            v.problem(
                &SYSLOG_TLS_CERT,
                "required with AUDITFWD_SYSLOG_TLS_KEY: the client certificate for mutual TLS",
            );
            None
        }
    };
    Some(TlsConfig {
        roots,
        server_name: v.get(&SYSLOG_TLS_SERVER_NAME),
        client_identity,
    })
}

/// The syslog settings. Every variable is read even when the URL is unusable, so every problem
/// is reported at once.
pub(crate) fn settings(v: &mut Reader) -> Option<SyslogSettings> {
    let url = v.required(&SYSLOG_URL, &format!("the syslog destination, {EXAMPLE}"));
    let scheme = url.as_ref().map(|u| u.scheme);
    let profile = v.get(&SYSLOG_PROFILE);
    let defaults = profile.map(ReceiverProfile::defaults);
    let framing = v
        .get(&SYSLOG_FRAMING)
        .or(defaults.map(|d| d.framing))
        .unwrap_or_default();
    if let Some(scheme) = scheme.filter(|s| !s.is_stream())
        && v.is_set(&SYSLOG_FRAMING)
    {
        v.problem(
            &SYSLOG_FRAMING,
            format!(
                "applies to tcp:// and tls:// only ({}:// frames its own messages)",
                scheme.name()
            ),
        );
    }
    let tls = match scheme {
        Some(scheme) if !scheme.is_tls() => {
            not_for_plain_transports(v, scheme);
            None
        }
        _ => tls(v),
    };
    let window = v.value(&SYSLOG_RELP_WINDOW);
    let mut encoder = profile
        .map(ReceiverProfile::encoder_config)
        .unwrap_or_default();
    if profile.is_none() {
        encoder.max_message_size = if scheme == Some(Scheme::Udp) {
            DEFAULT_UDP_MAX
        } else {
            DEFAULT_STREAM_MAX
        };
    }
    if let Some(f) = v.get(&SYSLOG_FORMAT) {
        encoder.format = f;
    }
    if let Some(p) = v.get(&SYSLOG_PAYLOAD) {
        encoder.payload = p;
    }
    if let Some(f) = v.get(&SYSLOG_FACILITY) {
        encoder.facility = f;
    }
    encoder.hostname = v.value(&SYSLOG_HOSTNAME);
    encoder.app_name = v.value(&SYSLOG_APP_NAME);
    if let Some(n) = v.get(&SYSLOG_MAX_MESSAGE_SIZE) {
        encoder.max_message_size = n;
    }
    // The encoder validates names, SD-ID and size: check now, not at the first event.
    if let Err(e) = Encoder::new(encoder.clone()) {
        v.problem_named("AUDITFWD_SYSLOG_*", e.to_string());
    }
    let url = url?;
    let transport = match (url.scheme, tls) {
        (Scheme::Udp, _) => Transport::Udp,
        (Scheme::Tcp, _) => Transport::Tcp { framing },
        (Scheme::Tls, tls) => Transport::Tls { framing, tls: tls? },
        (Scheme::RelpTls, tls) => Transport::Relp { tls, window },
        (Scheme::Relp, _) => Transport::Relp { tls: None, window },
    };
    Some(SyslogSettings {
        url: url.to_string(),
        sender: SenderConfig::new(format!("{}:{}", url.host, url.port), transport),
        encoder,
    })
}

/// The TLS variables mean nothing on `udp://`, `tcp://` or `relp://`: a problem when set.
fn not_for_plain_transports(v: &mut Reader, scheme: Scheme) {
    let names = [
        SYSLOG_TLS_CA.name(),
        SYSLOG_TLS_CERT.name(),
        SYSLOG_TLS_KEY.name(),
        SYSLOG_TLS_SERVER_NAME.name(),
    ];
    for name in names {
        if v.raw(name).is_some() {
            v.problem_named(
                name,
                format!(
                    "applies to tls:// and relp+tls:// only, but AUDITFWD_SYSLOG_URL is {}://",
                    scheme.name()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tls_variables_take_pem_text_or_a_path() {
        let text = "-----BEGIN PRIVATE KEY-----\nMC4CAQ==\n-----END PRIVATE KEY-----\n";
        assert!(matches!(pem(text).unwrap(), Pem::Inline(b) if b == text.as_bytes()));
        assert!(
            matches!(pem("/etc/auditfwd/client.key").unwrap(), Pem::File(p) if p == std::path::Path::new("/etc/auditfwd/client.key"))
        );
    }

    #[test]
    fn the_url_is_a_transport_a_host_and_a_port_only() {
        assert_eq!(url("tcp://siem").unwrap().to_string(), "tcp://siem:514");
        assert_eq!(url("tls://siem/").unwrap().to_string(), "tls://siem:6514");
        assert_eq!(
            url("relp+tls://[::1]:2514").unwrap().to_string(),
            "relp+tls://[::1]:2514"
        );
        for (bad, says) in [
            ("tcp://siem:0", "port 0"),
            ("tcp://siem:514/logs", "without a path"),
            ("tcp://siem:514?x=1", "without a path, query"),
            ("tcp://siem:514#f", "fragment"),
            ("relp://user:hunter2@siem:2514", "user or password"),
            ("relp://user@siem:2514", "user or password"),
            ("relp://siem", "no standard port"),
            ("http://siem", "unsupported scheme"),
        ] {
            let e = url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
