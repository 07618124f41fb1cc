//! `parley recorder …`: run the recorder alone, verify, export, sweep and
//! legal holds. Export (the only way to play a recording back), deletion
//! and holds are written to the audit log, with actor and reason, before
//! they take effect; a failure to audit stops them.

use crate::config::{Deployment, RecorderSection};
use parley_recorder::audit::{AuditSink, RecordingEvent};
use parley_recorder::keys::KeyStore;
use parley_recorder::retention::{self, SweepItem};
use parley_recorder::server::{self, RecorderConfig};
use parley_recorder::{export, protocol, recording, verify};
use parley_signaling::store::audit::AuditRecord;
use parley_signaling::store::{Store, StoreLocation};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// Where the recorder's files are, from the deployment file.
#[derive(Debug, Clone)]
pub struct RecorderPaths {
    /// The signaling store, where the recorder's decisions are audited.
    pub store: StoreLocation,
    pub section: RecorderSection,
    pub recordings: PathBuf,
    pub keys: PathBuf,
    pub tls: PathBuf,
}

impl RecorderPaths {
    pub fn new(d: &Deployment, data: Option<PathBuf>) -> Self {
        let data = data.unwrap_or_else(|| d.file.storage.data_dir.clone());
        let section = d.file.recorder.clone().unwrap_or_else(|| {
            RecorderSection::default_with(SocketAddr::from(([127, 0, 0, 1], 0)))
        });
        let store =
            StoreLocation::from_config(d.file.store.as_ref().map(|s| s.url.as_str()), &data)
                // `Deployment::load` has refused any other scheme already.
                .unwrap_or_else(|_| StoreLocation::SqliteIn(data.clone()));
        Self {
            recordings: data.join(&section.recordings_dir),
            keys: data.join(&section.keys_dir),
            tls: data.join(&section.tls_dir),
            store,
            section,
        }
    }

    /// For commands given explicit paths and no deployment file.
    pub fn bare() -> Self {
        let data = PathBuf::from(".");
        let section = RecorderSection::default_with(SocketAddr::from(([127, 0, 0, 1], 0)));
        Self {
            recordings: data.join(&section.recordings_dir),
            keys: data.join(&section.keys_dir),
            tls: data.join(&section.tls_dir),
            store: StoreLocation::SqliteIn(data),
            section,
        }
    }

    pub fn server_config(
        &self,
        d: &Deployment,
        listen: Option<SocketAddr>,
        store: Store,
    ) -> RecorderConfig {
        RecorderConfig {
            listen: listen.unwrap_or(self.section.listen),
            recordings_dir: self.recordings.clone(),
            keys_dir: self.keys.clone(),
            tls_dir: self.tls.clone(),
            segment_seconds: self.section.segment_seconds,
            jurisdictions: d.jurisdictions.clone(),
            audit: Arc::new(StoreAudit { store }),
        }
    }

    /// The directory of `rec`: a path to a recording directory, or an id
    /// under the recordings directory.
    fn recording(&self, rec: &str) -> Result<PathBuf, String> {
        let as_path = Path::new(rec);
        if as_path.join(parley_recorder::manifest::FILE).exists() {
            return Ok(as_path.to_path_buf());
        }
        if !protocol::valid_recording_id(rec) {
            return Err(format!(
                "{rec} is neither a recording directory nor a recording id"
            ));
        }
        let dir = recording::dir_of(&self.recordings, rec);
        if !dir.exists() {
            return Err(format!(
                "no recording {rec} in {} (give --data, or the recording's directory)",
                self.recordings.display()
            ));
        }
        Ok(dir)
    }

    fn keys(&self) -> Result<KeyStore, String> {
        KeyStore::open(&self.keys).map_err(|e| e.to_string())
    }
}

/// Writes the recorder's decisions to the signaling store's audit log, in
/// its own transaction, before they take effect.
pub struct StoreAudit {
    pub store: Store,
}

