//! Checking a [`RawFile`] against the rules in `docs/configuration.md` and
//! turning it into a [`Jurisdiction`].
//!
//! The first problem found is reported, with the line and dotted key of the
//! value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use chrono::NaiveTime;
use toml::Spanned;

use crate::e2ee::E2eeMode;
use crate::error::ConfigError;
use crate::fair_use::{FairUse, FairUseMode, MAX_CAP_MINUTES, MAX_MIN_OUTAGE_SECONDS};
use crate::jurisdiction::{Jurisdiction, VisitRules, VisitingHours};
use crate::kinds::SessionKind;
use crate::position::line_column;
use crate::raw::{PerKind, PerKindOptional, RawE2ee, RawFairUse, RawFile, RawVisits};
use crate::rules::{MonitoringRule, RecordingRule};

/// Longest warning lead, in minutes.
pub(crate) const MAX_WARNING_MINUTES: u32 = 240;
/// Longest early join, in minutes.
pub(crate) const MAX_EARLY_JOIN_MINUTES: u32 = 120;
/// Longest visit, in minutes.
pub(crate) const MAX_VISIT_MINUTES: u32 = 480;
/// Longest booking lead, in hours (60 days).
pub(crate) const MAX_LEAD_HOURS: u32 = 24 * 60;
/// Longest leeway for a start "right now", seconds.
pub(crate) const MAX_NOW_LEEWAY_SECONDS: u32 = 600;
/// The leeway when the file gives none, seconds.
pub(crate) const DEFAULT_NOW_LEEWAY_SECONDS: u32 = 60;
/// Highest weekly quota.
pub(crate) const MAX_WEEKLY_QUOTA: u32 = 100;
/// Most visitors per visit.
pub(crate) const MAX_VISITORS: u32 = 20;
/// Longest retention, in days (about 100 years).
pub(crate) const MAX_RETENTION_DAYS: u32 = 36500;

/// The text being validated and the name to report it under.
pub(crate) struct Source<'a> {
    pub text: &'a str,
    pub file: &'a str,
}

impl Source<'_> {
    /// An error at byte `span.start`, about `key`.
    pub(crate) fn error(&self, span: Range<usize>, key: &str, message: String) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            key: Some(key.to_owned()),
            message,
        }
    }
}

/// Validates `raw`, read from `src`.
pub(crate) fn validate(raw: RawFile, src: &Source<'_>) -> Result<Jurisdiction, ConfigError> {
    let id = check_id(&raw.id, src)?;
    if raw.name.get_ref().trim().is_empty() {
        return Err(src.error(
            raw.name.span(),
            "name",
            "name must not be empty; give the jurisdiction a name people will recognise".into(),
        ));
    }
    let time_zone = check_time_zone(&raw.time_zone, src)?;
    let languages = check_languages(&raw.languages, src)?;
    let warning_minutes = check_warnings(&raw.warning_minutes, src)?;
    let recording = check_recording(&raw.recording, src)?;
    let monitoring = check_monitoring(&raw.monitoring, src)?;
    let retention_days = check_retention(raw.retention_days.as_ref(), &raw.recording, src)?;
    let announcements = check_announcements(&raw.announcements, &languages, src)?;
    let visits = check_visits(&raw.visits, src)?;
    let fair_use = check_fair_use(raw.fair_use.as_ref(), src)?;
    let e2ee = check_e2ee(raw.e2ee.as_ref(), src)?;
    Ok(Jurisdiction {
        id,
        name: raw.name.into_inner(),
        time_zone,
        languages,
        recording,
        monitoring,
        retention_days,
        announcements,
        warning_minutes,
        visits,
        fair_use,
        e2ee,
    })
}

/// `[e2ee]`: `privileged` is `off`, `offered` or `required` (`offered`
/// when the file has no `[e2ee]`).
fn check_e2ee(raw: Option<&Spanned<RawE2ee>>, src: &Source<'_>) -> Result<E2eeMode, ConfigError> {
    let Some(raw) = raw else {
        return Ok(E2eeMode::Offered);
    };
    let value = &raw.get_ref().privileged;
    match value.get_ref().as_str() {
        "off" => Ok(E2eeMode::Off),
        "offered" => Ok(E2eeMode::Offered),
        "required" => Ok(E2eeMode::Required),
        other => Err(src.error(
            value.span(),
            "e2ee.privileged",
            format!("e2ee.privileged must be \"off\", \"offered\" or \"required\" (got {other:?})"),
        )),
    }
}

