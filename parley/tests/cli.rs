//! The operator's one-shot commands: `config check`, `policy explain`, and
//! `up` refusing a configuration it cannot use.

mod common;

use common::{config_check, config_dir, demo_config, parley};
use std::path::{Path, PathBuf};

/// A copy of `config/demo.toml` and `config/jurisdictions/` in a temp dir.
struct ConfigCopy {
    dir: tempfile::TempDir,
}

impl ConfigCopy {
    fn new() -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::copy(demo_config(), dir.path().join("demo.toml")).unwrap();
        let jurisdictions = dir.path().join("jurisdictions");
        std::fs::create_dir(&jurisdictions).unwrap();
        for entry in std::fs::read_dir(config_dir().join("jurisdictions")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(&path, jurisdictions.join(path.file_name().unwrap())).unwrap();
            }
        }
        Self { dir }
    }

    fn deployment(&self) -> PathBuf {
        self.dir.path().join("demo.toml")
    }

    fn jurisdiction(&self, file: &str) -> PathBuf {
        self.dir.path().join("jurisdictions").join(file)
    }

    /// Adds `text` as the jurisdiction file `file`: its path, and the line
    /// of `offending` in it.
    fn add_jurisdiction(&self, file: &str, text: &str, offending: &str) -> (PathBuf, usize) {
        let path = self.jurisdiction(file);
        write(&path, text);
        (path, line_of(text, offending))
    }

    fn check(&self) -> common::Output {
        config_check(&self.deployment())
    }
}

/// 1-based line of the first line of `text` equal to `line` (after trimming).
fn line_of(text: &str, line: &str) -> usize {
    text.lines()
        .position(|l| l.trim() == line)
        .unwrap_or_else(|| panic!("no line {line:?} in:\n{text}"))
        + 1
}

/// The demo jurisdiction under another id, so it can sit next to the original.
fn demo_as(id: &str) -> String {
    let text = std::fs::read_to_string(config_dir().join("jurisdictions/demo.toml")).unwrap();
    assert!(
        text.contains("\nid = \"demo\"\n"),
        "demo.toml has no id line"
    );
    text.replacen("\nid = \"demo\"\n", &format!("\nid = \"{id}\"\n"), 1)
}

