//! Regions, realms and service endpoints.
//!
//! A region belongs to a realm, and the realm decides the second-level domain of every
//! service host (`oraclecloud.com` for the commercial realm `oc1`, `oraclegovcloud.com` for
//! the US government realms, ...). New regions appear faster than any table is updated, so
//! an unknown but well-formed region id is accepted in the commercial realm (as the official
//! SDKs do), and [`Region::with_realm_domain`] covers regions in realms the table lacks.

use std::fmt;
use std::net::IpAddr;

use url::Url;

/// Realm id and second-level domain, from the official SDKs' region tables.
const REALMS: &[(&str, &str)] = &[
    ("oc1", "oraclecloud.com"),
    ("oc2", "oraclegovcloud.com"),
    ("oc3", "oraclegovcloud.com"),
    ("oc4", "oraclegovcloud.uk"),
    ("oc8", "oraclecloud8.com"),
    ("oc9", "oraclecloud9.com"),
    ("oc10", "oraclecloud10.com"),
    ("oc14", "oraclecloud14.com"),
    ("oc15", "oraclecloud15.com"),
    ("oc19", "oraclecloud.eu"),
    ("oc20", "oraclecloud20.com"),
    ("oc21", "oraclecloud21.com"),
    ("oc23", "oraclecloud23.com"),
    ("oc24", "oraclecloud24.com"),
    ("oc26", "oraclecloud26.com"),
    ("oc29", "oraclecloud29.com"),
    ("oc35", "oraclecloud35.com"),
];

/// Regions outside the commercial realm, with their realm. Every other region is `oc1`.
const NON_COMMERCIAL: &[(&str, &str)] = &[
    ("us-langley-1", "oc2"),
    ("us-luke-1", "oc2"),
    ("us-gov-ashburn-1", "oc3"),
    ("us-gov-chicago-1", "oc3"),
    ("us-gov-phoenix-1", "oc3"),
    ("uk-gov-london-1", "oc4"),
    ("uk-gov-cardiff-1", "oc4"),
    ("ap-chiyoda-1", "oc8"),
    ("ap-ibaraki-1", "oc8"),
    ("me-dcc-muscat-1", "oc9"),
    ("ap-dcc-canberra-1", "oc10"),
    ("eu-dcc-milan-1", "oc14"),
    ("eu-dcc-milan-2", "oc14"),
    ("eu-dcc-dublin-2", "oc14"),
    ("eu-dcc-rating-2", "oc14"),
    ("eu-dcc-rating-1", "oc14"),
    ("eu-dcc-dublin-1", "oc14"),
    ("ap-dcc-gazipur-1", "oc15"),
    ("eu-madrid-2", "oc19"),
    ("eu-frankfurt-2", "oc19"),
    ("eu-jovanovac-1", "oc20"),
    ("me-dcc-doha-1", "oc21"),
    ("us-somerset-1", "oc23"),
    ("us-thames-1", "oc23"),
    ("eu-dcc-zurich-1", "oc24"),
    ("eu-crissier-1", "oc24"),
    ("me-abudhabi-3", "oc26"),
    ("me-abudhabi-2", "oc29"),
    ("me-abudhabi-4", "oc29"),
    ("ap-seoul-2", "oc35"),
    ("ap-suwon-1", "oc35"),
    ("ap-chuncheon-2", "oc35"),
];

/// Three-letter region keys (airport codes) that users copy from the console.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("yny", "ap-chuncheon-1"),
    ("hyd", "ap-hyderabad-1"),
    ("mel", "ap-melbourne-1"),
    ("bom", "ap-mumbai-1"),
    ("kix", "ap-osaka-1"),
    ("icn", "ap-seoul-1"),
    ("syd", "ap-sydney-1"),
    ("nrt", "ap-tokyo-1"),
    ("yul", "ca-montreal-1"),
    ("yyz", "ca-toronto-1"),
    ("ams", "eu-amsterdam-1"),
    ("fra", "eu-frankfurt-1"),
    ("zrh", "eu-zurich-1"),
    ("jed", "me-jeddah-1"),
    ("dxb", "me-dubai-1"),
    ("gru", "sa-saopaulo-1"),
    ("cwl", "uk-cardiff-1"),
    ("lhr", "uk-london-1"),
    ("iad", "us-ashburn-1"),
    ("phx", "us-phoenix-1"),
    ("sjc", "us-sanjose-1"),
    ("vcp", "sa-vinhedo-1"),
    ("scl", "sa-santiago-1"),
    ("mtz", "il-jerusalem-1"),
    ("mrs", "eu-marseille-1"),
    ("sin", "ap-singapore-1"),
    ("auh", "me-abudhabi-1"),
    ("lin", "eu-milan-1"),
    ("arn", "eu-stockholm-1"),
    ("jnb", "af-johannesburg-1"),
    ("cdg", "eu-paris-1"),
    ("qro", "mx-queretaro-1"),
    ("mad", "eu-madrid-1"),
    ("ord", "us-chicago-1"),
    ("mty", "mx-monterrey-1"),
    ("aga", "us-saltlake-2"),
    ("bog", "sa-bogota-1"),
    ("vap", "sa-valparaiso-1"),
    ("xsp", "ap-singapore-2"),
    ("ruh", "me-riyadh-1"),
    ("lfi", "us-langley-1"),
    ("luf", "us-luke-1"),
    ("ric", "us-gov-ashburn-1"),
    ("pia", "us-gov-chicago-1"),
    ("tus", "us-gov-phoenix-1"),
    ("ltn", "uk-gov-london-1"),
    ("brs", "uk-gov-cardiff-1"),
    ("nja", "ap-chiyoda-1"),
    ("ukb", "ap-ibaraki-1"),
];

