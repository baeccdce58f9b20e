//! What medic's benchmark binaries share: the runtime, child servers and
//! their /proc figures, a cheap HTTP/1.1 keep-alive client and /metrics
//! parsing. Used by `medic-bench` and `medic-bench-alerts`; it measures and
//! prints, it asserts nothing.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs `fut` on the same runtime medic's main builds (multi-thread, one
/// worker per core) and turns its result into an exit code.
pub fn block_on<E: std::fmt::Display>(
    label: &str,
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{label}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Child processes and /proc.
// ---------------------------------------------------------------------------

/// A server under test, killed when dropped (also on panic).
pub struct Server {
    pub name: &'static str,
    /// Whether it is medic (which serves /metrics).
    pub medic: bool,
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /healthz` answers 200, or the child exits.
    pub async fn wait_healthy(&mut self, log: Option<&Path>) -> anyhow::Result<()> {
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let tail = log.map(log_tail).unwrap_or_default();
                anyhow::bail!("{} exited during start-up ({status}){tail}", self.name);
            }
            if let Ok(200) = get_status(self.addr, "/healthz").await {
                return Ok(());
            }
            if Instant::now() > give_up {
                anyhow::bail!(
                    "{} did not answer /healthz on {} within 60 s",
                    self.name,
                    self.addr
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    format!(
        "\n--- last lines of {} ---\n{}",
        path.display(),
        lines[from..].join("\n")
    )
}

/// A port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `(VmRSS, VmHWM)` in kB.
pub fn rss_kb(pid: u32) -> Option<(u64, u64)> {
    Some((status_field(pid, "VmRSS:")?, status_field(pid, "VmHWM:")?))
}

/// A number from /proc/PID/status (kB for sizes).
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
}

/// What a process's memory is made of: `anon 40.1 MB, file 7.2 MB, shmem
/// 0.1 MB, 9 threads`.
pub fn memory_makeup(pid: u32) -> String {
    let f = |name| status_field(pid, name).unwrap_or(0);
    format!(
        "anon {:.1} MB, file {:.1} MB, shmem {:.1} MB, {} threads",
        mb(f("RssAnon:")),
        mb(f("RssFile:")),
        mb(f("RssShmem:")),
        f("Threads:")
    )
}

/// User + system CPU time of a process (`"self"` for this one).
pub fn cpu_time(pid: &str, tick_hz: f64) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / tick_hz)
}

/// Busy CPU time of the whole machine, all cores, from /proc/stat.
pub fn machine_busy(tick_hz: f64) -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let first = stat.lines().next().unwrap_or_default();
    let f: Vec<u64> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    Duration::from_secs_f64(busy as f64 / tick_hz)
}

/// The redis-server listening on the port of `url` (its command line
/// names it, as `redis-server 127.0.0.1:6379`), for its CPU time.
pub fn redis_pid(url: &str) -> Option<u32> {
    let port = url::Url::parse(url).ok()?.port().unwrap_or(6379);
    let needle = format!(":{port}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (comm.trim() == "redis-server" && cmdline.trim_end().ends_with(&needle)).then_some(pid)
    })
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Other compilers running now: their CPU use makes figures noisy.
pub fn busy_neighbours() -> Vec<String> {
    let mut seen = Vec::new();
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if matches!(
            comm,
            "rustc" | "cc1" | "ld" | "clippy-driver" | "rust-analyzer"
        ) {
            seen.push(format!("{comm}({name})"));
        }
    }
    seen
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 keep-alive client: the same cheap client for both
// servers, so that the load generator takes as little of the shared CPU as
// possible.
// ---------------------------------------------------------------------------

pub struct Answer {
    pub status: u16,
    pub body: std::ops::Range<usize>,
    pub close: bool,
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<Answer> {
    use std::io::{Error, ErrorKind};
    stream.write_all(request).await?;
    buf.clear();
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "response head too large",
            ));
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
    };
    let head =
        std::str::from_utf8(&buf[..head_end]).map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "bad status line"))?;
    let mut length = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "chunked responses are not expected",
            ));
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let length = length.ok_or_else(|| Error::new(ErrorKind::InvalidData, "no content-length"))?;
    while buf.len() < head_end + length {
        buf.reserve(head_end + length - buf.len());
        if stream.read_buf(buf).await? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Answer {
        status,
        body: head_end..head_end + length,
        close,
    })
}

pub async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

pub async fn get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let mut buf = Vec::new();
    Ok(exchange(&mut s, req.as_bytes(), &mut buf).await?.status)
}

pub async fn get_text(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let mut buf = Vec::new();
    let a = exchange(&mut s, req.as_bytes(), &mut buf).await?;
    Ok(String::from_utf8_lossy(&buf[a.body]).into_owned())
}

/// `write!` into a byte buffer.
pub struct DisplayBuf<'a>(pub &'a mut Vec<u8>);

