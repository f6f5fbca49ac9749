//! `infra/` against the code: the Terraform may only set variables the app reads, must not set
//! PORT, must probe routes that exist, and must build a DATABASE_URL the app parses. Plus the
//! Dockerfile, and a rehearsal of the Cloud Run start with Terraform's exact environment.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ballsy::config::{Config, ENV_VARS, GeminiBackend};
use ballsy::store::url::{DatabaseUrl, PgHost};
use ballsy_bench::fake_gemini::{FakeGemini, FakeGeminiConfig};
use clap::Parser;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Value};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Backend, TestDb, postgres_admin_url, report_skip};
use crate::server::Server;

fn infra_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/infra"))
}

/// Every top-level block of every `.tf` file.
fn blocks() -> Vec<Block> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(infra_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).unwrap();
            let body: Body =
                hcl::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            all.extend(body.into_blocks());
        }
    }
    all
}

fn labels(block: &Block) -> Vec<&str> {
    block.labels().iter().map(|l| l.as_str()).collect()
}

fn resource<'a>(blocks: &'a [Block], kind: &str, name: &str) -> &'a Block {
    blocks
        .iter()
        .find(|b| b.identifier() == "resource" && labels(b) == [kind, name])
        .unwrap_or_else(|| panic!("resource {kind}.{name} is missing"))
}

fn local(blocks: &[Block], name: &str) -> Expression {
    blocks
        .iter()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == name)
        .map(|a| a.expr().clone())
        .unwrap_or_else(|| panic!("local.{name} is missing"))
}

fn child<'a>(block: &'a Block, name: &str) -> Vec<&'a Block> {
    block
        .body()
        .blocks()
        .filter(|b| b.identifier() == name)
        .collect()
}

fn attr<'a>(block: &'a Block, name: &str) -> Option<&'a Expression> {
    block
        .body()
        .attributes()
        .find(|a| a.key() == name)
        .map(|a| a.expr())
}

/// A literal string argument, unquoted.
fn string_attr(block: &Block, name: &str) -> String {
    match attr(block, name) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("{name} is not a string literal: {other:?}"),
    }
}

fn top_level<'a>(blocks: &'a [Block], kind: &str, name: &str) -> &'a Block {
    blocks
        .iter()
        .find(|b| b.identifier() == kind && labels(b) == [name])
        .unwrap_or_else(|| panic!("{kind} {name} is missing"))
}

fn deployment_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/DEPLOYMENT.md")).unwrap()
}

/// The text of the DEPLOYMENT.md section whose heading starts with `heading`, up to the next
/// section of the same level.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let rest = &doc[start + 1..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map_or(rest.len(), |i| i + heading.len());
    &rest[..end]
}

/// The commands of every ```bash block, one per logical line (continuations joined, runs of
/// whitespace collapsed; none of the commands has meaningful runs of spaces).
fn bash_commands(doc: &str) -> Vec<String> {
    doc.split("```bash\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .flat_map(|block| {
            block
                .replace("\\\n", " ")
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The source text of an expression without whitespace, for comparing simple conditions.
fn compact(expr: &Expression) -> String {
    expr.to_string().split_whitespace().collect()
}

fn container(blocks: &[Block]) -> Block {
    let service = resource(blocks, "google_cloud_run_v2_service", "main");
    child(child(service, "template")[0], "containers")[0].clone()
}

/// Variable defaults from variables.tf, overridden by `overrides`.
fn variables(blocks: &[Block], overrides: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let mut vars = BTreeMap::new();
    for block in blocks.iter().filter(|b| b.identifier() == "variable") {
        let name = labels(block)[0].to_owned();
        if let Some(default) = attr(block, "default")
            && let Ok(value) = default.evaluate(&Context::new())
        {
            vars.insert(name, value);
        }
    }
    for (name, value) in overrides {
        vars.insert((*name).to_owned(), Value::from(*value));
    }
    vars
}

/// Terraform's urlencode (Go's url.QueryEscape): unreserved characters stay, space becomes
/// `+`, everything else is %XX.
fn urlencode(args: FuncArgs) -> Result<Value, String> {
    let text = args[0].as_str().ok_or("urlencode takes a string")?;
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    Ok(Value::from(out))
}

fn tostring(args: FuncArgs) -> Result<Value, String> {
    Ok(match &args[0] {
        Value::String(s) => Value::from(s.clone()),
        Value::Number(n) => Value::from(n.to_string()),
        Value::Bool(b) => Value::from(b.to_string()),
        other => return Err(format!("tostring: {other:?}")),
    })
}

/// Terraform's regexall: every match of an RE2 pattern (the patterns used here mean the same in
/// the regex crate).
fn regexall(args: FuncArgs) -> Result<Value, String> {
    let pattern = regex::Regex::new(args[0].as_str().unwrap()).map_err(|e| e.to_string())?;
    let text = args[1].as_str().unwrap();
    Ok(Value::from_iter(
        pattern.find_iter(text).map(|m| Value::from(m.as_str())),
    ))
}

fn length(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(match &args[0] {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        Value::String(s) => s.chars().count(),
        other => return Err(format!("length: {other:?}")),
    }))
}

fn lookup(args: FuncArgs) -> Result<Value, String> {
    let map = args[0].as_object().ok_or("lookup takes a map")?;
    let key = args[1].as_str().ok_or("lookup takes a string key")?;
    Ok(map.get(key).cloned().unwrap_or_else(|| args[2].clone()))
}

fn contains(args: FuncArgs) -> Result<Value, String> {
    let list = args[0].as_array().ok_or("contains takes a list")?;
    Ok(Value::from(list.contains(&args[1])))
}

fn context(vars: &BTreeMap<String, Value>, references: Value) -> Context<'static> {
    let mut ctx = Context::new();
    ctx.declare_var("var", Value::from_iter(vars.clone()));
    ctx.declare_func(
        "urlencode",
        FuncDef::builder().param(ParamType::String).build(urlencode),
    );
    ctx.declare_func(
        "tostring",
        FuncDef::builder().param(ParamType::Any).build(tostring),
    );
    ctx.declare_func(
        "regexall",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::String)
            .build(regexall),
    );
    ctx.declare_func(
        "length",
        FuncDef::builder().param(ParamType::Any).build(length),
    );
    ctx.declare_func(
        "lookup",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::String)
            .param(ParamType::Any)
            .build(lookup),
    );
    ctx.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(contains),
    );
    if let Value::Object(map) = references {
        for (name, value) in map {
            ctx.declare_var(name, value);
        }
    }
    ctx
}