/// `[fair_use]`: `mode` is `off`, `pause_clock` or `credit`; `cap_minutes` in
/// `1..=60` (default 10); `min_outage_seconds` in `0..=300` (default 20).
fn check_fair_use(
    raw: Option<&Spanned<RawFairUse>>,
    src: &Source<'_>,
) -> Result<FairUse, ConfigError> {
    let defaults = FairUse::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let f = raw.get_ref();
    let mode = match f.mode.get_ref().as_str() {
        "off" => FairUseMode::Off,
        "pause_clock" => FairUseMode::PauseClock,
        "credit" => FairUseMode::Credit,
        other => {
            return Err(src.error(
                f.mode.span(),
                "fair_use.mode",
                format!(
                    "fair_use.mode must be \"off\", \"pause_clock\" or \"credit\" (got {other:?})"
                ),
            ));
        }
    };
    Ok(FairUse {
        mode,
        cap_minutes: match &f.cap_minutes {
            Some(v) => in_range(
                v,
                "fair_use.cap_minutes",
                1,
                MAX_CAP_MINUTES,
                "minutes",
                src,
            )?,
            None => defaults.cap_minutes,
        },
        min_outage_seconds: match &f.min_outage_seconds {
            Some(v) => in_range(
                v,
                "fair_use.min_outage_seconds",
                0,
                MAX_MIN_OUTAGE_SECONDS,
                "seconds",
                src,
            )?,
            None => defaults.min_outage_seconds,
        },
    })
}

fn check_id(id: &Spanned<String>, src: &Source<'_>) -> Result<String, ConfigError> {
    let text = id.get_ref();
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(text.clone())
    } else {
        Err(src.error(
            id.span(),
            "id",
            format!(
                "id must be one or more lowercase letters, digits and hyphens, like \"fr-paris\" (got {text:?})"
            ),
        ))
    }
}

fn check_time_zone(tz: &Spanned<String>, src: &Source<'_>) -> Result<chrono_tz::Tz, ConfigError> {
    tz.get_ref().parse::<chrono_tz::Tz>().map_err(|_| {
        src.error(
            tz.span(),
            "time_zone",
            format!(
                "unknown time zone {:?}; use an IANA zone name such as \"Europe/Paris\" or \"Europe/London\"",
                tz.get_ref()
            ),
        )
    })
}