impl std::fmt::Write for DisplayBuf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Sum of the samples of `metric` whose labels contain `label` (all when
/// empty).
pub fn metric_sum(text: &str, metric: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter(|l| label.is_empty() || l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
}

pub fn metric_sum_u64(text: &str, metric: &str, label: &str) -> u64 {
    metric_sum(text, metric, label) as u64
}

/// A log line without its colour codes (`ESC [ … m`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

// ---------------------------------------------------------------------------
// Ceilings: bare hyper servers that do only what a route must (check a
// signature, answer something small), to compare medic with.
// ---------------------------------------------------------------------------

/// medic's body limit (`http::MAX_BODY`).
pub const MAX_BODY: usize = 1024 * 1024;

/// A small answer with `status`.
pub fn text(
    status: hyper::StatusCode,
    body: &'static str,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(
        body.as_bytes(),
    )));
    *r.status_mut() = status;
    r
}

/// Serves `handle` on 127.0.0.1:`port` over HTTP/1.1 the way axum::serve
/// does (no TCP_NODELAY, one task per connection), forever.
pub async fn serve_bare<F, Fut>(port: u16, handle: F) -> std::io::Result<()>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<
            Output = Result<
                hyper::Response<http_body_util::Full<bytes::Bytes>>,
                std::convert::Infallible,
            >,
        > + Send
        + 'static,
{
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => continue,
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handle);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------
// The shape every bench binary has.
// ---------------------------------------------------------------------------

/// Options parsed, `--help` printed, or a usage error reported: what `main`
/// does with `parsed` (an empty error means `--help`).
pub fn options_or_exit<T>(
    name: &str,
    usage: &str,
    parsed: Result<T, String>,
) -> Result<T, ExitCode> {
    match parsed {
        Ok(o) => Ok(o),
        Err(e) if e.is_empty() => {
            print!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{name}: {e}\n\n{usage}");
            Err(ExitCode::from(2))
        }
    }
}

/// The port of `<bench> ceiling --port N`.
pub fn ceiling_port(name: &str, mut args: impl Iterator<Item = String>) -> Result<u16, ExitCode> {
    let mut port = 0u16;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().map(|v| v.parse::<u16>())) {
            ("--port", Some(Ok(p))) => port = p,
            _ => {
                eprintln!("usage: {name} ceiling --port N");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(port)
}

/// The medic binary: `explicit`, or `medic` next to the running bench.
pub fn medic_binary(explicit: Option<&Path>) -> anyhow::Result<std::path::PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("medic"))
            .ok_or_else(|| anyhow::anyhow!("cannot tell where this bench binary lives"))?,
    };
    if !path.is_file() {
        anyhow::bail!(
            "no medic binary at {} — build both first: cargo build --release -p medic -p medic-tests",
            path.display()
        );
    }
    Ok(path)
}

/// Starts this binary's own `ceiling --port N` subcommand as a child.
pub async fn start_ceiling() -> anyhow::Result<Server> {
    start_ceiling_with(&[]).await
}

/// [`start_ceiling`] with more arguments for the subcommand.
pub async fn start_ceiling_with(extra: &[&str]) -> anyhow::Result<Server> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["ceiling", "--port", &port.to_string()])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let mut s = Server {
        name: "ceiling",
        medic: false,
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    s.wait_healthy(None).await?;
    Ok(s)
}

/// Starts `medic serve` with the config `config(port)` written into `dir`,
/// its output in `dir/medic.log`; returns it once healthy, and the log.
pub async fn start_medic(
    bin: &Path,
    dir: &Path,
    config: impl FnOnce(u16) -> String,
) -> anyhow::Result<(Server, std::path::PathBuf)> {
    let port = free_port()?;
    let path = dir.join("medic.toml");
    std::fs::write(&path, config(port))?;
    let log = dir.join("medic.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let mut s = Server {
        name: "medic",
        medic: true,
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    s.wait_healthy(Some(&log)).await?;
    Ok((s, log))
}

/// WARN and ERROR lines in medic's log.
pub fn log_warnings(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .count()
}

/// Prints the run's heading: the binary, the cores, the load average, and
/// a warning when compilers run beside the bench.
pub fn print_heading(title: &str, medic: &Path, cores: usize) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("# {title}");
    println!(
        "medic: {} | cores: {cores} | load average at start: {}",
        medic.display(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let neighbours = busy_neighbours();
    if !neighbours.is_empty() {
        println!(
            "WARNING: compilers are running beside the bench ({}); figures will be noisy.",
            neighbours.join(", ")
        );
    }
}

/// Nearest-rank percentile `q` of sorted values, divided by `scale`.
pub fn nearest_rank<T: Copy + Into<f64>>(sorted: &[T], q: f64, scale: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].into() / scale
}

/// Samples a process's VmRSS every 100 ms until stopped; yields the
/// largest value seen, in kB.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Some((rss, _)) = rss_kb(pid) {
                    max = max.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            max
        });
        RssSampler { stop, task }
    }

    pub async fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

/// A bench binary's `main`: `<bench> ceiling --port N` runs `ceiling`;
/// anything else is parsed by `parse` and run by `bench` on the runtime.
pub fn bench_main<O, Fut>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(std::vec::IntoIter<String>) -> Result<O, String>,
    ceiling: impl FnOnce(std::vec::IntoIter<String>) -> ExitCode,
    bench: impl FnOnce(O) -> Fut,
) -> ExitCode
where
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ceiling") {
        args.remove(0);
        return ceiling(args.into_iter());
    }
    match options_or_exit(name, usage, parse(args.into_iter())) {
        Ok(opts) => block_on(name, bench(opts)),
        Err(code) => code,
    }
}