/// `text` with `old` replaced by `new` on the first line at or after the
/// `[section]` header.
fn replace_in_section(text: &str, section: &str, old: &str, new: &str) -> String {
    let header = format!("[{section}]");
    let mut in_section = false;
    let mut done = false;
    let mut out = String::new();
    for l in text.lines() {
        if l.trim().starts_with('[') {
            in_section = l.trim() == header;
        }
        if in_section && !done && l.trim() == old {
            out.push_str(new);
            done = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    assert!(done, "no line {old:?} in [{section}]");
    out
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn config_check_reports_file_line_and_key() {
    // The shipped configuration is valid.
    let shipped = config_check(&demo_config());
    shipped.assert_success();
    shipped.assert_stdout_contains("ok");

    // So is a copy of it.
    let cfg = ConfigCopy::new();
    cfg.check()
        .assert_success()
        .assert_stdout_contains("demo, eng-wales, fr-paris");

    // A privileged kind may never be recorded: file, line and key named.
    let bad = replace_in_section(
        &demo_as("zz-broken"),
        "recording",
        r#"legal_visit = "forbidden""#,
        r#"legal_visit = "required""#,
    );
    let (file, line) = cfg.add_jurisdiction("zz-broken.toml", &bad, r#"legal_visit = "required""#);
    cfg.check()
        .assert_failure()
        .assert_stderr_contains(&format!("zz-broken.toml:{line}:"))
        .assert_stderr_contains("recording.legal_visit");
    std::fs::remove_file(&file).unwrap();
    cfg.check().assert_success();

    // An unknown key is named, with where it is.
    let bad = replace_in_section(
        &demo_as("zz-unknown"),
        "visits",
        "weekly_quota = 20",
        "weekly_quota = 20\nfavourite_colour = \"blue\"",
    );
    let (file, line) =
        cfg.add_jurisdiction("zz-unknown.toml", &bad, r#"favourite_colour = "blue""#);
    cfg.check()
        .assert_failure()
        .assert_stderr_contains(&format!("zz-unknown.toml:{line}:"))
        .assert_stderr_contains("favourite_colour");
    std::fs::remove_file(&file).unwrap();

    // A broken deployment file is named, with the offending key.
    let deployment = std::fs::read_to_string(cfg.deployment()).unwrap();
    let bad = replace_in_section(
        &deployment,
        "server",
        r#"http = "127.0.0.1:8080""#,
        "http = \"127.0.0.1:8080\"\nlisten_backlog = 5",
    );
    write(&cfg.deployment(), &bad);
    cfg.check()
        .assert_failure()
        .assert_stderr_contains(&cfg.deployment().display().to_string())
        .assert_stderr_contains("listen_backlog");

    // A coalescing window past its limit is refused with the limit.
    let bad = replace_in_section(&deployment, "sfu", "coalesce_us = 0", "coalesce_us = 9000");
    write(&cfg.deployment(), &bad);
    cfg.check()
        .assert_failure()
        .assert_stderr_contains("coalesce_us")
        .assert_stderr_contains("at most 5000 µs");
    // HTTP limits outside their ranges are refused, naming the key.
    for (line, key) in [
        (
            "max_connections_per_ip = 0",
            "server.max_connections_per_ip",
        ),
        (
            "request_head_timeout_seconds = 0",
            "server.request_head_timeout_seconds",
        ),
    ] {
        let bad = replace_in_section(
            &deployment,
            "server",
            "http = \"127.0.0.1:8080\"",
            &format!("http = \"127.0.0.1:8080\"\n{line}"),
        );
        write(&cfg.deployment(), &bad);
        cfg.check()
            .assert_failure()
            .assert_stderr_contains(key)
            .assert_stderr_contains("give 1 to");
    }
    // A store URL of a database Parley does not speak is refused, naming it.
    write(
        &cfg.deployment(),
        &format!("{deployment}\n[store]\nurl = \"mysql://parley@db/parley\"\n"),
    );
    cfg.check()
        .assert_failure()
        .assert_stderr_contains("store.url")
        .assert_stderr_contains("`mysql` is not supported");
    write(&cfg.deployment(), &deployment);
    cfg.check().assert_success();
}

fn explain(jurisdiction: &str, kind: &str) -> common::Output {
    parley([
        "policy".as_ref(),
        "explain".as_ref(),
        "--jurisdiction".as_ref(),
        jurisdiction.as_ref(),
        "--kind".as_ref(),
        kind.as_ref(),
        "--config".as_ref(),
        demo_config().as_os_str(),
    ])
}

#[test]
fn policy_explain_prints_rule_ids() {
    explain("eng-wales", "social_visit")
        .assert_success()
        .assert_stdout_contains("Recorded: yes")
        .assert_stdout_contains("eng-wales/recording/social_visit");

    let legal = explain("fr-paris", "legal_visit");
    legal
        .assert_success()
        .assert_stdout_contains("Recorded: no")
        .assert_stdout_contains("Monitored: no")
        .assert_stdout_contains("core/privileged-never-recorded");

    let unknown = explain("atlantis", "social_visit");
    unknown.assert_failure().assert_stderr_contains("atlantis");
    for loaded in ["de-berlin", "demo", "eng-wales", "fr-paris"] {
        unknown.assert_stderr_contains(loaded);
    }

    let bad_kind = explain("eng-wales", "tea_party");
    bad_kind
        .assert_failure()
        .assert_stderr_contains("tea_party");
}

#[test]
fn up_refuses_bad_config() {
    let data = tempfile::TempDir::new().unwrap();
    let out = parley([
        "up".as_ref(),
        "--config".as_ref(),
        "/nonexistent.toml".as_ref(),
        "--http".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        data.path().as_os_str(),
    ]);
    out.assert_failure()
        .assert_stderr_contains("/nonexistent.toml");
    assert!(!out.stdout.contains("Parley is running"), "{}", out.stdout);
    assert!(
        !data.path().join("parley.db").exists(),
        "a refused start must not create the database"
    );
}
