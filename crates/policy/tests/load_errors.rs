//! Every validation rule of the loader refuses bad input with the right line,
//! key and message.

mod common;

use common::{BASE, edit, line_of};
use parley_policy::{ConfigError, RecordingRule, SessionKind, VisitingHours, load_str};

/// Loads `text`, expecting an error.
fn refused(text: &str) -> ConfigError {
    match load_str(text, "config/jurisdictions/test.toml") {
        Ok(j) => panic!("expected an error, loaded {}", j.id),
        Err(e) => e,
    }
}

/// Asserts `text` is refused with an error on the line where `needle` is,
/// naming `key`, whose message contains every one of `words`.
fn check_refused(text: &str, needle: &str, key: &str, words: &[&str]) {
    let e = &refused(text);
    assert_eq!(e.line, line_of(text, needle), "line of {e}");
    assert_eq!(e.key.as_deref(), Some(key), "key of {e}");
    for w in words {
        assert!(e.message.contains(w), "{w:?} not in {e}");
    }
    let shown = e.to_string();
    assert!(shown.contains("config/jurisdictions/test.toml"), "{shown}");
    assert!(shown.contains(&format!(":{}:", e.line)), "{shown}");
    assert!(shown.contains(key), "{shown}");
}

#[test]
fn base_fixture_loads() {
    let j = load_str(BASE, "base.toml").unwrap();
    assert_eq!(j.id, "test-land");
    assert_eq!(
        j.recording_rule(SessionKind::SocialVisit),
        RecordingRule::Consent
    );
    assert_eq!(j.visits.visiting_hours.as_hh_mm(), ["08:30", "19:00"]);
}

#[test]
fn fair_use_is_off_without_its_table_and_read_with_defaults() {
    use parley_policy::{FairUse, FairUseMode};
    assert_eq!(
        load_str(BASE, "base.toml").unwrap().fair_use,
        FairUse::default()
    );
    let j = load_str(
        &format!("{BASE}\n[fair_use]\nmode = \"pause_clock\"\n"),
        "base.toml",
    )
    .unwrap();
    assert_eq!(
        j.fair_use,
        FairUse {
            mode: FairUseMode::PauseClock,
            cap_minutes: 10,
            min_outage_seconds: 20
        }
    );
}

#[test]
fn e2ee_is_offered_without_its_table_and_read_from_it() {
    use parley_policy::E2eeMode;
    assert_eq!(load_str(BASE, "base.toml").unwrap().e2ee, E2eeMode::Offered);
    for (text, mode) in [
        ("off", E2eeMode::Off),
        ("offered", E2eeMode::Offered),
        ("required", E2eeMode::Required),
    ] {
        let file = format!("{BASE}\n[e2ee]\nprivileged = \"{text}\"\n");
        assert_eq!(load_str(&file, "base.toml").unwrap().e2ee, mode);
    }
}

#[test]
fn syntax_error_names_line() {
    let text = edit("name = \"Test Land\"", "name = \"Test Land");
    let e = refused(&text);
    assert_eq!(e.line, 2, "{e}");
    assert!(
        e.to_string().contains("config/jurisdictions/test.toml:2:"),
        "{e}"
    );
}

#[test]
fn duplicate_table_is_refused() {
    let text = edit("[visits]", "[announcements]\nde = \"x\"\n\n[visits]");
    let e = refused(&text);
    assert!(e.line > 0);
    assert!(e.message.contains("duplicate"), "{e}");
}

/// One test per row: `name: the base fixture edited => the line (by a
/// needle on it), key and words of the error that refuses it`.
macro_rules! refused_edits {
    ($($name:ident: $text:expr => $needle:expr, $key:expr, $words:expr;)*) => {$(
        #[test]
        fn $name() {
            let text = $text;
            check_refused(&text, $needle, $key, $words);
        }
    )*};
}