/// Whether every `validation` of `variable "name"` accepts `value`, the other variables at their
/// defaults. The validations tested this way use only the functions declared in `context`.
fn validation_accepts(blocks: &[Block], name: &str, value: Value) -> bool {
    let variable = blocks
        .iter()
        .find(|b| b.identifier() == "variable" && labels(b) == [name])
        .unwrap_or_else(|| panic!("variable {name} is missing"));
    let mut vars = variables(blocks, &[("project_id", "my-proj")]);
    vars.insert(name.to_owned(), value);
    let ctx = context(&vars, Value::Null);
    let validations = child(variable, "validation");
    assert!(!validations.is_empty(), "variable {name} has no validation");
    validations.iter().all(|validation| {
        attr(validation, "condition")
            .unwrap()
            .evaluate(&ctx)
            .unwrap_or_else(|e| panic!("{name}: the validation does not evaluate: {e}"))
            == Value::Bool(true)
    })
}

/// The environment Terraform gives the service (plain values), evaluated with sample variables.
fn terraform_env(blocks: &[Block], vars: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    let evaluated = local(blocks, "app_env")
        .evaluate(&context(vars, Value::Null))
        .expect("local.app_env evaluates");
    let Value::Object(map) = evaluated else {
        panic!("local.app_env is a map")
    };
    map.into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

/// Names of the variables the service container sets: the dynamic blocks over
/// local.app_env, the static secret env blocks, and the secret mounted conditionally.
fn service_env_names(blocks: &[Block]) -> (Vec<String>, Vec<String>) {
    let container = container(blocks);
    let mut plain: Vec<String> = terraform_env(blocks, &variables(blocks, &[("project_id", "p")]))
        .into_keys()
        .collect();
    let mut secrets = Vec::new();
    for env in child(&container, "env") {
        let name = attr(env, "name")
            .unwrap()
            .to_string()
            .trim_matches('"')
            .to_owned();
        if child(env, "value_source").is_empty() {
            plain.push(name);
        } else {
            secrets.push(name);
        }
    }
    for dynamic in child(&container, "dynamic") {
        let for_each = attr(dynamic, "for_each").unwrap().to_string();
        if !for_each.contains("local.app_env") {
            // e.g. `local.mount_gemini_api_key ? ["GEMINI_API_KEY"] : []`: its string literals.
            for piece in for_each.split('"').skip(1).step_by(2) {
                secrets.push(piece.to_owned());
            }
        }
    }
    plain.sort();
    secrets.sort();
    (plain, secrets)
}

#[test]
fn every_env_var_terraform_sets_is_one_the_app_reads() {
    let blocks = blocks();
    let (plain, secrets) = service_env_names(&blocks);
    let known: Vec<&str> = ENV_VARS.iter().map(|v| v.name).collect();
    assert!(plain.len() >= 8, "{plain:?}");
    for name in plain.iter().chain(&secrets) {
        assert!(
            known.contains(&name.as_str()),
            "Terraform sets {name}, which the app does not read"
        );
        assert_ne!(name, "PORT", "Cloud Run reserves PORT");
        assert!(!name.starts_with("K_"), "Cloud Run sets {name}");
    }
    assert_eq!(secrets, ["DATABASE_URL", "GEMINI_API_KEY"]);
    for required in [
        "CORS_ORIGINS",
        "GEMINI_MODEL",
        "GEMINI_BACKEND",
        "TRUST_PROXY",
        "LOG_FORMAT",
    ] {
        assert!(plain.iter().any(|n| n == required), "{required} is not set");
    }
    // The values must parse as the app's configuration.
    let vars = variables(
        &blocks,
        &[
            ("project_id", "my-proj"),
            ("cors_origins", "https://ballsy.example"),
        ],
    );
    let env = terraform_env(&blocks, &vars);
    assert_eq!(env["TRUST_PROXY"], "true");
    assert_eq!(env["LOG_FORMAT"], "json");
    let config = Config::from_lookup(|k| env.get(k).cloned())
        .expect("Terraform's env is a valid configuration");
    assert!(config.trust_proxy);
    assert_eq!(config.google_cloud_project.as_deref(), Some("my-proj"));
}

#[test]
fn vertex_location_is_its_own_setting_and_defaults_to_global() {
    let blocks = blocks();
    let vars = variables(
        &blocks,
        &[("project_id", "my-proj"), ("gemini_backend", "vertex")],
    );
    let env = terraform_env(&blocks, &vars);
    let app_default = Config::from_lookup(|_| None)
        .unwrap()
        .gemini
        .vertex_location;
    assert_eq!(env["VERTEX_LOCATION"], "global");
    assert_eq!(env["VERTEX_LOCATION"], app_default, "the same default");
    assert_eq!(
        env["GOOGLE_CLOUD_REGION"], "us-central1",
        "GOOGLE_CLOUD_REGION stays the Cloud Run region"
    );
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("a valid Vertex config");
    assert_eq!(config.gemini.backend, GeminiBackend::Vertex);
    assert_eq!(config.gemini.vertex_location, "global");
    assert_eq!(config.google_cloud_region.as_deref(), Some("us-central1"));
    // Terraform refuses exactly the locations the app would refuse at start-up.
    for location in [
        "global",
        "us-central1",
        "europe-west4",
        "northamerica-northeast1",
        "us-central1-a",
        "us",
        "Global",
        "global.evil.example",
    ] {
        let app = Config::from_lookup(|k| (k == "VERTEX_LOCATION").then(|| location.to_owned()));
        assert_eq!(
            validation_accepts(&blocks, "vertex_location", Value::from(location)),
            app.is_ok(),
            "{location}"
        );
    }
}

#[test]
fn port_and_probes_match_the_server() {
    let blocks = blocks();
    let container = container(&blocks);
    let port = child(&container, "ports")[0];
    let container_port = attr(port, "container_port").unwrap().to_string();
    let config = Config::from_lookup(|_| None).unwrap();
    assert_eq!(
        container_port,
        config.port.to_string(),
        "the container port is the app's default port"
    );
    for probe in ["startup_probe", "liveness_probe"] {
        let probe = child(&container, probe);
        let http = child(probe[0], "http_get");
        let path = attr(http[0], "path").unwrap().to_string();
        assert_eq!(
            path.trim_matches('"'),
            "/health",
            "probes use /health, never /ready"
        );
    }
    let job = resource(&blocks, "google_cloud_run_v2_job", "migrate");
    let job_container = child(
        child(child(job, "template")[0], "template")[0],
        "containers",
    )[0];
    let args: String = attr(job_container, "args")
        .unwrap()
        .to_string()
        .split_whitespace()
        .collect();
    assert_eq!(args, r#"["migrate"]"#);
    assert!(ballsy::cli::Cli::try_parse_from(["ballsy", "migrate"]).is_ok());
}

#[tokio::test]
async fn probe_paths_answer_without_the_database() {
    // /health must be 200 whatever the database does; a route that does not exist would fail
    // every probe.
    let app = crate::helpers::spawn_app(crate::helpers::AppOptions::new(Backend::Sqlite)).await;
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The DATABASE_URL template from secrets.tf, rendered with sample values.
fn rendered_database_url(blocks: &[Block], password: &str, connection_name: &str) -> String {
    let references = json!({
        "google_sql_user": {"app": {"name": "ballsy"}},
        "google_sql_database": {"main": {"name": "ballsydb"}},
        "google_sql_database_instance": {"main": {"connection_name": connection_name}},
        "random_password": {"db": {"result": password}},
    });
    let references: Value = hcl::to_value(references).unwrap();
    let vars = variables(blocks, &[("project_id", "my-proj")]);
    let rendered = local(blocks, "database_url")
        .evaluate(&context(&vars, references))
        .expect("local.database_url evaluates");
    rendered.as_str().unwrap().to_owned()
}

const NASTY_PASSWORD: &str = "p@ss:w/o?r#d%x[]{}<>&=+!*() end";

#[test]
fn terraform_builds_a_database_url_the_app_parses() {
    let blocks = blocks();
    let url = rendered_database_url(&blocks, NASTY_PASSWORD, "my-proj:us-central1:ballsy-db");
    assert!(url.starts_with("postgresql+psycopg2://ballsy:"), "{url}");
    let DatabaseUrl::Postgres(target) = DatabaseUrl::parse(&url).expect("the app parses it") else {
        panic!("not a postgres URL");
    };
    assert_eq!(target.user.as_deref(), Some("ballsy"));
    // Terraform's urlencode turns a space into '+'; a generated password never has spaces, so
    // compare the rest exactly and the space as '+'.
    assert_eq!(
        target.password.as_ref().unwrap().expose_secret(),
        NASTY_PASSWORD.replace(' ', "+")
    );
    assert_eq!(target.database.as_deref(), Some("ballsydb"));
    assert_eq!(
        target.host,
        PgHost::Socket {
            dir: "/cloudsql/my-proj:us-central1:ballsy-db".into(),
            port: None
        }
    );
    // The generated password has no spaces, so it round-trips exactly.
    let special = blocks
        .iter()
        .find(|b| b.identifier() == "resource" && labels(b) == ["random_password", "db"])
        .and_then(|b| attr(b, "override_special"))
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        !special.contains(' '),
        "the password alphabet has no space: {special}"
    );
}

#[test]
fn the_dockerfile_matches_the_binary_port_and_user() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let line = |prefix: &str| {
        dockerfile
            .lines()
            .rev()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line"))
            .trim_start_matches(prefix)
            .trim()
            .to_owned()
    };
    let binary_name = Path::new(env!("CARGO_BIN_EXE_ballsy"))
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        line("ENTRYPOINT"),
        format!(r#"["/usr/local/bin/{binary_name}"]"#)
    );
    assert!(dockerfile.contains(&format!("--bin {binary_name}")));
    assert_eq!(
        line("EXPOSE"),
        Config::from_lookup(|_| None).unwrap().port.to_string()
    );
    assert_eq!(line("USER"), "nonroot");
    assert_eq!(line("CMD"), r#"["serve"]"#);
    assert!(ballsy::cli::Cli::try_parse_from(["ballsy", "serve"]).is_ok());
    assert!(!dockerfile.lines().any(|l| l.starts_with("HEALTHCHECK")));
    assert!(line("FROM").starts_with("gcr.io/distroless/cc-debian13:nonroot"));
}

#[test]
fn every_base_image_is_pinned_by_digest_and_the_bump_is_documented() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let deployment = deployment_md();
    let pinned =
        regex::Regex::new(r"^([a-z0-9./-]+:[A-Za-z0-9._-]+)@sha256:[0-9a-f]{64}$").unwrap();
    let mut stages = Vec::new();
    let mut bases = Vec::new();
    for line in dockerfile.lines().filter(|l| l.starts_with("FROM ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let image = words[1];
        // `FROM chef AS planner` builds on an earlier stage of this file.
        if !stages.contains(&image) {
            let tag = pinned
                .captures(image)
                .unwrap_or_else(|| panic!("not pinned as name:tag@sha256:<digest>: {line}"))[1]
                .to_owned();
            bases.push(tag);
        }
        if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
            stages.push(words[i + 1]);
        }
    }
    assert_eq!(bases.len(), 2, "{bases:?}");
    for tag in &bases {
        assert!(
            deployment.contains(&format!("docker buildx imagetools inspect {tag} ")),
            "DEPLOYMENT.md does not say how to bump {tag}"
        );
    }
}

/// Starts the binary the way Cloud Run would with this Terraform: its exact environment, the
/// DATABASE_URL in Terraform's form (pointing at the local server's socket directory instead of
/// /cloudsql/…), PORT injected, K_SERVICE set.
#[tokio::test]
async fn cloud_run_rehearsal() {
    let Some(admin) = postgres_admin_url() else {
        report_skip("cloud_run_rehearsal");
        return;
    };
    let blocks = blocks();
    let db = TestDb::new(Backend::Postgres).await;
    let fake = FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    let socket_dir =
        std::env::var("BALLSY_TEST_PG_SOCKET_DIR").unwrap_or_else(|_| "/var/run/postgresql".into());
    let admin = url::Url::parse(&admin).unwrap();
    let user = if admin.username().is_empty() {
        "postgres"
    } else {
        admin.username()
    };
    let url = rendered_database_url(&blocks, "rehearsal-p@ss/w:rd", "proj:us-central1:inst")
        .replacen(
            "postgresql+psycopg2://ballsy:",
            &format!("postgresql+psycopg2://{user}:"),
            1,
        )
        .replace("/ballsydb?", &format!("/{}?", db.pg_name().unwrap()))
        .replace("/cloudsql/proj:us-central1:inst", &socket_dir);
    let vars = variables(
        &blocks,
        &[
            ("project_id", "rehearsal-proj"),
            ("cors_origins", "https://ballsy.example"),
        ],
    );
    let mut env: Vec<(&str, String)> = Vec::new();
    let terraform = terraform_env(&blocks, &vars);
    for (key, value) in &terraform {
        env.push((Box::leak(key.clone().into_boxed_str()), value.clone()));
    }
    env.push(("DATABASE_URL", url));
    env.push(("GEMINI_API_KEY", "rehearsal-key".into()));
    env.push(("GEMINI_BASE_URL", fake.base_url()));
    env.push(("K_SERVICE", "ballsy".into()));
    env.push(("K_REVISION", "ballsy-00001-abc".into()));
    let mut server = Server::start(&env);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = crate::helpers::eventually(Duration::from_secs(10), || async {
        client
            .get(server.url("/ready"))
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    assert!(ready, "/ready turns 200 once migrations ran");
    let reply: serde_json::Value = client
        .post(server.url("/api/command"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .json(&json!({"command": "open youtube"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["response"], "Opening YouTube");
    let ai: serde_json::Value = client
        .post(server.url("/api/command"))
        .json(&json!({"command": "who wrote hamlet"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ai["source"], "gemini");
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(10)).success());
    let lines = server.log_lines();
    assert!(lines.iter().any(|l| l["revision"] == "ballsy-00001-abc"));
    assert!(lines.iter().all(|l| l["severity"].is_string()));
}

#[test]
fn the_budget_is_a_normal_step_and_alerts_on_spend_after_the_free_tier() {
    let blocks = blocks();
    let budget = resource(&blocks, "google_billing_budget", "main");
    let filter = child(budget, "budget_filter")[0];
    // INCLUDE_ALL_CREDITS nets the trial credit (reads ~$0); EXCLUDE_ALL_CREDITS counts
    // always-free usage as spend. Only FREE_TIER credits are subtracted.
    assert_eq!(
        string_attr(filter, "credit_types_treatment"),
        "INCLUDE_SPECIFIED_CREDITS"
    );
    assert_eq!(
        attr(filter, "credit_types")
            .unwrap()
            .evaluate(&Context::new())
            .unwrap(),
        Value::from_iter([Value::from("FREE_TIER")])
    );
    // Skipping it is visible at plan time.
    let check = top_level(&blocks, "check", "budget_configured");
    let condition = attr(child(check, "assert")[0], "condition")
        .unwrap()
        .to_string();
    assert!(condition.contains("var.billing_account_id"), "{condition}");
    // Step 2 writes the project's billing account into terraform.tfvars.
    let deployment = deployment_md();
    let step = section(&deployment, "## 2.");
    assert!(
        step.contains("gcloud billing projects describe \"$PROJECT_ID\""),
        "step 2 reads the billing account"
    );
    assert!(
        step.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("billing_account_id") && l.contains("\"$BILLING_ACCOUNT\"")
        }),
        "step 2 sets billing_account_id (uncommented) in terraform.tfvars"
    );
    assert!(!deployment.contains("EXCLUDE_ALL_CREDITS"));
}

#[test]
fn the_build_records_the_image_tag_and_a_placeholder_cannot_be_planned() {
    let blocks = blocks();
    let tag = |t: &str| validation_accepts(&blocks, "image_tag", Value::from(t));
    assert!(tag("20261124t120000z-0123456789ab"));
    assert!(
        tag("0123456789abcdef0123456789abcdef01234567"),
        "a bare commit"
    );
    for placeholder in [
        "",
        "latest",
        "TAG",
        "$TAG",
        "EARLIER_TAG",
        "your-tag",
        "20261124t120000z",
        "20261124t120000z-",
        "v1.2.3",
    ] {
        assert!(!tag(placeholder), "image_tag {placeholder:?} is accepted");
    }
    // Unset passes the variable, because the first (targeted) apply runs before any image
    // exists, but then the service and the job refuse to plan.
    let variable = top_level(&blocks, "variable", "image_tag");
    assert_eq!(attr(variable, "default"), Some(&Expression::Null));
    assert!(validation_accepts(&blocks, "image_tag", Value::Null));
    for (kind, name) in [
        ("google_cloud_run_v2_service", "main"),
        ("google_cloud_run_v2_job", "migrate"),
    ] {
        let guarded = child(resource(&blocks, kind, name), "lifecycle")
            .iter()
            .flat_map(|l| child(l, "precondition"))
            .any(|p| compact(attr(p, "condition").unwrap()) == "var.image_tag!=null");
        assert!(guarded, "{kind}.{name} plans without an image_tag");
    }

    // DEPLOYMENT.md: the tag never lives only in the shell. Every build records it in
    // terraform.tfvars, and only when the build succeeded.
    let doc = deployment_md();
    assert!(
        !doc.contains("-var=\"image_tag"),
        "image_tag passed on the command line"
    );
    let commands = bash_commands(&doc);
    let builds: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("gcloud builds submit"))
        .collect();
    assert!(builds.len() >= 2, "step 4 and the rollout both build");
    for build in &builds {
        assert!(
            build.contains(" . && { grep -v '^image_tag *=' infra/terraform.tfvars;"),
            "a build that does not record its tag (or records it even when it failed): {build}"
        );
    }
    let recorders: Vec<&String> = commands
        .iter()
        .filter(|c| c.contains("printf 'image_tag = "))
        .collect();
    assert!(recorders.len() >= 3, "step 4, rollout and rollback");
    let new_tag = "20261124t120000z-0123456789ab";
    for (n, command) in recorders.iter().enumerate() {
        // Run the recording part against a terraform.tfvars that holds an older tag.
        let record = &command[command.find("{ grep").unwrap()..];
        let root = std::env::temp_dir().join(format!("ballsy-tfvars-{}-{n}", std::process::id()));
        let infra = root.join("infra");
        std::fs::create_dir_all(&infra).unwrap();
        let tfvars = infra.join("terraform.tfvars");
        std::fs::write(
            &tfvars,
            "project_id = \"p\"\nimage_tag = \"20200101t000000z-aaaaaaaaaaaa\"\nregion = \"us-central1\"\n",
        )
        .unwrap();
        let cwd = if record.contains("infra/terraform.tfvars") {
            &root
        } else {
            &infra
        };
        let status = std::process::Command::new("bash")
            .args(["-c", record])
            .current_dir(cwd)
            .env("TAG", new_tag)
            .status()
            .unwrap();
        assert!(status.success(), "{record}");
        let written = std::fs::read_to_string(&tfvars).unwrap();
        std::fs::remove_dir_all(&root).ok();
        let tags: Vec<&str> = written
            .lines()
            .filter(|l| l.starts_with("image_tag"))
            .collect();
        assert_eq!(tags, [format!("image_tag = \"{new_tag}\"")], "{record}");
        assert!(written.contains("project_id = \"p\"") && written.contains("region = "));
    }
    // The tag the documented command computes is one the variable accepts.
    let make_tag = commands
        .iter()
        .find(|c| c.starts_with("TAG=\"$(date"))
        .expect("DEPLOYMENT.md computes the tag");
    let output = std::process::Command::new("bash")
        .args(["-c", &format!("{make_tag} && printf %s \"$TAG\"")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if output.status.success() {
        let computed = String::from_utf8(output.stdout).unwrap();
        assert!(
            tag(&computed),
            "the documented tag {computed:?} is rejected"
        );
    } else {
        // Not a git checkout (e.g. a source tarball): the shape is covered above.
        eprintln!("skipped running the documented tag command: not a git checkout");
    }
}

#[test]
fn the_instance_cap_holds_for_all_revisions_together() {
    let blocks = blocks();
    let service = resource(&blocks, "google_cloud_run_v2_service", "main");
    let template = child(service, "template")[0];
    let per_revision = attr(child(template, "scaling")[0], "max_instance_count").unwrap();
    let service_scaling = child(service, "scaling");
    assert_eq!(service_scaling.len(), 1, "no service-level scaling block");
    let per_service = attr(service_scaling[0], "max_instance_count")
        .expect("no service-level max_instance_count: a rollout can double the instances");
    assert_eq!(compact(per_service), compact(per_revision));
    assert_eq!(compact(per_service), "var.max_instances");
    // The connection budget is computed from that same cap, and the defaults fit it.
    let asked = local(&blocks, "db_connections_asked");
    assert!(compact(&asked).contains("var.max_instances"), "{asked}");
    let ctx = context(&variables(&blocks, &[("project_id", "p")]), Value::Null);
    let asked = asked.evaluate(&ctx).unwrap();
    let limit = local(&blocks, "db_connection_limit")
        .evaluate(&ctx)
        .unwrap();
    assert_eq!(
        (asked.to_string(), limit.to_string()),
        ("20".into(), "22".into())
    );
    let guarded = child(service, "lifecycle")
        .iter()
        .flat_map(|l| child(l, "precondition"))
        .any(|p| {
            compact(attr(p, "condition").unwrap())
                == "local.db_connections_asked<=local.db_connection_limit"
        });
    assert!(guarded, "the service does not check the connection budget");
}

/// One line of a .gcloudignore, for the subset of .gitignore syntax it uses.
struct IgnoreRule {
    negate: bool,
    dir_only: bool,
    /// Matched against the whole relative path; otherwise against the last component.
    anchored: bool,
    pattern: String,
}

fn gcloudignore_rules(text: &str) -> Vec<IgnoreRule> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            // The simulation below covers `*` within one component, a leading `/`, a trailing
            // `/` and `!`; anything else would make it lie about what gcloud uploads.
            assert!(
                !line.contains("**") && !line.contains(['?', '[', '\\']),
                ".gcloudignore uses syntax the test does not simulate: {line}"
            );
            let (negate, rest) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (dir_only, rest) = match rest.strip_suffix('/') {
                Some(rest) => (true, rest),
                None => (false, rest),
            };
            IgnoreRule {
                negate,
                dir_only,
                anchored: rest.contains('/'),
                pattern: rest.trim_start_matches('/').to_owned(),
            }
        })
        .collect()
}

/// `*` matches any run of characters other than `/`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

/// gcloud's rule, as git's: the last matching line decides, and nothing below an ignored
/// directory is uploaded whatever later lines say.
fn gcloud_ignores(rules: &[IgnoreRule], path: &str, is_dir: bool) -> bool {
    let decide = |path: &str, is_dir: bool| {
        let name = path.rsplit('/').next().unwrap();
        rules
            .iter()
            .filter(|r| is_dir || !r.dir_only)
            .rfind(|r| glob(&r.pattern, if r.anchored { path } else { name }))
            .is_some_and(|r| !r.negate)
    };
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len()).any(|n| decide(&parts[..n].join("/"), true)) || decide(path, is_dir)
}

/// The files `gcloud builds submit .` would upload from this checkout.
fn uploaded_files(rules: &[IgnoreRule]) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, rules: &[IgnoreRule], out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let is_dir = path.is_dir();
            if gcloud_ignores(rules, &relative, is_dir) {
                continue;
            }
            if is_dir {
                walk(root, &path, rules, out);
            } else {
                out.push(relative);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(root, root, rules, &mut out);
    out.sort();
    out
}

#[test]
fn the_build_upload_holds_only_what_the_image_needs() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gcloudignore"))
        .expect("a .gcloudignore (without it gcloud uploads whatever .gitignore lets through)");
    let rules = gcloudignore_rules(&text);
    let uploaded = uploaded_files(&rules);
    let has = |path: &str| uploaded.iter().any(|p| p == path);
    let under = |dir: &str| uploaded.iter().any(|p| p.starts_with(&format!("{dir}/")));

    // What the Dockerfile's `COPY . .` and the Cargo build need.
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "Dockerfile",
        ".dockerignore",
        "src/main.rs",
    ] {
        assert!(has(file), "{file} is not uploaded");
    }
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find(|l| l.starts_with("members"))
        .expect("a workspace members line");
    for member in members.split('"').skip(1).step_by(2).filter(|m| *m != ".") {
        assert!(
            has(&format!("{member}/Cargo.toml")),
            "workspace member {member}"
        );
        assert!(under(&format!("{member}/src")), "workspace member {member}");
    }
    // Directories compiled into the binary: rust-embed's folder and the migrations.
    let sources = [
        include_str!("../../src/http/page.rs"),
        include_str!("../../src/store/mod.rs"),
    ]
    .concat();
    for marker in ["#[folder = \"", "sqlx::migrate!(\"./"] {
        for piece in sources.split(marker).skip(1) {
            let dir = piece.split('"').next().unwrap().trim_end_matches('/');
            assert!(
                under(dir),
                "{dir}/ (compiled into the binary) is not uploaded"
            );
        }
    }

    // Nothing else from this checkout, in particular Terraform and git.
    for dir in [
        "infra",
        ".git",
        "target",
        "tests",
        "e2e",
        "fuzz",
        "docs",
        ".ci",
        ".venv-tfcheck",
    ] {
        assert!(!under(dir), "{dir}/ is uploaded");
    }
    for file in [
        "README.md",
        "DEPLOYMENT.md",
        "plan.md",
        ".gitignore",
        ".gcloudignore",
    ] {
        assert!(!has(file), "{file} is uploaded");
    }
    // And never, wherever they turn up: state, saved plans, variables, keys, local data.
    for path in [
        "tfplan",
        "infra/tfplan",
        "infra/terraform.tfstate",
        "infra/terraform.tfstate.backup",
        "infra/terraform.tfvars",
        "terraform.tfvars",
        "src/plan.tfplan",
        ".env",
        "src/.env",
        "web/.env.production",
        "ballsy.db",
        "bench/ballsy.db-wal",
        "src/key.pem",
        "web/service-account.json",
        "bench/target/debug/bench",
        "bench/out/results.json",
        "web/node_modules/x/index.js",
    ] {
        assert!(
            gcloud_ignores(&rules, path, false),
            "{path} would be uploaded"
        );
    }

    // DEPLOYMENT.md removes a saved plan even when the plan or the apply fails.
    for command in bash_commands(&deployment_md()) {
        if command.contains("-out=tfplan") {
            assert!(
                command.ends_with("; rm -f tfplan"),
                "a failed plan or apply leaves tfplan behind: {command}"
            );
        }
    }
}

