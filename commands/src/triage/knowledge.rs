//! Purpose: the runbooks' tables as data — error pattern → likely cause,
//! the high-impact packages, and what a correlated failure means — so that
//! an operator can add what their own stack teaches without a new build.
//!
//! The default file (`commands/knowledge/default.toml`) is embedded; user
//! files from `[triage] knowledge = [...]` are read after it. A user pattern
//! with a default's id replaces it where it stands; a new id is tried before
//! every default, because a team's own knowledge is more specific than
//! medic's. Every regex is compiled when the file is loaded, so a bad one is
//! reported by `check-config` (file and pattern id), never at the first
//! incident.

use std::path::Path;

use regex_lite::Regex;
use serde::Deserialize;

/// The knowledge medic ships with.
pub const DEFAULT_TOML: &str = include_str!("../../knowledge/default.toml");

/// What kind of trouble a cause is; the correlation and timeline rules
/// treat `application` differently (an app bug is never blamed on the
/// infrastructure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The machine, its services, systemd, packages.
    Infrastructure,
    /// The database server or its connections.
    Database,
    /// The path between services, DNS, external APIs.
    Network,
    /// A release, its image, configuration or migration.
    Deploy,
    /// The application's own code.
    Application,
    /// Disk, memory, CPU, file descriptors.
    Resource,
}

impl Category {
    /// The word shown in chat.
    // NOTE: shown in chat.
    pub fn word(self) -> &'static str {
        match self {
            Category::Infrastructure => "infrastructure",
            Category::Database => "database",
            Category::Network => "network",
            Category::Deploy => "deploy",
            Category::Application => "application",
            Category::Resource => "resource",
        }
    }
}

/// Where a pattern looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// An exception's type (`PG::ConnectionBad`).
    Type,
    /// An exception's message.
    Message,
    /// The alert's title.
    Title,
}

/// One error pattern, compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Stable id (`ssl-closed-unexpectedly`).
    pub id: String,
    /// Compiled from the file's `regex`.
    pub regex: Regex,
    /// Where it looks.
    pub on: Vec<Field>,
    /// The likely cause, one sentence.
    pub cause: String,
    /// What kind of trouble.
    pub category: Category,
    /// The first thing to check or do.
    pub next_check: String,
    /// It recovers on its own.
    pub self_healing: bool,
    /// Remediations to offer, by name.
    pub actions: Vec<String>,
    /// Timeline events that confirm it (`package:openssl`, `restart:postgres`,
    /// `restart:container`, `reload`, `oom`, `link_down`, `deploy`).
    pub explained_by: Vec<String>,
    /// Diagnostic checks whose problems confirm it (`host.disk`).
    pub confirmed_by: Vec<String>,
}

impl Pattern {
    /// Whether the pattern looks at `field`.
    pub fn looks_at(&self, field: Field) -> bool {
        self.on.contains(&field)
    }
}

/// A package whose change takes running services down.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// The name, or its prefix.
    pub name: String,
    /// Names starting with `name` count too (`libssl3t64`).
    #[serde(default)]
    pub prefix: bool,
    /// What its change does, shown in chat.
    pub impact: String,
}

impl Package {
    /// Whether `package` is this one.
    pub fn covers(&self, package: &str) -> bool {
        if self.prefix {
            package.starts_with(&self.name)
        } else {
            package == self.name
        }
    }
}

/// What a correlated failure (several services, one host, one minute)
/// is said to be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    /// The cause, one sentence.
    pub cause: String,
    /// The first thing to check.
    pub next_check: String,
    /// It recovers on its own.
    #[serde(default)]
    pub self_healing: bool,
    /// Remediations to offer, by name.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// Everything triage knows.
#[derive(Debug, Clone)]
pub struct Knowledge {
    /// Tried in order.
    pub patterns: Vec<Pattern>,
    /// High-impact packages.
    pub packages: Vec<Package>,
    /// What a correlated failure means.
    pub correlation: Correlation,
}

