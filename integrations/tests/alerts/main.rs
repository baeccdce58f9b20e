//! The alert intakes against the vendors' own payloads and signature
//! vectors (tests/fixtures/<vendor>/, each with its `.source.txt`). One
//! test binary; a module per source.

mod alertmanager;
mod api;
mod pagerduty;
mod sentry;
mod support;