#[test]
fn the_runtime_account_gets_predictions_and_its_own_instance_only() {
    let blocks = blocks();
    let grants: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.identifier() == "resource" && labels(b)[0] == "google_project_iam_member")
        .collect();
    for grant in &grants {
        let role = attr(grant, "role").unwrap().to_string();
        assert!(
            !role.contains("roles/aiplatform."),
            "a predefined Vertex AI role on the whole project: {role}"
        );
    }

    // Vertex: a custom role with only the permission generateContent needs, granted only with
    // the Vertex backend.
    let role = resource(&blocks, "google_project_iam_custom_role", "vertex_predict");
    assert_eq!(
        attr(role, "permissions")
            .unwrap()
            .evaluate(&Context::new())
            .unwrap(),
        Value::from_iter([Value::from("aiplatform.endpoints.predict")])
    );
    assert!(
        attr(role, "count").is_none(),
        "the role must outlive a backend switch"
    );
    let vertex = resource(&blocks, "google_project_iam_member", "run_vertex_predict");
    assert_eq!(
        compact(attr(vertex, "role").unwrap()),
        "google_project_iam_custom_role.vertex_predict.name"
    );
    assert_eq!(
        compact(attr(vertex, "count").unwrap()),
        "var.gemini_backend==\"vertex\"?1:0"
    );
    let iam_wait = resource(&blocks, "time_sleep", "run_iam_ready");
    assert!(
        compact(attr(iam_wait, "depends_on").unwrap())
            .contains("google_project_iam_member.run_vertex_predict"),
        "revisions do not wait for the Vertex grant"
    );

    // Cloud SQL: roles/cloudsql.client, narrowed to the instance Terraform creates.
    let sql = resource(&blocks, "google_project_iam_member", "run_cloudsql_client");
    assert_eq!(string_attr(sql, "role"), "roles/cloudsql.client");
    let condition = child(sql, "condition");
    assert_eq!(
        condition.len(),
        1,
        "cloudsql.client is granted on every instance"
    );
    let vars = variables(&blocks, &[("project_id", "my-proj")]);
    let expression = attr(condition[0], "expression")
        .unwrap()
        .evaluate(&context(&vars, Value::Null))
        .unwrap();
    assert_eq!(
        expression,
        Value::from(
            "resource.name == 'projects/my-proj/instances/ballsy-db' && resource.type == 'sqladmin.googleapis.com/Instance'"
        )
    );
    let instance = resource(&blocks, "google_sql_database_instance", "main");
    assert_eq!(
        compact(attr(instance, "name").unwrap()),
        "var.db_instance_name",
        "the condition names the instance by the same variable"
    );
}

