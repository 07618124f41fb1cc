//! `parley up` with its data on a small tmpfs: a full disk, then a
//! read-only one. Writes are refused with a clear error (503
//! `storage_unavailable`) and change nothing; reads go on; once space is
//! free, writes succeed again, and the audit chain verifies. Started on a
//! read-only data directory, `parley up` stops at once and says why. On
//! an ext4 image that the kernel turns read-only while it runs (as a
//! failing disk does), writes are refused the same way and, after a repair,
//! nothing accepted is lost.
//!
//! Mounting needs root, as the weak-link test's namespaces do; the test
//! command runs as root. Without it the test fails, naming why.

mod common;
#[path = "common/tmpfs.rs"]
mod tmpfs;

use common::{Server, audit_verify};
use serde_json::json;
use std::process::Command;
use tmpfs::{Ext4Image, Tmpfs, fill};

async fn facility(server: &Server, name: &str) -> (u16, serde_json::Value) {
    server
        .api()
        .post(
            "/v1/facilities",
            &json!({"name": name, "kind": "prison", "jurisdiction": "demo"}),
        )
        .await
}

async fn facilities(server: &Server) -> usize {
    server
        .api()
        .get_ok("/v1/facilities")
        .await
        .as_array()
        .map_or(0, Vec::len)
}

/// Creating a facility named each of `names` is refused: 503
/// `storage_unavailable`, with a message naming `cause` and saying nothing
/// was changed.
async fn refused_for_storage(server: &Server, names: [&str; 2], cause: &str) {
    for name in names {
        let (status, body) = facility(server, name).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "storage_unavailable", "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(cause) && m.contains("nothing was changed")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_full_or_read_only_disk_refuses_writes_clearly_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "size=2m");
    let data = disk.0.join("data");
    let server = Server::start(&data);
    assert_eq!(facility(&server, "Before").await.0, 201);
    let before = facilities(&server).await;

    // Full: a clear refusal, nothing written, reads unharmed.
    let filler = fill(&disk.0);
    refused_for_storage(&server, ["While full", "Still full"], "disk is full").await;
    assert_eq!(facilities(&server).await, before);

    // Space again: writes succeed with no restart.
    std::fs::remove_file(&filler).expect("filler removed");
    assert_eq!(facility(&server, "After").await.0, 201);
    assert_eq!(facilities(&server).await, before + 1);
    let _ = server.kill9();
    audit_verify(&data)
        .assert_success()
        .assert_stdout_contains("intact");

    // Read-only: `parley up` stops at once, naming the directory.
    disk.remount("ro");
    let out = Command::new(common::BIN)
        .args(["up", "--config"])
        .arg(common::demo_config())
        .args(["--http", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .expect("parley runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started on a read-only disk");
    assert!(
        stderr.contains("cannot write in the data directory")
            && stderr.contains(&data.display().to_string())
            && stderr.contains("Read-only file system"),
        "{stderr}"
    );

    // Writable again: everything accepted is there.
    disk.remount("rw");
    let server = Server::start(&data);
    let listed = server.api().get_ok("/v1/facilities").await;
    assert_eq!(facilities(&server).await, before + 1, "{listed}");
}

/// A disk that fails while `parley up` runs: the kernel turns its ext4 file
/// system read-only under the open database. Writes are refused with a
/// clear error and change nothing, reads go on; after the operator repairs
/// the file system, the audit chain verifies and everything accepted is
/// there.
#[tokio::test]
async fn a_data_directory_that_turns_read_only_while_running_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = Ext4Image::mount(&dir.path().join("disk.img"), &dir.path().join("disk"), 32);
    let data = disk.dir.join("data");
    let server = Server::start(&data);
    for name in ["One", "Two"] {
        assert_eq!(facility(&server, name).await.0, 201);
    }
    let before = facilities(&server).await;

    disk.fail();
    refused_for_storage(&server, ["While read-only", "Still read-only"], "read-only").await;
    assert_eq!(facilities(&server).await, before, "reads go on");
    let _ = server.kill9();

    disk.repair();
    audit_verify(&data)
        .assert_success()
        .assert_stdout_contains("intact");
    let server = Server::start(&data);
    assert_eq!(facilities(&server).await, before);
    assert_eq!(facility(&server, "After").await.0, 201);
}
