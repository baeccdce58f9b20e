//! End-to-end tests: one binary, one module per capability.

/// Dedicated PostgreSQL clusters (shared with medic-commands' tests), for
/// the scenarios that must fill or restart a server.
#[path = "../../commands/tests/support/pg.rs"]
mod pg;

/// The tests' dockerd and its containers (shared with medic-commands'
/// tests), for the docker built-ins.
#[path = "../../commands/tests/support/docker.rs"]
mod docker;
/// moto's AWS API (shared with medic-commands' ECS tests).
#[path = "../../commands/tests/support/moto.rs"]
mod moto;

mod allowlist;
mod child;
mod cluster;
mod console;
mod crash;
mod dead_letters;
mod diag_restart;
mod diag_triage;
mod discord;
mod discord_buttons;
mod discord_gateway;
mod discord_incidents;
mod docker_triage;
mod flood;
mod incident_commands;
mod incident_response;
mod incidents;
mod ingest_store;
mod kubernetes;
mod leaks;
mod lease;
mod oncall;
mod operations;
mod outbox;
mod parity;
mod poison;
mod remediation;
mod replay;
mod replicas;
mod replicas_storm;
mod slack_delivery;
mod slack_events;
mod slash_commands;
mod socket_mode;
mod streaming;
mod triage;
mod webhooks;
