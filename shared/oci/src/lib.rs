//! A typed, signed, retrying client for the Oracle Cloud APIs auditfwd needs: Audit
//! `ListEvents`, Identity compartments, Object Storage objects, Cloud Guard `ListProblems`, and
//! Logging Search `SearchLogs`.
//!
//! There is no official OCI SDK for Rust. This crate follows the shape users know from
//! aws-sdk-rust and the official OCI SDKs: one [`Config`] (credentials, region, endpoint
//! overrides, retry and timeout policy, connection pool), a client per service
//! ([`audit::Client`], [`identity::Client`], [`object_storage::Client`],
//! [`cloud_guard::Client`], [`logging_search::Client`]), fluent builders
//! ending in `send()`, paginators that yield one page at a time, and one [`Error`] type that
//! says where a failure happened and whether retrying can help.
//!
//! Modules, bottom up:
//! - [`ids`]: [`Ocid`], [`MinuteTimestamp`] and [`Window`], which cannot hold invalid values
//!   (a window with seconds cannot be built, because the Audit API rejects one).
//! - [`auth`]: API-key credentials: PEM keys in every shape OCI users have (PKCS#1/PKCS#8,
//!   plain or encrypted), key fingerprints, and the `~/.oci/config` file.
//! - [`signer`]: draft-cavage HTTP signatures exactly as OCI verifies them.
//! - [`region`]: regions, realms, service hosts, and endpoint overrides (plain `http://`
//!   only to loopback, for the emulator).
//! - [`retry`]: backoff policy; `transport` (private) signs, sends, classifies and retries.
//! - [`memory`]: `MemoryBudget`, the byte budget page memory is bounded by (here for the
//!   bodies being read, in the pipeline for the pages being fetched and worked).
//! - [`pagination`]: paging written once: a list request implements `PagedRequest` (fetch one
//!   page), and `Paginator` walks its pages, guarding against a repeated `opc-next-page`.
//! - [`audit`], [`identity`], [`object_storage`], [`cloud_guard`], [`logging_search`]: the
//!   operations and their models. Cloud Guard problems are mutable (a problem is updated in
//!   place), unlike audit events; its models keep unknown fields so nothing is lost when
//!   forwarding. Log search results are kept as the raw JSON OCI sent, byte for byte.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auditfwd_oci::{auth::{ApiKeyCredentials, OciConfigFile}, identity, Config, Region};
//! let profile = OciConfigFile::load("/home/me/.oci/config".as_ref())?.profile("DEFAULT")?;
//! let credentials = ApiKeyCredentials::from_profile(&profile, Some("/home/me".as_ref()))?;
//! let config = Config::builder()
//!     .credentials(credentials.clone())
//!     .region(Region::parse(profile.region.as_deref().unwrap_or("us-ashburn-1"))?)
//!     .build()?;
//! let tree = identity::Client::new(&config).compartment_tree(credentials.tenancy().clone()).send().await?;
//! for c in tree.iter() {
//!     println!("{} {}", c.id, tree.path(&c.id).unwrap_or_default().join("/"));
//! }
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth;
mod body_pool;
pub mod budget;
pub mod cloud_guard;
mod config;
mod error;
pub mod identity;
pub mod ids;
pub mod logging_search;
pub mod memory;
pub mod object_storage;
pub mod pagination;
pub mod region;
pub mod retry;
pub mod signer;
mod transport;

pub use budget::RequestBudget;
pub use config::{Config, ConfigBuilder, ConfigError, TimeoutConfig};
pub use error::{DispatchKind, Error, ServiceError};
pub use ids::{MinuteTimestamp, Ocid, TimeError, Window};
pub use region::{Endpoint, EndpointError, Region, Service};
pub use retry::RetryConfig;
pub use transport::SigningClock;

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters, so a `/`
/// inside an object name stays inside the segment.
pub(crate) fn encode_path_segment(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_encode_slashes_and_unicode() {
        assert_eq!(
            super::encode_path_segment("state/v1 checkpoint é.json"),
            "state%2Fv1%20checkpoint%20%C3%A9.json"
        );
        assert_eq!(super::encode_path_segment("a-b_c.d~e"), "a-b_c.d~e");
    }
}
