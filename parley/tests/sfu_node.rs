//! `parley sfu` as its own process, and `parley up` using it over its
//! control API: the real binaries on 127.0.0.1.

mod common;

use common::{Output, Server, config_check, config_dir, parley, write_in};
use std::path::{Path, PathBuf};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A node file for a fresh SFU on 127.0.0.1 using `key_file`.
fn node_file(dir: &Path, key_file: &Path) -> PathBuf {
    write_in(
        dir,
        "sfu.toml",
        &format!(
            "[control]\nlisten = \"127.0.0.1:0\"\n[tokens]\nkey_file = \"{}\"\n[media]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n",
            key_file.display()
        ),
    )
}

/// A deployment file like the demo's, whose SFU is `remote`.
fn deployment_with_remote(dir: &Path, remote: &str) -> PathBuf {
    write_in(
        dir,
        "parley.toml",
        &format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[policy]\njurisdictions_dir = \"{}\"\n[sfu]\nremote = \"{remote}\"\n",
            config_dir().join("jurisdictions").display()
        ),
    )
}

/// Whether a `parley` command succeeded, and what it wrote to stderr.
fn outcome(out: Output) -> (bool, String) {
    (out.status.success(), out.stderr)
}

/// Runs `parley ARGS`: whether it succeeded, and what it wrote to stderr.
fn run(args: &[&std::ffi::OsStr]) -> (bool, String) {
    outcome(parley(args))
}

#[test]
fn signaling_drives_a_standalone_sfu() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Signaling first: it creates the join-token key the SFU node shares.
    let sfu_dir = tempfile::tempdir().unwrap();
    let key = data.join("join-token.key");
    // A first start of signaling makes the key; then the node starts with
    // it, and signaling starts again using the node.
    drop(Server::start(&data));
    let node = Server::start_sfu(&node_file(sfu_dir.path(), &key), sfu_dir.path());
    assert!(
        node.stdout().contains("Media (UDP):   127.0.0.1:"),
        "{}",
        node.stdout()
    );
    let up = Server::start_up(&deployment_with_remote(dir.path(), &node.url), &data);
    assert!(
        up.stdout().contains(&format!("SFU at {}", node.url)),
        "{}",
        up.stdout()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let health = http.get(format!("{}/healthz", node.url)).send().await.unwrap();
        assert_eq!(health.status(), 200);
        // The control API wants the secret derived from the shared key.
        let refused = http
            .put(format!("{}/v1/rooms/1", node.url))
            .json(&serde_json::json!({"privileged": false, "recorded": false, "monitoring_allowed": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let key = hex::decode(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
        let opened = http
            .put(format!("{}/v1/rooms/1", node.url))
            .bearer_auth(parley_grants::control_secret(&key))
            .json(&serde_json::json!({"privileged": false, "recorded": false, "monitoring_allowed": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 204);
        let metrics = http
            .get(format!("{}/metrics", node.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("parley_sfu_worker_rooms{worker=\"0\"} 1"), "{metrics}");
        // Signaling answers as usual with its SFU elsewhere.
        let signaling = http.get(format!("{}/healthz", up.url)).send().await.unwrap();
        assert_eq!(signaling.status(), 200);
    });
}

#[test]
fn a_bad_node_or_sfu_section_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = node_file(dir.path(), &dir.path().join("no-such.key"));
    let (ok, err) = run(&["sfu".as_ref(), "--config".as_ref(), missing.as_os_str()]);
    assert!(!ok);
    assert!(
        err.contains("no-such.key") && err.contains("copy join-token.key"),
        "{err}"
    );

    let bad_key = dir.path().join("bad.key");
    write(&bad_key, "not hex");
    let file = node_file(dir.path(), &bad_key);
    let (ok, err) = run(&["sfu".as_ref(), "--config".as_ref(), file.as_os_str()]);
    assert!(!ok);
    assert!(err.contains("is not a join-token key"), "{err}");

    let both = write_in(
        dir.path(),
        "both.toml",
        &format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[policy]\njurisdictions_dir = \"{}\"\n[sfu]\nlisten = \"127.0.0.1:0\"\nremote = \"http://127.0.0.1:1\"\n",
            config_dir().join("jurisdictions").display()
        ),
    );
    let (ok, err) = outcome(config_check(&both));
    assert!(!ok);
    assert!(err.contains("not both"), "{err}");
    let not_url = deployment_with_remote(dir.path(), "10.0.0.5:7801");
    let (ok, err) = outcome(config_check(&not_url));
    assert!(!ok);
    assert!(err.contains("http://"), "{err}");
}
