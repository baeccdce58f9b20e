//! `[triage]`: what medic knows about errors, and the windows its rules
//! use (README "Triage").
//!
//! ```toml
//! [triage]
//! knowledge = ["knowledge/ours.toml"]   # added to the built-in file; relative to this config file
//! correlation_window = "2m"             # incidents naming one host this close are one event
//! timeline_window = "30m"               # changes this long before the first error are candidates
//! enabled = true                        # false: no "Likely cause" message
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use config::Value;
use medic_commands::triage::Knowledge;
use serde::Deserialize;

use super::{Reader, problem};

/// `[triage]`.
#[derive(Debug, Clone)]
pub struct TriageSettings {
    /// Post a "Likely cause" first in every new incident's thread, and in a
    /// `/diag` answer when a change explains a restart it saw.
    pub enabled: bool,
    /// The built-in knowledge plus the user's files, compiled once.
    pub knowledge: Arc<Knowledge>,
    /// The user's files, as resolved (for check-config).
    pub knowledge_files: Vec<PathBuf>,
    /// Incidents naming the same host within this of each other are one
    /// infrastructure event (default 2 min, the runbook's "same minute"
    /// with a clock's slack either side).
    pub correlation_window: Duration,
    /// Changes (upgrades, deploys, restarts, reloads, OOM kills) this long
    /// before the first error are candidate causes (default 30 min:
    /// unattended-upgrades and deploys bite within minutes, and an hour-old
    /// change is rarely the cause of a fresh error).
    pub timeline_window: Duration,
}

impl Default for TriageSettings {
    fn default() -> Self {
        TriageSettings {
            enabled: true,
            knowledge: Arc::new(Knowledge::builtin()),
            knowledge_files: Vec::new(),
            correlation_window: Duration::from_secs(120),
            timeline_window: Duration::from_secs(1800),
        }
    }
}

impl Reader {
    /// Reads `[triage]`; knowledge files are resolved against the config
    /// file's directory (`base`) and read now, so check-config names a bad
    /// regex with its file and pattern id.
    pub(super) fn triage(&mut self, value: Option<Value>, base: Option<&Path>) -> TriageSettings {
        #[derive(Deserialize, Default)]
        #[serde(default, deny_unknown_fields)]
        struct Raw {
            enabled: Option<bool>,
            knowledge: Vec<String>,
            correlation_window: Option<String>,
            timeline_window: Option<String>,
        }
        let mut settings = TriageSettings::default();
        let Some(raw) = value.and_then(|v| self.section::<Raw>("triage", Some(v))) else {
            return settings;
        };
        if let Some(e) = raw.enabled {
            settings.enabled = e;
        }
        for (key, text, slot) in [
            (
                "triage.correlation_window",
                raw.correlation_window,
                &mut settings.correlation_window,
            ),
            (
                "triage.timeline_window",
                raw.timeline_window,
                &mut settings.timeline_window,
            ),
        ] {
            let Some(text) = text else { continue };
            match medic_commands::duration::parse(&text) {
                Ok(d) if !d.is_zero() => *slot = d,
                Ok(_) => self
                    .problems
                    .push(problem(key, "must be longer than 0, like 2m")),
                Err(e) => self.problems.push(problem(key, e)),
            }
        }
        let files: Vec<PathBuf> = raw
            .knowledge
            .iter()
            .map(|f| match base {
                Some(dir) if Path::new(f).is_relative() => dir.join(f),
                _ => PathBuf::from(f),
            })
            .collect();
        match Knowledge::load(&files) {
            Ok(k) => settings.knowledge = Arc::new(k),
            Err(e) => self
                .problems
                .push(problem("triage.knowledge", e.to_string())),
        }
        settings.knowledge_files = files;
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Settings, Sources};

    #[test]
    fn defaults_need_no_section() {
        let s = Settings::load(&Sources::toml("")).unwrap().settings;
        let t = &s.alerts.triage;
        assert!(t.enabled);
        assert_eq!(t.correlation_window.as_secs(), 120);
        assert_eq!(t.timeline_window.as_secs(), 1800);
        assert!(t.knowledge.pattern("ssl-closed-unexpectedly").is_some());
    }

    #[test]
    fn windows_and_user_knowledge_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ours.toml");
        std::fs::write(
            &file,
            "[[patterns]]\nid = \"acme\"\nregex = \"Acme::Down\"\ncause = \"Acme is down\"\ncategory = \"network\"\nnext_check = \"status.acme.test\"\n",
        )
        .unwrap();
        let text = format!(
            "[triage]\nknowledge = [\"{}\"]\ncorrelation_window = \"90s\"\ntimeline_window = \"1h\"\n",
            file.display()
        );
        let s = Settings::load(&Sources::toml(&text)).unwrap().settings;
        let t = &s.alerts.triage;
        assert_eq!(t.knowledge.patterns[0].id, "acme");
        assert_eq!(t.correlation_window.as_secs(), 90);
        assert_eq!(t.timeline_window.as_secs(), 3600);
    }

    #[test]
    fn a_bad_knowledge_file_and_window_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            "[[patterns]]\nid = \"broken\"\nregex = \"(\"\ncause = \"c\"\ncategory = \"network\"\nnext_check = \"n\"\n",
        )
        .unwrap();
        let text = format!(
            "[triage]\nknowledge = [\"{}\"]\ncorrelation_window = \"soon\"\n",
            file.display()
        );
        let problems = Settings::load(&Sources::toml(&text)).unwrap_err();
        let shown: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect();
        assert!(
            shown
                .iter()
                .any(|p| p.starts_with("triage.knowledge: ") && p.contains("pattern `broken`")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|p| p.starts_with("triage.correlation_window")),
            "{shown:?}"
        );
    }
}