refused_edits! {
    fair_use_mode_unknown: format!("{BASE}\n[fair_use]\nmode = \"rebook\"\n")
        => "mode = ", "fair_use.mode", &["\"off\", \"pause_clock\" or \"credit\"", "rebook"];

    fair_use_cap_too_long: format!("{BASE}\n[fair_use]\nmode = \"pause_clock\"\ncap_minutes = 90\n")
        => "cap_minutes", "fair_use.cap_minutes", &["between 1 and 60 minutes", "90"];

    e2ee_mode_unknown: format!("{BASE}\n[e2ee]\nprivileged = \"always\"\n")
        => "privileged = ", "e2ee.privileged", &["\"off\", \"offered\" or \"required\"", "always"];

    e2ee_unknown_key: format!("{BASE}\n[e2ee]\nprivileged = \"off\"\nkiosks = \"required\"\n")
        => "kiosks", "e2ee.kiosks", &["unknown key"];

    fair_use_unknown_key: format!("{BASE}\n[fair_use]\nmode = \"off\"\ncredit = true\n")
        => "credit", "fair_use.credit", &["unknown key"];

    unknown_top_level_key: edit(
        "name = \"Test Land\"",
        "name = \"Test Land\"\ncolour = \"blue\"",
    ) => "colour", "colour", &["unknown key", "colour"];

    unknown_nested_key: edit("weekly_quota = 3", "weekly_quota = 3\nmonthly_quota = 9")
        => "monthly_quota", "visits.monthly_quota", &["unknown key", "monthly_quota", "weekly_quota"];

    unknown_kind_in_recording: edit("[recording]", "[recording]\nsocial_call = \"forbidden\"")
        => "social_call", "recording.social_call", &["unknown key"];

    wrong_type: edit("weekly_quota = 3", "weekly_quota = \"3\"")
        => "weekly_quota", "visits.weekly_quota", &["invalid type"];

    negative_number: edit("max_visitors = 3", "max_visitors = -1")
        => "max_visitors", "visits.max_visitors", &["-1"];

    unknown_recording_value: edit("social_visit = \"consent\"", "social_visit = \"sometimes\"")
        => "sometimes", "recording.social_visit", &["sometimes", "required", "consent", "forbidden"];

    missing_nested_key: edit("weekly_quota = 3\n", "")
        => "[visits]", "visits.weekly_quota", &["missing", "weekly_quota"];

    missing_recording_kind: edit(
        "consultation = \"forbidden\"\n\n[monitoring]",
        "\n[monitoring]",
    ) => "[recording]", "recording.consultation", &["missing", "consultation"];

    privileged_monitoring_must_be_forbidden: edit(
        "social_visit = \"allowed\"\nlegal_visit = \"forbidden\"",
        "social_visit = \"allowed\"\nlegal_visit = \"allowed\"",
    ) => "legal_visit = \"allowed\"", "monitoring.legal_visit", &["legal_visit is privileged: its monitoring can only be \"forbidden\" (got \"allowed\")"];

    unknown_time_zone: edit("\"Europe/Paris\"", "\"Europe/Pariss\"")
        => "time_zone", "time_zone", &["unknown time zone", "Europe/Pariss"];

    languages_empty: edit("languages = [\"fr\", \"en\"]", "languages = []")
        => "languages", "languages", &["at least one"];

    languages_duplicated: edit(
        "languages = [\"fr\", \"en\"]",
        "languages = [\"fr\", \"en\", \"fr\"]",
    ) => "languages", "languages", &["\"fr\" is listed twice"];

    language_not_a_code: edit("languages = [\"fr\", \"en\"]", "languages = [\"fr\", \"en_GB\"]")
        => "languages", "languages", &["en_GB", "not a language code"];

    announcement_missing_for_language: edit("en = \"This session may be recorded.\"\n", "")
        => "[announcements]", "announcements.en", &["no announcement", "\"en\""];

    announcement_for_unlisted_language: edit(
        "[announcements]",
        "[announcements]\nde = \"Diese Sitzung kann aufgezeichnet werden.\"",
    ) => "de = ", "announcements.de", &["\"de\" is not in languages"];

    announcement_empty: edit("en = \"This session may be recorded.\"", "en = \"  \"")
        => "en = \"  \"", "announcements.en", &["empty"];

    warnings_not_descending: edit("warning_minutes = [5, 1]", "warning_minutes = [1, 5]")
        => "warning_minutes", "warning_minutes", &["strictly descending"];

    warnings_repeated: edit("warning_minutes = [5, 1]", "warning_minutes = [5, 5]")
        => "warning_minutes", "warning_minutes", &["strictly descending"];

    warnings_empty: edit("warning_minutes = [5, 1]", "warning_minutes = []")
        => "warning_minutes", "warning_minutes", &["at least one"];

    visiting_hours_wrong_count: edit("[\"08:30\", \"19:00\"]", "[\"08:30\"]")
        => "visiting_hours", "visits.visiting_hours", &["two local times", "got 1"];

    retention_missing_for_recordable_kind: edit("social_visit = 30\n", "")
        => "[retention_days]", "retention_days.social_visit", &["recording.social_visit is \"consent\"", "how many days"];

    retention_table_missing_entirely: edit(
        "[retention_days]\nsocial_visit = 30\ncourt_hearing = 3650\n",
        "",
    ) => "social_visit = \"consent\"", "retention_days.social_visit", &["retention_days.social_visit must say"];

    retention_for_forbidden_kind: edit(
        "court_hearing = 3650",
        "court_hearing = 3650\nlegal_visit = 10",
    ) => "legal_visit = 10", "retention_days.legal_visit", &["\"forbidden\"", "remove retention_days.legal_visit"];

    empty_name: edit("name = \"Test Land\"", "name = \"\"")
        => "name = ", "name", &["must not be empty"];
}

#[test]
fn missing_top_level_key() {
    let text = edit("name = \"Test Land\"\n", "");
    let e = refused(&text);
    assert_eq!(e.key.as_deref(), Some("name"), "{e}");
    assert!(e.line >= 1);
    assert!(e.message.contains("missing"), "{e}");
}

