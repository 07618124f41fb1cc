//! The services never depend on each other: signaling, the SFU and the
//! recorder share only the libraries under `crates/`, and only the `parley`
//! binary composes them. Read from each package's own `Cargo.toml`, so a
//! dependency added by hand fails here before anyone imports it.
//!
//! Tests of a service may compose it with the others (dev-dependencies), as
//! the binary does; its library code cannot reach them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The service crates, by package name.
const SERVICES: [&str; 3] = ["parley-signaling", "parley-sfu", "parley-recorder"];
/// The binary that composes the services.
const COMPOSER: &str = "parley";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every workspace member's package name and normal (non-dev) dependency
/// names, from its manifest.
fn members() -> BTreeMap<String, Vec<String>> {
    let read = |path: &Path| -> toml::Table {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        text.parse()
            .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
    };
    let workspace = read(&root().join("Cargo.toml"));
    let paths = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list");
    let mut found = BTreeMap::new();
    for member in paths {
        let dir = root().join(member.as_str().expect("a member is a path"));
        let manifest = read(&dir.join("Cargo.toml"));
        let name = manifest["package"]["name"]
            .as_str()
            .expect("package.name")
            .to_string();
        let mut deps: Vec<String> = Vec::new();
        for table in ["dependencies", "build-dependencies"] {
            if let Some(t) = manifest.get(table).and_then(|t| t.as_table()) {
                deps.extend(t.keys().cloned());
            }
        }
        found.insert(name, deps);
    }
    found
}

#[test]
fn no_service_depends_on_another_and_no_library_on_a_service() {
    let members = members();
    for service in SERVICES {
        assert!(
            members.contains_key(service),
            "{service} is not a workspace member any more; update this test"
        );
    }
    let mut wrong = Vec::new();
    for (package, deps) in &members {
        if package == COMPOSER || package == "loadtest" {
            // The binary and the load harness start the services.
            continue;
        }
        for dep in deps {
            if SERVICES.contains(&dep.as_str()) || dep == COMPOSER {
                wrong.push(format!("{package} depends on {dep}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "services share only libraries under crates/ (the media plane's vocabulary is parley-control, the recorder's wire parley-recorder-link): {wrong:?}"
    );
}

#[test]
fn signaling_speaks_to_the_media_plane_only_through_the_control_vocabulary() {
    let members = members();
    let signaling = &members["parley-signaling"];
    assert!(
        signaling.iter().any(|d| d == "parley-control"),
        "{signaling:?}"
    );
    // Neither the recorder's wire nor its QUIC and codec stack: the media
    // plane records.
    for banned in ["parley-recorder-link", "quinn", "opus"] {
        assert!(
            !signaling.iter().any(|d| d == banned),
            "signaling depends on {banned}"
        );
    }
}
