//! Builds the vendored libopus (floating point, no DNN features) with the
//! `cc` crate: no CMake, no pkg-config, nothing beyond the C compiler every
//! Rust toolchain on Linux already links with.
//!
//! The source lists come from libopus's own `*_sources.mk` files, so a
//! refreshed tree (see `refresh.sh`) builds without editing this file.
//! Platform SIMD variants (celt/x86, silk/x86, arm) are left out: the same
//! code paths in portable C, identical bitstream, a little slower. Parley
//! only encodes short announcements once at start, so speed does not matter
//! here and one build works on every target.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

const ROOT: &str = "opus";

/// The `NAME = a.c b.c …` lists of a libopus `.mk` file.
fn source_lists(mk: &str) -> HashMap<String, Vec<String>> {
    let mut lists = HashMap::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in mk.lines() {
        let line = line.trim();
        if let Some((name, rest)) = line.split_once('=') {
            if let Some((n, files)) = current.take() {
                lists.insert(n, files);
            }
            let files = rest
                .split_whitespace()
                .filter(|w| *w != "\\")
                .map(str::to_owned)
                .collect();
            current = Some((name.trim().to_owned(), files));
        } else if let Some((_, files)) = current.as_mut() {
            files.extend(
                line.split_whitespace()
                    .filter(|w| *w != "\\")
                    .map(str::to_owned),
            );
        }
    }
    if let Some((n, files)) = current {
        lists.insert(n, files);
    }
    lists
}

fn main() {
    let root = Path::new(ROOT);
    let mut lists = HashMap::new();
    for mk in ["celt_sources.mk", "silk_sources.mk", "opus_sources.mk"] {
        let path = root.join(mk);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        lists.extend(source_lists(&text));
    }
    let version = fs::read_to_string(root.join("package_version"))
        .ok()
        .and_then(|v| {
            v.trim()
                .strip_prefix("PACKAGE_VERSION=")
                .map(|s| s.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".into());

    let mut build = cc::Build::new();
    for list in [
        "CELT_SOURCES",
        "SILK_SOURCES",
        "SILK_SOURCES_FLOAT",
        "OPUS_SOURCES",
        "OPUS_SOURCES_FLOAT",
    ] {
        let files = lists
            .get(list)
            .unwrap_or_else(|| panic!("{list} is missing from the libopus .mk files"));
        for file in files {
            build.file(root.join(file));
        }
    }
    build
        .include(root.join("include"))
        .include(root.join("celt"))
        .include(root.join("silk"))
        .include(root.join("silk/float"))
        .include(root)
        .define("OPUS_BUILD", None)
        .define("VAR_ARRAYS", None)
        .define("HAVE_LRINT", None)
        .define("HAVE_LRINTF", None)
        .define("ENABLE_HARDENING", None)
        .define("PACKAGE_VERSION", format!("\"{version}\"").as_str())
        // libopus is always built optimised, as its CMake build does: a
        // debug build of Parley still encodes at a useful speed.
        .opt_level(2)
        .warnings(false)
        .compile("opus");
}
