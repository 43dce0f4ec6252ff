//! auditfwd-lambda's integration tests: the SAM template against the code it deploys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod template;
