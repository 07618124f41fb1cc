//! Runs a scenario: books the sessions, joins every client, sends media for
//! the warm-up and the measured phase (with churn), samples CPU and memory
//! once a second with a progress line, and builds the [`Report`].

use crate::light::LightEngine;
use crate::participant::{self, JoinSpec, Joined, SendLog, SentCounters};
use crate::recorder::{LatencyRecorder, ReceiverState, latency_histogram};
use crate::report::{
    Dist, GeneratorReport, JoinReport, MemoryReport, PacketReport, Report, SfuReport,
};
use crate::sampler::{self, Sample};
use crate::scenario::{ClientKind, Scenario};
use crate::target::{self, Booked, Parley, TargetError};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a run could not be carried out (a missed target is not an error).
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("cannot start the lightweight client: {0}")]
    Light(#[from] crate::light_peer::LightError),
    #[error("no client could join ({failed} tried); first error: {first}")]
    NoneJoined { failed: u64, first: String },
}

/// Where and how to run.
pub struct Options {
    pub scenario: Scenario,
    pub scenario_file: String,
    /// A running Parley (`http://…`, admin token); `None` starts one.
    pub remote: Option<(String, String)>,
    pub jurisdictions: PathBuf,
    /// Print the progress line on stderr.
    pub progress: bool,
}

/// A receiver's end: what it measured and the senders' counts it is held
/// to (sender → (video, audio) packets sent before its cut-off).
struct Finished {
    name: String,
    state: ReceiverState,
    cutoff: HashMap<String, (u32, u32)>,
    /// Publishers it should have received video from.
    expected_senders: Vec<String>,
    started_us: u64,
    times: participant::JoinTimes,
    cap_kbps: u64,
}

/// The senders' counts at one moment: sender → (video, audio) sent.
#[derive(Clone)]
struct Cutoff {
    sent: HashMap<String, (u32, u32)>,
}

/// Shared by all tasks of a run.
struct Shared {
    senders: Mutex<HashMap<String, Arc<SentCounters>>>,
    measuring: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    send_logs: Mutex<Vec<SendLog>>,
    finished: Mutex<Vec<Finished>>,
    errors: Mutex<Vec<String>>,
    join_failures: AtomicU64,
    /// The lightweight client's engine, when the scenario uses it.
    light: Option<LightEngine>,
    /// Clients whose media ran on the lightweight engine / the async client.
    light_clients: AtomicU64,
    async_clients: AtomicU64,
}

impl Shared {
    fn sent_total(&self) -> u64 {
        self.senders.lock().map_or(0, |s| {
            s.values()
                .map(|c| {
                    u64::from(c.video.load(Ordering::Relaxed))
                        + u64::from(c.audio.load(Ordering::Relaxed))
                })
                .sum()
        })
    }

    fn snapshot(&self) -> Cutoff {
        let sent = self.senders.lock().map_or_else(
            |_| HashMap::new(),
            |s| {
                s.iter()
                    .map(|(k, c)| {
                        (
                            k.clone(),
                            (
                                c.video.load(Ordering::Relaxed),
                                c.audio.load(Ordering::Relaxed),
                            ),
                        )
                    })
                    .collect()
            },
        );
        Cutoff { sent }
    }

    fn fail(&self, e: String) {
        self.join_failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut errs) = self.errors.lock()
            && errs.len() < 20
        {
            errs.push(e);
        }
    }
}

/// A joined client and its publisher task.
struct Live {
    joined: Joined,
    publisher: Option<tokio::task::JoinHandle<SendLog>>,
    stop: Arc<AtomicBool>,
    expected_senders: Vec<String>,
    cap_kbps: u64,
}

/// One client the scenario asks for.
#[derive(Clone)]
struct Planned {
    session: i64,
    participant: i64,
    name: String,
    publishes: bool,
    simulcast: bool,
    admits: bool,
    cap_kbps: u64,
    /// Other publishers in its session.
    expected_senders: Vec<String>,
}

