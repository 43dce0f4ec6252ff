//! Fakes for tests (feature `test-util`).
//!
//! [`FakeKms`]: its "ciphertext" is the plaintext tagged with the encryption context, so it is
//! readable, deterministic and needs no key, yet it refuses a ciphertext given with another
//! context exactly as KMS does. [`FakeStore`]: secrets by id, answering a missing one as
//! Secrets Manager does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use secrecy::{SecretBox, SecretString};

use crate::{
    CallError, DecryptError, Decrypter, EncryptionContext, SecretFetcher, encryption_context,
};

const MAGIC: &[u8] = b"fake-kms:";

/// A [`Decrypter`] that understands [`FakeKms::encrypt`]'s output.
#[derive(Debug, Default)]
pub struct FakeKms {
    /// Decrypt calls so far.
    pub calls: AtomicUsize,
    failure: Option<fn() -> DecryptError>,
}

impl FakeKms {
    /// A fake that decrypts what [`FakeKms::encrypt`] made.
    pub fn new() -> Self {
        FakeKms::default()
    }

    /// A fake whose every decrypt fails with `failure()`.
    pub fn failing(failure: fn() -> DecryptError) -> Self {
        FakeKms {
            calls: AtomicUsize::new(0),
            failure: Some(failure),
        }
    }

    /// The base64 "ciphertext" of `plaintext` for `variable` (the name without `_KMS`), as
    /// it would be put in `<variable>_KMS`.
    pub fn encrypt(variable: &str, plaintext: &[u8]) -> String {
        let mut blob = MAGIC.to_vec();
        blob.extend_from_slice(context_tag(&encryption_context(variable)).as_bytes());
        blob.push(0);
        blob.extend_from_slice(plaintext);
        base64::engine::general_purpose::STANDARD.encode(blob)
    }
}

fn context_tag(context: &EncryptionContext) -> String {
    context
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

impl Decrypter for FakeKms {
    async fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBox<Vec<u8>>, DecryptError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(failure) = self.failure {
            return Err(failure());
        }
        let mut expected = MAGIC.to_vec();
        expected.extend_from_slice(context_tag(context).as_bytes());
        expected.push(0);
        match ciphertext.strip_prefix(expected.as_slice()) {
            Some(plaintext) => Ok(SecretBox::new(Box::new(plaintext.to_vec()))),
            None => Err(DecryptError::Rejected {
                code: "InvalidCiphertextException".into(),
                message: String::new(),
            }),
        }
    }
}

/// A [`SecretFetcher`] over a map of ids to values.
#[derive(Debug, Default)]
pub struct FakeStore {
    /// Fetch calls so far.
    pub calls: AtomicUsize,
    values: BTreeMap<String, String>,
    failure: Option<fn() -> CallError>,
}

impl FakeStore {
    /// A store holding `values` (id, value).
    pub fn with<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        FakeStore {
            values: values
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..FakeStore::default()
        }
    }

    /// A store whose every fetch fails with `failure()`.
    pub fn failing(failure: fn() -> CallError) -> Self {
        FakeStore {
            failure: Some(failure),
            ..FakeStore::default()
        }
    }
}

impl SecretFetcher for FakeStore {
    async fn fetch(&self, id: &str) -> Result<SecretString, CallError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(failure) = self.failure {
            return Err(failure());
        }
        self.values
            .get(id)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| CallError::Rejected {
                code: "ResourceNotFoundException".into(),
                message: String::new(),
            })
    }
}