#[test]
fn the_build_account_has_what_cloud_build_documents_for_its_logs_bucket() {
    let blocks = blocks();
    let grant = resource(
        &blocks,
        "google_storage_bucket_iam_member",
        "build_storage_admin",
    );
    assert_eq!(string_attr(grant, "role"), "roles/storage.admin");
    assert_eq!(
        compact(attr(grant, "bucket").unwrap()),
        "google_storage_bucket.build.name",
        "on the build bucket only"
    );
    assert_eq!(
        compact(attr(grant, "member").unwrap()),
        "google_service_account.build.member"
    );
    // That bucket is the one DEPLOYMENT.md passes for the staged source and the log.
    let bucket = resource(&blocks, "google_storage_bucket", "build");
    assert_eq!(
        compact(attr(bucket, "name").unwrap()),
        "\"${var.project_id}-ballsy-build\""
    );
    let deployment = deployment_md();
    let builds: Vec<String> = bash_commands(&deployment)
        .into_iter()
        .filter(|c| c.starts_with("gcloud builds submit"))
        .collect();
    for build in &builds {
        assert!(build.contains("--gcs-log-dir=\"gs://$PROJECT_ID-ballsy-build/logs\""));
        assert!(
            build.contains("--gcs-source-staging-dir=\"gs://$PROJECT_ID-ballsy-build/source\"")
        );
    }
    // No storage role on the whole project, and the first apply waits for this grant.
    for b in blocks
        .iter()
        .filter(|b| b.identifier() == "resource" && labels(b)[0] == "google_project_iam_member")
    {
        assert!(
            !attr(b, "role")
                .unwrap()
                .to_string()
                .contains("roles/storage.")
        );
    }
    let wait = resource(&blocks, "time_sleep", "build_ready");
    assert!(
        compact(attr(wait, "depends_on").unwrap())
            .contains("google_storage_bucket_iam_member.build_storage_admin")
    );
}