/// A knowledge file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The file could not be read.
    #[error("{file}: {error}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// Not TOML, or not this shape.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's words (line and column).
        message: String,
    },
    /// A pattern's regex does not compile, or a field is empty.
    #[error("{file}: pattern `{id}`: {message}")]
    Pattern {
        /// The file.
        file: String,
        /// The pattern's id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    patterns: Vec<RawPattern>,
    #[serde(default)]
    packages: Vec<Package>,
    #[serde(default)]
    correlation: Option<Correlation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    id: String,
    regex: String,
    #[serde(default)]
    on: Option<Vec<Field>>,
    cause: String,
    category: Category,
    next_check: String,
    #[serde(default)]
    self_healing: bool,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    explained_by: Vec<String>,
    #[serde(default)]
    confirmed_by: Vec<String>,
}

impl RawPattern {
    fn compile(self, file: &str) -> Result<Pattern, KnowledgeError> {
        let bad = |message: String| KnowledgeError::Pattern {
            file: file.to_string(),
            id: self.id.clone(),
            message,
        };
        if self.id.trim().is_empty() {
            return Err(bad("the id is empty".into()));
        }
        if self.cause.trim().is_empty() {
            return Err(bad("the cause is empty".into()));
        }
        let regex = Regex::new(&self.regex).map_err(|e| bad(format!("bad regex: {e}")))?;
        for tag in &self.explained_by {
            if !valid_event_tag(tag) {
                return Err(bad(format!(
                    "explained_by `{tag}`: use package:NAME, restart:postgres, restart:redis, restart:container, reload, oom, link_down or deploy"
                )));
            }
        }
        Ok(Pattern {
            id: self.id,
            regex,
            on: self
                .on
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| vec![Field::Type, Field::Message, Field::Title]),
            cause: self.cause,
            category: self.category,
            next_check: self.next_check,
            self_healing: self.self_healing,
            actions: self.actions,
            explained_by: self.explained_by,
            confirmed_by: self.confirmed_by,
        })
    }
}

fn valid_event_tag(tag: &str) -> bool {
    matches!(
        tag,
        "restart:postgres"
            | "restart:redis"
            | "restart:container"
            | "reload"
            | "oom"
            | "link_down"
            | "deploy"
    ) || tag.strip_prefix("package:").is_some_and(|p| !p.is_empty())
}