fn audit_record(event: &RecordingEvent) -> AuditRecord {
    let (start, action, decision) = match event {
        RecordingEvent::Started { start, .. } => (start, "recording_started", "allowed"),
        RecordingEvent::Resumed { start, .. } => (start, "recording_resumed", "allowed"),
        RecordingEvent::Refused { start, .. } => (start, "recording_refused", "denied"),
        RecordingEvent::Stopped { start, .. } => (start, "recording_stopped", "allowed"),
        RecordingEvent::Interrupted { start, .. } => {
            (start, "recording_interrupted", "interrupted")
        }
        RecordingEvent::Failed { start, .. } => (start, "recording_failed", "failed"),
    };
    let j = &start.jurisdiction;
    let kind = start.session_kind;
    let (rules, details) = match event {
        RecordingEvent::Started { retention_days, .. } => (
            vec![
                format!("{j}/recording/{kind}"),
                format!("{j}/retention_days/{kind}"),
            ],
            serde_json::json!({ "recording_id": start.recording_id, "retention_days": retention_days }),
        ),
        RecordingEvent::Resumed {
            retention_days,
            reason,
            ..
        } => (
            vec![
                format!("{j}/recording/{kind}"),
                format!("{j}/retention_days/{kind}"),
            ],
            serde_json::json!({ "recording_id": start.recording_id, "retention_days": retention_days, "gap_reason": reason }),
        ),
        RecordingEvent::Failed { reason, .. } => (
            Vec::new(),
            serde_json::json!({ "recording_id": start.recording_id, "reason": reason }),
        ),
        RecordingEvent::Refused { reason, .. } => (
            vec![format!("{j}/recording/{kind}")],
            serde_json::json!({ "recording_id": start.recording_id, "reason": reason }),
        ),
        RecordingEvent::Stopped {
            reason, segments, ..
        } => (
            Vec::new(),
            serde_json::json!({ "recording_id": start.recording_id, "reason": reason, "segments_before_close": segments }),
        ),
        RecordingEvent::Interrupted { segments, .. } => (
            Vec::new(),
            serde_json::json!({
                "recording_id": start.recording_id,
                "reason": "the SFU's stream ended without a stop; the recording continues on reconnect",
                "segments_before_close": segments,
            }),
        ),
    };
    AuditRecord::new("recorder", action, decision)
        .session(start.session_id)
        .rules(rules)
        .details(details)
}

impl AuditSink for StoreAudit {
    fn record<'a>(
        &'a self,
        event: &'a RecordingEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let record = audit_record(event);
            let mut w = self.store.write().await.map_err(|e| e.to_string())?;
            w.append_audit(&record, chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            w.commit().await.map_err(|e| e.to_string())
        })
    }
}

/// Prints how to reach the recorder.
pub fn print_running(r: &server::Recorder) {
    println!("  Recorder:      {} (QUIC, mutual TLS)", r.addr);
    println!(
        "  SFU client:    {} and {} (CA {})",
        r.tls.client_cert.display(),
        r.tls.client_key.display(),
        r.tls.ca_cert.display()
    );
}

/// When each of the recorder link's certificates runs out (seconds since
/// the Unix epoch), by name; one that cannot be read is logged and left
/// out (the link itself then refuses to start).
pub fn certificate_expiry(tls: &parley_recorder::tls::TlsFiles) -> Vec<(&'static str, i64)> {
    [
        ("recorder_link_ca", &tls.ca_cert),
        ("recorder_link_recorder", &tls.server_cert),
        ("recorder_link_sfu", &tls.client_cert),
    ]
    .into_iter()
    .filter_map(
        |(name, path)| match parley_recorder::tls::expires_at(path) {
            Ok(at) => Some((name, at)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell when a certificate runs out");
                None
            }
        },
    )
    .collect()
}

