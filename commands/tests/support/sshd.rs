//! A real OpenSSH server for one test: on 127.0.0.1 and a free port, with a
//! host key and a login key made at test time with ssh-keygen, letting in
//! only the current user with that key. Killed and reaped on drop.
//!
//! sshd and ssh come from `scripts/services install` (openssh-server and
//! openssh-client from apt). Without them a test skips with a note, except
//! under `CI=true`, where it fails. As root, sshd needs its privilege
//! separation directory `/run/sshd`, which the Debian service would create
//! at start: it is created here when missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sshd; killed on drop.
pub struct Sshd {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The user it lets in (the one running the tests).
    pub user: String,
    /// The private key it accepts.
    pub key: PathBuf,
    /// A known_hosts file holding its real host key.
    pub known_hosts: PathBuf,
    child: Child,
    /// Keys, config and log; removed on drop.
    dir: tempfile::TempDir,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const SSHD: &str = "/usr/sbin/sshd";

/// Makes an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "medic-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen -f {}", path.display());
}

fn output(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    /// Starts one; `None` (skip) when OpenSSH is not installed, outside CI.
    pub async fn start() -> Option<Sshd> {
        let installed = Path::new(SSHD).exists()
            && Command::new("ssh-keygen").arg("-?").output().is_ok()
            && Command::new("ssh").arg("-V").output().is_ok();
        if !installed {
            assert!(
                !in_ci(),
                "sshd, ssh and ssh-keygen must be installed (CI=true never skips): scripts/services install"
            );
            eprintln!("SKIPPED: OpenSSH is not installed; run scripts/services install.");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let user = output("id", &["-un"]);
        let root = output("id", &["-u"]) == "0";
        if root && !Path::new("/run/sshd").exists() {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPubkeyAuthentication yes\n\
PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
PermitRootLogin prohibit-password\nAllowUsers {user}\nMaxStartups 50\nLogLevel INFO\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        let known_hosts = d.join("known_hosts");
        Self::write_known_hosts(&known_hosts, port, &d.join("host_key.pub"));
        let sshd = Sshd {
            port,
            user,
            key: d.join("user_key"),
            known_hosts,
            child,
            dir,
        };
        sshd.wait_listening().await;
        Some(sshd)
    }

    /// A known_hosts line for this server's port holding the key in `pub_key`.
    fn write_known_hosts(path: &Path, port: u16, pub_key: &Path) {
        let key = std::fs::read_to_string(pub_key).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        std::fs::write(path, format!("[127.0.0.1]:{port} {}\n", key.join(" "))).unwrap();
    }

    async fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {}: {}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// A known_hosts file naming another key for this host: what a
    /// reinstalled host, or one impersonating it, looks like.
    pub fn wrong_known_hosts(&self) -> PathBuf {
        let other = self.dir.path().join("other_host_key");
        keygen(&other);
        let path = self.dir.path().join("wrong_known_hosts");
        Self::write_known_hosts(&path, self.port, &other.with_extension("pub"));
        path
    }

    /// An empty known_hosts file.
    pub fn empty_known_hosts(&self) -> PathBuf {
        let path = self.dir.path().join("empty_known_hosts");
        std::fs::write(&path, "").unwrap();
        path
    }

    /// A key this server does not accept.
    pub fn stranger_key(&self) -> PathBuf {
        let path = self.dir.path().join("stranger_key");
        keygen(&path);
        path
    }

    /// A scratch directory that lives as long as the server.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
