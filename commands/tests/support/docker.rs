//! The real dockerd the docker tests use: `scripts/services start` runs one
//! on a socket of its own (`MEDIC_TEST_DOCKER_HOST`, default
//! `unix:///tmp/medic-test-services/docker/docker.sock`). No registry is
//! reachable here, so the one image the tests run, `medic-test/busybox:1`,
//! is made on this machine: a root holding busybox-static's `/bin/busybox`,
//! `docker import`ed (the same as `scripts/services` does; made here when
//! missing).
//!
//! Each test names its containers uniquely ([`Docker::name`]) — tests run
//! in parallel — and removes them when its [`Docker`] drops, also when it
//! panics. Under `CI=true` a missing daemon fails the test; elsewhere it is
//! skipped with a note.

#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medic_commands::diagnostics::docker::DockerTarget;
use medic_commands::diagnostics::{Target, TargetSpec};
use medic_commands::{Finding, Report};

/// Where `scripts/services` starts the tests' dockerd.
pub const DEFAULT_HOST: &str = "unix:///tmp/medic-test-services/docker/docker.sock";
/// The image the tests run.
pub const IMAGE: &str = "medic-test/busybox:1";
/// Docker's CLI from Debian's docker.io (not another one earlier in PATH).
const CLI: &str = "/usr/bin/docker";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static SEQ: AtomicUsize = AtomicUsize::new(0);
static IMAGE_MADE: Mutex<bool> = Mutex::new(false);

/// The tests' dockerd and the containers one test made.
pub struct Docker {
    /// `unix:///…` as medic's config takes it.
    pub host: String,
    made: Mutex<Vec<String>>,
}

impl Docker {
    /// The tests' daemon, answering, with the test image present; `None`
    /// (skip) when there is none, outside CI.
    pub fn connect() -> Option<Docker> {
        let host = std::env::var("MEDIC_TEST_DOCKER_HOST").unwrap_or_else(|_| DEFAULT_HOST.into());
        let docker = Docker {
            host,
            made: Mutex::new(Vec::new()),
        };
        let up = Command::new(CLI)
            .args([
                "-H",
                &docker.host,
                "version",
                "--format",
                "{{.Server.Version}}",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !up {
            let what = format!("no Docker daemon answers at {}", docker.host);
            if in_ci() {
                panic!("{what} (CI=true: tests never skip). Start it with scripts/services start.");
            }
            eprintln!("SKIPPED: {what}; run scripts/services start.");
            return None;
        }
        docker.ensure_image();
        Some(docker)
    }

    /// Runs the docker CLI against the tests' daemon; panics with its
    /// output when it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.try_cli(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The CLI's whole output, failing or not.
    pub fn try_cli(&self, args: &[&str]) -> Output {
        Command::new(CLI)
            .args(["-H", &self.host])
            .args(args)
            .output()
            .expect("run the docker CLI")
    }

    /// Makes the test image when it is missing (once per test binary).
    fn ensure_image(&self) {
        let mut made = IMAGE_MADE.lock().unwrap_or_else(|p| p.into_inner());
        if *made || self.try_cli(&["image", "inspect", IMAGE]).status.success() {
            *made = true;
            return;
        }
        let root = tempfile::tempdir().expect("temporary root");
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("/bin/busybox (apt-get install busybox-static)");
        for applet in [
            "sh", "echo", "cat", "head", "tail", "sleep", "true", "false", "ls", "env", "kill",
            "yes",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let mut tar = Command::new("tar")
            .args(["-C", root.path().to_str().unwrap(), "-cf", "-", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run tar");
        let out = Command::new(CLI)
            .args(["-H", &self.host, "import", "--change", "ENV PATH=/bin"])
            .args(["--change", "CMD [\"sh\"]", "-", IMAGE])
            .stdin(tar.stdout.take().expect("tar's stdout"))
            .output()
            .expect("run docker import");
        assert!(tar.wait().expect("tar").success(), "tar of the image root");
        assert!(
            out.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        *made = true;
    }

    /// A container name no other test uses; removed when this drops.
    pub fn name(&self, what: &str) -> String {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("medic-t{}-{n}-{what}", std::process::id());
        self.made.lock().unwrap().push(name.clone());
        name
    }

    /// `docker run -d --name NAME ARGS… IMAGE CMD…`; returns the id.
    pub fn run(&self, name: &str, args: &[&str], cmd: &[&str]) -> String {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.push(IMAGE);
        all.extend_from_slice(cmd);
        self.cli(&all)
    }

    /// `docker inspect -f FORMAT NAME`.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.cli(&["inspect", "-f", format, name])
    }

    /// Waits until `docker inspect -f FORMAT NAME` prints `want`; panics
    /// after a generous bound, with what it printed last.
    pub fn wait_for(&self, name: &str, format: &str, want: &str) {
        let limit = Duration::from_secs(60);
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < limit {
            last = self.inspect(name, format);
            if last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{name}: `{format}` is still `{last}` after {limit:?}, not `{want}`");
    }

    /// A docker target on the tests' daemon with `edit` applied.
    pub fn target(&self, name: &str, edit: impl FnOnce(&mut DockerTarget)) -> Target {
        let mut t = DockerTarget::local(Vec::new());
        t.host = medic_commands::diagnostics::SecretUrl::parse(&self.host).unwrap();
        t.timeout = Duration::from_secs(10);
        edit(&mut t);
        t.validate().expect("a valid docker target");
        Target {
            name: name.to_string(),
            spec: TargetSpec::Docker(t),
        }
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let names = self.made.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if names.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(names.iter().map(String::as_str));
        // Errors ignored: a container a test never created is fine.
        let _ = self.try_cli(&args);
    }
}

/// The findings of `check` in `report`.
pub fn findings<'a>(report: &'a Report, check: &str) -> Vec<&'a Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect()
}

/// The one finding of `check` about `container` (its summary names it).
pub fn about<'a>(report: &'a Report, check: &str, container: &str) -> &'a Finding {
    let found: Vec<&Finding> = findings(report, check)
        .into_iter()
        .filter(|f| f.summary.contains(container))
        .collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "want one {check} finding about {container}, got {found:#?}\nreport: {report:#?}"
        ),
    }
}
