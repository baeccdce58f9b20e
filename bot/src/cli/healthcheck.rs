//! `medic healthcheck`: asks a running `medic serve` for `GET /healthz`,
//! for container images that have no curl (Docker's `HEALTHCHECK`). Exit 0
//! when it answers 2xx within the timeout, 1 otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::settings::{Settings, Sources};

/// How long the whole probe may take (Docker's own default timeout is 30 s).
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(config: Option<&Path>, url: Option<&str>) -> u8 {
    let url = match url {
        Some(u) => u.to_string(),
        None => match Settings::load(&Sources::standard(config)) {
            Ok(loaded) => healthz_url(loaded.settings.server.bind),
            Err(problems) => {
                eprintln!(
                    "medic healthcheck: the configuration has {} problem(s), so server.bind is unknown (or pass --url):",
                    problems.len()
                );
                for p in problems {
                    eprintln!("  {p}");
                }
                return 1;
            }
        },
    };
    // No proxy: the probe is for this machine, whatever HTTPS_PROXY says.
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("medic healthcheck: cannot build an HTTP client: {e}");
            return 1;
        }
    };
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("{url}: {}", response.status());
            0
        }
        Ok(response) => {
            eprintln!("medic healthcheck: {url} answered {}", response.status());
            1
        }
        Err(e) => {
            // reqwest's own text is "error sending request"; the cause
            // (connection refused, timed out) is in its sources.
            let e = e.without_url();
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                why.push_str(": ");
                why.push_str(&cause.to_string());
                source = cause.source();
            }
            eprintln!("medic healthcheck: {url} did not answer: {why}");
            1
        }
    }
}

/// `http://ADDR/healthz` for the address `serve` binds: a wildcard address
/// (0.0.0.0, ::) is asked on loopback.
fn healthz_url(bind: SocketAddr) -> String {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, bind.port()))
}

#[cfg(test)]
mod tests {
    use super::healthz_url;

    #[test]
    fn a_wildcard_bind_is_probed_on_loopback() {
        assert_eq!(
            healthz_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            healthz_url("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/healthz"
        );
        assert_eq!(
            healthz_url("10.0.0.5:8080".parse().unwrap()),
            "http://10.0.0.5:8080/healthz"
        );
    }
}