/// An OCI region and the domain its services live under.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Region {
    id: String,
    realm: String,
    domain: String,
}

/// Why a region or endpoint is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a region id.
    #[error("{0:?} is not an OCI region id (expected something like us-ashburn-1 or its key, iad)")]
    InvalidRegion(String),
    /// Not a URL.
    #[error("endpoint {url:?} is not a URL: {reason}")]
    InvalidUrl {
        /// The text.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// `http://` to something other than loopback.
    #[error(
        "endpoint {0:?} uses plain http:// to a host that is not loopback; OCI credentials and audit data must not cross a network unencrypted, so http:// is accepted only for 127.0.0.0/8, ::1 and localhost (use https://)"
    )]
    InsecureEndpoint(String),
    /// Some other shape problem.
    #[error("endpoint {url:?} is not usable: {reason}")]
    Unusable {
        /// The text.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Region {
    /// A region by id (`us-ashburn-1`) or key (`iad`, case-insensitive).
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        let lower = s.trim().to_ascii_lowercase();
        let id = SHORT_NAMES
            .iter()
            .find(|(short, _)| *short == lower)
            .map_or(lower.clone(), |(_, id)| (*id).to_owned());
        let well_formed = id.split('-').count() >= 3
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && id
                .rsplit('-')
                .next()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !well_formed {
            return Err(EndpointError::InvalidRegion(s.to_owned()));
        }
        let realm = NON_COMMERCIAL
            .iter()
            .find(|(r, _)| *r == id)
            .map_or("oc1", |(_, realm)| realm);
        let domain = REALMS
            .iter()
            .find(|(r, _)| *r == realm)
            .map_or("oraclecloud.com", |(_, d)| d);
        Ok(Region {
            id,
            realm: realm.to_owned(),
            domain: domain.to_owned(),
        })
    }

    /// A region in a realm this table does not know, named by its second-level domain.
    pub fn with_realm_domain(id: &str, realm: &str, domain: &str) -> Result<Self, EndpointError> {
        let mut r = Region::parse(id)?;
        realm.clone_into(&mut r.realm);
        domain.trim_matches('.').clone_into(&mut r.domain);
        Ok(r)
    }

    /// The region id, e.g. `us-ashburn-1`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The realm, e.g. `oc1`.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The realm's second-level domain, e.g. `oraclecloud.com`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({} in {}, {})", self.id, self.realm, self.domain)
    }
}

/// The OCI services this crate talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Audit (`/20190901`).
    Audit,
    /// Identity and Access Management (`/20160918`).
    Identity,
    /// Object Storage (no version prefix).
    ObjectStorage,
    /// Cloud Guard (`/20200131`).
    CloudGuard,
    /// Logging Search (`/20190909`).
    LoggingSearch,
}

impl Service {
    /// The service's default endpoint in `region`.
    pub fn endpoint(self, region: &Region) -> Result<Endpoint, EndpointError> {
        let (r, d) = (region.id(), region.domain());
        let host = match self {
            Service::Audit => format!("audit.{r}.{d}"),
            Service::Identity => format!("identity.{r}.oci.{d}"),
            Service::ObjectStorage => format!("objectstorage.{r}.{d}"),
            Service::CloudGuard => format!("cloudguard-cp-api.{r}.oci.{d}"),
            Service::LoggingSearch => format!("logging.{r}.oci.{d}"),
        };
        Endpoint::parse(&format!("https://{host}"))
    }

    /// The API version path segment, if the service has one.
    pub fn api_version(self) -> Option<&'static str> {
        match self {
            Service::Audit => Some("20190901"),
            Service::Identity => Some("20160918"),
            Service::ObjectStorage => None,
            Service::CloudGuard => Some("20200131"),
            Service::LoggingSearch => Some("20190909"),
        }
    }

    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Service::Audit => "audit",
            Service::Identity => "identity",
            Service::ObjectStorage => "objectstorage",
            Service::CloudGuard => "cloudguard",
            Service::LoggingSearch => "loggingsearch",
        }
    }
}

/// A service base URL: `https://host[:port][/prefix]`, or `http://` to loopback only.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint(Url);

