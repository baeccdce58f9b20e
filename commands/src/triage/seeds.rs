//! Every row of the seeds' quick-reference tables, common-causes tables and
//! scenario sections, as a sample message and the pattern it must match.
//! A row added to a seed without a pattern fails here, and so does a
//! pattern edit that steals another row's match.

use super::chain::Link;
use super::knowledge::Knowledge;
use super::patterns;

/// (seed file and row, what an alert would carry, expected pattern id).
/// The text is either an exception (`Type: message`) or an alert title.
const ROWS: &[(&str, &str, &str)] = &[
    // production-debugging-guide.md — Quick Reference: Common Error Patterns
    (
        "pdg quick ref: RedisClient::CannotConnectError",
        "RedisClient::CannotConnectError: Connection refused - connect(2) for 10.0.1.1:6379",
        "redis-cannot-connect",
    ),
    (
        "pdg quick ref: ActiveRecord::DatabaseConnectionError",
        "ActiveRecord::DatabaseConnectionError: could not connect to server at 10.0.1.1",
        "postgres-cannot-connect",
    ),
    (
        "pdg quick ref: SSL connection has been closed unexpectedly",
        "PG::ConnectionBad: SSL connection has been closed unexpectedly",
        "ssl-closed-unexpectedly",
    ),
    (
        "pdg quick ref: terminating connection due to administrator command",
        "PG::ConnectionBad: FATAL:  terminating connection due to administrator command",
        "admin-command",
    ),
    // production-debugging-guide.md — Common Scenarios
    (
        "pdg scenario SSL: symptom 2",
        "FATAL: terminating connection due to administrator command",
        "admin-command",
    ),
    (
        "pdg scenario Redis+PG: redis",
        "RedisClient::CannotConnectError: Error connecting to Redis on 10.0.1.1:6379",
        "redis-cannot-connect",
    ),
    (
        "pdg scenario Redis+PG: postgres",
        "ActiveRecord::DatabaseConnectionError: connection to server at \"10.0.1.1\", port 5432 failed",
        "postgres-cannot-connect",
    ),
    (
        "pdg scenario services restarted",
        "PG::UnableToSend: server closed the connection unexpectedly",
        "server-closed-connection",
    ),
    // production-debugging-guide.md — step 6 and the Quick Diagnostic Checklist
    (
        "pdg step 6: full disk can crash services",
        "ENOSPC: no space left on device, write",
        "disk-full",
    ),
    (
        "pdg step 6: OOM killer activity",
        "Out of memory: Killed process 4242 (ruby)",
        "oom-killed",
    ),
    (
        "pdg checklist: file descriptors",
        "Errno::EMFILE: Too many open files",
        "too-many-open-files",
    ),
    (
        "pdg Sentry chain innermost",
        "PG::ConnectionBad: terminating connection due to administrator command",
        "admin-command",
    ),
    // troubleshooting-guide.md — API Not Responding
    (
        "tg api: Pods CrashLoopBackOff",
        "Pod hotswap-api-7d9f is in CrashLoopBackOff",
        "crash-loop",
    ),
    (
        "tg api: ImagePullBackOff",
        "Failed to pull image: ImagePullBackOff",
        "image-pull",
    ),
    (
        "tg api: OOMKilled",
        "Container api terminated: OOMKilled",
        "container-oom-killed",
    ),
    (
        "tg api: Database unreachable",
        "Database unreachable: postgres.example.com",
        "postgres-cannot-connect",
    ),
    ("tg api: Vault sealed", "Vault is sealed", "vault-sealed"),
    (
        "tg api symptom: /health 503",
        "GET /health returned 503 Service Unavailable",
        "service-unavailable",
    ),
    (
        "tg api symptom: connection refused",
        "connect ECONNREFUSED 10.0.2.4:5000",
        "connection-refused",
    ),
    // troubleshooting-guide.md — High Error Rate
    (
        "tg errors: Npgsql pool exhausted",
        "Npgsql.NpgsqlException: Connection pool exhausted",
        "pool-exhausted",
    ),
    (
        "tg errors: System.TimeoutException",
        "System.TimeoutException: The operation has timed out",
        "connection-timeout",
    ),
    (
        "tg errors: UnauthorizedException",
        "UnauthorizedException: JWT validation failed",
        "unauthorized",
    ),
    (
        "tg errors: Cannot resolve scoped service",
        "InvalidOperationException: Cannot resolve scoped service 'IDeployRepo' from root provider",
        "di-scope-mismatch",
    ),
    (
        "tg errors symptom: many 500s",
        "Many 500 errors in logs",
        "high-error-rate",
    ),
    // troubleshooting-guide.md — High Latency
    (
        "tg latency: High CPU usage",
        "High CPU usage on hotswap-api",
        "high-cpu",
    ),
    (
        "tg latency: High memory usage",
        "High memory usage on hotswap-api",
        "memory-leak",
    ),
    (
        "tg latency: Slow database queries",
        "Slow database queries on hotswap",
        "slow-queries",
    ),
    (
        "tg latency: Lock contention",
        "Lock contention on deployments table",
        "lock-contention",
    ),
    // troubleshooting-guide.md — WebSocket Connections Failing
    (
        "tg websocket: CORS errors",
        "CORS error: No 'Access-Control-Allow-Origin' header is present",
        "cors-error",
    ),
    (
        "tg websocket: Connection timeout",
        "WebSocket connection timeout after 30 s",
        "websocket-failure",
    ),
    (
        "tg websocket: Authentication fails",
        "WebSocket handshake: authentication failed",
        "unauthorized",
    ),
    // troubleshooting-guide.md — PostgreSQL Connection Issues
    (
        "tg postgres: pool exhausted",
        "Connection pool exhausted",
        "pool-exhausted",
    ),
    (
        "tg postgres: timeout connecting",
        "Timeout connecting to database",
        "postgres-cannot-connect",
    ),
    (
        "tg postgres: SSL/TLS errors",
        "SSL SYSCALL error: EOF detected",
        "ssl-closed-unexpectedly",
    ),
    // troubleshooting-guide.md — Vault Integration Issues
    (
        "tg vault: VaultClientException",
        "VaultSharp.VaultClientException: permission denied",
        "vault-error",
    ),
    (
        "tg vault: JWT signing key not found",
        "JWT signing key not found",
        "vault-error",
    ),
    (
        "tg vault: Secret not found",
        "VaultSharp.VaultClientException: secret not found",
        "vault-error",
    ),
    (
        "tg vault: Vault sealed (503)",
        "VaultSharp.VaultClientException: Vault is sealed",
        "vault-sealed",
    ),
    // troubleshooting-guide.md — Performance tuning
    (
        "tg perf: missing indexes",
        "Seq scan on users: missing index",
        "slow-queries",
    ),
    (
        "tg perf: memory leak",
        "Memory leak suspected: memory usage climbing",
        "memory-leak",
    ),
    // troubleshooting-runbook.md — High Error Rate, Common Causes
    (
        "tr errors 1: recent deployment bug",
        "Error rate above 5% since the last deploy",
        "high-error-rate",
    ),
    (
        "tr errors 2: external service down",
        "Stripe::APIConnectionError: Could not connect to Stripe",
        "external-service-down",
    ),
    (
        "tr errors 3: database connection issues",
        "PG::ConnectionBad: timeout expired",
        "postgres-cannot-connect",
    ),
    (
        "tr errors 4: rate limiting",
        "HTTP 429 Too Many Requests",
        "rate-limited",
    ),
    // troubleshooting-runbook.md — High Latency, Common Causes
    (
        "tr latency 1: slow queries",
        "Slow query: 5432 ms",
        "slow-queries",
    ),
    (
        "tr latency 2: N+1",
        "N+1 queries detected in UsersController#index",
        "n-plus-one",
    ),
    (
        "tr latency 3: external service latency",
        "High latency calling api.stripe.com",
        "high-latency",
    ),
    ("tr latency 4: high CPU", "CPU usage above 80 %", "high-cpu"),
    // troubleshooting-runbook.md — Service Unavailable, Common Causes
    (
        "tr unavailable 1: service crashed",
        "Essential container in task exited",
        "ecs-essential-container-exited",
    ),
    (
        "tr unavailable 1: reason OutOfMemory",
        "OutOfMemoryError: Container killed due to memory usage",
        "ecs-out-of-memory",
    ),
    (
        "tr unavailable 1: reason health check failed",
        "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/73e2d6bc24d8a067)",
        "ecs-health-check-failed",
    ),
    (
        "tr unavailable 2: deployment stuck",
        "Deployment stuck: in progress for 45 minutes",
        "deployment-stuck",
    ),
    (
        "tr unavailable 3: database unreachable",
        "Database unreachable from api-service",
        "postgres-cannot-connect",
    ),
    (
        "tr unavailable 4: resource exhaustion",
        "FailedScheduling: 0/3 nodes are available: 3 Insufficient memory",
        "resource-exhaustion",
    ),
    // troubleshooting-runbook.md — Troubleshooting by Service
    (
        "tr api: health check failing",
        "Health check failed for api-service",
        "service-unavailable",
    ),
    (
        "tr api: GraphQL errors",
        "GraphQLError: Cannot query field 'foo'",
        "graphql-error",
    ),
    (
        "tr search: not returning results",
        "Typesense: collection listings returned 0 hits",
        "search-unavailable",
    ),
    (
        "tr db: connection pool exhausted",
        "ActiveRecord::ConnectionTimeoutError: could not obtain a connection from the pool",
        "pool-exhausted",
    ),
    (
        "tr db: lock contention",
        "PG::LockNotAvailable: canceling statement due to lock timeout",
        "lock-contention",
    ),
    (
        "tr db: replication lag",
        "Replication lag 45 s on replica-1",
        "replication-lag",
    ),
    (
        "tr payments: webhook failures",
        "Stripe::SignatureVerificationError: No signatures found matching the expected signature",
        "webhook-signature",
    ),
    (
        "tr payments: card_declined",
        "Stripe::CardError: card_declined",
        "payment-declined",
    ),
    (
        "tr payments: insufficient_funds",
        "insufficient_funds",
        "payment-declined",
    ),
    (
        "tr payments: authentication_required",
        "authentication_required",
        "payment-declined",
    ),
    (
        "tr payments: api_error",
        "Stripe::APIError: api_error",
        "external-service-down",
    ),
    (
        "tr messaging: websocket issues",
        "WebSocket error: too many connections",
        "websocket-failure",
    ),
    (
        "tr messaging: delivery delays",
        "Message queue backlog above 10000",
        "queue-backlog",
    ),
    // troubleshooting-tutorial.md — Common Production Issues
    (
        "tt issue 1: high CPU",
        "High CPU usage: task-service at 95 %",
        "high-cpu",
    ),
    (
        "tt issue 2: memory leak",
        "Memory usage climbing: task-service",
        "memory-leak",
    ),
    (
        "tt issue 3: pool exhausted",
        "Error: P1001: Timed out trying to acquire a connection from the pool",
        "pool-exhausted",
    ),
    (
        "tt issue 4: slow queries",
        "Query execution time: 5432ms (expected < 100ms)",
        "slow-queries",
    ),
    (
        "tt issue 5: high error rate",
        "Alert: Error rate > 5% for last 5 minutes",
        "high-error-rate",
    ),
    // troubleshooting-tutorial.md — Quick Reference
    (
        "tt log: ECONNREFUSED",
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "connection-refused",
    ),
    (
        "tt log: ETIMEDOUT",
        "Error: connect ETIMEDOUT 10.0.3.7:443",
        "connection-timeout",
    ),
    (
        "tt log: ENOTFOUND",
        "Error: getaddrinfo ENOTFOUND api.internal",
        "dns-failure",
    ),
    (
        "tt log: SequelizeConnectionError",
        "SequelizeConnectionError: password authentication failed",
        "postgres-cannot-connect",
    ),
    (
        "tt log: P1001",
        "P1001: Can't reach database server at `db:5432`",
        "prisma-connect-timeout",
    ),
    (
        "tt http: 503",
        "HTTP 503 Service Unavailable",
        "service-unavailable",
    ),
    (
        "tt http: 504",
        "HTTP 504 Gateway Timeout",
        "gateway-timeout",
    ),
    (
        "tt runbook: image pull errors",
        "ErrImagePull: manifest unknown",
        "image-pull",
    ),
    (
        "tt runbook: CrashLoopBackOff",
        "Back-off restarting failed container",
        "crash-loop",
    ),
    (
        "tt runbook: Pending",
        "Pod task-service-abc is Pending",
        "resource-exhaustion",
    ),
    (
        "tt runbook: migration failure",
        "PG::UndefinedTable: relation \"tasks\" does not exist",
        "migration-failed",
    ),
    // production-runbook-compose.md — Troubleshooting
    (
        "prc won't start 1: missing env vars",
        "KeyError: 'DATABASE_URL'",
        "missing-configuration",
    ),
    (
        "prc won't start 2: port conflict",
        "Error starting userland proxy: listen tcp 0.0.0.0:443: bind: address already in use",
        "port-in-use",
    ),
    (
        "prc won't start 3: volume permissions",
        "EACCES: permission denied, open '/opt/pazpaz/data/app.db'",
        "permission-denied",
    ),
    (
        "prc won't start 4: database connection failure",
        "sqlalchemy.exc.OperationalError: could not connect to server: Connection refused",
        "postgres-cannot-connect",
    ),
    (
        "prc high cpu/memory",
        "High CPU usage in container api",
        "high-cpu",
    ),
    (
        "prc database connection errors",
        "could not connect to server",
        "postgres-cannot-connect",
    ),
    (
        "prc SSL certificate errors",
        "Your connection is not private (NET::ERR_CERT_DATE_INVALID)",
        "certificate-expired",
    ),
    (
        "prc disk space full",
        "OSError: [Errno 28] No space left on device",
        "disk-full",
    ),
];