/// `parley recorder`: the recorder alone, until Ctrl-C.
pub async fn run(
    d: Deployment,
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
) -> Result<(), String> {
    let paths = RecorderPaths::new(&d, data);
    let store = Store::open(&paths.store)
        .await
        .map_err(|e| format!("the recorder audits to the signaling store: {e}"))?;
    let recorder = server::start(paths.server_config(&d, listen, store.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let sweeper = spawn_sweeper(paths.clone(), store.clone());
    println!("Parley recorder is running.");
    print_running(&recorder);
    println!("  Recordings:    {}", paths.recordings.display());
    println!("Press Ctrl-C to stop.");
    crate::shutdown_signal().await;
    eprintln!("parley: stopping the recorder");
    if let Some(s) = sweeper {
        s.abort();
    }
    recorder.shutdown().await;
    store.close().await;
    Ok(())
}

/// `parley recorder verify REC`.
pub fn verify_cmd(
    paths: &RecorderPaths,
    rec: &str,
    public_key: Option<&Path>,
) -> Result<(), String> {
    let dir = paths.recording(rec)?;
    let key = match public_key {
        Some(file) => parley_recorder::keys::read_verifying_key(file),
        None => paths.keys()?.verifying_key(),
    }
    .map_err(|e| e.to_string())?;
    let report = verify::verify(&dir, &key).map_err(|e| format!("recording NOT intact: {e}"))?;
    let m = &report.manifest;
    println!("recording {}: intact", m.recording_id);
    println!(
        "  session {} ({}, {}), started {}",
        m.session_id, m.session_kind, m.jurisdiction, m.started_at
    );
    match &m.ended {
        Some(e) => println!("  ended {}: {}", e.at, e.reason),
        None => println!("  not ended"),
    }
    let media_ms = m.segments.last().map_or(0, |s| s.end_ms);
    println!(
        "  {} segments, {:.1} s; retention {} days; manifest signed by {}",
        m.segments.len(),
        media_ms as f64 / 1000.0,
        m.retention_days,
        hex::encode(key.as_bytes())
    );
    for n in &report.notes {
        println!("  note: {n}");
    }
    Ok(())
}

async fn open_store(location: &StoreLocation) -> Result<Store, String> {
    Store::open(location)
        .await
        .map_err(|e| format!("cannot open the audit log, so nothing was done: {e}"))
}

async fn append_to(store: &Store, record: &AuditRecord) -> Result<i64, String> {
    async {
        let mut w = store.write().await?;
        let seq = w.append_audit(record, chrono::Utc::now()).await?;
        w.commit().await?;
        Ok::<_, sqlx::Error>(seq)
    }
    .await
    .map_err(|e| format!("cannot write the audit log, so nothing was done: {e}"))
}

async fn audit_append(location: &StoreLocation, record: AuditRecord) -> Result<i64, String> {
    let store = open_store(location).await?;
    let result = append_to(&store, &record).await;
    store.close().await;
    result
}

fn require(what: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!(
            "give a non-empty --{what}: it goes into the audit log"
        ));
    }
    Ok(())
}

