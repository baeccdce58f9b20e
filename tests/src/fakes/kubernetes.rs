//! A faithful fake of the Kubernetes API server calls medic makes, served
//! over plain HTTP on loopback (a kubeconfig's `server: http://…` is
//! spoken to without TLS, as kubectl does). Each response follows the
//! Kubernetes API reference (v1.33):
//!
//! - `GET /api/v1/namespaces/{ns}/pods?labelSelector=…` → a `PodList`
//!   ("list or watch objects of kind Pod",
//!   kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#list-list-or-watch-objects-of-kind-pod);
//!   the selector's equality, set (`in`, `notin`) and existence forms
//!   (kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors);
//! - `GET /api/v1/namespaces/{ns}/pods/{name}` → a `Pod` (same page, "get
//!   read the specified Pod");
//! - `GET …/pods/{name}/log?container=&previous=&tailLines=&limitBytes=` →
//!   `text/plain` (same page, "get read log of the specified Pod"); a
//!   previous log that does not exist is the 400 the kubelet gives
//!   (`previous terminated container "api" in pod "x" not found`), an
//!   unknown container a 400 naming the pod's containers;
//! - `GET /api/v1/namespaces/{ns}/events?fieldSelector=type=Warning` → an
//!   `EventList` of core v1 Events
//!   (kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
//!   for the fields; core v1's `involvedObject`, `count`, `lastTimestamp`
//!   per the v1.33 generated reference, #event-v1-core); field selectors
//!   are equality on `type`, `reason` and `involvedObject.*`;
//! - `GET /apis/apps/v1/namespaces/{ns}/deployments/{name}` → a
//!   `Deployment`, and `…/statefulsets/{name}` a `StatefulSet`
//!   (workload-resources/deployment-v1/, stateful-set-v1/);
//! - `GET /apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=…` → a
//!   `ReplicaSetList` (workload-resources/replica-set-v1/);
//! - `PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}` with the
//!   three patch content types of "API concepts" § Patch and apply
//!   (kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply):
//!   `application/json-patch+json` (RFC 6902: add, remove, replace, test),
//!   `application/merge-patch+json` (RFC 7386) and
//!   `application/strategic-merge-patch+json` (applied as a merge patch:
//!   medic's only strategic patch is kubectl's restart annotation, which
//!   has no list to merge by key); any other content type is 415. A
//!   change to `spec.template` is then followed at once by what the
//!   Deployment controller does on its next sync: `metadata.generation`
//!   and `status.observedGeneration` go up, the ReplicaSet with that
//!   template (or a new one) gets the next revision, and the Deployment's
//!   `deployment.kubernetes.io/revision` annotation follows;
//! - every failure is a `Status` object
//!   (kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/):
//!   401 `Unauthorized` without `Authorization: Bearer <token>`, 403
//!   `Forbidden` with the authorizer's message (`pods is forbidden: User
//!   "…" cannot list resource "pods" in API group "" in the namespace
//!   "shop"`) for a verb and resource a test forbids, 404 `NotFound`
//!   (`deployments.apps "api" not found`).
//!
//! Every call, answered or not, is recorded.

mod objects;
mod patch;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::vendor::{header, serve};

pub use objects::*;

/// The user the fake's 403 messages name (medic's service account).
pub const USER: &str = "system:serviceaccount:ops:medic";

/// One recorded call.
#[derive(Debug, Clone)]
pub struct KubeCall {
    /// `GET` or `PATCH`.
    pub method: String,
    /// The path as sent.
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// `Authorization`, as sent.
    pub authorization: Option<String>,
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// The JSON body (`Null` when none or not JSON).
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
}

