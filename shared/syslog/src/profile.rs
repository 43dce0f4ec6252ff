//! Receiver profiles: defaults for framing, size and payload that match what each SIEM's
//! syslog input accepts out of the box. Documented in `docs/receivers.md`; every value
//! can still be overridden.

use std::str::FromStr;

use crate::encode::{DEFAULT_STREAM_MAX, EncoderConfig, Payload, SyslogFormat};
use crate::framing::Framing;

/// A known receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiverProfile {
    /// rsyslog (`imtcp`/`imptcp`/`imrelp`), RFC 5424 + JSON, octet counting.
    Rsyslog,
    /// syslog-ng `syslog()` source, RFC 5424 + JSON, octet counting.
    SyslogNg,
    /// IBM QRadar, LEEF 2.0 in RFC 3164, LF framing.
    QRadar,
    /// ArcSight SmartConnector (syslog daemon), CEF in RFC 3164, LF framing.
    ArcSight,
    /// Splunk TCP/UDP input, RFC 5424 + JSON, LF framing.
    Splunk,
}

/// The defaults a profile sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileDefaults {
    /// Header format.
    pub format: SyslogFormat,
    /// Payload.
    pub payload: Payload,
    /// Stream framing.
    pub framing: Framing,
    /// Maximum message size in bytes, matching the receiver's default limit (sources in
    /// `docs/receivers.md`).
    pub max_message_size: usize,
}

impl ReceiverProfile {
    /// All profiles.
    pub const ALL: [Self; 5] = [
        Self::Rsyslog,
        Self::SyslogNg,
        Self::QRadar,
        Self::ArcSight,
        Self::Splunk,
    ];

    /// The profile's defaults.
    pub fn defaults(self) -> ProfileDefaults {
        let (format, payload, framing, max_message_size) = match self {
            // rsyslog's default maxMessageSize ("8k") is 8096 bytes; a larger message is cut,
            // which would break the JSON, so stay within it unless the receiver is raised.
            Self::Rsyslog => (
                SyslogFormat::Rfc5424,
                Payload::Json,
                Framing::OctetCounting,
                DEFAULT_STREAM_MAX,
            ),
            // syslog-ng's log-msg-size defaults to 64 KiB.
            Self::SyslogNg => (
                SyslogFormat::Rfc5424,
                Payload::Json,
                Framing::OctetCounting,
                64 * 1024,
            ),
            // QRadar's TCP syslog payload limit defaults to 4096 bytes and splits on LF.
            Self::QRadar => (SyslogFormat::Rfc3164, Payload::Leef, Framing::Lf, 4096),
            // SmartConnector syslog daemon: newline-delimited. No documented limit found, so
            // the stock default, not a larger guess.
            Self::ArcSight => (
                SyslogFormat::Rfc3164,
                Payload::Cef,
                Framing::Lf,
                DEFAULT_STREAM_MAX,
            ),
            // Splunk breaks TCP input on newlines and truncates lines at 10,000 bytes.
            Self::Splunk => (SyslogFormat::Rfc5424, Payload::Json, Framing::Lf, 10_000),
        };
        ProfileDefaults {
            format,
            payload,
            framing,
            max_message_size,
        }
    }

    /// An encoder configuration with the profile's format, payload and size.
    pub fn encoder_config(self) -> EncoderConfig {
        let d = self.defaults();
        EncoderConfig {
            format: d.format,
            payload: d.payload,
            max_message_size: d.max_message_size,
            ..Default::default()
        }
    }
}

/// An unknown profile name.
#[derive(Debug, thiserror::Error)]
#[error("unknown receiver profile {0:?} (expected rsyslog, syslog-ng, qradar, arcsight or splunk)")]
pub struct UnknownProfile(pub String);

impl FromStr for ReceiverProfile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rsyslog" => Ok(Self::Rsyslog),
            "syslog-ng" | "syslogng" => Ok(Self::SyslogNg),
            "qradar" => Ok(Self::QRadar),
            "arcsight" => Ok(Self::ArcSight),
            "splunk" => Ok(Self::Splunk),
            _ => Err(UnknownProfile(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Encoder;

    #[test]
    fn names_parse() {
        assert_eq!(
            "QRadar".parse::<ReceiverProfile>().unwrap(),
            ReceiverProfile::QRadar
        );
        assert_eq!(
            "syslog-ng".parse::<ReceiverProfile>().unwrap(),
            ReceiverProfile::SyslogNg
        );
        assert!("graylog".parse::<ReceiverProfile>().is_err());
    }

    #[test]
    fn every_profile_builds_a_valid_encoder() {
        for p in ReceiverProfile::ALL {
            let cfg = p.encoder_config();
            assert_eq!(cfg.max_message_size, p.defaults().max_message_size);
            assert!(Encoder::new(cfg).is_ok(), "{p:?}");
        }
        assert_eq!(ReceiverProfile::QRadar.defaults().payload, Payload::Leef);
        assert_eq!(ReceiverProfile::ArcSight.defaults().payload, Payload::Cef);
        assert_eq!(ReceiverProfile::Splunk.defaults().framing, Framing::Lf);
    }
}
