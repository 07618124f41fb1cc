//! Loading real files: the shipped jurisdictions, single files and directories.

mod common;

use std::path::{Path, PathBuf};

use parley_policy::{MonitoringRule, RecordingRule, SessionKind, load_dir, load_file};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/jurisdictions")
}

/// A fresh empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parley-policy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_shipped_jurisdiction_loads() {
    let dir = shipped_dir();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            let j = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            for kind in SessionKind::ALL.into_iter().filter(|k| k.is_privileged()) {
                assert_eq!(j.recording_rule(kind), RecordingRule::Forbidden);
                assert_eq!(j.monitoring_rule(kind), MonitoringRule::Forbidden);
            }
            count += 1;
        }
    }
    assert!(
        count >= 4,
        "expected at least four shipped jurisdictions, found {count}"
    );
    let all = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), count);
    for id in ["fr-paris", "eng-wales", "de-berlin", "demo"] {
        assert!(all.get(id).is_some(), "{id} missing from {:?}", all.ids());
    }
}

#[test]
fn shipped_values_are_as_documented() {
    let all = load_dir(&shipped_dir()).unwrap();
    let fr = all.get("fr-paris").unwrap();
    assert_eq!(fr.languages, ["fr", "en"]);
    assert_eq!(
        fr.recording_rule(SessionKind::SocialVisit),
        RecordingRule::Forbidden
    );
    assert_eq!(
        fr.monitoring_rule(SessionKind::SocialVisit),
        MonitoringRule::Allowed
    );
    assert_eq!(
        fr.retention_days.get(&SessionKind::CourtHearing),
        Some(&3650)
    );
    assert_eq!(fr.visits.weekly_quota, 3);

    let ew = all.get("eng-wales").unwrap();
    assert_eq!(
        ew.recording_rule(SessionKind::SocialVisit),
        RecordingRule::Required
    );
    assert_eq!(ew.retention_days.get(&SessionKind::SocialVisit), Some(&90));
    assert_eq!(
        ew.retention_days.get(&SessionKind::CourtHearing),
        Some(&2555)
    );
    assert_eq!(
        (
            ew.visits.weekly_quota,
            ew.visits.booking_lead_hours,
            ew.visits.max_length_minutes
        ),
        (2, 48, 45)
    );

    let de = all.get("de-berlin").unwrap();
    assert_eq!(
        de.recording_rule(SessionKind::SocialVisit),
        RecordingRule::Consent
    );
    assert_eq!(
        de.monitoring_rule(SessionKind::SocialVisit),
        MonitoringRule::Forbidden
    );
    assert_eq!(de.warning_minutes, [10, 5, 1]);

    let demo = all.get("demo").unwrap();
    assert_eq!(demo.time_zone, chrono_tz::Europe::London);
    assert_eq!(demo.visits.booking_lead_hours, 0);
    assert_eq!(demo.languages, ["en", "fr"]);
}

#[test]
fn unreadable_file_is_line_zero() {
    let dir = scratch("missing");
    let path = dir.join("nope.toml");
    let e = load_file(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.line, 0);
    assert!(e.to_string().contains("nope.toml"), "{e}");
    assert!(e.message.contains("cannot read"), "{e}");
}

#[test]
fn empty_directory_is_an_error() {
    let dir = scratch("empty");
    std::fs::write(dir.join("README.md"), "not a jurisdiction").unwrap();
    let e = load_dir(&dir).unwrap_err();
    assert!(e.message.contains("no jurisdiction files"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_directory_is_an_error() {
    let dir = scratch("gone");
    let e = load_dir(&dir.join("absent")).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.message.contains("cannot list"), "{e}");
}

#[test]
fn duplicate_ids_name_both_files() {
    let dir = scratch("dup");
    std::fs::write(dir.join("a.toml"), common::BASE).unwrap();
    std::fs::write(dir.join("b.toml"), common::BASE).unwrap();
    let e = load_dir(&dir).unwrap_err();
    assert!(e.file.ends_with("b.toml"), "{e}");
    assert!(e.message.contains("a.toml"), "{e}");
    assert!(e.message.contains("test-land"), "{e}");
    assert_eq!(e.key.as_deref(), Some("id"));
    assert_eq!(e.line, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directory_loads_only_toml_files_and_reports_bad_ones() {
    let dir = scratch("mixed");
    std::fs::write(dir.join("one.toml"), common::BASE).unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    std::fs::write(
        dir.join("two.toml"),
        common::BASE.replace("test-land", "other-land"),
    )
    .unwrap();
    let all = load_dir(&dir).unwrap();
    assert_eq!(all.ids(), ["other-land", "test-land"]);
    assert_eq!(all.iter().count(), 2);
    assert!(!all.is_empty());

    std::fs::write(
        dir.join("three.toml"),
        common::BASE.replace("weekly_quota = 3", "weekly_quota = 0"),
    )
    .unwrap();
    let e = load_dir(&dir).unwrap_err();
    assert!(e.file.ends_with("three.toml"), "{e}");
    assert_eq!(e.key.as_deref(), Some("visits.weekly_quota"));
    std::fs::remove_dir_all(&dir).unwrap();
}
