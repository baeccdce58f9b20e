//! What the fake API server computes: label and field selectors, the
//! three patch types, and the Deployment controller's answer to a new
//! pod template (a revision, and the ReplicaSet that carries it).

use serde_json::{Map, Value, json};

/// A label selector (kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors).
#[derive(Debug, Default)]
pub struct Selector(Vec<Requirement>);

#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// Splits on commas outside parentheses (`a=b,c in (d,e)`).
fn top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn set(values: &str) -> Result<Vec<String>, String> {
    let inner = values
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| format!("`{values}`: a set needs parentheses"))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

impl Selector {
    /// Parses `labelSelector`; empty selects everything.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for part in top_level(text) {
            let words: Vec<&str> = part.splitn(3, ' ').collect();
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().into())
            } else if words.len() == 3 && words[1] == "in" {
                Requirement::In(words[0].into(), set(words[2])?)
            } else if words.len() == 3 && words[1] == "notin" {
                Requirement::NotIn(words[0].into(), set(words[2])?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(part.clone())
            } else {
                return Err(format!("`{part}`"));
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Whether `labels` (a JSON object, or null) satisfies every
    /// requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// A field selector: equality (`=`, `==`) and inequality (`!=`) on dotted
/// paths (`type`, `involvedObject.name`).
#[derive(Debug, Default)]
pub struct FieldSelector(Vec<(Vec<String>, bool, String)>);

impl FieldSelector {
    /// Parses `fieldSelector`; empty selects everything.
    pub fn parse(text: &str) -> Result<FieldSelector, String> {
        let mut out = Vec::new();
        for part in top_level(text) {
            let (path, equal, value) = if let Some((p, v)) = part.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (p, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let path: Vec<String> = path.trim().split('.').map(str::to_string).collect();
            if !matches!(
                path.iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["type"] | ["reason"] | ["involvedObject", _] | ["metadata", "name" | "namespace"]
            ) {
                return Err(format!(
                    "\"{}\" is not a known field selector: only \"involvedObject.*\", \"reason\", \"type\", \"metadata.name\", \"metadata.namespace\"",
                    path.join(".")
                ));
            }
            out.push((path, equal, value.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    /// Whether `object` satisfies every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut v = object;
            for p in path {
                v = &v[p.as_str()];
            }
            (v.as_str().unwrap_or("") == value) == *equal
        })
    }
}

/// A patch's content type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// RFC 6902.
    Json,
    /// RFC 7386.
    Merge,
    /// Kubernetes' strategic merge, applied as RFC 7386 (see the module
    /// docs of the fake).
    Strategic,
}

/// The patched document, or why the patch does not apply.
pub fn apply(kind: Kind, doc: &Value, patch: &Value) -> Result<Value, String> {
    match kind {
        Kind::Merge | Kind::Strategic => {
            if !patch.is_object() {
                return Err("the patch is not a JSON object".into());
            }
            let mut out = doc.clone();
            merge(&mut out, patch);
            Ok(out)
        }
        Kind::Json => {
            let ops = patch
                .as_array()
                .ok_or("a JSON patch is an array of operations")?;
            let mut out = doc.clone();
            for op in ops {
                json_op(&mut out, op)?;
            }
            Ok(out)
        }
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn json_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let name = op["op"].as_str().ok_or("an operation without `op`")?;
    let path = op["path"].as_str().ok_or("an operation without `path`")?;
    let tokens: Vec<String> = path
        .strip_prefix('/')
        .ok_or_else(|| format!("path `{path}` does not start with /"))?
        .split('/')
        .map(unescape)
        .collect();
    let (last, parents) = tokens.split_last().ok_or("an empty path")?;
    let mut parent = &mut *doc;
    for t in parents {
        parent = match parent {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path `{path}`: `{t}` does not exist"))?;
    }
    match (name, parent) {
        ("test", p) => {
            let current = match p {
                Value::Object(m) => m.get(last),
                Value::Array(a) => last.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            if current != Some(&op["value"]) {
                return Err(format!("the test of `{path}` failed"));
            }
        }
        ("replace", Value::Object(m)) => {
            if !m.contains_key(last) {
                return Err(format!("replace: `{path}` does not exist"));
            }
            m.insert(last.clone(), op["value"].clone());
        }
        ("add", Value::Object(m)) => {
            m.insert(last.clone(), op["value"].clone());
        }
        ("remove", Value::Object(m)) => {
            m.remove(last)
                .ok_or_else(|| format!("remove: `{path}` does not exist"))?;
        }
        (other, _) => {
            return Err(format!(
                "`{other}` at `{path}` is not modelled by this fake"
            ));
        }
    }
    Ok(())
}

/// The revision annotation of the Deployment controller.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

fn revision(o: &Value) -> i64 {
    o["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    t
}

/// What the Deployment controller does after `d`'s template changed:
/// the ReplicaSet with that template (a rollback) or a new one gets the
/// next revision, and so does the Deployment.
pub fn deployment_controller_sync(d: &mut Value, replicasets: &mut Vec<Value>) {
    let uid = d["metadata"]["uid"].clone();
    let owned = |rs: &Value| {
        rs["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
    };
    let next = replicasets
        .iter()
        .filter(|rs| owned(rs))
        .map(revision)
        .chain([revision(d)])
        .max()
        .unwrap_or(0)
        + 1;
    let template = without_hash(&d["spec"]["template"]);
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
    d["metadata"]["generation"] = json!(generation);
    d["status"]["observedGeneration"] = json!(generation);
    d["status"]["updatedReplicas"] = json!(0);
    d["metadata"]["annotations"][REVISION] = json!(next.to_string());
    match replicasets
        .iter_mut()
        .find(|rs| owned(rs) && without_hash(&rs["spec"]["template"]) == template)
    {
        Some(rs) => rs["metadata"]["annotations"][REVISION] = json!(next.to_string()),
        None => {
            let name = d["metadata"]["name"].as_str().unwrap_or("deploy");
            let hash = format!("{:x}", fnv(&template.to_string()) % 0xff_ffff_ffff);
            let mut t = template.clone();
            t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut labels = t["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            replicasets.push(json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{name}-{hash}"),
                    "namespace": d["metadata"]["namespace"],
                    "uid": format!("rs-{hash}"),
                    "labels": labels,
                    "annotations": {REVISION: next.to_string()},
                    "ownerReferences": [{
                        "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                        "uid": uid, "controller": true, "blockOwnerDeletion": true
                    }]
                },
                "spec": {"replicas": 0, "selector": d["spec"]["selector"], "template": t},
                "status": {"replicas": 0}
            }));
        }
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
