use super::*;

fn load(text: &str) -> Result<Loaded, Vec<Problem>> {
    Settings::load(&Sources::toml(text))
}

fn keys(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn nothing_configured_gives_zero_setup_defaults() {
    let s = load("").unwrap().settings;
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(s.server.max_connections, 512);
    assert_eq!(s.server.request_timeout, Duration::from_secs(10));
    assert_eq!(s.database.url.expose(), "sqlite://medic.db");
    assert!(s.slack.is_none());
    assert!(s.default_targets);
    assert_eq!(s.targets["redis"].location(), "127.0.0.1:6379");
    assert_eq!(s.targets["host"].location(), "this machine");
    assert_eq!(s.targets["postgres"].location(), "127.0.0.1:5432");
}

#[test]
fn server_limits_are_read_and_nonsense_is_named() {
    let s = load("[server]\nmax_connections = 200\nrequest_timeout = \"5s\"\n")
        .unwrap()
        .settings;
    assert_eq!(s.server.max_connections, 200);
    assert_eq!(s.server.request_timeout, Duration::from_secs(5));
    let problems =
        load("[server]\nmax_connections = 0\nrequest_timeout = \"100ms\"\n").unwrap_err();
    assert_eq!(
        keys(&problems),
        vec!["server.max_connections", "server.request_timeout"],
        "{problems:#?}"
    );
}

#[test]
fn postgres_targets_take_their_keys_and_name_the_one_at_fault() {
    let s = load(
        r#"
        [targets.orders]
        kind = "postgres"
        url = "postgresql://medic:pw-77-secret@10.0.1.1/orders?sslmode=require"
        connect_timeout = "2s"
        timeout = "8s"
        idle_in_transaction = "5m"
        long_query = "2m"
    "#,
    )
    .unwrap()
    .settings;
    assert_eq!(s.targets["orders"].location(), "10.0.1.1:5432");
    assert_eq!(
        s.targets["orders"].timeout(),
        std::time::Duration::from_secs(8)
    );
    assert!(!format!("{:?}", s.targets).contains("pw-77-secret"));

    let problems = load(
        r#"
        [targets.a]
        kind = "postgres"
        url = "redis://10.0.1.1"
        [targets.b]
        kind = "postgres"
        url = "postgres://10.0.1.1/app"
        long_query = "0s"
        [targets.c]
        kind = "postgres"
        url = "postgres://10.0.1.1/app"
        idle_timeout = "1m"
    "#,
    )
    .unwrap_err();
    assert_eq!(
        keys(&problems),
        ["targets.a.url", "targets.b.long_query", "targets.c"],
        "{problems:#?}"
    );
    assert!(
        problems[0].message.contains("not postgres://"),
        "{problems:?}"
    );
    assert!(problems[2].message.contains("idle_timeout"), "{problems:?}");
}

#[test]
fn host_targets_name_the_key_at_fault() {
    let problems = load(
        r#"
        [targets.box]
        kind = "host"
        ssh = "-oProxyCommand=touch /tmp/pwned"
        [targets.remote]
        kind = "host"
        ssh = "deploy@10.0.1.1"
        ssh_port = 2222
        ssh_key = "/etc/medic/id_ed25519"
        ssh_known_hosts = "/etc/medic/known_hosts"
        [targets.mounted]
        kind = "host"
        root = "/host"
        releases_dir = "/home/deploy/app/releases"
        upgrade_window = "6h"
    "#,
    )
    .unwrap_err();
    assert_eq!(keys(&problems), ["targets.box.ssh"]);
    assert!(
        problems[0].message.contains("must be user@host"),
        "{problems:?}"
    );
}

#[test]
fn host_units_are_named_by_check_config() {
    let problems = load(
        r#"
        [targets.good]
        kind = "host"
        units = ["redis-server", "postgresql@15-main"]
        [targets.db]
        kind = "host"
        units = ["postgresql; reboot"]
    "#,
    )
    .unwrap_err();
    let keys = keys(&problems);
    assert_eq!(keys, ["targets.db.units"], "{problems:?}");
}

#[test]
fn host_network_keys_name_the_key_at_fault() {
    let problems = load(
        r#"
        [targets.good]
        kind = "host"
        interfaces = ["enp7s0"]
        peers = ["10.0.1.2:6379", "[fd00::2]:5432", "db.internal:5432"]
        [targets.iface]
        kind = "host"
        interfaces = ["enp7s0; reboot"]
        [targets.peer]
        kind = "host"
        peers = ["10.0.1.2/24:6379"]
        [targets.portless]
        kind = "host"
        peers = ["10.0.1.2"]
    "#,
    )
    .unwrap_err();
    let keys = keys(&problems);
    assert_eq!(keys.len(), 3, "{problems:?}");
    assert!(keys.contains(&"targets.iface.interfaces"), "{problems:?}");
    assert!(keys.contains(&"targets.peer.peers"), "{problems:?}");
    assert!(
        keys.iter().any(|k| k.starts_with("targets.portless")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("10.0.1.2") && p.message.contains("no port")),
        "{problems:?}"
    );
}

#[test]
fn the_design_contract_parses() {
    // DESIGN.md's example, with the target kinds this version builds.
    let text = r#"
        [server]
        bind = "127.0.0.1:8080"
        [database]
        url = "sqlite://medic.db"
        [redis]
        url = "redis://127.0.0.1:6379"
        [slack]
        signing_secret = "8f742231b10e8888abcd99yyyzzz85a5"
        bot_token = "xoxb-1-2-3"
        app_token = "xapp-1-2"
        api_url = "https://slack.com/api/"
        teams = ["T0001"]
        [discord]
        application_id = "1"
        public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        bot_token = "x"
        guilds = ["1290000000000000001"]
        default_member_permissions = "0"
        [targets.redis]
        kind = "redis"
        url = "redis://10.0.1.1:6379"
        [targets.host]
        kind = "host"
        root = "/"
        [sentry]
        client_secret = "…"
        api_url = "https://sentry.io/api/0/"
        auth_token = "…"
        [pagerduty]
        webhook_secrets = ["…"]
        api_url = "https://api.pagerduty.com"
        api_token = "…"
        [alertmanager]
        token = "…"
        [[routes]]
        match = { source = "sentry", service = "api" }
        slack_channel = "C0ALERTS"
        discord_channel = "123456789012345678"
        [[runbooks]]
        match = { title = "(?i)redis|CannotConnectError" }
        run = ["redis", "host"]
        [groups]
        sre = ["U0123ABCD"]
        [actions.restart-redis]
        title = "Restart Redis"
        kind = "command"
        run = ["systemctl", "restart", "redis-server"]
        offered_on = ["redis"]
        may_request = ["group:sre", "oncall"]
        may_approve = ["group:sre"]
        approvals = 1
        expires = "15m"
    "#;
    let loaded = load(text).unwrap();
    let s = loaded.settings;
    assert_eq!(s.slack.unwrap().api_url.as_str(), "https://slack.com/api/");
    assert_eq!(s.targets["redis"].location(), "10.0.1.1:6379");
    assert!(!s.default_targets);
    assert!(s.not_yet_served.is_empty(), "{:?}", s.not_yet_served);
    assert_eq!(s.discord.as_ref().unwrap().application_id, "1");
    assert!(s.alerts.sentry.is_some() && s.alerts.pagerduty.is_some());
    assert_eq!(
        s.alerts.routes[0].slack_channel.as_deref(),
        Some("C0ALERTS")
    );
    assert_eq!(s.alerts.runbooks[0].run, ["redis", "host"]);
    let action = &s.remediation.actions["restart-redis"];
    assert_eq!(action.approvals, 1);
    assert_eq!(action.expires, Duration::from_secs(15 * 60));
    // `oncall` with nobody listed as on call matches nobody: worth a word.
    assert_eq!(keys(&loaded.warnings), vec!["oncall.users"]);
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let text = r#"
        [server]
        bind = "localhost:port"
        shutdown_grace = "a while"
        [database]
        url = "mysql://db/medic"
        [slack]
        signing_secret = "s"
        [targets.cache]
        kind = "redis"
        url = "http://10.0.0.1"
        [targets.db]
        kind = "mongo"
        url = "mongodb://x"
        [targets.Bad]
        kind = "redis"
        url = "redis://x"
    "#;
    let problems = load(text).unwrap_err();
    assert_eq!(
        keys(&problems),
        vec![
            "server.bind",
            "server.shutdown_grace",
            "database.url",
            "slack.bot_token",
            "targets.Bad",
            "targets.cache.url",
            "targets.db",
        ],
        "{problems:#?}"
    );
    assert!(problems[6].message.contains("mongo"), "{}", problems[6]);
}

#[test]
fn unknown_keys_are_warnings_not_silence() {
    let loaded = load("[server]\nbnd = \"x\"\n[slak]\nbot_token = \"x\"\n").unwrap();
    assert_eq!(keys(&loaded.warnings), vec!["slak", "server.bnd"]);
}

#[test]
fn a_typo_inside_a_target_is_a_problem() {
    let problems =
        load("[targets.redis]\nkind = \"redis\"\nurl = \"redis://x\"\ntimout = \"3s\"\n")
            .unwrap_err();
    assert_eq!(keys(&problems), vec!["targets.redis"]);
    assert!(problems[0].message.contains("timout"));
}

#[test]
fn plain_http_slack_api_only_on_loopback() {
    let base = "[slack]\nsigning_secret = \"s\"\nbot_token = \"xoxb-1\"\n";
    assert!(load(&format!("{base}api_url = \"http://127.0.0.1:9999/api/\"")).is_ok());
    let problems = load(&format!(
        "{base}api_url = \"http://slack.example.com/api/\""
    ))
    .unwrap_err();
    assert_eq!(keys(&problems), vec!["slack.api_url"]);
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let text = r#"
        [database]
        url = "postgres://medic:db-pass-123@10.0.0.5/medic"
        [slack]
        signing_secret = "signing-secret-abc"
        bot_token = "xoxb-token-xyz"
        [targets.redis]
        kind = "redis"
        url = "redis://:redis-pass-456@10.0.1.1:6379"
    "#;
    let s = load(text).unwrap().settings;
    let shown = format!("{s:?} {}", s.describe().join(" "));
    for secret in [
        "db-pass-123",
        "signing-secret-abc",
        "xoxb-token-xyz",
        "redis-pass-456",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    // A bad value next to a secret: the error must not echo the secret.
    let problems = load("[database]\nurl = \"postgres//medic:db-pass-123@x\"\n").unwrap_err();
    assert!(
        !format!("{problems:?}").contains("db-pass-123"),
        "{problems:?}"
    );
}

#[test]
fn every_configured_secret_is_masked_by_value_once_taught() {
    let text = r#"
        [database]
        url = "postgres://medic:quiet%20harbor@10.0.0.5/medic"
        [slack]
        signing_secret = "velvet-orchard-kite"
        bot_token = "xoxb-velvet-orchard"
        [pagerduty]
        webhook_secrets = ["copper-meadow-fern"]
        [targets.cache]
        kind = "redis"
        url = "redis://:silent-river-oak@10.0.1.1:6379"
    "#;
    let s = load(text).unwrap().settings;
    medic_commands::redact::configure(&s.secrets());
    let said = "velvet-orchard-kite copper-meadow-fern silent-river-oak quiet harbor";
    assert_eq!(medic_commands::redact::redact(said), "•••• •••• •••• ••••");
}

#[test]
fn a_named_file_that_is_missing_is_an_error() {
    let problems = Settings::load(&Sources::standard(Some(Path::new(
        "/nonexistent/medic.toml",
    ))))
    .unwrap_err();
    assert_eq!(keys(&problems), vec!["config"]);
}

#[test]
fn all_is_reserved_for_every_target() {
    let problems = load(
        r#"
        [targets.all]
        kind = "redis"
        url = "redis://10.0.1.1"
    "#,
    )
    .unwrap_err();
    assert_eq!(keys(&problems), ["targets.all"]);
    assert!(problems[0].message.contains("reserved"), "{problems:?}");
}

#[test]
fn alert_sections_name_what_is_missing() {
    let problems = load(
        r#"
        [sentry]
        api_url = "https://sentry.io/api/0/"
        [pagerduty]
        webhook_secrets = []
        [[routes]]
        match = { source = "sentry" }
        [[runbooks]]
        match = { title = "(?i)redis" }
        run = ["redis", "mongo"]
        [[runbooks]]
        match = { title = "(unclosed" }
        run = ["redis"]
    "#,
    )
    .unwrap_err();
    assert_eq!(
        keys(&problems),
        [
            "sentry.client_secret",
            "pagerduty.webhook_secrets",
            "routes[0]",
            "runbooks"
        ],
        "{problems:#?}"
    );
    assert!(
        problems[3].message.contains("regular expression"),
        "{problems:?}"
    );

    let problems = load(
        r#"
        [[runbooks]]
        run = ["mongo"]
    "#,
    )
    .unwrap_err();
    assert_eq!(keys(&problems), ["runbooks[0].run"]);
    assert!(problems[0].message.contains("`mongo`"), "{problems:?}");
}

#[test]
fn alertmanager_without_a_token_is_refused_unless_allowed_in_writing() {
    let problems = load("[alertmanager]\n").unwrap_err();
    assert_eq!(keys(&problems), ["alertmanager.token"]);
    assert!(problems[0].message.contains("allow_unauthenticated"));
    let loaded = load("[alertmanager]\nallow_unauthenticated = true\n").unwrap();
    assert!(loaded.settings.alerts.alertmanager.is_some());
    assert_eq!(keys(&loaded.warnings), ["alertmanager.token"]);
    let loaded = load("[alertmanager]\ntoken = \"t0k3n\"\n").unwrap();
    assert!(loaded.warnings.is_empty());
    assert!(!format!("{:?}", loaded.settings).contains("t0k3n"));
}

#[test]
fn incidents_reopen_window_and_digest_threshold() {
    let s = load("").unwrap().settings;
    assert_eq!(s.alerts.incidents, IncidentSettings::default());
    assert_eq!(s.alerts.incidents.reopen_window, Duration::from_secs(3600));
    let s = load("[incidents]\nreopen_window = \"15m\"\ndigest_after = 0\n")
        .unwrap()
        .settings;
    assert_eq!(s.alerts.incidents.reopen_window, Duration::from_secs(900));
    assert_eq!(s.alerts.incidents.digest_after, 0);
    let problems = load("[incidents]\nreopen_window = \"soon\"\n").unwrap_err();
    assert_eq!(keys(&problems), ["incidents.reopen_window"]);
    let problems = load("[incidents]\nreopen_windw = \"1h\"\n").unwrap_err();
    assert_eq!(keys(&problems), ["incidents"], "a typo is named");
}

#[test]
fn retention_has_defaults_and_floors() {
    let s = load("").unwrap().settings;
    assert_eq!(s.retention, RetentionSettings::default());
    assert_eq!(s.retention.incidents, Duration::from_secs(180 * 86_400));
    let s = load("[retention]\ncommand_runs = \"90d\"\n")
        .unwrap()
        .settings;
    assert_eq!(s.retention.command_runs, Duration::from_secs(90 * 86_400));
    assert_eq!(s.retention.outbox, Duration::from_secs(7 * 86_400));
    let problems = load("[retention]\ndeliveries = \"2h\"\noutbox = \"10m\"\n").unwrap_err();
    assert_eq!(
        keys(&problems),
        ["retention.deliveries", "retention.outbox"]
    );
    assert!(
        problems[0].to_string().contains("vendor's retry"),
        "{}",
        problems[0]
    );
    let problems = load("[retention]\nincidents = \"forever\"\n").unwrap_err();
    assert_eq!(keys(&problems), ["retention"]);
}

#[test]
fn network_targets_parse_and_name_the_key_at_fault() {
    let loaded = load(
        r#"
        [targets.api]
        kind = "http"
        url = "https://api.example.com/health"
        expect_status = 200
        expect_body = '"status":"ok"'
        headers = { Authorization = "Bearer abc" }
        [targets.ssh]
        kind = "tcp"
        address = "10.0.1.1:22"
        expect = "SSH-"
        [targets.cert]
        kind = "tls"
        address = "api.example.com:443"
        ca_file = "/etc/medic/internal-ca.pem"
        [targets.names]
        kind = "dns"
        name = "api.example.com"
        record = "AAAA"
        server = "10.0.0.2"
    "#,
    )
    .unwrap();
    let t = &loaded.settings.targets;
    assert_eq!(t["api"].kind(), "http");
    assert_eq!(t["api"].location(), "https://api.example.com/health");
    assert_eq!(t["ssh"].location(), "10.0.1.1:22");
    assert_eq!(t["cert"].location(), "api.example.com:443");
    assert_eq!(t["names"].location(), "api.example.com AAAA @10.0.0.2:53");

    let problems = load(
        r#"
        [targets.a]
        kind = "http"
        url = "ftp://files.example.com/"
        [targets.b]
        kind = "http"
        url = "http://x.test/"
        method = "HEAD"
        expect_body = "ok"
        [targets.c]
        kind = "tcp"
        address = "10.0.1.1"
        [targets.d]
        kind = "tls"
        address = "api.example.com:443"
        ca_file = "relative.pem"
        [targets.e]
        kind = "dns"
        name = "api.example.com"
        record = "BOGUS"
    "#,
    )
    .unwrap_err();
    assert_eq!(
        keys(&problems),
        [
            "targets.a.url",
            "targets.b.expect_body",
            "targets.c",
            "targets.d.ca_file",
            "targets.e.record",
        ],
        "{problems:#?}"
    );
    assert!(problems[2].message.contains("no port"), "{}", problems[2]);
}

const ACTIONS: &str = r#"
    [targets.db]
    kind = "postgres"
    url = "postgres://medic@127.0.0.1/app"
    [targets.cache]
    kind = "redis"
    url = "redis://127.0.0.1:6379"
    [groups]
    sre = ["U1", "U2"]
    [oncall]
    users = ["U9"]
    [actions.kill-idle]
    title = "Terminate idle connections"
    kind = "postgres.terminate_idle"
    idle_for = "10m"
    application_name = "api"
    offered_on = ["db"]
    may_request = ["group:sre", "oncall"]
    may_approve = ["group:sre"]
    approvals = 1
    cooldown = "5m"
    [actions.restart-redis]
    title = "Restart Redis"
    kind = "command"
    run = ["systemctl", "restart", "{unit}"]
    offered_on = ["cache"]
    may_request = ["U1"]
    [actions.restart-redis.params.unit]
    enum = ["redis-server"]
    default = "redis-server"
"#;

#[test]
fn actions_groups_and_oncall_parse() {
    let loaded = load(ACTIONS).unwrap();
    let r = &loaded.settings.remediation;
    assert_eq!(r.actions.len(), 2);
    assert_eq!(r.actions["kill-idle"].approvals, 1);
    assert!(r.directory.on_call.contains("U9"));
    assert_eq!(r.offered("db", &["postgres.connections"]).len(), 1);
    assert!(r.offered("db", &["postgres.uptime"]).is_empty());
    assert_eq!(r.offered("cache", &["redis.memory"]).len(), 1);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.settings.not_yet_served.is_empty());
}

#[test]
fn action_problems_name_their_keys() {
    let text = ACTIONS
        .replace(
            "offered_on = [\"db\"]",
            "offered_on = [\"cache\", \"nope\"]",
        )
        .replace("may_request = [\"U1\"]", "may_request = [\"group:ops\"]")
        .replace("\"{unit}\"", "\"--unit={unit}\"");
    let problems = load(&text).unwrap_err();
    let k = keys(&problems);
    assert_eq!(
        k,
        vec![
            "actions.kill-idle.offered_on",
            "actions.kill-idle.offered_on",
            "actions.restart-redis.run",
        ],
        "{problems:?}"
    );
    assert!(problems[0].message.contains("PostgreSQL targets only"));
    assert!(
        problems[1]
            .message
            .contains("`nope` is not a configured target")
    );
    // A group typo is its own problem once the argv is fixed.
    let text = ACTIONS.replace("may_request = [\"U1\"]", "may_request = [\"group:ops\"]");
    let problems = load(&text).unwrap_err();
    assert_eq!(keys(&problems), vec!["actions.restart-redis"]);
    assert!(problems[0].message.contains("group:ops"), "{problems:?}");
}

#[test]
fn oncall_with_nobody_on_call_is_a_warning() {
    let text = ACTIONS.replace("users = [\"U9\"]", "users = []");
    let loaded = load(&text).unwrap();
    assert_eq!(keys(&loaded.warnings), vec!["oncall.users"]);
}

#[test]
fn discord_needs_a_valid_key_and_all_three_values() {
    let key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let ok = load(&format!(
        "[discord]\napplication_id = \"11\"\npublic_key = \"{key}\"\nbot_token = \"secret-bot-token\"\n"
    ))
    .unwrap();
    let d = ok.settings.discord.unwrap();
    assert_eq!(d.api_url.as_str(), "https://discord.com/");
    assert!(!format!("{d:?}").contains("secret-bot-token"));

    let problems = load("[discord]\napplication_id = \"x1\"\npublic_key = \"abcd\"\n").unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "discord.application_id",
            "discord.public_key",
            "discord.bot_token"
        ]
    );
    let problems = load(&format!(
        "[discord]\napplication_id = \"11\"\npublic_key = \"{key}\"\nbot_token = \"t\"\napi_url = \"http://discord.example\"\n"
    ))
    .unwrap_err();
    assert_eq!(problems[0].key, "discord.api_url");
    assert!(load("").unwrap().settings.discord.is_none());
}

