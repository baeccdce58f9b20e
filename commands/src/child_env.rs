//! The environment a program medic starts runs with: medic's own minus
//! everything not on [`PASSED`]. medic's environment holds its secrets
//! (`MEDIC__SLACK__BOT_TOKEN`, database passwords, vendor tokens); a
//! remediation command, a host diagnostic or `ssh` has no use for them,
//! and a script that prints its environment (`env`, a `set -x` trace) must
//! not be able to post them into chat.

use tokio::process::Command;

/// Variables a program may need to run as it would from a shell: where
/// programs are, the locale and time zone, who and where home is (ssh
/// reads `~/.ssh`), the ssh agent, and the temporary directory.
pub const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSH_AUTH_SOCK",
];

/// Clears `cmd`'s environment down to [`PASSED`], as set in medic's.
pub fn restrict(cmd: &mut Command) -> &mut Command {
    restrict_passing(cmd, &[])
}

/// [`restrict`], passing also the variables `also` names (an action's
/// `env`: `KUBECONFIG`, say), as set in medic's.
pub fn restrict_passing<'c>(cmd: &'c mut Command, also: &[String]) -> &'c mut Command {
    cmd.env_clear();
    for name in PASSED
        .iter()
        .copied()
        .chain(also.iter().map(String::as_str))
    {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd
}

/// Whether `name` may be passed by an action's `env`: a variable name,
/// and not one of medic's own (`MEDIC_*`, where its configuration and
/// secrets live).
pub fn check_passed(name: &str) -> Result<(), String> {
    let well_formed = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(format!(
            "`{name}` is not a variable name (letters, digits and _)"
        ));
    }
    if name.to_ascii_uppercase().starts_with("MEDIC") {
        return Err(format!(
            "`{name}`: medic's own variables (its configuration and secrets) are never passed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_sees_the_allow_list_and_nothing_else_of_medics_environment() {
        // This process has variables off the list (cargo sets CARGO_*, CI
        // sets CI, a deployment MEDIC__*): none may reach the child.
        let parent: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        let off_list: Vec<&String> = parent
            .iter()
            .filter(|k| !PASSED.contains(&k.as_str()))
            .collect();
        assert!(!off_list.is_empty(), "nothing to keep out: {parent:?}");
        let out = restrict(Command::new("env").kill_on_drop(true))
            .output()
            .await
            .expect("env runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().any(|l| l.starts_with("PATH=")), "{text}");
        for line in text.lines() {
            let name = line.split('=').next().unwrap_or_default();
            assert!(PASSED.contains(&name), "{name} reached the child: {text}");
        }
    }
}