#[test]
fn the_outputs_the_owner_asked_for_exist() {
    let blocks = blocks();
    let output = |name: &str| {
        let block = top_level(&blocks, "output", name);
        compact(attr(block, "value").unwrap())
    };
    // The request's outputs: the Cloud SQL connection name under its own name, the database
    // name, user and (sensitive) password, the Cloud Run URL, the image URL and the secrets.
    assert_eq!(
        output("instance_connection_name"),
        "google_sql_database_instance.main.connection_name"
    );
    assert_eq!(
        output("cloud_run_url"),
        "google_cloud_run_v2_service.main.uri"
    );
    for name in [
        "database_name",
        "database_user",
        "database_password",
        "image_url",
        "gemini_secret_name",
        "database_url_secret_name",
    ] {
        output(name);
    }
    let password = top_level(&blocks, "output", "database_password");
    assert_eq!(attr(password, "sensitive"), Some(&Expression::Bool(true)));
}

#[test]
fn organisation_policy_failures_have_a_working_fix_in_the_troubleshooting_table() {
    let doc = deployment_md();
    let table = section(&doc, "## Troubleshooting");
    let row = |needle: &str| {
        table
            .lines()
            .find(|l| l.starts_with('|') && l.contains(needle))
            .unwrap_or_else(|| panic!("no troubleshooting row for {needle}"))
    };
    let blocks = blocks();

    // Restrict Public IP: this configuration does use the instance's public IP.
    let instance = resource(&blocks, "google_sql_database_instance", "main");
    let ip = child(child(instance, "settings")[0], "ip_configuration")[0];
    assert_eq!(attr(ip, "ipv4_enabled"), Some(&Expression::Bool(true)));
    let sql = row("constraints/sql.restrictPublicIp");
    assert!(
        sql.contains(
            "`gcloud resource-manager org-policies disable-enforce sql.restrictPublicIp --project=\"$PROJECT_ID\"`"
        ),
        "{sql}"
    );

    // Domain-restricted sharing rejects the allUsers grant; the row's fix is one variable that
    // turns the invoker check off and drops the grant.
    let drs = row("constraints/iam.allowedPolicyMemberDomains");
    assert!(
        drs.contains("do not belong to a permitted customer"),
        "{drs}"
    );
    assert!(
        drs.contains("`echo 'invoker_iam_disabled = true' >> terraform.tfvars`"),
        "{drs}"
    );
    let service = resource(&blocks, "google_cloud_run_v2_service", "main");
    assert_eq!(
        compact(attr(service, "invoker_iam_disabled").unwrap()),
        "var.invoker_iam_disabled"
    );
    let public = resource(&blocks, "google_cloud_run_v2_service_iam_member", "public");
    assert_eq!(string_attr(public, "member"), "allUsers");
    assert_eq!(
        compact(attr(public, "count").unwrap()),
        "var.invoker_iam_disabled?0:1"
    );
    let variable = top_level(&blocks, "variable", "invoker_iam_disabled");
    assert_eq!(attr(variable, "default"), Some(&Expression::Bool(false)));
}