#[test]
fn slack_app_token_enables_socket_mode_and_is_checked() {
    let base = "[slack]\nsigning_secret = \"s\"\nbot_token = \"xoxb-1\"\nteams = [\"T1\"]\n";
    let ok = load(&format!("{base}app_token = \"xapp-1-secret-app\"\n")).unwrap();
    let slack = ok.settings.slack.unwrap();
    assert!(slack.app_token.is_some());
    assert!(!format!("{slack:?}").contains("secret-app"));
    assert!(ok.warnings.is_empty(), "{:?}", ok.warnings);
    let odd = load(&format!("{base}app_token = \"xoxb-2\"\n")).unwrap();
    assert_eq!(keys(&odd.warnings), ["slack.app_token"]);
    assert!(
        load(base)
            .unwrap()
            .settings
            .slack
            .unwrap()
            .app_token
            .is_none()
    );
}

#[test]
fn teams_and_guilds_limit_who_is_served_and_their_absence_is_a_warning() {
    let slack = "[slack]\nsigning_secret = \"s\"\nbot_token = \"xoxb-1\"\n";
    let discord = "[discord]\napplication_id = \"11\"\nbot_token = \"t\"\ngateway = true\n";

    // Absent: every workspace and server, as before, but said at start-up.
    let open = load(&format!("{slack}{discord}")).unwrap();
    assert_eq!(keys(&open.warnings), ["slack.teams", "discord.guilds"]);
    assert!(open.warnings[0].message.contains("any Slack workspace"));
    assert!(open.warnings[1].message.contains("DM"));
    assert!(open.settings.slack.unwrap().teams.is_empty());

    let listed = load(&format!(
        "{slack}teams = [\"T0001\", \" T0002 \"]\n{discord}guilds = [\"1290000000000000001\"]\ndefault_member_permissions = \"0\"\n"
    ))
    .unwrap();
    assert!(listed.warnings.is_empty(), "{:?}", listed.warnings);
    assert_eq!(listed.settings.slack.unwrap().teams, ["T0001", "T0002"]);
    let d = listed.settings.discord.unwrap();
    assert_eq!(d.guilds, ["1290000000000000001"]);
    assert_eq!(d.default_member_permissions.as_deref(), Some("0"));

    // One environment variable carries a list joined with commas.
    let joined = load(&format!(
        "{slack}teams = \"T0001,T0002\"\n{discord}guilds = \"1,2\"\n"
    ))
    .unwrap();
    assert_eq!(joined.settings.slack.unwrap().teams, ["T0001", "T0002"]);
    assert_eq!(joined.settings.discord.unwrap().guilds, ["1", "2"]);

    // Ids that cannot be ids are named, each with its index.
    let problems = load(&format!(
        "{slack}teams = [\"T0001\", \"acme.slack.com\"]\n{discord}guilds = [\"my-server\"]\ndefault_member_permissions = \"admins\"\n"
    ))
    .unwrap_err();
    assert_eq!(
        keys(&problems),
        [
            "slack.teams[1]",
            "discord.guilds[0]",
            "discord.default_member_permissions"
        ]
    );
    assert!(
        problems[0].message.contains("`acme.slack.com`"),
        "{problems:?}"
    );
}