impl KubeCall {
    /// The value of query parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct World {
    pods: Vec<Value>,
    /// (pod, container, previous) → the log text.
    logs: HashMap<(String, String, bool), String>,
    events: Vec<Value>,
    deployments: Vec<Value>,
    replicasets: Vec<Value>,
    statefulsets: Vec<Value>,
    /// (verb, resource) pairs RBAC refuses: `("list", "pods")`,
    /// `("get", "pods/log")`, `("patch", "deployments")`.
    forbidden: BTreeSet<(String, String)>,
}

struct Inner {
    token: String,
    world: Mutex<World>,
    calls: Mutex<Vec<KubeCall>>,
}

/// A running fake API server.
#[derive(Clone)]
pub struct FakeKubernetes {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeKubernetes {
    /// Starts a fake accepting bearer `token`.
    pub async fn start(token: &str) -> FakeKubernetes {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            world: Mutex::new(World::default()),
            calls: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/api/v1/namespaces/{ns}/pods", get(list_of(Resource::Pods)))
            .route(
                "/api/v1/namespaces/{ns}/pods/{name}",
                get(get_of(Resource::Pods)),
            )
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .route(
                "/api/v1/namespaces/{ns}/events",
                get(list_of(Resource::Events)),
            )
            .route(
                "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                get(get_of(Resource::Deployments)).patch(patch_deployment),
            )
            .route(
                "/apis/apps/v1/namespaces/{ns}/statefulsets/{name}",
                get(get_of(Resource::StatefulSets)),
            )
            .route(
                "/apis/apps/v1/namespaces/{ns}/replicasets",
                get(list_of(Resource::ReplicaSets)),
            )
            .fallback(unknown)
            .with_state(inner.clone());
        FakeKubernetes {
            addr: serve(app).await,
            inner,
        }
    }

    /// The server URL, for a kubeconfig.
    pub fn server(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig naming this server and `token`, with one
    /// context `test` (the current one) in namespace `ns`.
    pub fn write_kubeconfig(&self, path: &Path, token: &str, ns: &str) {
        std::fs::write(path, kubeconfig(&self.server(), token, ns)).expect("write the kubeconfig");
    }

    /// Adds or replaces (by name) a pod.
    pub fn put_pod(&self, pod: Value) {
        upsert(&mut self.world().pods, pod);
    }

    /// The log of `container` in `pod`: its previous run's when
    /// `previous`, else its current run's.
    pub fn put_log(&self, pod: &str, container: &str, previous: bool, text: &str) {
        self.world()
            .logs
            .insert((pod.into(), container.into(), previous), text.into());
    }

    /// Adds an event.
    pub fn put_event(&self, event: Value) {
        self.world().events.push(event);
    }

    /// Adds or replaces (by name) a Deployment.
    pub fn put_deployment(&self, d: Value) {
        upsert(&mut self.world().deployments, d);
    }

    /// Adds or replaces (by name) a ReplicaSet.
    pub fn put_replicaset(&self, rs: Value) {
        upsert(&mut self.world().replicasets, rs);
    }

    /// Adds or replaces (by name) a StatefulSet.
    pub fn put_statefulset(&self, s: Value) {
        upsert(&mut self.world().statefulsets, s);
    }

    /// Makes RBAC refuse `verb` on `resource` (`"list"`, `"pods"`).
    pub fn forbid(&self, verb: &str, resource: &str) {
        self.world()
            .forbidden
            .insert((verb.into(), resource.into()));
    }

    /// The Deployment `name` as it is now.
    pub fn deployment(&self, name: &str) -> Option<Value> {
        self.world()
            .deployments
            .iter()
            .find(|d| d["metadata"]["name"] == name)
            .cloned()
    }

    /// The ReplicaSets as they are now.
    pub fn replicasets(&self) -> Vec<Value> {
        self.world().replicasets.clone()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<KubeCall> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The calls with `method`.
    pub fn calls_of(&self, method: &str) -> Vec<KubeCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.inner.world.lock().unwrap()
    }
}

/// A kubeconfig with one cluster at `server`, one user with `token`, and
/// one context `test` in namespace `ns` (the current one).
pub fn kubeconfig(server: &str, token: &str, ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         users:\n- name: medic\n  user:\n    token: {token}\n\
         contexts:\n- name: test\n  context:\n    cluster: fake\n    user: medic\n    namespace: {ns}\n\
         current-context: test\n"
    )
}

fn upsert(list: &mut Vec<Value>, object: Value) {
    let name = object["metadata"]["name"].clone();
    match list.iter_mut().find(|o| o["metadata"]["name"] == name) {
        Some(o) => *o = object,
        None => list.push(object),
    }
}

/// A `Status` failure object.
fn status(code: StatusCode, reason: &str, message: String, details: Value) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code.as_u16(),
        })),
    )
        .into_response()
}