/// `parley recorder export REC --out FILE --actor A --reason R`.
pub async fn export_cmd(
    paths: &RecorderPaths,
    rec: &str,
    out: &Path,
    actor: &str,
    reason: &str,
) -> Result<(), String> {
    require("actor", actor)?;
    require("reason", reason)?;
    let dir = paths.recording(rec)?;
    let keys = paths.keys()?;
    let m = recording::read_manifest(&dir, &keys)
        .map_err(|e| format!("recording NOT intact, not exported: {e}"))?;
    let seq = audit_append(
        &paths.store,
        AuditRecord::new(actor, "recording_exported", "allowed")
            .session(m.session_id)
            .details(serde_json::json!({
                "recording_id": m.recording_id,
                "reason": reason,
                "out": out.display().to_string(),
            })),
    )
    .await?;
    let r = export::export(&dir, &keys, out).map_err(|e| e.to_string())?;
    println!(
        "exported {} to {} ({}, {} segments, {} frames, {:.1} s); audit entry {seq}",
        m.recording_id,
        out.display(),
        r.container,
        r.segments,
        r.frames,
        r.duration_ms as f64 / 1000.0
    );
    Ok(())
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepSummary {
    /// Deleted recordings and their audit entry.
    pub deleted: Vec<(String, i64)>,
    /// Past retention, to be deleted (dry run).
    pub would_delete: Vec<(String, u32)>,
    pub held: Vec<(String, retention::LegalHold)>,
    pub kept: usize,
    /// Recordings whose manifest does not verify, left alone.
    pub unreadable: Vec<String>,
}

/// Destroys every recording past its retention, except those on legal
/// hold, each deletion audited in `store` before it happens.
pub async fn sweep(
    paths: &RecorderPaths,
    store: &Store,
    actor: &str,
    dry_run: bool,
) -> Result<SweepSummary, String> {
    require("actor", actor)?;
    let keys = paths.keys()?;
    let now = chrono::Utc::now();
    let items = retention::survey(
        &paths.recordings,
        &keys,
        u64::try_from(now.timestamp_millis()).unwrap_or(0),
    )
    .map_err(|e| e.to_string())?;
    let mut summary = SweepSummary::default();
    for item in items {
        match item {
            SweepItem::Expired { id, manifest } if dry_run => {
                summary.would_delete.push((id, manifest.retention_days));
            }
            SweepItem::Expired { id, manifest } => {
                let record = AuditRecord::new(actor, "recording_deleted", "allowed")
                    .session(manifest.session_id)
                    .rules([format!(
                        "{}/retention_days/{}",
                        manifest.jurisdiction, manifest.session_kind
                    )])
                    .details(serde_json::json!({
                        "recording_id": id,
                        "reason": format!("retention of {} days ended", manifest.retention_days),
                        "started_at": manifest.started_at,
                    }));
                let seq = append_to(store, &record).await?;
                retention::destroy(&paths.recordings, &id).map_err(|e| e.to_string())?;
                summary.deleted.push((id, seq));
            }
            SweepItem::Held { id, hold } => summary.held.push((id, hold)),
            SweepItem::Kept { .. } => summary.kept += 1,
            SweepItem::Unreadable { id, problem } => {
                summary.unreadable.push(format!("{id}: {problem}"))
            }
        }
    }
    Ok(summary)
}

/// `parley recorder sweep`: [`sweep`], printed.
pub async fn sweep_cmd(paths: &RecorderPaths, actor: &str, dry_run: bool) -> Result<(), String> {
    require("actor", actor)?;
    let store = open_store(&paths.store).await?;
    let result = sweep(paths, &store, actor, dry_run).await;
    store.close().await;
    let s = result?;
    for (id, days) in &s.would_delete {
        println!("would delete {id}: retention of {days} days ended");
    }
    for (id, seq) in &s.deleted {
        println!("deleted {id} (key destroyed, then data); audit entry {seq}");
    }
    for (id, hold) in &s.held {
        println!("kept {id}: legal hold by {} ({})", hold.actor, hold.reason);
    }
    println!(
        "sweep: {} deleted, {} on legal hold, {} within retention",
        s.deleted.len(),
        s.held.len(),
        s.kept
    );
    if !s.unreadable.is_empty() {
        return Err(format!(
            "{} recordings were left alone because they do not verify (investigate before deleting):\n  {}",
            s.unreadable.len(),
            s.unreadable.join("\n  ")
        ));
    }
    Ok(())
}

/// Actor of the sweeps a running recorder makes by itself.
pub const SWEEPER: &str = "retention-sweep";

/// Sweeps at start and then every `[recorder] sweep_interval_minutes`
/// (never when 0), while the service runs; outcomes go to the log.
pub fn spawn_sweeper(paths: RecorderPaths, store: Store) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = paths.section.sweep_interval_minutes;
    if minutes == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(minutes * 60));
        loop {
            tick.tick().await;
            match sweep(&paths, &store, SWEEPER, false).await {
                Ok(s) => {
                    for (id, seq) in &s.deleted {
                        tracing::info!(recording = %id, audit_entry = seq, "retention ended: recording destroyed");
                    }
                    for u in &s.unreadable {
                        tracing::error!("recording left alone, it does not verify: {u}");
                    }
                }
                Err(e) => tracing::error!("retention sweep failed: {e}"),
            }
        }
    }))
}

/// `parley recorder hold|release REC --actor A --reason R`.
pub async fn hold_cmd(
    paths: &RecorderPaths,
    rec: &str,
    actor: &str,
    reason: &str,
    place: bool,
) -> Result<(), String> {
    require("actor", actor)?;
    require("reason", reason)?;
    let dir = paths.recording(rec)?;
    let keys = paths.keys()?;
    let m = recording::read_manifest(&dir, &keys).map_err(|e| e.to_string())?;
    let action = if place {
        "legal_hold_placed"
    } else {
        "legal_hold_released"
    };
    let seq = audit_append(
        &paths.store,
        AuditRecord::new(actor, action, "allowed")
            .session(m.session_id)
            .details(serde_json::json!({ "recording_id": m.recording_id, "reason": reason })),
    )
    .await?;
    if place {
        retention::place_hold(
            &paths.recordings,
            &m.recording_id,
            actor,
            reason,
            chrono::Utc::now(),
        )
        .map_err(|e| e.to_string())?;
        println!("legal hold placed on {}; audit entry {seq}", m.recording_id);
    } else {
        let had = retention::release_hold(&paths.recordings, &m.recording_id)
            .map_err(|e| e.to_string())?;
        println!(
            "legal hold {} on {}; audit entry {seq}",
            if had { "released" } else { "was not set" },
            m.recording_id
        );
    }
    Ok(())
}