#[test]
fn discord_gateway_mode_needs_no_public_key_but_the_token_and_application() {
    let ok =
        load("[discord]\napplication_id = \"11\"\nbot_token = \"t\"\ngateway = true\n").unwrap();
    let d = ok.settings.discord.unwrap();
    assert!(d.gateway);
    assert!(d.public_key.is_none());

    let problems = load("[discord]\ngateway = true\n").unwrap_err();
    assert_eq!(
        keys(&problems),
        ["discord.application_id", "discord.bot_token"],
        "gateway = true alone is not a silent no-op"
    );
    assert!(problems[1].message.contains("gateway"), "{problems:?}");
    // HTTP interactions still need the key.
    let problems = load("[discord]\napplication_id = \"11\"\nbot_token = \"t\"\n").unwrap_err();
    assert_eq!(keys(&problems), ["discord.public_key"]);
}

#[test]
fn the_redis_url_is_kept_for_medic_itself() {
    let s = load("[redis]\nurl = \"redis://127.0.0.1:6399/\"\n")
        .unwrap()
        .settings;
    assert_eq!(s.redis.unwrap().expose(), "redis://127.0.0.1:6399/");
    assert!(load("").unwrap().settings.redis.is_none());
    let problems = load("[redis]\nurl = \"http://x\"\n").unwrap_err();
    assert_eq!(keys(&problems), ["redis.url"]);
}