fn not_found(resource: &str, group: &str, name: &str) -> Response {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{qualified} \"{name}\" not found"),
        json!({"name": name, "group": group, "kind": resource}),
    )
}

fn forbidden(verb: &str, resource: &str, group: &str, ns: &str) -> Response {
    let (base, sub) = match resource.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (resource, None),
    };
    let what = match sub {
        Some(s) => format!("resource \"{base}/{s}\""),
        None => format!("resource \"{base}\""),
    };
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "{base} is forbidden: User \"{USER}\" cannot {verb} {what} in API group \"{group}\" in the namespace \"{ns}\""
        ),
        json!({"kind": base}),
    )
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// What every handler shares: the auth check, RBAC, and the record.
struct Request<'a> {
    inner: &'a Inner,
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

impl<'a> Request<'a> {
    fn new(
        inner: &'a Inner,
        method: &'static str,
        path: String,
        raw: Option<String>,
        headers: &HeaderMap,
        body: Value,
    ) -> Self {
        Request {
            inner,
            method,
            path,
            query: query_pairs(raw.as_deref()),
            authorization: header(headers, "authorization"),
            content_type: header(headers, "content-type"),
            body,
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The refusal for this call, if any: authentication first, then RBAC.
    fn refused(&self, verb: &str, resource: &str, group: &str, ns: &str) -> Option<Response> {
        if self.authorization.as_deref() != Some(format!("Bearer {}", self.inner.token).as_str()) {
            return Some(status(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized".into(),
                Value::Null,
            ));
        }
        let refused = self
            .inner
            .world
            .lock()
            .unwrap()
            .forbidden
            .contains(&(verb.to_string(), resource.to_string()));
        refused.then(|| forbidden(verb, resource, group, ns))
    }

    fn answer(self, response: Response) -> Response {
        self.inner.calls.lock().unwrap().push(KubeCall {
            method: self.method.to_string(),
            path: self.path,
            query: self.query,
            authorization: self.authorization,
            content_type: self.content_type,
            body: self.body,
            status: response.status().as_u16(),
        });
        response
    }
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Response {
    axum::Json(json!({
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": "48213"},
        "items": items,
    }))
    .into_response()
}

fn in_ns<'v>(objects: &'v [Value], ns: &str) -> impl Iterator<Item = &'v Value> {
    let ns = ns.to_string();
    objects
        .iter()
        .filter(move |o| o["metadata"]["namespace"] == ns.as_str())
}

fn bad_request(message: String) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message, Value::Null)
}

/// The kinds of object the fake serves by `get` and `list`.
#[derive(Clone, Copy)]
enum Resource {
    Pods,
    Events,
    Deployments,
    StatefulSets,
    ReplicaSets,
}

