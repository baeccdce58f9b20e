//! Purpose: typed action parameters, substituted only as whole argv
//! elements.
//!
//! A `command` action's argv may contain elements that are exactly
//! `{name}`; each is replaced by one validated value and stays one argv
//! element, whatever it contains. There is no shell and no partial
//! substitution (`--user={name}` is refused at config time), so a value
//! like `x; rm -rf /` is an odd argument to the program, never a second
//! command.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

/// The parameter every action gets: the name of the target whose report
/// offered it (target names are restricted to `[a-z0-9_-]`).
pub const TARGET_PARAM: &str = "target";

/// `[actions.NAME.params.PARAM]` as written in config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ParamConfig {
    /// The allowed values, exactly.
    #[serde(rename = "enum")]
    pub choices: Option<Vec<String>>,
    /// A pattern the whole value must match (anchored for you).
    pub regex: Option<String>,
    /// The value an offer binds when nothing else supplies one.
    pub default: Option<String>,
}

/// A validated parameter type.
#[derive(Debug, Clone)]
pub enum ParamType {
    /// One of these values.
    Enum(Vec<String>),
    /// Matching this (anchored) pattern.
    Pattern(Regex),
}

/// A declared parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// What values it takes.
    pub kind: ParamType,
    /// The value offers bind by default.
    pub default: Option<String>,
}

impl Param {
    /// Checks a config entry: exactly one of `enum` and `regex`, a pattern
    /// that compiles, a default that passes.
    pub fn parse(raw: &ParamConfig) -> Result<Param, String> {
        let kind = match (&raw.choices, &raw.regex) {
            (Some(c), None) if !c.is_empty() => ParamType::Enum(c.clone()),
            (Some(_), None) => return Err("`enum` lists no values".into()),
            (None, Some(re)) => {
                let anchored = format!("^(?:{re})$");
                ParamType::Pattern(
                    Regex::new(&anchored).map_err(|e| format!("`regex` does not compile: {e}"))?,
                )
            }
            (Some(_), Some(_)) => return Err("give either `enum` or `regex`, not both".into()),
            (None, None) => {
                return Err("needs a type: `enum = [..]` or `regex = \"..\"`".into());
            }
        };
        let param = Param {
            kind,
            default: raw.default.clone(),
        };
        if let Some(d) = &param.default {
            param.check(d).map_err(|e| format!("`default`: {e}"))?;
        }
        Ok(param)
    }

    /// Whether `value` is allowed.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match &self.kind {
            ParamType::Enum(choices) if choices.iter().any(|c| c == value) => Ok(()),
            ParamType::Enum(choices) => {
                Err(format!("`{value}` is not one of {}", choices.join(", ")))
            }
            ParamType::Pattern(re) if re.is_match(value) => Ok(()),
            ParamType::Pattern(re) => Err(format!("`{value}` does not match {}", re.as_str())),
        }
    }
}

/// One argv element as configured: literal text or a whole-element
/// placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Passed as is.
    Literal(String),
    /// Replaced by the named parameter's value.
    Param(String),
}

/// Parses a configured argv: `{name}` elements must name a declared
/// parameter (or `target`); braces anywhere else are refused, because a
/// partial substitution is how shell-injection bugs begin.
pub fn parse_argv(argv: &[String], params: &BTreeMap<String, Param>) -> Result<Vec<Arg>, String> {
    if argv.is_empty() {
        return Err("`run` is empty: give the program and its arguments".into());
    }
    argv.iter()
        .enumerate()
        .map(|(i, a)| {
            if let Some(name) = a.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                if i == 0 {
                    return Err("the program itself cannot be a parameter".into());
                }
                if name != TARGET_PARAM && !params.contains_key(name) {
                    return Err(format!("`{{{name}}}` names no parameter in params"));
                }
                Ok(Arg::Param(name.to_string()))
            } else if a.contains('{') || a.contains('}') {
                Err(format!(
                    "`{a}`: a parameter must be a whole argv element (`{{name}}`), never part of one"
                ))
            } else {
                Ok(Arg::Literal(a.clone()))
            }
        })
        .collect()
}