const ROTATION: &str = r#"
    [oncall.people.alice]
    slack = "U0ALICE"
    [oncall.people.bob]
    slack = "U0BOB"
    discord = "1300000000000000002"

    [[oncall.rotations]]
    name = "db"
    members = ["alice", "bob"]
    length = "weekly"
    handover = "09:00"
    time_zone = "Europe/Berlin"
    start = "2026-11-02"
    slack_channel = "C0DB"

    [[oncall.overrides]]
    rotation = "db"
    who = "bob"
    from = "2026-12-24 09:00"
    until = "2026-12-26T09:00:00+01:00"
"#;

#[test]
fn a_rotation_reads_with_its_people_and_overrides() {
    let loaded = load(ROTATION).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let db = &loaded.settings.oncall.rotations["db"];
    let medic_commands::oncall::Turns::Rotating(turns) = &db.schedule.turns else {
        panic!("members take turns");
    };
    assert_eq!(turns.members, vec!["alice", "bob"]);
    assert_eq!(turns.length.days(), 7);
    assert_eq!(db.ack_within, Duration::from_secs(900), "the default");
    let o = &db.schedule.overrides[0];
    // Local in the rotation's zone (CET), or with its own offset.
    assert_eq!(o.from.to_string(), "2026-12-24T08:00:00Z");
    assert_eq!(o.until.to_string(), "2026-12-26T08:00:00Z");
    let at: jiff::Timestamp = "2026-12-25T12:00:00Z".parse().unwrap();
    assert_eq!(db.schedule.shift_at(at).unwrap().who, "bob");
}