#[test]
fn the_registry_cleanup_never_deletes_the_deployed_image() {
    let blocks = blocks();
    let repository = resource(&blocks, "google_artifact_registry_repository", "main");
    let keep_deployed = child(repository, "dynamic")
        .into_iter()
        .find(|d| labels(d) == ["cleanup_policies"])
        .expect("no cleanup policy that follows image_tag");
    // One KEEP policy for exactly the deployed tag, none before the first build.
    let for_each = attr(keep_deployed, "for_each").unwrap();
    let tag = "20261124t120000z-0123456789ab";
    for (value, expected) in [
        (Value::from(tag), Value::from_iter([Value::from(tag)])),
        (Value::Null, Value::Array(vec![])),
    ] {
        let mut vars = variables(&blocks, &[("project_id", "p")]);
        vars.insert("image_tag".into(), value);
        assert_eq!(
            for_each.evaluate(&context(&vars, Value::Null)).unwrap(),
            expected
        );
    }
    let content = child(keep_deployed, "content")[0];
    assert_eq!(string_attr(content, "action"), "KEEP");
    let condition = child(content, "condition")[0];
    assert_eq!(string_attr(condition, "tag_state"), "TAGGED");
    assert_eq!(
        compact(attr(condition, "tag_prefixes").unwrap()),
        "[cleanup_policies.value]"
    );
    // It protects what the service and the job actually run.
    let image = compact(&local(&blocks, "image"));
    assert!(image.contains(":${var.image_tag}"), "{image}");
    let job = resource(&blocks, "google_cloud_run_v2_job", "migrate");
    let job_container = child(
        child(child(job, "template")[0], "template")[0],
        "containers",
    )[0];
    for image in [
        attr(&container(&blocks), "image").unwrap().clone(),
        attr(job_container, "image").unwrap().clone(),
    ] {
        assert_eq!(compact(&image), "local.image");
    }
    // The DELETE policies are what it has to override.
    let deletes = child(repository, "cleanup_policies")
        .into_iter()
        .filter(|p| string_attr(p, "action") == "DELETE")
        .count();
    assert_eq!(deletes, 2);
}

