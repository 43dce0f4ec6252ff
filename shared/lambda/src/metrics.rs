//! Where an invocation's CloudWatch EMF documents go: stdout on Lambda (CloudWatch Logs turns
//! them into metrics), a writer of the caller's choice in tests.
//!
//! The handlers flush once per invocation, just before they return, whatever the outcome
//! (complete, stopped for the deadline, failed). Flushing never fails the invocation: a write
//! error is logged and the invocation's result stands.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use auditfwd_telemetry::EmfHandle;

/// Flushes the EMF recorder's documents for one invocation.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<EmfHandle>,
    out: Output,
}

#[derive(Clone)]
enum Output {
    Stdout,
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let out = match self.out {
            Output::Stdout => "stdout",
            Output::Writer(_) => "writer",
        };
        f.debug_struct("Metrics")
            .field("enabled", &self.handle.is_some())
            .field("out", &out)
            .finish()
    }
}

impl Metrics {
    /// EMF documents to stdout, as Lambda wants them.
    pub fn stdout(handle: EmfHandle) -> Self {
        Metrics {
            handle: Some(handle),
            out: Output::Stdout,
        }
    }

    /// EMF documents to `out` (tests capture them).
    pub fn to_writer(handle: EmfHandle, out: Arc<Mutex<dyn Write + Send>>) -> Self {
        Metrics {
            handle: Some(handle),
            out: Output::Writer(out),
        }
    }

    /// No metrics at all.
    pub fn disabled() -> Self {
        Metrics {
            handle: None,
            out: Output::Stdout,
        }
    }

    /// Writes everything recorded since the previous flush; returns the number of documents.
    pub fn flush(&self) -> usize {
        let Some(handle) = &self.handle else {
            return 0;
        };
        let written = match &self.out {
            Output::Stdout => handle.flush_to_stdout(),
            Output::Writer(w) => {
                let mut w = w.lock().unwrap_or_else(PoisonError::into_inner);
                handle.flush(&mut *w)
            }
        };
        match written {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot write the invocation's metrics");
                0
            }
        }
    }
}