#[test]
fn rotation_gaps_are_caught_by_check_config() {
    // An empty rotation, an unknown zone, a member nobody knows.
    let text = ROTATION
        .replace("members = [\"alice\", \"bob\"]", "members = []")
        .replace("Europe/Berlin", "Europe/Berlinn");
    let problems = load(&text).unwrap_err();
    assert_eq!(
        keys(&problems),
        vec![
            "oncall.rotations[0].members",
            "oncall.rotations[0].time_zone",
            "oncall.overrides[0].rotation"
        ]
    );
    assert!(
        problems[1]
            .message
            .contains("`Europe/Berlinn` is not an IANA time zone")
    );
    let problems =
        load(&ROTATION.replace("[\"alice\", \"bob\"]", "[\"alice\", \"carol\"]")).unwrap_err();
    assert_eq!(
        keys(&problems),
        vec![
            "oncall.rotations[0].members",
            "oncall.overrides[0].rotation"
        ]
    );
    assert!(
        problems[0]
            .message
            .contains("`carol` is nobody in [oncall.people]")
    );

    // A person with no chat id, one the rotation's platform cannot
    // mention, and an override before the rotation starts: warnings.
    let text = ROTATION
        .replace("slack = \"U0ALICE\"", "email = \"alice@example.com\"")
        .replace("2026-12-24 09:00", "2026-10-01 09:00")
        .replace("2026-12-26T09:00:00+01:00", "2026-10-02 09:00");
    let loaded = load(&text).unwrap();
    assert_eq!(
        keys(&loaded.warnings),
        vec![
            "oncall.people.alice",
            "oncall.people.alice.slack",
            "oncall.overrides[0]"
        ]
    );
    assert!(loaded.warnings[2].message.contains("outside every shift"));

    // An override that ends before it begins.
    let problems =
        load(&ROTATION.replace("2026-12-26T09:00:00+01:00", "2026-12-23 09:00")).unwrap_err();
    assert_eq!(keys(&problems), vec!["oncall.overrides[0].until"]);
}

