//! Where each piece of state lives: one object per (tenancy, region, compartment), so that
//! fan-out workers handling different compartments never write the same object.
//!
//! ```text
//! state/<tenancy>/<region>/<compartment>.json                    cursor, settle queue, gaps
//! leases/<tenancy>/<region>/<compartment>.json                   who works on it, until when
//! manifests/<tenancy>/<region>/<compartment>/<start>_<end>.<pass>.json   one per committed window
//! ```

use auditfwd_oci::{Ocid, Window};

use crate::error::StoreError;
use crate::manifest::Pass;
use crate::store::ObjectKey;

/// One compartment in one region of one tenancy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The tenancy.
    pub tenancy: Ocid,
    /// The region id, e.g. `us-ashburn-1`.
    pub region: String,
    /// The compartment.
    pub compartment: Ocid,
}

impl Scope {
    /// A scope.
    pub fn new(tenancy: Ocid, region: impl Into<String>, compartment: Ocid) -> Self {
        Scope {
            tenancy,
            region: region.into(),
            compartment,
        }
    }

    fn base(&self) -> String {
        format!("{}/{}/{}", self.tenancy, self.region, self.compartment)
    }

    /// The state document's key.
    pub fn state_key(&self) -> Result<ObjectKey, StoreError> {
        ObjectKey::new(format!("state/{}.json", self.base()))
    }

    /// The lease's key.
    pub fn lease_key(&self) -> Result<ObjectKey, StoreError> {
        ObjectKey::new(format!("leases/{}.json", self.base()))
    }

    /// The delivery manifest's key for one pass over one window.
    pub fn manifest_key(&self, window: &Window, pass: Pass) -> Result<ObjectKey, StoreError> {
        let fmt =
            |t: auditfwd_oci::MinuteTimestamp| t.as_datetime().format("%Y%m%dT%H%MZ").to_string();
        ObjectKey::new(format!(
            "manifests/{}/{}_{}.{}.json",
            self.base(),
            fmt(window.start()),
            fmt(window.end()),
            pass.as_str()
        ))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.region, self.compartment)
    }
}
