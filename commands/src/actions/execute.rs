//! Purpose: one action run, dispatched by kind — argv, HTTP or a
//! PostgreSQL built-in — with its parameters checked once more and its
//! output capped.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Action, ActionKind, exec, http, params, postgres};

impl Action {
    /// Runs the action with `values` (bound by its offer, checked again
    /// here). `postgres_url` is the offering target's URL, for the
    /// built-ins. Output is capped; the caller redacts it before it goes
    /// anywhere.
    pub async fn execute(
        &self,
        values: &BTreeMap<String, String>,
        postgres_url: Option<&str>,
    ) -> exec::Outcome {
        let refuse = |status: String| exec::Outcome {
            success: false,
            status,
            output: String::new(),
            duration: Duration::ZERO,
        };
        let mut outcome = match &self.kind {
            ActionKind::Command { argv, on } => {
                match params::substitute(argv, &self.params, values) {
                    Ok(argv) => {
                        exec::run_argv(&argv, on.as_deref(), self.timeout, self.output_cap).await
                    }
                    Err(e) => refuse(format!("refused a parameter: {e}")),
                }
            }
            ActionKind::Http {
                method,
                url,
                headers,
                body,
            } => {
                for (name, p) in &self.params {
                    if let Some(v) = values.get(name)
                        && let Err(e) = p.check(v)
                    {
                        return refuse(format!("refused a parameter: `{name}`: {e}"));
                    }
                }
                let body = body.as_deref().map(|b| http::render_body(b, values));
                http::call(
                    method,
                    url,
                    headers,
                    body.as_deref(),
                    self.timeout,
                    self.output_cap,
                )
                .await
            }
            ActionKind::TerminateIdle {
                idle_for,
                application_name,
            } => match postgres_url {
                Some(url) => {
                    postgres::terminate_idle(
                        url,
                        *idle_for,
                        application_name.as_deref(),
                        self.timeout,
                    )
                    .await
                }
                None => refuse("the target is not a PostgreSQL target".into()),
            },
            ActionKind::CancelBlocking { blocked_for } => match postgres_url {
                Some(url) => postgres::cancel_blocking(url, *blocked_for, self.timeout).await,
                None => refuse("the target is not a PostgreSQL target".into()),
            },
        };
        outcome.output = exec::cap_output(&outcome.output, self.output_cap, outcome.output.len());
        outcome
    }
}