#[test]
fn oncall_rotation_rules_must_name_a_rotation() {
    let ok = format!(
        "{ROTATION}\n{}",
        ACTIONS.replace("may_request = [\"U1\"]", "may_request = [\"oncall:db\"]")
    );
    load(&ok).unwrap();
    let typo = format!(
        "{ROTATION}\n{}",
        ACTIONS.replace("may_request = [\"U1\"]", "may_request = [\"oncall:dba\"]")
    );
    let problems = load(&typo).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("`oncall:dba` names no rotation")),
        "{problems:?}"
    );
}

#[test]
fn a_pagerduty_rotation_needs_the_rest_api_and_no_members() {
    let rotation = r#"
        [[oncall.rotations]]
        name = "db"
        pagerduty_schedule = "PSCHED1"
        slack_channel = "C0DB"
    "#;
    let problems = load(rotation).unwrap_err();
    assert_eq!(
        keys(&problems),
        vec!["oncall.rotations[0].pagerduty_schedule"]
    );
    assert!(problems[0].message.contains("[pagerduty] api_token"));
    let api = "[pagerduty]\nwebhook_secrets = [\"s\"]\napi_token = \"t\"\n";
    let loaded = load(&format!("{api}{rotation}")).unwrap();
    assert!(
        loaded.settings.oncall.rotations["db"]
            .pagerduty_schedule
            .is_some()
    );
    let both =
        format!("{api}{rotation}members = [\"alice\"]\n[oncall.people.alice]\nslack = \"U1\"\n");
    let problems = load(&both).unwrap_err();
    assert_eq!(keys(&problems), vec!["oncall.rotations[0].members"]);
}

