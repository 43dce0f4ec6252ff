//! Errors of the checkpoint layer, each able to say whether retrying can help.

/// What went wrong reading or writing checkpoint state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write or delete lost: another writer changed the object first.
    #[error("{key}: precondition failed: another writer changed it first")]
    PreconditionFailed {
        /// The object key.
        key: String,
    },
    /// A local file operation failed.
    #[error("{key}: {op} failed: {source}")]
    Io {
        /// The object key.
        key: String,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An OCI Object Storage call failed.
    #[error("{key}: {source}")]
    Oci {
        /// The object key.
        key: String,
        /// The client error (status, code, request id).
        #[source]
        source: Box<auditfwd_oci::Error>,
    },
    /// An object-store call (S3) failed.
    #[error("{key}: {op} failed: {message}")]
    Backend {
        /// The object key.
        key: String,
        /// The operation.
        op: &'static str,
        /// Whether trying again may help (timeouts, throttling, 5xx).
        retryable: bool,
        /// The error with its cause chain.
        message: String,
    },
    /// A stored document could not be decoded (damaged, or written by a newer auditfwd).
    #[error("{key}: stored document is not readable: {reason}")]
    Corrupt {
        /// The object key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A key that would escape the store's root or is otherwise invalid.
    #[error(
        "invalid object key {0:?}: keys are '/'-separated segments without '.', '..' or control characters"
    )]
    InvalidKey(String),
    /// The checkpoint location (directory, bucket or namespace) does not exist. Never read as
    /// "no state yet", which would restart every compartment at the initial look-back.
    #[error("checkpoint location {location} does not exist: {remedy}")]
    LocationMissing {
        /// The location's URL.
        location: String,
        /// What to do about it.
        remedy: &'static str,
    },
    /// The location exists but holds no `auditfwd.json` marker: it was never initialised, or it
    /// is not the location the state is in (a wrong prefix, an empty mount point).
    #[error(
        "checkpoint location {location} has not been initialised (it holds no auditfwd.json): \
         if it is new, run `auditfwd init` to start keeping state there; if it should already \
         hold auditfwd's state, AUDITFWD_CHECKPOINT_URL is wrong or its volume is not mounted"
    )]
    NotInitialised {
        /// The location's URL.
        location: String,
    },
    /// The checkpoint URL is unusable.
    #[error("AUDITFWD_CHECKPOINT_URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong, and what is expected.
        reason: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later. A lost precondition is not retryable as is:
    /// the caller must re-read and decide again.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::ReadOnlyFilesystem
            ),
            StoreError::Oci { source, .. } => source.is_retryable(),
            StoreError::Backend { retryable, .. } => *retryable,
            StoreError::PreconditionFailed { .. }
            | StoreError::Corrupt { .. }
            | StoreError::InvalidKey(_)
            | StoreError::InvalidUrl { .. }
            | StoreError::LocationMissing { .. }
            | StoreError::NotInitialised { .. } => false,
        }
    }
}
