//! Clients looping the full cycle through the proxy while the test breaks things: every answer
//! is counted by phase and kind, and the first few unacceptable ones are kept with their text.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::flow::{Kind, Site, Tally};
use super::{Cluster, Counts};

/// An answer kept for the report: phase, step, kind, what came back.
pub type Sample = (usize, &'static str, Kind, String);

/// Where the answers of a run go: the current phase, counts per (phase, kind), and samples.
#[derive(Clone, Default)]
pub struct Meter {
    phase: Arc<AtomicUsize>,
    counts: Counts<(usize, Kind)>,
    pub samples: Arc<Mutex<Vec<Sample>>>,
}

impl Meter {
    /// The tally that counts into the current phase.
    pub fn tally(&self) -> Tally {
        let m = self.clone();
        Arc::new(move |step, kind, detail| {
            let p = m.phase.load(Ordering::SeqCst);
            *m.counts.lock().expect("counts").entry((p, kind)).or_default() += 1;
            let mut s = m.samples.lock().expect("samples");
            if s.len() < 40 && kind != Kind::Ok {
                s.push((p, step, kind, detail.unwrap_or_default().to_string()));
            }
        })
    }

    pub fn phase(&self) -> usize {
        self.phase.load(Ordering::SeqCst)
    }

    pub fn count(&self, phase: usize, kind: Kind) -> u64 {
        self.counts.lock().expect("counts").get(&(phase, kind)).copied().unwrap_or(0)
    }

    pub fn total(&self, kind: Kind) -> u64 {
        self.counts.lock().expect("counts").iter().filter(|((_, k), _)| *k == kind).map(|(_, n)| n).sum()
    }
}

pub struct Traffic {
    pub meter: Meter,
    stop: Arc<AtomicBool>,
    /// Finished cycles per phase (the one they ended in): (phase, succeeded) → count.
    cycles: Counts<(usize, bool)>,
    /// When each worker last finished a cycle successfully.
    last_ok: Arc<Mutex<Vec<Option<Instant>>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    /// `workers` tasks, each logging a person of its own in again and again through `site`
    /// (whose tally should be `meter`'s).
    pub async fn start(cl: &Cluster, site: &Site, workers: usize, meter: Meter) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let cycles: Counts<(usize, bool)> = Arc::default();
        let last_ok = Arc::new(Mutex::new(vec![None; workers]));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let nip = cl.person(&format!("Pengguna Pagi {w}")).await;
            let (site, stop, m, cycles, last) =
                (site.clone(), stop.clone(), meter.clone(), cycles.clone(), last_ok.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let ok = site.cycle(&nip).await.is_ok();
                    *cycles.lock().expect("cycles").entry((m.phase(), ok)).or_default() += 1;
                    if ok {
                        last.lock().expect("last")[w] = Some(Instant::now());
                    } else {
                        // Not a tight loop against a refused connection.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        Traffic { meter, stop, cycles, last_ok, tasks }
    }

    pub fn enter(&self, phase: usize) {
        self.meter.phase.store(phase, Ordering::SeqCst);
    }

    pub async fn finish(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// Whether every worker has finished a cycle successfully since `t`.
    pub fn all_ok_since(&self, t: Instant) -> bool {
        self.last_ok.lock().expect("last").iter().all(|l| l.is_some_and(|l| l > t))
    }

    /// The table for the notes: one line per phase.
    pub fn table(&self, names: &[&str], seconds: &[f64]) -> String {
        let cycles = self.cycles.lock().expect("cycles").clone();
        let mut out = format!(
            "| phase | s | cycles ok | cycles failed | ok | 4xx | 503 | other 5xx | connection | unexpected |\n|{}\n",
            "---|".repeat(10)
        );
        for (p, name) in names.iter().enumerate() {
            let c = |k| self.meter.count(p, k);
            out.push_str(&format!(
                "| {name} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                seconds.get(p).copied().unwrap_or(0.0),
                cycles.get(&(p, true)).copied().unwrap_or(0),
                cycles.get(&(p, false)).copied().unwrap_or(0),
                c(Kind::Ok),
                c(Kind::Client),
                c(Kind::Unavailable),
                c(Kind::Server),
                c(Kind::Connection),
                c(Kind::Unexpected),
            ));
        }
        out
    }
}