#[test]
fn incident_severity_levels_map_per_source_and_typos_are_named() {
    use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
    use medic_commands::model::priority::Priority;
    let s = load("[incidents.severity]\nsentry = { critical = \"P0\" }\n")
        .unwrap()
        .settings;
    let fatal = Alert {
        source: AlertSource::Sentry,
        fingerprint: "f".into(),
        state: AlertState::Firing,
        title: "t".into(),
        severity: Severity::Critical,
        service: None,
        host: None,
        labels: Vec::new(),
        occurred_at: None,
        link: None,
        details: Vec::new(),
        chain: Vec::new(),
    };
    assert_eq!(s.alerts.incidents.severity.of(&fatal), Priority::P0);
    let problems = load(
        "[incidents.severity]\nsentry = { fatal = \"P0\", error = \"P9\" }\ndatadog = { error = \"P1\" }\n",
    )
    .unwrap_err();
    assert_eq!(
        keys(&problems),
        vec![
            "incidents.severity.datadog",
            "incidents.severity.sentry.error",
            "incidents.severity.sentry.fatal"
        ]
    );
}

const ECS_ACTION: &str = r#"
    [slack]
    bot_token = "xoxb-test"
    signing_secret = "s3cret"
    [targets.orders]
    kind = "ecs"
    cluster = "prod"
    services = ["api", "worker"]
    region = "eu-west-1"
    [targets.cache]
    kind = "redis"
    url = "redis://127.0.0.1:6379"
    [actions.redeploy]
    title = "Force a new deployment"
    kind = "ecs.force_new_deployment"
    service = "api"
    offered_on = ["orders"]
    may_request = ["U1"]
"#;

#[test]
fn ecs_force_new_deployment_is_checked_against_its_target() {
    let loaded = load(ECS_ACTION).unwrap();
    let a = &loaded.settings.remediation.actions["redeploy"];
    assert_eq!(
        a.offered_when,
        ["ecs.service", "ecs.deployments", "ecs.stopped"]
    );
    // Two services and none named: which one?
    let problems = load(&ECS_ACTION.replace("service = \"api\"\n", "")).unwrap_err();
    assert_eq!(keys(&problems), vec!["actions.redeploy.service"]);
    assert!(
        problems[0].message.contains("several services"),
        "{problems:?}"
    );
    let problems =
        load(&ECS_ACTION.replace("service = \"api\"", "service = \"apii\"")).unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("`apii` is not one of the target's services")
    );
    let problems =
        load(&ECS_ACTION.replace("offered_on = [\"orders\"]", "offered_on = [\"cache\"]"))
            .unwrap_err();
    assert_eq!(keys(&problems), vec!["actions.redeploy.offered_on"]);
    assert!(
        problems[0].message.contains("ECS targets only"),
        "{problems:?}"
    );
}