fn parse(file: &str, text: &str) -> Result<(Vec<Pattern>, FileDoc), KnowledgeError> {
    let mut doc: FileDoc = toml::from_str(text).map_err(|e| KnowledgeError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut patterns = Vec::new();
    for raw in std::mem::take(&mut doc.patterns) {
        if patterns.iter().any(|p: &Pattern| p.id == raw.id) {
            return Err(KnowledgeError::Pattern {
                file: file.to_string(),
                id: raw.id,
                message: "the id is used twice in this file".into(),
            });
        }
        patterns.push(raw.compile(file)?);
    }
    Ok((patterns, doc))
}

impl Knowledge {
    /// The embedded defaults alone.
    pub fn builtin() -> Knowledge {
        Self::from_text("(built-in knowledge)", DEFAULT_TOML)
            .expect("the embedded knowledge file is valid (tested)")
    }

    fn from_text(file: &str, text: &str) -> Result<Knowledge, KnowledgeError> {
        let (patterns, doc) = parse(file, text)?;
        let correlation = doc.correlation.ok_or_else(|| KnowledgeError::Parse {
            file: file.to_string(),
            message: "missing [correlation]".into(),
        })?;
        Ok(Knowledge {
            patterns,
            packages: doc.packages,
            correlation,
        })
    }

    /// Adds a user file's text: same id or package name replaces, new ones
    /// come first (see the module docs).
    pub fn merge_text(&mut self, file: &str, text: &str) -> Result<(), KnowledgeError> {
        let (patterns, doc) = parse(file, text)?;
        let mut added = Vec::new();
        for p in patterns {
            match self.patterns.iter_mut().find(|q| q.id == p.id) {
                Some(q) => *q = p,
                None => added.push(p),
            }
        }
        added.append(&mut self.patterns);
        self.patterns = added;
        for pkg in doc.packages {
            match self.packages.iter_mut().find(|q| q.name == pkg.name) {
                Some(q) => *q = pkg,
                None => self.packages.push(pkg),
            }
        }
        if let Some(c) = doc.correlation {
            self.correlation = c;
        }
        Ok(())
    }

    /// The defaults plus every file in `files`, in order.
    pub fn load(files: &[impl AsRef<Path>]) -> Result<Knowledge, KnowledgeError> {
        let mut k = Self::builtin();
        for f in files {
            let f = f.as_ref();
            let name = f.display().to_string();
            let text = std::fs::read_to_string(f).map_err(|error| KnowledgeError::Read {
                file: name.clone(),
                error,
            })?;
            k.merge_text(&name, &text)?;
        }
        Ok(k)
    }

    /// The pattern with this id.
    pub fn pattern(&self, id: &str) -> Option<&Pattern> {
        self.patterns.iter().find(|p| p.id == id)
    }

    /// Why a package is high-impact, when it is.
    pub fn package_impact(&self, package: &str) -> Option<&str> {
        self.packages
            .iter()
            .find(|p| p.covers(package))
            .map(|p| p.impact.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_file_loads_and_ids_are_unique() {
        let k = Knowledge::builtin();
        assert!(k.patterns.len() >= 40, "{}", k.patterns.len());
        let mut ids: Vec<&str> = k.patterns.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), k.patterns.len());
        assert!(k.patterns.iter().all(|p| !p.next_check.is_empty()));
    }

    #[test]
    fn high_impact_packages_follow_the_runbook_table() {
        let k = Knowledge::builtin();
        for name in [
            "openssl",
            "libssl3t64",
            "systemd-timesyncd",
            "postgresql-16",
            "redis-server",
            "linux-image-6.8.0-45-generic",
        ] {
            assert!(k.package_impact(name).is_some(), "{name}");
        }
        // openssl is exact: a library that merely starts with it is not it.
        assert_eq!(k.package_impact("openssl-provider-legacy"), None);
        assert_eq!(k.package_impact("curl"), None);
    }

    #[test]
    fn a_user_file_overrides_by_id_and_adds_in_front() {
        let mut k = Knowledge::builtin();
        let before = k.patterns.len();
        let pos = k.patterns.iter().position(|p| p.id == "disk-full").unwrap();
        k.merge_text(
            "mine.toml",
            r#"
[[patterns]]
id = "disk-full"
regex = "(?i)quota exceeded"
cause = "Our NFS quota"
category = "resource"
next_check = "quota -s"

[[patterns]]
id = "acme-billing-down"
regex = "AcmeBilling::Unavailable"
on = ["type"]
cause = "The billing provider is down"
category = "network"
next_check = "status.acme.test"
self_healing = true

[[packages]]
name = "nginx"
prefix = true
impact = "reloads the proxy"
"#,
        )
        .unwrap();
        assert_eq!(k.patterns.len(), before + 1);
        assert_eq!(k.patterns[0].id, "acme-billing-down");
        assert_eq!(k.patterns[0].on, vec![Field::Type]);
        assert_eq!(k.patterns[pos + 1].cause, "Our NFS quota");
        assert_eq!(k.package_impact("nginx-core"), Some("reloads the proxy"));
    }

    #[test]
    fn a_bad_regex_names_the_file_and_the_pattern() {
        let mut k = Knowledge::builtin();
        let err = k
            .merge_text(
                "bad.toml",
                "[[patterns]]\nid = \"x\"\nregex = \"(unclosed\"\ncause = \"c\"\ncategory = \"network\"\nnext_check = \"n\"\n",
            )
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.toml: pattern `x`: bad regex"), "{err}");
    }

    #[test]
    fn unknown_keys_and_categories_are_refused() {
        let mut k = Knowledge::builtin();
        let err = k
            .merge_text("t.toml", "[[patterns]]\nid = \"x\"\nregexp = \"a\"\n")
            .unwrap_err();
        assert!(matches!(err, KnowledgeError::Parse { .. }), "{err}");
        let err = k
            .merge_text(
                "t.toml",
                "[[patterns]]\nid = \"x\"\nregex = \"a\"\ncause = \"c\"\ncategory = \"weather\"\nnext_check = \"n\"\n",
            )
            .unwrap_err();
        assert!(err.to_string().contains("weather"), "{err}");
        let err = k
            .merge_text(
                "t.toml",
                "[[patterns]]\nid = \"x\"\nregex = \"a\"\ncause = \"c\"\ncategory = \"network\"\nnext_check = \"n\"\nexplained_by = [\"moon\"]\n",
            )
            .unwrap_err();
        assert!(err.to_string().contains("moon"), "{err}");
    }

    #[test]
    fn a_missing_user_file_is_an_error_naming_it() {
        let err = Knowledge::load(&["/nonexistent/knowledge.toml"]).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/knowledge.toml: "));
    }
}