/// The argv with each placeholder replaced by its validated value.
pub fn substitute(
    argv: &[Arg],
    params: &BTreeMap<String, Param>,
    values: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    argv.iter()
        .map(|a| match a {
            Arg::Literal(s) => Ok(s.clone()),
            Arg::Param(name) => {
                let value = values
                    .get(name)
                    .ok_or_else(|| format!("no value for `{name}`"))?;
                if let Some(p) = params.get(name) {
                    p.check(value).map_err(|e| format!("`{name}`: {e}"))?;
                } else if !valid_target(value) {
                    return Err(format!("`{name}`: `{value}` is not a target name"));
                }
                Ok(value.clone())
            }
        })
        .collect()
}

/// The values an offer binds: the target, then each default.
pub fn offer_values(target: &str, params: &BTreeMap<String, Param>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::from([(TARGET_PARAM.to_string(), target.to_string())]);
    for (name, p) in params {
        if let Some(d) = &p.default {
            values.insert(name.clone(), d.clone());
        }
    }
    values
}

fn valid_target(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<String, Param> {
        BTreeMap::from([
            (
                "unit".to_string(),
                Param::parse(&ParamConfig {
                    choices: Some(vec!["redis-server".into(), "nginx".into()]),
                    ..Default::default()
                })
                .unwrap(),
            ),
            (
                "note".to_string(),
                Param::parse(&ParamConfig {
                    regex: Some(".*".into()),
                    ..Default::default()
                })
                .unwrap(),
            ),
        ])
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whole_element_placeholders_only() {
        let p = params();
        assert!(parse_argv(&argv(&["systemctl", "restart", "{unit}"]), &p).is_ok());
        let err = parse_argv(&argv(&["echo", "--unit={unit}"]), &p).unwrap_err();
        assert!(err.contains("whole argv element"), "{err}");
        assert!(parse_argv(&argv(&["echo", "{nope}"]), &p).is_err());
        assert!(parse_argv(&argv(&["{unit}"]), &p).is_err());
        assert!(parse_argv(&[], &p).is_err());
    }

    #[test]
    fn a_hostile_value_stays_one_element() {
        let p = params();
        let parsed = parse_argv(&argv(&["echo", "{note}", "{target}"]), &p).unwrap();
        let values = BTreeMap::from([
            ("note".to_string(), "x; rm -rf / $(id) `id`".to_string()),
            ("target".to_string(), "db".to_string()),
        ]);
        let out = substitute(&parsed, &p, &values).unwrap();
        assert_eq!(out, argv(&["echo", "x; rm -rf / $(id) `id`", "db"]));
    }

    #[test]
    fn values_are_checked_by_type() {
        let p = params();
        let parsed = parse_argv(&argv(&["systemctl", "restart", "{unit}"]), &p).unwrap();
        let bad = BTreeMap::from([("unit".to_string(), "sshd".to_string())]);
        assert!(substitute(&parsed, &p, &bad).is_err());
        let parsed = parse_argv(&argv(&["x", "{target}"]), &p).unwrap();
        let bad = BTreeMap::from([("target".to_string(), "db;id".to_string())]);
        assert!(substitute(&parsed, &p, &bad).is_err());
    }

    #[test]
    fn param_declarations_are_validated() {
        assert!(Param::parse(&ParamConfig::default()).is_err());
        assert!(
            Param::parse(&ParamConfig {
                regex: Some("(".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Param::parse(&ParamConfig {
                regex: Some("[a-z]+".into()),
                default: Some("A1".into()),
                ..Default::default()
            })
            .is_err()
        );
        // Anchored: a pattern matching part of the value is not enough.
        let p = Param::parse(&ParamConfig {
            regex: Some("[a-z]+".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(p.check("abc").is_ok());
        assert!(p.check("abc; id").is_err());
    }
}