impl Resource {
    /// The resource's name in URLs and RBAC rules.
    fn name(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Events => "events",
            Resource::Deployments => "deployments",
            Resource::StatefulSets => "statefulsets",
            Resource::ReplicaSets => "replicasets",
        }
    }

    /// Its API group: `""` for core.
    fn group(self) -> &'static str {
        match self {
            Resource::Pods | Resource::Events => "",
            Resource::Deployments | Resource::StatefulSets | Resource::ReplicaSets => "apps",
        }
    }

    /// The list's `kind` and `apiVersion`.
    fn list_kind(self) -> (&'static str, &'static str) {
        match self {
            Resource::Pods => ("PodList", "v1"),
            Resource::Events => ("EventList", "v1"),
            Resource::Deployments => ("DeploymentList", "apps/v1"),
            Resource::StatefulSets => ("StatefulSetList", "apps/v1"),
            Resource::ReplicaSets => ("ReplicaSetList", "apps/v1"),
        }
    }

    /// The collection's path in namespace `ns`.
    fn path(self, ns: &str) -> String {
        match self.group() {
            "" => format!("/api/v1/namespaces/{ns}/{}", self.name()),
            group => format!("/apis/{group}/v1/namespaces/{ns}/{}", self.name()),
        }
    }

    fn objects(self, world: &World) -> &[Value] {
        match self {
            Resource::Pods => &world.pods,
            Resource::Events => &world.events,
            Resource::Deployments => &world.deployments,
            Resource::StatefulSets => &world.statefulsets,
            Resource::ReplicaSets => &world.replicasets,
        }
    }
}

/// Which objects of a list a request selects: events by `fieldSelector`,
/// everything else by `labelSelector`.
enum Selection {
    Labels(patch::Selector),
    Fields(patch::FieldSelector),
}

impl Selection {
    fn parse(resource: Resource, req: &Request) -> Result<Selection, String> {
        match resource {
            Resource::Events => {
                patch::FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
                    .map(Selection::Fields)
            }
            Resource::Pods
            | Resource::Deployments
            | Resource::StatefulSets
            | Resource::ReplicaSets => {
                patch::Selector::parse(req.param("labelSelector").unwrap_or(""))
                    .map(Selection::Labels)
                    .map_err(|e| format!("unable to parse requirement: {e}"))
            }
        }
    }

    fn matches(&self, object: &Value) -> bool {
        match self {
            Selection::Labels(s) => s.matches(&object["metadata"]["labels"]),
            Selection::Fields(f) => f.matches(object),
        }
    }
}

type Get = UrlPath<(String, String)>;

/// `GET` of one object: the handler for `resource`.
fn get_of(
    resource: Resource,
) -> impl Fn(State<Arc<Inner>>, Get, RawQuery, HeaderMap) -> std::future::Ready<Response> + Clone {
    move |State(inner), UrlPath((ns, name)), RawQuery(raw), headers| {
        let path = format!("{}/{name}", resource.path(&ns));
        let req = Request::new(&inner, "GET", path, raw, &headers, Value::Null);
        if let Some(r) = req.refused("get", resource.name(), resource.group(), &ns) {
            return std::future::ready(req.answer(r));
        }
        let found = in_ns(resource.objects(&inner.world.lock().unwrap()), &ns)
            .find(|o| o["metadata"]["name"] == name.as_str())
            .cloned();
        let response = match found {
            Some(o) => axum::Json(o).into_response(),
            None => not_found(resource.name(), resource.group(), &name),
        };
        std::future::ready(req.answer(response))
    }
}

/// `GET` of a namespace's collection: the handler for `resource`.
fn list_of(
    resource: Resource,
) -> impl Fn(State<Arc<Inner>>, UrlPath<String>, RawQuery, HeaderMap) -> std::future::Ready<Response>
+ Clone {
    move |State(inner), UrlPath(ns), RawQuery(raw), headers| {
        let req = Request::new(
            &inner,
            "GET",
            resource.path(&ns),
            raw,
            &headers,
            Value::Null,
        );
        if let Some(r) = req.refused("list", resource.name(), resource.group(), &ns) {
            return std::future::ready(req.answer(r));
        }
        let selection = match Selection::parse(resource, &req) {
            Ok(s) => s,
            Err(e) => return std::future::ready(req.answer(bad_request(e))),
        };
        let items: Vec<Value> = in_ns(resource.objects(&inner.world.lock().unwrap()), &ns)
            .filter(|o| selection.matches(o))
            .cloned()
            .collect();
        let (kind, api_version) = resource.list_kind();
        std::future::ready(req.answer(list(kind, api_version, items)))
    }
}