impl Endpoint {
    /// Parses and checks a base URL. A trailing API version segment is removed, so both
    /// `http://127.0.0.1:9000` and `http://127.0.0.1:9000/20190901` work for Audit (the
    /// OCI CLI accepts both too).
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        let invalid = |reason: String| EndpointError::InvalidUrl {
            url: s.to_owned(),
            reason,
        };
        let url = Url::parse(s.trim()).map_err(|e| invalid(e.to_string()))?;
        let unusable = |reason| {
            Err(EndpointError::Unusable {
                url: s.to_owned(),
                reason,
            })
        };
        let Some(host) = url.host() else {
            return unusable("it has no host");
        };
        if !url.username().is_empty() || url.password().is_some() {
            return unusable("credentials in the URL are not supported");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return unusable("a base URL cannot have a query or fragment");
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match host {
                    url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
                    url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
                    url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                };
                if !loopback {
                    return Err(EndpointError::InsecureEndpoint(s.to_owned()));
                }
            }
            _ => return unusable("the scheme must be https:// (or http:// for loopback)"),
        }
        Ok(Endpoint(url))
    }

    /// The base URL as given.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// `base + [/version] + path`, where `path` is already percent-encoded and starts with `/`.
    pub(crate) fn join(&self, service: Service, path: &str) -> Url {
        let mut base = self.0.path().trim_end_matches('/').to_owned();
        if let Some(v) = service.api_version() {
            if let Some(stripped) = base.strip_suffix(&format!("/{v}")) {
                base = stripped.to_owned();
            }
            base.push('/');
            base.push_str(v);
        }
        let mut url = self.0.clone();
        url.set_path(&format!("{base}{path}"));
        url
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_official_templates_per_realm() {
        let iad = Region::parse("iad").unwrap();
        assert_eq!(iad.id(), "us-ashburn-1");
        assert_eq!(
            Service::Audit.endpoint(&iad).unwrap().to_string(),
            "https://audit.us-ashburn-1.oraclecloud.com"
        );
        assert_eq!(
            Service::Identity.endpoint(&iad).unwrap().to_string(),
            "https://identity.us-ashburn-1.oci.oraclecloud.com"
        );
        assert_eq!(
            Service::ObjectStorage.endpoint(&iad).unwrap().to_string(),
            "https://objectstorage.us-ashburn-1.oraclecloud.com"
        );
        assert_eq!(
            Service::CloudGuard.endpoint(&iad).unwrap().to_string(),
            "https://cloudguard-cp-api.us-ashburn-1.oci.oraclecloud.com"
        );
        assert_eq!(
            Service::LoggingSearch.endpoint(&iad).unwrap().to_string(),
            "https://logging.us-ashburn-1.oci.oraclecloud.com"
        );

        let gov = Region::parse("us-gov-ashburn-1").unwrap();
        assert_eq!(gov.realm(), "oc3");
        assert_eq!(
            Service::Audit.endpoint(&gov).unwrap().to_string(),
            "https://audit.us-gov-ashburn-1.oraclegovcloud.com"
        );
        let eu = Region::parse("eu-frankfurt-2").unwrap();
        assert_eq!(
            Service::Audit.endpoint(&eu).unwrap().to_string(),
            "https://audit.eu-frankfurt-2.oraclecloud.eu"
        );
        // A region newer than the table lands in oc1, as in the official SDKs.
        assert_eq!(
            Region::parse("xx-newcity-1").unwrap().domain(),
            "oraclecloud.com"
        );
        let custom =
            Region::with_realm_domain("xx-private-1", "oc99", "example-realm.com").unwrap();
        assert_eq!(
            Service::Audit.endpoint(&custom).unwrap().to_string(),
            "https://audit.xx-private-1.example-realm.com"
        );
    }

    #[test]
    fn region_typos_are_refused() {
        for bad in [
            "",
            "ashburn",
            "US ASHBURN 1",
            "us-ashburn-x",
            "us-ashburn-1.evil.com",
        ] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://127.8.9.10",
            "http://[::1]:8080/",
            "http://localhost:1",
            "https://audit.example.com",
        ] {
            assert!(Endpoint::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.5:9000",
            "http://192.168.1.1",
            "http://audit.us-ashburn-1.oraclecloud.com",
            "http://[::2]:1",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(matches!(err, EndpointError::InsecureEndpoint(_)), "{bad}");
            assert!(
                err.to_string()
                    .contains("only for 127.0.0.0/8, ::1 and localhost"),
                "{err}"
            );
        }
        assert!(Endpoint::parse("ftp://127.0.0.1").is_err());
        assert!(Endpoint::parse("https://u:p@host").is_err());
        assert!(Endpoint::parse("https://host/?q=1").is_err());
    }

    #[test]
    fn join_adds_the_version_once_and_keeps_prefixes() {
        let e = Endpoint::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            e.join(Service::Audit, "/auditEvents").as_str(),
            "http://127.0.0.1:9000/20190901/auditEvents"
        );
        let e = Endpoint::parse("http://127.0.0.1:9000/20190901/").unwrap();
        assert_eq!(
            e.join(Service::Audit, "/auditEvents").as_str(),
            "http://127.0.0.1:9000/20190901/auditEvents"
        );
        let e = Endpoint::parse("https://proxy.example.com/oci").unwrap();
        assert_eq!(
            e.join(Service::ObjectStorage, "/n/").as_str(),
            "https://proxy.example.com/oci/n/"
        );
    }
}
