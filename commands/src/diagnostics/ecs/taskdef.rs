//! Purpose: the parts of a task definition the checks read — each
//! container's memory limit (next to an OutOfMemory stop) and its
//! `awslogs` options (where its logs are) — fetched once per ARN per run,
//! however many checks and tasks ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::client::{AwsError, Clients};

/// One container of a task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDef {
    /// Its name.
    pub name: String,
    /// Its hard memory limit in MiB (`memory`), when it has one.
    pub memory_mib: Option<i64>,
    /// Where its logs go, when the driver is `awslogs`.
    pub logs: Option<AwsLogs>,
    /// The log driver, when it is not `awslogs` (`json-file`, `splunk`).
    pub other_driver: Option<String>,
}

/// A container's `awslogs` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogs {
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-stream-prefix`: streams are then named
    /// `PREFIX/CONTAINER/TASK-ID`.
    pub stream_prefix: Option<String>,
}

/// A task definition, reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDef {
    /// `family:revision`.
    pub name: String,
    /// The task's memory in MiB (Fargate, or a task-level limit).
    pub task_memory_mib: Option<i64>,
    /// Its containers.
    pub containers: Vec<ContainerDef>,
}

impl TaskDef {
    /// The memory limit that applies to `container`: its own hard limit,
    /// else the task's.
    pub fn memory_limit_mib(&self, container: &str) -> Option<i64> {
        self.containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.memory_mib)
            .or(self.task_memory_mib)
    }

    fn from_sdk(t: &aws_sdk_ecs::types::TaskDefinition) -> TaskDef {
        TaskDef {
            name: format!("{}:{}", t.family().unwrap_or("?"), t.revision()),
            task_memory_mib: t.memory().and_then(|m| m.trim().parse().ok()),
            containers: t
                .container_definitions()
                .iter()
                .map(|c| {
                    let log = c.log_configuration();
                    let driver = log.map(|l| l.log_driver().as_str().to_string());
                    let awslogs = log
                        .filter(|l| l.log_driver().as_str() == "awslogs")
                        .and_then(|l| l.options())
                        .and_then(|o| {
                            o.get("awslogs-group").map(|g| AwsLogs {
                                group: g.clone(),
                                stream_prefix: o.get("awslogs-stream-prefix").cloned(),
                            })
                        });
                    ContainerDef {
                        name: c.name().unwrap_or("?").to_string(),
                        memory_mib: c.memory().map(i64::from),
                        other_driver: if awslogs.is_none() { driver } else { None },
                        logs: awslogs,
                    }
                })
                .collect(),
        }
    }
}

type Fetch = Shared<BoxFuture<'static, Result<Arc<TaskDef>, AwsError>>>;

/// Task definitions of one run, by ARN; each is asked for once.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    fetched: Arc<Mutex<HashMap<String, Fetch>>>,
}

impl Cache {
    /// The task definition `arn`, from this run's earlier ask or from ECS.
    pub async fn get(&self, clients: &Clients, arn: &str) -> Result<Arc<TaskDef>, AwsError> {
        let fetch = {
            let mut map = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(arn.to_string())
                .or_insert_with(|| {
                    let ecs = clients.ecs.clone();
                    let arn = arn.to_string();
                    async move {
                        let out = ecs
                            .describe_task_definition()
                            .task_definition(arn)
                            .send()
                            .await
                            .map_err(|e| AwsError::from_sdk("ecs:DescribeTaskDefinition", e))?;
                        Ok(Arc::new(
                            out.task_definition()
                                .map(TaskDef::from_sdk)
                                .unwrap_or(TaskDef {
                                    name: "?".into(),
                                    task_memory_mib: None,
                                    containers: Vec::new(),
                                }),
                        ))
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        fetch.await
    }
}