async fn pod_log(
    State(inner): State<Arc<Inner>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let req = Request::new(
        &inner,
        "GET",
        format!("/api/v1/namespaces/{ns}/pods/{name}/log"),
        raw,
        &headers,
        Value::Null,
    );
    if let Some(r) = req.refused("get", "pods/log", "", &ns) {
        return req.answer(r);
    }
    let world = inner.world.lock().unwrap();
    let Some(pod) = in_ns(&world.pods, &ns).find(|p| p["metadata"]["name"] == name.as_str()) else {
        drop(world);
        return req.answer(not_found("pods", "", &name));
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match req.param("container") {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            drop(world);
            return req.answer(bad_request(message));
        }
    };
    if !containers.contains(&container) {
        let message = format!("container {container} is not valid for pod {name}");
        drop(world);
        return req.answer(bad_request(message));
    }
    let previous = req.param("previous") == Some("true");
    let log = world
        .logs
        .get(&(name.clone(), container.clone(), previous))
        .cloned();
    drop(world);
    let Some(log) = log else {
        let message = if previous {
            format!("previous terminated container \"{container}\" in pod \"{name}\" not found")
        } else {
            format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
            )
        };
        return req.answer(bad_request(message));
    };
    let mut lines: Vec<&str> = log.lines().collect();
    if let Some(n) = req.param("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        lines = lines.split_off(lines.len().saturating_sub(n));
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if let Some(limit) = req
        .param("limitBytes")
        .and_then(|n| n.parse::<usize>().ok())
    {
        text.truncate(limit);
    }
    req.answer(([("content-type", "text/plain")], text).into_response())
}

async fn patch_deployment(
    State(inner): State<Arc<Inner>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}");
    let req = Request::new(&inner, "PATCH", path, raw, &headers, parsed.clone());
    if let Some(r) = req.refused("patch", "deployments", "apps", &ns) {
        return req.answer(r);
    }
    let kind = match req
        .content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or("").trim())
    {
        Some("application/json-patch+json") => patch::Kind::Json,
        Some("application/merge-patch+json") => patch::Kind::Merge,
        Some("application/strategic-merge-patch+json") => patch::Kind::Strategic,
        other => {
            let message = format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (sent: {})",
                other.unwrap_or("none")
            );
            return req.answer(status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                message,
                Value::Null,
            ));
        }
    };
    let mut world = inner.world.lock().unwrap();
    let World {
        deployments,
        replicasets,
        ..
    } = &mut *world;
    let Some(d) = deployments.iter_mut().find(|d| {
        d["metadata"]["namespace"] == ns.as_str() && d["metadata"]["name"] == name.as_str()
    }) else {
        drop(world);
        return req.answer(not_found("deployments", "apps", &name));
    };
    let patched = match patch::apply(kind, d, &parsed) {
        Ok(p) => p,
        Err(e) => {
            drop(world);
            return req.answer(status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                e,
                Value::Null,
            ));
        }
    };
    let template_changed = patched["spec"]["template"] != d["spec"]["template"];
    *d = patched;
    if template_changed {
        patch::deployment_controller_sync(d, replicasets);
    }
    let answer = d.clone();
    drop(world);
    req.answer(axum::Json(answer).into_response())
}

async fn unknown(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let method: &'static str = match method {
        Method::GET => "GET",
        Method::PATCH => "PATCH",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    };
    let req = Request::new(
        &inner,
        method,
        uri.path().to_string(),
        uri.query().map(str::to_string),
        &headers,
        Value::Null,
    );
    req.answer(status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource".into(),
        Value::Null,
    ))
}