fn as_link(text: &str) -> Link {
    match text.split_once(": ") {
        Some((kind, message)) if !kind.contains(' ') => Link {
            kind: kind.into(),
            message: message.into(),
        },
        _ => Link {
            kind: String::new(),
            message: text.into(),
        },
    }
}

#[test]
fn every_seed_row_matches_its_pattern_as_exception_and_as_title() {
    let k = Knowledge::builtin();
    let mut wrong = Vec::new();
    for (row, text, want) in ROWS {
        let as_exception = patterns::find(&k, &[as_link(text)], "").map(|m| m.pattern.id.clone());
        let as_title = patterns::find(&k, &[], text).map(|m| m.pattern.id.clone());
        for (how, got) in [("exception", as_exception), ("title", as_title)] {
            if got.as_deref() != Some(*want) {
                wrong.push(format!("{row} [{how}]: {text:?} → {got:?}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn every_pattern_is_exercised_by_a_seed_row() {
    let k = Knowledge::builtin();
    let unused: Vec<&str> = k
        .patterns
        .iter()
        .map(|p| p.id.as_str())
        .filter(|id| !ROWS.iter().any(|(_, _, want)| want == id))
        .collect();
    // The generic application-bug pattern comes from the negative
    // scenario (a TypeError in request code), not from a seed table.
    assert_eq!(unused, ["application-bug"]);
}

#[test]
fn the_correlation_row_is_data_too() {
    // pdg quick ref: "Both errors at same timestamp → Infrastructure event".
    let k = Knowledge::builtin();
    assert!(k.correlation.cause.contains("infrastructure event"));
    assert!(k.correlation.self_healing);
}