#[test]
fn privileged_recording_must_be_forbidden() {
    let text = edit("legal_visit = \"forbidden\"", "legal_visit = \"required\"");
    check_refused(
        &text,
        "legal_visit = \"required\"",
        "recording.legal_visit",
        &["legal_visit is privileged: its recording can only be \"forbidden\" (got \"required\")"],
    );
    let text = edit("consultation = \"forbidden\"", "consultation = \"consent\"");
    check_refused(
        &text,
        "consultation = \"consent\"",
        "recording.consultation",
        &["consultation is privileged", "got \"consent\""],
    );
}

#[test]
fn warnings_zero_or_too_long() {
    for bad in ["[5, 0]", "[241, 1]"] {
        let text = edit(
            "warning_minutes = [5, 1]",
            &format!("warning_minutes = {bad}"),
        );
        check_refused(
            &text,
            "warning_minutes",
            "warning_minutes",
            &["between 1 and 240"],
        );
    }
}

/// Replaces a `[visits]` number and checks the refusal names it.
fn visit_number(key: &str, from: &str, to: &str, words: &[&str]) {
    let text = edit(&format!("{key} = {from}"), &format!("{key} = {to}"));
    check_refused(
        &text,
        &format!("{key} = {to}"),
        &format!("visits.{key}"),
        words,
    );
}

#[test]
fn visit_numbers_out_of_range() {
    visit_number(
        "early_join_minutes",
        "10",
        "121",
        &["between 0 and 120", "got 121"],
    );
    visit_number(
        "min_length_minutes",
        "15",
        "0",
        &["between 1 and 480", "got 0"],
    );
    visit_number(
        "max_length_minutes",
        "60",
        "481",
        &["between 1 and 480", "got 481"],
    );
    visit_number(
        "booking_lead_hours",
        "24",
        "1441",
        &["between 0 and 1440", "got 1441"],
    );
    visit_number("weekly_quota", "3", "0", &["between 1 and 100", "got 0"]);
    visit_number(
        "weekly_quota",
        "3",
        "101",
        &["between 1 and 100", "got 101"],
    );
    visit_number("max_visitors", "3", "0", &["between 1 and 20", "got 0"]);
    visit_number("max_visitors", "3", "21", &["between 1 and 20", "got 21"]);
}

#[test]
fn min_length_above_max() {
    visit_number(
        "min_length_minutes",
        "15",
        "90",
        &["(90) must not exceed max_length_minutes (60)"],
    );
}

#[test]
fn visiting_hours_not_hh_mm() {
    for bad in ["8:30", "08h30", "24:00", "08:60"] {
        let text = edit("[\"08:30\", \"19:00\"]", &format!("[\"{bad}\", \"19:00\"]"));
        check_refused(
            &text,
            "visiting_hours",
            "visits.visiting_hours",
            &[bad, "HH:MM"],
        );
    }
}

#[test]
fn visiting_hours_closing_not_after_opening() {
    for bad in ["[\"19:00\", \"08:30\"]", "[\"08:30\", \"08:30\"]"] {
        let text = edit("[\"08:30\", \"19:00\"]", bad);
        check_refused(
            &text,
            "visiting_hours",
            "visits.visiting_hours",
            &["must be after the opening time"],
        );
    }
}

#[test]
fn visiting_hours_around_the_clock_only_from_midnight_to_midnight() {
    let text = edit("[\"08:30\", \"19:00\"]", "[\"00:00\", \"24:00\"]");
    let j = load_str(&text, "test.toml").unwrap();
    assert_eq!(j.visits.visiting_hours, VisitingHours::AroundTheClock);
    assert_eq!(j.visits.visiting_hours.as_hh_mm(), ["00:00", "24:00"]);
    let text = edit("[\"08:30\", \"19:00\"]", "[\"08:30\", \"24:00\"]");
    check_refused(
        &text,
        "visiting_hours",
        "visits.visiting_hours",
        &[
            "around the clock",
            "needs opening at 00:00",
            "got 08:30",
            "\"23:59\"",
        ],
    );
}

#[test]
fn retention_out_of_range() {
    for bad in ["0", "36501"] {
        let text = edit("court_hearing = 3650", &format!("court_hearing = {bad}"));
        check_refused(
            &text,
            &format!("court_hearing = {bad}"),
            "retention_days.court_hearing",
            &["between 1 and 36500", bad],
        );
    }
}

#[test]
fn bad_ids() {
    for bad in ["Fr_Paris", "", "fr paris", "fr/paris"] {
        let text = edit("id = \"test-land\"", &format!("id = \"{bad}\""));
        check_refused(
            &text,
            "id = ",
            "id",
            &["lowercase letters, digits and hyphens"],
        );
    }
}

#[test]
fn dotted_keys_are_located_too() {
    let text = edit(
        "[recording]\nsocial_visit = \"consent\"\nlegal_visit = \"forbidden\"",
        "[recording]\nsocial_visit = \"consent\"\nlegal_visit = \"forbidden\"\nextra.thing = 1",
    );
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "extra.thing"), "{e}");
    assert_eq!(e.key.as_deref(), Some("recording.extra"), "{e}");
}