#[test]
fn key_rotation_destroys_old_secret_versions() {
    let blocks = blocks();
    // Terraform's own version (DATABASE_URL): a replacement destroys the old one.
    let version = resource(
        &blocks,
        "google_secret_manager_secret_version",
        "database_url",
    );
    assert_eq!(string_attr(version, "deletion_policy"), "DELETE");
    for secret in ["gemini_api_key", "database_url"] {
        let secret = resource(&blocks, "google_secret_manager_secret", secret);
        assert!(
            attr(secret, "version_destroy_ttl").is_none(),
            "delayed destruction keeps destroyed versions disabled, and billed"
        );
    }

    // The documented Gemini key rotation destroys the old version, only after the apply that
    // moved every instance off it succeeded, and never merely disables it.
    let doc = deployment_md();
    assert!(
        !doc.contains("versions disable"),
        "disabled versions are billed"
    );
    let commands = bash_commands(&doc);
    let destroy = commands
        .iter()
        .find(|c| c.contains("gcloud secrets versions destroy"))
        .expect("no rotation command destroys the old version");
    assert!(
        destroy.contains(
            "terraform apply tfplan && gcloud secrets versions destroy \"$OLD_VERSION\" --secret=ballsy-gemini-api-key"
        ),
        "{destroy}"
    );
    // In this order: note the old version, add the new one, pin it, apply, destroy the old one.
    let start = commands
        .iter()
        .position(|c| c.starts_with("OLD_VERSION="))
        .expect("the old version is recorded");
    let mut rest = commands[start..].iter();
    for step in [
        "gcloud secrets versions add ballsy-gemini-api-key",
        "NEW_VERSION=",
        "printf 'gemini_api_key_version = ",
        "gcloud secrets versions destroy",
    ] {
        assert!(
            rest.any(|c| c.contains(step)),
            "the rotation lacks, or misorders, {step}"
        );
    }
    // The pin to the new version lands in terraform.tfvars.
    let record = commands
        .iter()
        .find(|c| c.starts_with("{ grep -v '^gemini_api_key_version"))
        .expect("the new version is recorded in terraform.tfvars");
    let dir = std::env::temp_dir().join(format!("ballsy-rotation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("terraform.tfvars"),
        "project_id = \"p\"\ngemini_api_key_version = \"2\"\n",
    )
    .unwrap();
    let status = std::process::Command::new("bash")
        .args(["-c", record])
        .current_dir(&dir)
        .env("NEW_VERSION", "3")
        .status()
        .unwrap();
    let written = std::fs::read_to_string(dir.join("terraform.tfvars")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(status.success());
    assert_eq!(
        written,
        "project_id = \"p\"\ngemini_api_key_version = \"3\"\n"
    );
}

#[test]
fn every_command_block_in_deployment_md_is_valid_bash() {
    let doc = deployment_md();
    let blocks: Vec<&str> = doc
        .split("```bash\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect();
    assert!(blocks.len() >= 10, "{} bash blocks", blocks.len());
    for block in blocks {
        let mut child = std::process::Command::new("bash")
            .arg("-n")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(block.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}\n{block}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