/// True for a BCP-47-ish tag: 2–8 letters, then optional `-` subtags of 1–8 letters or digits.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn check_languages(
    langs: &Spanned<Vec<Spanned<String>>>,
    src: &Source<'_>,
) -> Result<Vec<String>, ConfigError> {
    if langs.get_ref().is_empty() {
        return Err(src.error(
            langs.span(),
            "languages",
            "languages must list at least one language code, e.g. [\"en\"]; the first is the default"
                .into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for lang in langs.get_ref() {
        let code = lang.get_ref();
        if !is_language_tag(code) {
            return Err(src.error(
                lang.span(),
                "languages",
                format!(
                    "{code:?} is not a language code; use a BCP 47 tag such as \"en\" or \"en-GB\""
                ),
            ));
        }
        if !seen.insert(code.as_str()) {
            return Err(src.error(
                lang.span(),
                "languages",
                format!("language {code:?} is listed twice; list each language once"),
            ));
        }
    }
    Ok(langs
        .get_ref()
        .iter()
        .map(|l| l.get_ref().clone())
        .collect())
}

fn check_warnings(
    warnings: &Spanned<Vec<Spanned<u32>>>,
    src: &Source<'_>,
) -> Result<Vec<u32>, ConfigError> {
    const KEY: &str = "warning_minutes";
    if warnings.get_ref().is_empty() {
        return Err(src.error(
            warnings.span(),
            KEY,
            "warning_minutes must list at least one warning, e.g. [5, 1]; sessions never end without warning"
                .into(),
        ));
    }
    let mut previous: Option<u32> = None;
    for w in warnings.get_ref() {
        let m = *w.get_ref();
        if m == 0 || m > MAX_WARNING_MINUTES {
            return Err(src.error(
                w.span(),
                KEY,
                format!("each warning must be between 1 and {MAX_WARNING_MINUTES} minutes before the end (got {m})"),
            ));
        }
        if previous.is_some_and(|p| m >= p) {
            return Err(src.error(
                w.span(),
                KEY,
                format!(
                    "warning_minutes must be strictly descending with no repeats, e.g. [5, 1]; {m} comes after {}",
                    previous.unwrap_or_default()
                ),
            ));
        }
        previous = Some(m);
    }
    Ok(warnings.get_ref().iter().map(|w| *w.get_ref()).collect())
}

/// The four entries of a per-kind table, paired with their kinds.
fn entries<T>(t: &PerKind<T>) -> [(SessionKind, &T); 4] {
    [
        (SessionKind::SocialVisit, &t.social_visit),
        (SessionKind::LegalVisit, &t.legal_visit),
        (SessionKind::CourtHearing, &t.court_hearing),
        (SessionKind::Consultation, &t.consultation),
    ]
}

fn optional_entries<T>(t: &PerKindOptional<T>) -> [(SessionKind, Option<&T>); 4] {
    [
        (SessionKind::SocialVisit, t.social_visit.as_ref()),
        (SessionKind::LegalVisit, t.legal_visit.as_ref()),
        (SessionKind::CourtHearing, t.court_hearing.as_ref()),
        (SessionKind::Consultation, t.consultation.as_ref()),
    ]
}

fn check_recording(
    table: &Spanned<PerKind<Spanned<RecordingRule>>>,
    src: &Source<'_>,
) -> Result<BTreeMap<SessionKind, RecordingRule>, ConfigError> {
    let mut out = BTreeMap::new();
    for (kind, rule) in entries(table.get_ref()) {
        let r = *rule.get_ref();
        if kind.is_privileged() && r != RecordingRule::Forbidden {
            return Err(src.error(
                rule.span(),
                &format!("recording.{kind}"),
                format!(
                    "{kind} is privileged: its recording can only be \"forbidden\" (got \"{}\")",
                    r.as_str()
                ),
            ));
        }
        out.insert(kind, r);
    }
    Ok(out)
}

fn check_monitoring(
    table: &Spanned<PerKind<Spanned<MonitoringRule>>>,
    src: &Source<'_>,
) -> Result<BTreeMap<SessionKind, MonitoringRule>, ConfigError> {
    let mut out = BTreeMap::new();
    for (kind, rule) in entries(table.get_ref()) {
        let r = *rule.get_ref();
        if kind.is_privileged() && r != MonitoringRule::Forbidden {
            return Err(src.error(
                rule.span(),
                &format!("monitoring.{kind}"),
                format!(
                    "{kind} is privileged: its monitoring can only be \"forbidden\" (got \"{}\")",
                    r.as_str()
                ),
            ));
        }
        out.insert(kind, r);
    }
    Ok(out)
}

fn check_retention(
    table: Option<&Spanned<PerKindOptional<Spanned<u32>>>>,
    recording: &Spanned<PerKind<Spanned<RecordingRule>>>,
    src: &Source<'_>,
) -> Result<BTreeMap<SessionKind, u32>, ConfigError> {
    let empty = PerKindOptional {
        social_visit: None,
        legal_visit: None,
        court_hearing: None,
        consultation: None,
    };
    let days = table.map_or(&empty, |t| t.get_ref());
    let mut out = BTreeMap::new();
    for ((kind, rule), (_, days)) in entries(recording.get_ref())
        .into_iter()
        .zip(optional_entries(days))
    {
        let key = format!("retention_days.{kind}");
        let r = rule.get_ref().as_str();
        match (*rule.get_ref(), days) {
            (RecordingRule::Forbidden, None) => {}
            (RecordingRule::Forbidden, Some(d)) => {
                return Err(src.error(
                    d.span(),
                    &key,
                    format!(
                        "recording.{kind} is \"forbidden\", so there are no recordings to keep; remove retention_days.{kind}"
                    ),
                ));
            }
            (_, None) => {
                let span = table.map_or_else(|| rule.span(), |t| t.span());
                return Err(src.error(
                    span,
                    &key,
                    format!(
                        "recording.{kind} is \"{r}\", so retention_days.{kind} must say how many days its recordings are kept (1 to {MAX_RETENTION_DAYS})"
                    ),
                ));
            }
            (_, Some(d)) => {
                let n = *d.get_ref();
                if n == 0 || n > MAX_RETENTION_DAYS {
                    return Err(src.error(
                        d.span(),
                        &key,
                        format!(
                            "retention must be between 1 and {MAX_RETENTION_DAYS} days (got {n})"
                        ),
                    ));
                }
                out.insert(kind, n);
            }
        }
    }
    Ok(out)
}

fn check_announcements(
    table: &Spanned<BTreeMap<String, Spanned<String>>>,
    languages: &[String],
    src: &Source<'_>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    for (lang, text) in table.get_ref() {
        let key = format!("announcements.{lang}");
        if !languages.contains(lang) {
            return Err(src.error(
                text.span(),
                &key,
                format!(
                    "there is an announcement for {lang:?} but {lang:?} is not in languages; add it to languages or remove this text"
                ),
            ));
        }
        if text.get_ref().trim().is_empty() {
            return Err(src.error(
                text.span(),
                &key,
                format!("the announcement for {lang:?} is empty; write the text participants hear and read"),
            ));
        }
    }
    if let Some(missing) = languages.iter().find(|l| !table.get_ref().contains_key(*l)) {
        return Err(src.error(
            table.span(),
            &format!("announcements.{missing}"),
            format!(
                "no announcement for language {missing:?}, which is listed in languages; add announcements.{missing}"
            ),
        ));
    }
    Ok(table
        .get_ref()
        .iter()
        .map(|(l, t)| (l.clone(), t.get_ref().clone()))
        .collect())
}

/// Refuses `value` (at `key`, e.g. `visits.weekly_quota`) unless it lies
/// in `min..=max`; the message names the key's last part and the `unit`.
fn in_range(
    value: &Spanned<u32>,
    key: &str,
    min: u32,
    max: u32,
    unit: &str,
    src: &Source<'_>,
) -> Result<u32, ConfigError> {
    let v = *value.get_ref();
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        let name = key.rsplit('.').next().unwrap_or(key);
        Err(src.error(
            value.span(),
            key,
            format!("{name} must be between {min} and {max} {unit} (got {v})"),
        ))
    }
}

fn check_visits(visits: &Spanned<RawVisits>, src: &Source<'_>) -> Result<VisitRules, ConfigError> {
    let v = visits.get_ref();
    let early = in_range(
        &v.early_join_minutes,
        "visits.early_join_minutes",
        0,
        MAX_EARLY_JOIN_MINUTES,
        "minutes",
        src,
    )?;
    let max_len = in_range(
        &v.max_length_minutes,
        "visits.max_length_minutes",
        1,
        MAX_VISIT_MINUTES,
        "minutes",
        src,
    )?;
    let min_len = in_range(
        &v.min_length_minutes,
        "visits.min_length_minutes",
        1,
        MAX_VISIT_MINUTES,
        "minutes",
        src,
    )?;
    if min_len > max_len {
        return Err(src.error(
            v.min_length_minutes.span(),
            "visits.min_length_minutes",
            format!(
                "min_length_minutes ({min_len}) must not exceed max_length_minutes ({max_len})"
            ),
        ));
    }
    let lead = in_range(
        &v.booking_lead_hours,
        "visits.booking_lead_hours",
        0,
        MAX_LEAD_HOURS,
        "hours",
        src,
    )?;
    let now_leeway = match &v.booking_now_leeway_seconds {
        Some(value) => in_range(
            value,
            "visits.booking_now_leeway_seconds",
            0,
            MAX_NOW_LEEWAY_SECONDS,
            "seconds",
            src,
        )?,
        None => DEFAULT_NOW_LEEWAY_SECONDS,
    };
    let quota = in_range(
        &v.weekly_quota,
        "visits.weekly_quota",
        1,
        MAX_WEEKLY_QUOTA,
        "visits",
        src,
    )?;
    let max_visitors = in_range(
        &v.max_visitors,
        "visits.max_visitors",
        1,
        MAX_VISITORS,
        "visitors",
        src,
    )?;
    let visiting_hours = check_hours(&v.visiting_hours, src)?;
    Ok(VisitRules {
        early_join_minutes: early,
        max_length_minutes: max_len,
        min_length_minutes: min_len,
        booking_lead_hours: lead,
        booking_now_leeway_seconds: now_leeway,
        weekly_quota: quota,
        max_visitors,
        visiting_hours,
    })
}

/// Parses exactly `HH:MM`, 24-hour.
fn parse_hh_mm(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let m = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    NaiveTime::from_hms_opt(h, m, 0)
}

fn check_hours(
    hours: &Spanned<Vec<Spanned<String>>>,
    src: &Source<'_>,
) -> Result<VisitingHours, ConfigError> {
    const KEY: &str = "visits.visiting_hours";
    let [open, close] = hours.get_ref().as_slice() else {
        return Err(src.error(
            hours.span(),
            KEY,
            format!(
                "visiting_hours must be two local times, opening and closing, like [\"08:30\", \"19:00\"] (got {} values)",
                hours.get_ref().len()
            ),
        ));
    };
    let parse = |t: &Spanned<String>| {
        parse_hh_mm(t.get_ref()).ok_or_else(|| {
            src.error(
                t.span(),
                KEY,
                format!(
                    "{:?} is not a time in 24-hour \"HH:MM\" form, like \"08:30\"",
                    t.get_ref()
                ),
            )
        })
    };
    let o = parse(open)?;
    if close.get_ref() == "24:00" {
        if o == NaiveTime::MIN {
            return Ok(VisitingHours::AroundTheClock);
        }
        return Err(src.error(
            close.span(),
            KEY,
            format!(
                "a closing time of 24:00 means open around the clock and needs opening at 00:00 (got {}); to close at the end of the day write \"23:59\"",
                o.format("%H:%M")
            ),
        ));
    }
    let c = parse(close)?;
    if c <= o {
        return Err(src.error(
            close.span(),
            KEY,
            format!(
                "the closing time {} must be after the opening time {} on the same day",
                c.format("%H:%M"),
                o.format("%H:%M")
            ),
        ));
    }
    Ok(VisitingHours::Daily {
        opens: o,
        closes: c,
    })
}
