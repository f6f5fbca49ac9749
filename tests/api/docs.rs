//! The documentation says what the code does.

use std::collections::BTreeSet;

use ballsy::config::ENV_VARS;
use utoipa::OpenApi;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn readme_configuration_table_is_the_one_the_code_generates() {
    let readme = read("README.md");
    assert!(
        readme.contains(&ballsy::config::markdown_table()),
        "README.md's configuration table differs from config::markdown_table(); paste it in"
    );
}

#[test]
fn readme_configuration_table_lists_exactly_the_variables_the_code_reads() {
    let readme = read("README.md");
    let table: BTreeSet<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        })
        .collect();
    let code: BTreeSet<&str> = ENV_VARS.iter().map(|v| v.name).collect();
    assert_eq!(table, code);
}

#[test]
fn readme_quick_start_is_exactly_the_two_commands() {
    let readme = read("README.md");
    let section = readme.split("## Quick start").nth(1).unwrap();
    let block = section.split("```").nth(1).unwrap();
    let commands: Vec<&str> = block
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(commands, ["cargo run --release", "cargo test"]);
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim_start().starts_with("cargo test")),
        ".ci/run runs the README's test command"
    );
}

#[test]
fn plan_lists_every_endpoint() {
    let plan = read("plan.md");
    let doc = ballsy::http::openapi::ApiDoc::openapi();
    for path in doc.paths.paths.keys() {
        assert!(
            plan.contains(&format!("`{path}")),
            "plan.md does not mention {path}"
        );
    }
    assert!(plan.contains("/ws/voice/{client_id}"));
}

#[test]
fn deployment_uses_the_terraform_outputs_and_resources_that_exist() {
    let deployment = read("DEPLOYMENT.md");
    let outputs = read("infra/outputs.tf");
    for line in deployment.lines() {
        for piece in line.split("terraform output -raw ").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                outputs.contains(&format!("output \"{name}\"")),
                "DEPLOYMENT.md uses a missing output {name}"
            );
        }
    }
    assert!(deployment.contains("gcloud builds submit"));
    assert!(deployment.contains("gcloud secrets versions add"));
    assert!(
        !deployment
            .lines()
            .any(|l| l.trim_start().starts_with("gcloud run deploy")),
        "Terraform is the only deployer"
    );
}