#[test]
fn docker_targets_and_their_restarts_are_checked() {
    let base = r#"
    [targets.app]
    kind = "docker"
    compose_project = "pazpaz"
    [targets.web]
    kind = "docker"
    host = "tcp://10.0.0.5:2375"
    containers = ["pazpaz-web-1"]
    [targets.cache]
    kind = "redis"
    url = "redis://127.0.0.1:6379"
    [actions.restart-web]
    title = "Restart web"
    kind = "docker.restart"
    offered_on = ["web"]
    may_request = ["U1"]
    [actions.restart-service]
    title = "Restart the service"
    kind = "docker.compose_restart"
    offered_on = ["app"]
    may_request = ["U1"]
    [actions.restart-service.params.service]
    enum = ["web", "worker"]
    default = "web"
    "#;
    let loaded = load(base).unwrap();
    let r = &loaded.settings.remediation;
    assert_eq!(r.offered("web", &["docker.crash_loop"]).len(), 1);
    assert_eq!(r.offered("app", &["docker.health"]).len(), 1);
    assert!(r.offered("web", &["docker.stats"]).is_empty());

    let problems = load(&base.replace(
        "offered_on = [\"web\"]",
        "offered_on = [\"cache\", \"web\"]",
    ))
    .unwrap_err();
    assert_eq!(keys(&problems), ["actions.restart-web.offered_on"]);
    assert!(
        problems[0].message.contains("acts on docker targets only"),
        "{problems:?}"
    );
    let problems =
        load(&base.replace("offered_on = [\"app\"]", "offered_on = [\"web\"]")).unwrap_err();
    assert_eq!(keys(&problems), ["actions.restart-service.offered_on"]);
    assert!(problems[0].message.contains("names no compose_project"));
    let problems = load(&base.replace("compose_project = \"pazpaz\"", "")).unwrap_err();
    assert_eq!(keys(&problems)[0], "targets.app.containers");
}

#[test]
fn kubernetes_targets_and_their_actions_name_the_key_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n\
         users:\n- name: u\n  user:\n    token: t0ken-abcdef\n\
         contexts:\n- name: prod\n  context:\n    cluster: c\n    user: u\ncurrent-context: prod\n",
    )
    .unwrap();
    let k = kubeconfig.display();
    let targets = format!(
        r#"
        [targets.api]
        kind = "kubernetes"
        kubeconfig = "{k}"
        namespace = "shop"
        deployment = "api"
        [targets.db]
        kind = "kubernetes"
        kubeconfig = "{k}"
        context = "prod"
        namespace = "shop"
        statefulset = "db"
        [targets.workers]
        kind = "kubernetes"
        kubeconfig = "{k}"
        namespace = "shop"
        selector = "app=worker"
        [targets.cache]
        kind = "redis"
        url = "redis://127.0.0.1:6379"
    "#
    );
    let action = |name: &str, kind: &str, on: &str| {
        format!(
            "[actions.{name}]\ntitle = \"T\"\nkind = \"{kind}\"\noffered_on = [\"{on}\"]\nmay_request = [\"U1\"]\n"
        )
    };
    let good = format!(
        "{targets}\n{}\n{}\n{}",
        action("restart", "kubernetes.rollout_restart", "api"),
        action("restart-db", "kubernetes.rollout_restart", "db"),
        action("undo", "kubernetes.rollback", "api"),
    );
    let loaded = load(&good).expect("valid");
    let r = &loaded.settings.remediation;
    assert_eq!(r.offered("api", &["kubernetes.pods"]).len(), 2, "both");
    assert_eq!(
        r.offered("api", &["kubernetes.rollout"]).len(),
        1,
        "undo only"
    );

    let bad = format!(
        "{targets}\n{}\n{}\n{}",
        action("undo-db", "kubernetes.rollback", "db"),
        action("restart-workers", "kubernetes.rollout_restart", "workers"),
        action("restart-cache", "kubernetes.rollout_restart", "cache"),
    );
    let problems = load(&bad).unwrap_err();
    assert_eq!(
        keys(&problems),
        [
            "actions.restart-cache.offered_on",
            "actions.restart-workers.offered_on",
            "actions.undo-db.offered_on"
        ],
        "{problems:?}"
    );
    assert!(
        problems[0].message.contains("kubernetes targets only"),
        "{problems:?}"
    );
    assert!(
        problems[1].message.contains("set deployment"),
        "{problems:?}"
    );
    assert!(problems[2].message.contains("StatefulSet"), "{problems:?}");

    // A context the kubeconfig does not have, and two selections at once.
    let problems = load(&format!(
        "[targets.x]\nkind = \"kubernetes\"\nkubeconfig = \"{k}\"\ncontext = \"staging\"\nnamespace = \"shop\"\ndeployment = \"api\"\n\
         [targets.y]\nkind = \"kubernetes\"\nkubeconfig = \"{k}\"\nnamespace = \"shop\"\ndeployment = \"api\"\nselector = \"app=api\"\n"
    ))
    .unwrap_err();
    assert_eq!(
        keys(&problems),
        ["targets.x.context", "targets.y.deployment"],
        "{problems:?}"
    );
    assert!(
        problems[0].message.contains("no context `staging`"),
        "{problems:?}"
    );
    assert!(problems[0].message.contains("it has: prod"), "{problems:?}");
}
