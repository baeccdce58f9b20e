//! Purpose: `aws logs tail LOG-GROUP --since 15m --filter-pattern=ERROR`
//! for each service: the log group and stream prefix come from the task
//! definition's `awslogs` options, so nothing is configured twice. The
//! lines are the newest ones, each on one line, capped, and redacted with
//! the rest of the report (a DSN or a token in an error line is masked).

use std::collections::VecDeque;

use time::OffsetDateTime;

use super::client::{AwsError, ErrorKind};
use super::taskdef::{AwsLogs, Cache};
use super::{Described, EcsTarget};
use crate::format::utc_clock;
use crate::model::report::Finding;

/// Lines shown per service at most: the newest.
pub const MAX_LINES: usize = 20;
/// FilterLogEvents pages read per log stream prefix at most; a window with
/// more matches than that is summarised by its count so far.
const MAX_PAGES: usize = 5;

/// One matching log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When it was logged.
    pub at: Option<OffsetDateTime>,
    /// `PREFIX/CONTAINER/TASK-ID`.
    pub stream: String,
    /// The message as logged.
    pub message: String,
}

/// What was read from one service's log groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// `group (prefix)` of each place read.
    pub places: Vec<String>,
    /// How many lines matched.
    pub matched: usize,
    /// The newest matching lines, oldest first, at most [`MAX_LINES`].
    pub lines: Vec<Line>,
    /// Whether there were more pages than were read.
    pub truncated: bool,
}

/// Each service's log lines matching `error_pattern` in the `log_window`
/// before `now`.
pub async fn check(
    target: &EcsTarget,
    described: &Described,
    task_defs: &Cache,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &described.services {
        let Some(arn) = s.task_definition.as_deref() else {
            out.push(Finding::unknown(
                "ecs.logs",
                format!("{}: the service names no task definition", s.name),
            ));
            continue;
        };
        let def = match task_defs.get(&described.clients, arn).await {
            Ok(d) => d,
            Err(e) => {
                out.push(e.finding("ecs.logs", target));
                continue;
            }
        };
        let mut places: Vec<(AwsLogs, String)> = Vec::new();
        for c in &def.containers {
            if let Some(l) = &c.logs {
                // Streams are PREFIX/CONTAINER/TASK-ID with a prefix; without
                // one (EC2 only) they are named by the Docker container id.
                let prefix = l
                    .stream_prefix
                    .as_ref()
                    .map(|p| format!("{p}/{}/", c.name))
                    .unwrap_or_default();
                if !places
                    .iter()
                    .any(|(g, p)| g.group == l.group && *p == prefix)
                {
                    places.push((l.clone(), prefix));
                }
            }
        }
        if places.is_empty() {
            let drivers: Vec<String> = def
                .containers
                .iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c.name,
                        c.other_driver.as_deref().unwrap_or("no log configuration")
                    )
                })
                .collect();
            out.push(
                Finding::unknown(
                    "ecs.logs",
                    format!(
                        "{}: {} sends no logs to CloudWatch (no awslogs driver), so medic cannot read them",
                        s.name, def.name
                    ),
                )
                .with_detail(drivers.join("; ")),
            );
            continue;
        }
        let mut read = Read::default();
        let mut failure = None;
        for (logs, prefix) in &places {
            read.places.push(if prefix.is_empty() {
                logs.group.clone()
            } else {
                format!("{} ({prefix}*)", logs.group)
            });
            if let Err(e) = filter(target, described, &logs.group, prefix, now, &mut read).await {
                failure = Some((logs.group.clone(), e));
                break;
            }
        }
        out.push(match failure {
            Some((group, e)) if e.kind == ErrorKind::NotFound => Finding::warn(
                "ecs.logs",
                format!("{}: the log group {group} does not exist", s.name),
            )
            .with_detail(format!(
                "{} names it in its awslogs options; with `awslogs-create-group` off, a task cannot start until it exists.",
                def.name
            )),
            Some((_, e)) => e.finding("ecs.logs", target),
            None => findings(&s.name, target, &read),
        });
    }
    out
}

/// Reads the matching lines of one log group (and stream prefix) into
/// `read`, keeping the newest [`MAX_LINES`].
async fn filter(
    target: &EcsTarget,
    described: &Described,
    group: &str,
    prefix: &str,
    now: OffsetDateTime,
    read: &mut Read,
) -> Result<(), AwsError> {
    let window = time::Duration::try_from(target.log_window).unwrap_or(time::Duration::MINUTE * 15);
    let end = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let start = ((now - window).unix_timestamp_nanos() / 1_000_000) as i64;
    let mut newest: VecDeque<Line> = VecDeque::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        if page == MAX_PAGES {
            read.truncated = true;
            break;
        }
        let mut call = described
            .clients
            .logs
            .filter_log_events()
            .log_group_name(group)
            .filter_pattern(&target.error_pattern)
            .start_time(start)
            .end_time(end)
            .set_next_token(token.take());
        if !prefix.is_empty() {
            call = call.log_stream_name_prefix(prefix);
        }
        let out = call
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("logs:FilterLogEvents", e))?;
        // AWS filters by the prefix already; this keeps an emulator
        // that does not honest.
        for e in out
            .events()
            .iter()
            .filter(|e| e.log_stream_name().unwrap_or_default().starts_with(prefix))
        {
            read.matched += 1;
            newest.push_back(Line {
                at: e.timestamp().and_then(|ms| {
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
                }),
                stream: e.log_stream_name().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().to_string(),
            });
            if newest.len() > MAX_LINES {
                newest.pop_front();
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    // Several places (containers) merge by time; the newest win.
    let mut lines: Vec<Line> = read.lines.drain(..).chain(newest).collect();
    lines.sort_by_key(|l| l.at);
    let skip = lines.len().saturating_sub(MAX_LINES);
    read.lines = lines.split_off(skip);
    Ok(())
}

/// A line as shown: its time, its task, its message on one line, capped.
fn shown(l: &Line) -> String {
    let task = l.stream.rsplit('/').next().unwrap_or("");
    let task: String = task.chars().take(8).collect();
    format!(
        "{}{}{}",
        l.at.map(|at| format!("{} ", utc_clock(at)))
            .unwrap_or_default(),
        if task.is_empty() {
            String::new()
        } else {
            format!("[{task}] ")
        },
        crate::diagnostics::http::snippet(&l.message)
    )
}

/// The finding for one service's log lines.
pub fn findings(service: &str, target: &EcsTarget, read: &Read) -> Finding {
    let window = crate::format::human_age(target.log_window.as_secs());
    let places = read.places.join(", ");
    let Some(last) = read.lines.last() else {
        return Finding::ok(
            "ecs.logs",
            format!(
                "{service}: no line matching `{}` in the last {window} ({places})",
                target.error_pattern
            ),
        );
    };
    let count = if read.truncated {
        format!("{}+", read.matched)
    } else {
        read.matched.to_string()
    };
    let mut f = Finding::warn(
        "ecs.logs",
        format!(
            "{service}: {count} line(s) matching `{}` in the last {window} ({places})",
            target.error_pattern
        ),
    )
    .with_evidence(crate::diagnostics::http::snippet(&last.message))
    .at_opt(last.at);
    if read.matched > read.lines.len() {
        f = f.with_detail(format!("The newest {}:", read.lines.len()));
    }
    f.detail.extend(read.lines.iter().map(shown));
    f
}
