//! Once a second: CPU of the SFU worker threads and of the whole process,
//! the process's resident memory, and the SFU's forwarded-packet counter.

use serde::Serialize;

/// CPU time of this process's threads whose name starts with `prefix`, ns
/// (`/proc/self/task/*/schedstat`, first field). `None` if there are none.
pub fn threads_cpu_ns(prefix: &str) -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = None;
    for t in tasks.flatten() {
        let Ok(comm) = std::fs::read_to_string(t.path().join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        if let Some(ns) = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        {
            *total.get_or_insert(0) += ns;
        }
    }
    total
}

/// CPU time of the whole process (utime + stime of `/proc/self/stat`,
/// clock ticks of 10 ms), ns.
pub fn process_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which ends with ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// Resident memory of this process (`VmRSS` of `/proc/self/status`), bytes.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_rss(&status)
}

/// `VmRSS` of a `/proc/<pid>/status` text, bytes.
pub fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The value of an unlabelled metric, or the sum over all label sets of a
/// labelled one, in Prometheus text format.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if let Some(r) = rest.strip_prefix('{') {
            r.split_once("} ").map(|(_, v)| v)
        } else {
            rest.strip_prefix(' ')
        };
        if let Some(v) = value.and_then(|v| v.trim().parse::<f64>().ok()) {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

/// One sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// CPU of the SFU worker threads (in-process: schedstat; remote:
    /// `parley_sfu_worker_cpu_seconds`), seconds, cumulative.
    pub sfu_cpu_s: Option<f64>,
    /// CPU of this whole process, seconds, cumulative.
    pub process_cpu_s: Option<f64>,
    /// CPU of the lightweight client's threads, seconds, cumulative (none
    /// when it is not used).
    pub light_cpu_s: Option<f64>,
    /// Resident memory of Parley, bytes: of this process for an
    /// in-process Parley (the SFU, signaling and the load clients share
    /// it); else the target's `process_resident_memory_bytes`.
    pub rss_bytes: Option<u64>,
    /// `parley_sfu_rtp_packets_forwarded_total`.
    pub forwarded: Option<f64>,
    /// Packets the load clients received so far.
    pub received: u64,
    /// Packets the load clients sent so far (audio + video).
    pub sent: u64,
}

/// Takes a sample; `in_process` reads the SFU's CPU from this process's
/// threads, else from the metrics.
pub fn sample(t_s: f64, metrics: &str, in_process: bool, sent: u64, received: u64) -> Sample {
    let sfu_cpu_s = if in_process {
        threads_cpu_ns("sfu-worker").map(|ns| ns as f64 / 1e9)
    } else {
        metric_sum(metrics, "parley_sfu_worker_cpu_seconds")
    };
    Sample {
        t_s,
        sfu_cpu_s,
        process_cpu_s: process_cpu_ns().map(|ns| ns as f64 / 1e9),
        light_cpu_s: threads_cpu_ns(crate::light::THREAD_PREFIX).map(|ns| ns as f64 / 1e9),
        rss_bytes: if in_process {
            rss_bytes()
        } else {
            metric_sum(metrics, "process_resident_memory_bytes").map(|b| b as u64)
        },
        forwarded: metric_sum(metrics, "parley_sfu_rtp_packets_forwarded_total"),
        received,
        sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_and_labelled_gauges() {
        let text = "# HELP x\nparley_sfu_rtp_packets_forwarded_total 1234\nparley_sfu_rtp_packets_forwarded_total_other 9\nparley_sfu_worker_cpu_seconds{worker=\"0\"} 1.5\nparley_sfu_worker_cpu_seconds{worker=\"1\"} 0.25\n";
        assert_eq!(
            metric_sum(text, "parley_sfu_rtp_packets_forwarded_total"),
            Some(1234.0)
        );
        assert_eq!(
            metric_sum(text, "parley_sfu_worker_cpu_seconds"),
            Some(1.75)
        );
        assert_eq!(metric_sum(text, "absent"), None);
    }

    #[test]
    fn reads_rss_and_own_cpu() {
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
        assert_eq!(parse_rss("Name:\tx\n"), None);
        assert!(rss_bytes().is_some_and(|b| b > 0));
        assert!(process_cpu_ns().is_some());
        assert_eq!(threads_cpu_ns("no-such-thread-name"), None);
    }
}