async fn start_client(
    parley: &Parley,
    shared: &Arc<Shared>,
    scenario: &Scenario,
    plan: Planned,
    ssrc_base: u32,
) -> Option<Live> {
    let recorder = Arc::new(LatencyRecorder::new(
        shared.measuring.clone(),
        shared.received.clone(),
    ));
    let spec = JoinSpec {
        session: plan.session,
        participant: plan.participant,
        name: plan.name.clone(),
        publishes: plan.publishes,
        simulcast: plan.simulcast,
        admits: plan.admits,
        receive_cap_bps: plan.cap_kbps * 1000,
        ssrc_base,
    };
    let joined = match participant::join(parley, spec, recorder, shared.light.as_ref()).await {
        Ok(j) => {
            let counter = match j.media.kind() {
                ClientKind::Light => &shared.light_clients,
                ClientKind::Async => &shared.async_clients,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            j
        }
        Err(e) => {
            shared.fail(e.to_string());
            return None;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = plan.publishes.then(|| {
        if let Ok(mut s) = shared.senders.lock() {
            s.insert(joined.name.clone(), joined.sent.clone());
        }
        joined.media.start_publishing(
            joined.name.clone(),
            scenario.media.clone(),
            joined.sent.clone(),
            stop.clone(),
            Instant::now()
                + Duration::from_secs_f64(scenario.run.warmup_s + scenario.duration_s + 3600.0),
        )
    });
    Some(Live {
        joined,
        publisher,
        stop,
        expected_senders: plan.expected_senders,
        cap_kbps: plan.cap_kbps,
    })
}

/// Keeps what a client measured, held to the senders' counts at `cutoff`
/// (taken a grace period earlier, so packets in flight had time to arrive),
/// and optionally leaves.
async fn finish_client(shared: &Shared, live: Live, cutoff: Cutoff, leave: bool) {
    if let Some(state) = live.joined.recorder.finish()
        && let Ok(mut f) = shared.finished.lock()
    {
        f.push(Finished {
            name: live.joined.name.clone(),
            state,
            cutoff: cutoff.sent,
            expected_senders: live.expected_senders.clone(),
            started_us: live.joined.started_us,
            times: live.joined.times.clone(),
            cap_kbps: live.cap_kbps,
        });
    }
    if leave {
        live.joined.leave().await;
    }
}

async fn stop_publisher(shared: &Shared, live: &mut Live) {
    live.stop.store(true, Ordering::Relaxed);
    if let Some(p) = live.publisher.take()
        && let Ok(log) = p.await
        && let Ok(mut logs) = shared.send_logs.lock()
    {
        logs.push(log);
    }
}

/// Packets in flight get this long to arrive before a receiver is closed.
const GRACE: Duration = Duration::from_millis(500);

/// Runs the scenario; the report's targets say whether it passed.
pub async fn run(opts: Options) -> Result<Report, RunError> {
    let sc = &opts.scenario;
    let started_at = chrono::Utc::now();
    let run_id = started_at.format("%H%M%S").to_string();
    let parley = match &opts.remote {
        Some((url, admin)) => Parley::remote(url, admin),
        None => {
            Parley::start(
                &opts.jurisdictions,
                sc.run.sfu_workers,
                sc.run.sfu_coalesce_us,
            )
            .await?
        }
    };
    let in_process = parley.in_process.is_some();
    let t0 = Instant::now();
    let minutes = (((sc.run.warmup_s + sc.duration_s + 180.0) / 60.0).ceil() as i64).clamp(5, 60);

    // Book everything first. Each session starts a little after it is booked (a start in the past
    // is refused); everyone joins once the last one has started.
    let prison = target::prison(&parley, &run_id).await?;
    let churn_rooms = sc.churn.as_ref().map_or(0, |c| c.rooms);
    let visits: Vec<Booked> = futures_util::stream::iter(0..sc.visits + churn_rooms)
        .map(|i| {
            let parley = &parley;
            let run_id = &run_id;
            async move { target::book_visit(parley, prison, run_id, i, minutes).await }
        })
        .buffered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let hearing = match &sc.hearing {
        Some(h) => Some(
            target::book_hearing(&parley, &run_id, h.participants, h.observers, minutes).await?,
        ),
        None => None,
    };
    let last_start = visits
        .iter()
        .chain(hearing.iter())
        .map(|b| b.starts_at)
        .max()
        .unwrap_or_else(chrono::Utc::now);
    let wait = (last_start - parley.now().await)
        .to_std()
        .unwrap_or_default()
        + Duration::from_millis(300);
    tokio::time::sleep(wait).await;

    let shared = Arc::new(Shared {
        senders: Mutex::default(),
        measuring: Arc::default(),
        received: Arc::default(),
        send_logs: Mutex::default(),
        finished: Mutex::default(),
        errors: Mutex::default(),
        join_failures: AtomicU64::new(0),
        light: match sc.run.client {
            ClientKind::Light => Some(LightEngine::start(sc.run.light_threads)?),
            ClientKind::Async => None,
        },
        light_clients: AtomicU64::new(0),
        async_clients: AtomicU64::new(0),
    });

    // Sampler and progress line, once a second, until told to stop.
    let sampling = Arc::new(AtomicBool::new(true));
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let phase: Arc<Mutex<&'static str>> = Arc::new(Mutex::new("joining"));
    let take_sample = {
        let shared = shared.clone();
        let parley_base = parley.base.clone();
        let http = parley.http.clone();
        move || {
            let shared = shared.clone();
            let url = format!("{parley_base}/metrics");
            let http = http.clone();
            async move {
                let metrics = match http.get(&url).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                sampler::sample(
                    t0.elapsed().as_secs_f64(),
                    &metrics,
                    in_process,
                    shared.sent_total(),
                    shared.received.load(Ordering::Relaxed),
                )
            }
        }
    };
    let before_joins = take_sample().await;
    let sampler_task = {
        let (sampling, samples, phase, take) = (
            sampling.clone(),
            samples.clone(),
            phase.clone(),
            take_sample.clone(),
        );
        let progress = opts.progress;
        let name = sc.name.clone();
        let failures = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut last: Option<Sample> = None;
            // Bounded by the run: the flag is cleared at its end.
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                let s = take().await;
                if progress && let Some(l) = last {
                    let dt = (s.t_s - l.t_s).max(1e-3);
                    let fwd = match (s.forwarded, l.forwarded) {
                        (Some(a), Some(b)) => format!("{:.0}", (a - b) / dt),
                        _ => "n/a".into(),
                    };
                    let cores = |a: Option<f64>, b: Option<f64>| {
                        a.zip(b)
                            .map_or("n/a".into(), |(a, b)| format!("{:.2}", (a - b) / dt))
                    };
                    let ph = phase.lock().map_or("?", |p| *p);
                    eprintln!(
                        "[{name} {:>5.0}s {ph}] sent {:.0}/s recv {:.0}/s fwd {fwd}/s sfu {} cores, process {} cores, rss {} MB, join failures {}",
                        s.t_s,
                        (s.sent - l.sent) as f64 / dt,
                        (s.received - l.received) as f64 / dt,
                        cores(s.sfu_cpu_s, l.sfu_cpu_s),
                        cores(s.process_cpu_s, l.process_cpu_s),
                        s.rss_bytes
                            .map_or("n/a".into(), |b| format!("{:.0}", b as f64 / 1e6)),
                        failures.join_failures.load(Ordering::Relaxed),
                    );
                }
                last = Some(s);
                if let Ok(mut v) = samples.lock() {
                    v.push(s);
                }
            }
        })
    };

    // Who joins: both sides of each visit; the churn rooms' detainees (their
    // visitors come and go later); the judge, then the hearing's others.
    let mut steady: Vec<Planned> = Vec::new();
    let mut churn_plan: Vec<(i64, i64, String)> = Vec::new();
    for (i, v) in visits.iter().enumerate() {
        let (Some(d), Some(vis)) = (v.id_of("detainee"), v.id_of("visitor")) else {
            continue;
        };
        let (dn, vn) = (format!("v{i}-d"), format!("v{i}-h"));
        if i < sc.visits as usize {
            steady.push(Planned {
                session: v.session,
                participant: d,
                name: dn.clone(),
                publishes: true,
                simulcast: false,
                admits: false,
                cap_kbps: 0,
                expected_senders: vec![vn.clone()],
            });
            steady.push(Planned {
                session: v.session,
                participant: vis,
                name: vn,
                publishes: true,
                simulcast: false,
                admits: false,
                cap_kbps: 0,
                expected_senders: vec![dn],
            });
        } else {
            steady.push(Planned {
                session: v.session,
                participant: d,
                name: dn.clone(),
                publishes: true,
                simulcast: false,
                admits: false,
                cap_kbps: 0,
                expected_senders: Vec::new(),
            });
            churn_plan.push((v.session, vis, dn));
        }
    }
    let mut first: Vec<Planned> = Vec::new();
    if let (Some(h), Some(spec)) = (&hearing, &sc.hearing) {
        let publishers: Vec<(i64, String)> = h
            .participants
            .iter()
            .filter(|(_, role, _)| role != "observer")
            .enumerate()
            .map(|(i, (id, _, _))| (*id, format!("h-p{i}")))
            .collect();
        let names: Vec<String> = publishers.iter().map(|(_, n)| n.clone()).collect();
        for (i, (id, name)) in publishers.iter().enumerate() {
            let plan = Planned {
                session: h.session,
                participant: *id,
                name: name.clone(),
                publishes: true,
                simulcast: spec.simulcast,
                admits: i == 0,
                cap_kbps: 0,
                expected_senders: names.iter().filter(|n| *n != name).cloned().collect(),
            };
            if i == 0 {
                first.push(plan)
            } else {
                steady.push(plan)
            }
        }
        let observers = h
            .participants
            .iter()
            .filter(|(_, role, _)| role == "observer");
        for (i, (id, _, _)) in observers.enumerate() {
            let caps = &spec.observer_caps_kbps;
            steady.push(Planned {
                session: h.session,
                participant: *id,
                name: format!("h-o{i}"),
                publishes: false,
                simulcast: false,
                admits: false,
                cap_kbps: if caps.is_empty() {
                    0
                } else {
                    caps[i % caps.len()]
                },
                expected_senders: names.clone(),
            });
        }
    }
    let total_planned = (first.len() + steady.len()) as u32;
    let mut live: Vec<Live> = Vec::new();
    for (n, plan) in first.into_iter().enumerate() {
        if let Some(l) = start_client(&parley, &shared, sc, plan, 10_000 + n as u32 * 16).await {
            live.push(l);
        }
    }
    let offset = live.len() as u32;
    let joined: Vec<Option<Live>> = futures_util::stream::iter(steady.into_iter().enumerate())
        .map(|(n, plan)| {
            let (parley, shared) = (&parley, &shared);
            async move {
                start_client(parley, shared, sc, plan, 10_000 + (offset + n as u32) * 16).await
            }
        })
        .buffer_unordered(sc.run.join_concurrency)
        .collect()
        .await;
    live.extend(joined.into_iter().flatten());
    if live.is_empty() {
        let first = shared
            .errors
            .lock()
            .ok()
            .and_then(|e| e.first().cloned())
            .unwrap_or_default();
        return Err(RunError::NoneJoined {
            failed: u64::from(total_planned),
            first,
        });
    }

    // Warm-up, then the measured phase with churn.
    if let Ok(mut p) = phase.lock() {
        *p = "warm-up";
    }
    tokio::time::sleep(Duration::from_secs_f64(sc.run.warmup_s)).await;
    let measure_start = take_sample().await;
    shared.measuring.store(true, Ordering::Relaxed);
    if let Ok(mut p) = phase.lock() {
        *p = "measuring";
    }
    let measure_until = Instant::now() + Duration::from_secs_f64(sc.duration_s);
    let churn_joins = Arc::new(AtomicU64::new(0));
    let churn_task = sc
        .churn
        .clone()
        .filter(|_| !churn_plan.is_empty())
        .map(|churn| {
            let (parley_ref, shared, sc, plan, joins) = (
                Arc::new(parley_handle(&parley)),
                shared.clone(),
                sc.clone(),
                churn_plan.clone(),
                churn_joins.clone(),
            );
            tokio::spawn(async move {
                let every = Duration::from_secs_f64(1.0 / churn.joins_per_s);
                let stay = Duration::from_secs_f64(churn.stay_s);
                let busy: Arc<Vec<AtomicBool>> =
                    Arc::new(plan.iter().map(|_| AtomicBool::new(false)).collect());
                let mut tasks = Vec::new();
                let mut n: u32 = 0;
                let mut next = Instant::now();
                while next < measure_until {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                    let Some(room) = (0..plan.len())
                        .map(|k| (n as usize + k) % plan.len())
                        .find(|&r| !busy[r].load(Ordering::Relaxed))
                    else {
                        continue;
                    };
                    busy[room].store(true, Ordering::Relaxed);
                    n += 1;
                    let (session, visitor, anchor) = plan[room].clone();
                    let (parley, shared, sc, busy, joins) = (
                        parley_ref.clone(),
                        shared.clone(),
                        sc.clone(),
                        busy.clone(),
                        joins.clone(),
                    );
                    tasks.push(tokio::spawn(async move {
                        let p = Planned {
                            session,
                            participant: visitor,
                            name: format!("c{room}-{n}"),
                            publishes: true,
                            simulcast: false,
                            admits: false,
                            cap_kbps: 0,
                            expected_senders: vec![anchor],
                        };
                        if let Some(mut l) =
                            start_client(&parley, &shared, &sc, p, 1_000_000 + n * 16).await
                        {
                            joins.fetch_add(1, Ordering::Relaxed);
                            let left = measure_until.saturating_duration_since(Instant::now());
                            tokio::time::sleep(stay.min(left)).await;
                            stop_publisher(&shared, &mut l).await;
                            let cutoff = shared.snapshot();
                            tokio::time::sleep(GRACE).await;
                            finish_client(&shared, l, cutoff, true).await;
                        }
                        busy[room].store(false, Ordering::Relaxed);
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            })
        });
    tokio::time::sleep_until(measure_until.into()).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let measure_end = take_sample().await;
    if let Ok(mut p) = phase.lock() {
        *p = "closing";
    }
    if let Some(t) = churn_task {
        let _ = t.await;
    }
    for l in live.iter_mut() {
        stop_publisher(&shared, l).await;
    }
    let cutoff = shared.snapshot();
    tokio::time::sleep(GRACE).await;
    for l in live {
        finish_client(&shared, l, cutoff.clone(), false).await;
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler_task.await;
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();

    let mut report = build_report(
        &opts,
        sc,
        &shared,
        Phase {
            before_joins,
            measure_start,
            measure_end,
        },
        samples,
    );
    report.started_at = started_at.to_rfc3339();
    report.parley = if in_process {
        format!(
            "in-process ({} SFU workers, turns coalesced over {} µs)",
            sc.run.sfu_workers,
            sc.run.sfu_coalesce_us.window_us()
        )
    } else {
        parley.base.clone()
    };
    report.churn_joins = churn_joins.load(Ordering::Relaxed);
    report.targets = crate::report::check_targets(&sc.targets, &report);
    drop(parley);
    Ok(report)
}

/// A second handle on the same Parley for tasks that outlive a borrow.
fn parley_handle(p: &Parley) -> Parley {
    Parley::remote(&p.base, &p.admin)
}

/// Samples at the phase boundaries.
struct Phase {
    before_joins: Sample,
    measure_start: Sample,
    measure_end: Sample,
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

fn build_report(
    opts: &Options,
    sc: &Scenario,
    shared: &Shared,
    ph: Phase,
    samples: Vec<Sample>,
) -> Report {
    let finished = shared
        .finished
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    let sends = shared
        .send_logs
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    let mut latency: Histogram<u64> = latency_histogram();
    let (mut expected, mut received, mut dups, mut streams, mut silent) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut worst: f64 = 0.0;
    let mut silent_list: Vec<String> = Vec::new();
    let (mut jitter, mut freezes, mut frozen_us) = (Vec::new(), 0u64, 0u64);
    let mut layers: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    let mut join = JoinReport {
        attempted: finished.len() as u64 + shared.join_failures.load(Ordering::Relaxed),
        failed: shared.join_failures.load(Ordering::Relaxed),
        ..JoinReport::default()
    };
    let (mut welcome, mut answer, mut connected, mut media, mut key) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for f in &finished {
        let _ = latency.add(&f.state.latency);
        welcome.push(f.times.welcome_ms);
        answer.push(f.times.answer_ms);
        connected.push(f.times.connected_ms);
        let since = |us: Option<u64>| us.map(|u| u.saturating_sub(f.started_us) as f64 / 1e3);
        // A churn room's detainee joins before any visitor: its wait for
        // media is not a join time.
        if !f.expected_senders.is_empty() {
            match since(f.state.first_packet_us) {
                Some(ms) => media.push(ms),
                None => join.no_media += 1,
            }
            if let Some(ms) = since(f.state.first_keyframe_us) {
                key.push(ms);
            }
        }
        for sender in &f.expected_senders {
            if !f
                .state
                .streams
                .contains_key(&(sender.clone(), "video".to_string()))
            {
                silent += 1;
                worst = 1.0;
                if silent_list.len() < 50 {
                    silent_list.push(format!("{} ← {sender}", f.name));
                }
            }
        }
        for ((sender, kind), log) in &f.state.streams {
            let Some(&(v, a)) = f.cutoff.get(sender) else {
                continue;
            };
            let end = if kind == "video" { v } else { a };
            let exp = u64::from(end.saturating_sub(log.first_seq));
            let got = log.received_before(end);
            expected += exp;
            received += got;
            dups += log.duplicates;
            streams += 1;
            worst = worst.max(crate::stats::loss(exp, got));
            jitter.push(log.jitter.jitter_us / 1e3);
            freezes += log.freezes.count;
            frozen_us += log.freezes.total_us;
            if !log.layers.is_empty() {
                let entry = layers.entry(f.cap_kbps).or_default();
                for (l, n) in &log.layers {
                    *entry.entry(l.clone()).or_default() += n;
                }
            }
        }
    }
    join.welcome_ms = Dist::of(&welcome);
    join.answer_ms = Dist::of(&answer);
    join.connected_ms = Dist::of(&connected);
    join.first_media_ms = Dist::of(&media);
    join.first_keyframe_ms = Dist::of(&key);
    let us_to_ms = |v: u64| v as f64 / 1e3;
    let latency_ms = (!latency.is_empty()).then(|| Dist {
        count: latency.len(),
        p50: us_to_ms(latency.value_at_quantile(0.50)),
        p95: us_to_ms(latency.value_at_quantile(0.95)),
        p99: us_to_ms(latency.value_at_quantile(0.99)),
        max: us_to_ms(latency.max()),
    });
    let latency_cdf: Vec<(f64, f64)> = if latency.is_empty() {
        Vec::new()
    } else {
        (0..=200)
            .map(|i| {
                let q = f64::from(i) / 200.0;
                (us_to_ms(latency.value_at_quantile(q)), q)
            })
            .collect()
    };
    let mut lateness = latency_histogram();
    let (mut skipped, mut errors) = (0, 0);
    for s in &sends {
        let _ = lateness.add(&s.lateness);
        skipped += s.skipped;
        errors += s.errors;
    }
    let dt = (ph.measure_end.t_s - ph.measure_start.t_s).max(1e-3);
    let forwarded = delta(ph.measure_start.forwarded, ph.measure_end.forwarded);
    let sfu_cpu = delta(ph.measure_start.sfu_cpu_s, ph.measure_end.sfu_cpu_s);
    let process_cpu = delta(ph.measure_start.process_cpu_s, ph.measure_end.process_cpu_s);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sfu = SfuReport {
        forwarded,
        forwarded_per_s: forwarded.map(|f| f / dt),
        cpu_s: sfu_cpu,
        cpu_us_per_packet: sfu_cpu
            .zip(forwarded)
            .filter(|(_, f)| *f > 0.0)
            .map(|(c, f)| c * 1e6 / f),
        cores: sfu_cpu.map(|c| c / dt),
    };
    let process_cores = process_cpu.map(|c| c / dt);
    let non_sfu = process_cores.map(|p| {
        p - if opts.remote.is_none() {
            sfu.cores.unwrap_or(0.0)
        } else {
            0.0
        }
    });
    let lateness_ms = (!lateness.is_empty()).then(|| Dist {
        count: lateness.len(),
        p50: us_to_ms(lateness.value_at_quantile(0.5)),
        p95: us_to_ms(lateness.value_at_quantile(0.95)),
        p99: us_to_ms(lateness.value_at_quantile(0.99)),
        max: us_to_ms(lateness.max()),
    });
    let publishers = sends.len() as u64;
    // Packets (audio + video) a publisher sent per second in the measured
    // phase; the scenario asks for video_pps + audio_pps.
    let pps_achieved = (publishers > 0)
        .then(|| (ph.measure_end.sent - ph.measure_start.sent) as f64 / publishers as f64 / dt);
    let saturated = process_cores.is_some_and(|p| p >= 0.9 * cores as f64);
    let late = lateness_ms.is_some_and(|d| d.p99 > 20.0) || skipped > 0;
    let note = match (saturated, late) {
        (true, true) => {
            "the process used ≥ 90 % of the cores and sends ran late: the generator limited the run"
                .to_string()
        }
        (true, false) => {
            "the process used ≥ 90 % of the cores (clients and SFU share them)".to_string()
        }
        (false, true) => {
            "sends ran late against their schedule (p99 > 20 ms or skipped slots)".to_string()
        }
        (false, false) => "sends kept their schedule and cores were left".to_string(),
    };
    let client_packets = (ph.measure_end.sent + ph.measure_end.received)
        .checked_sub(ph.measure_start.sent + ph.measure_start.received)
        .filter(|p| *p > 0);
    let per_packet =
        |cpu_s: Option<f64>| cpu_s.zip(client_packets).map(|(c, p)| c * 1e6 / p as f64);
    let light_cpu = delta(ph.measure_start.light_cpu_s, ph.measure_end.light_cpu_s);
    let generator = GeneratorReport {
        cores_available: cores,
        process_cores,
        non_sfu_cores: non_sfu,
        send_lateness_ms: lateness_ms,
        skipped_sends: skipped,
        send_errors: errors,
        pps_achieved,
        pps_wanted: f64::from(sc.media.video_pps + sc.media.audio_pps),
        bottleneck: saturated || late,
        note,
        client: sc.run.client.as_str().to_string(),
        light_clients: shared.light_clients.load(Ordering::Relaxed),
        async_clients: shared.async_clients.load(Ordering::Relaxed),
        client_packets,
        non_sfu_us_per_packet: per_packet(non_sfu.map(|c| c * dt)),
        light_cores: light_cpu.map(|c| c / dt),
        light_us_per_packet: per_packet(light_cpu),
        light_dropped_datagrams: shared
            .light
            .as_ref()
            .map_or(0, LightEngine::dropped_datagrams),
    };
    let mb = |b: Option<u64>| b.map(|b| b as f64 / 1e6);
    let warm_t = ph.measure_start.t_s + sc.memory_warmup_s();
    let at_warm = samples
        .iter()
        .find(|s| s.t_s >= warm_t)
        .and_then(|s| s.rss_bytes);
    let tail: Vec<u64> = samples
        .iter()
        .filter(|s| s.t_s <= ph.measure_end.t_s + 0.5)
        .rev()
        .take(5)
        .filter_map(|s| s.rss_bytes)
        .collect();
    let tail_mean =
        (!tail.is_empty()).then(|| tail.iter().sum::<u64>() as f64 / tail.len() as f64 / 1e6);
    let participants = finished.len().max(1) as f64;
    let memory = MemoryReport {
        before_joins_mb: mb(ph.before_joins.rss_bytes),
        measured_start_mb: mb(ph.measure_start.rss_bytes),
        end_mb: mb(ph.measure_end.rss_bytes),
        growth_after_warmup_mb: tail_mean.zip(mb(at_warm)).map(|(t, w)| t - w),
        growth_after_warmup_pct: tail_mean
            .zip(mb(at_warm))
            .filter(|(_, w)| *w > 0.0)
            .map(|(t, w)| (t - w) / w * 100.0),
        warmup_s: sc.memory_warmup_s(),
        per_participant_kb: ph
            .measure_start
            .rss_bytes
            .zip(ph.before_joins.rss_bytes)
            .map(|(a, b)| (a as f64 - b as f64) / 1e3 / participants),
    };
    Report {
        scenario: sc.name.clone(),
        scenario_file: opts.scenario_file.clone(),
        measured_s: dt,
        publishers,
        receivers: finished.len() as u64,
        join,
        latency_ms,
        jitter_ms: Dist::of(&jitter),
        freezes,
        frozen_s: frozen_us as f64 / 1e6,
        packets: PacketReport {
            sent: shared.sent_total(),
            expected,
            received,
            duplicates: dups,
            loss: crate::stats::loss(expected, received),
            loss_max_stream: worst,
            streams,
            silent_streams: silent,
            silent: silent_list,
        },
        sfu,
        memory,
        generator,
        simulcast_layers: layers,
        errors: shared.errors.lock().map(|e| e.clone()).unwrap_or_default(),
        latency_cdf,
        samples,
        ..Report::default()
    }
}
