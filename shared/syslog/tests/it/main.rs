//! End-to-end tests against a real rsyslogd (Debian `rsyslog`, `rsyslog-gnutls`,
//! `rsyslog-relp`), started privately on loopback by [`harness`] from
//! `scripts/rsyslog/rsyslog.conf.tmpl`.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod harness;
mod injection;
mod large;
mod modes;
mod receivers;
mod relp_restart;
