//! Clients looping the full cycle through the proxy while the test breaks things: every answer
//! is counted by the phase its request was sent in and by kind, the first few unacceptable ones
//! are kept with their text, and every refresh token a client received is kept so the test can
//! try it again after each fault.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gerbang::auth::session::MAX_SESSIONS;
use gerbang::config::Secret;
use gerbang::identity::accounts::{self, NewAccount};
use gerbang::state::{now, AppState};

use super::flow::{Count, Kind, Site, Tally};
use super::{Cluster, Counts};
use crate::common::{unique_nip, PASSWORD};

/// An answer kept for the report: phase, step, kind, what came back.
pub type Sample = (usize, &'static str, Kind, String);

/// Where the answers of a run go: the current phase, counts per (phase, kind), and samples.
#[derive(Clone, Default)]
pub struct Meter {
    /// The current phase, and per phase the requests sent in it and not answered yet: one lock,
    /// so no request is sent under a phase once `enter` has left it.
    phases: Arc<Mutex<(usize, Vec<usize>)>>,
    counts: Counts<(usize, Kind)>,
    pub samples: Arc<Mutex<Vec<Sample>>>,
}

/// Samples kept per phase and kind: enough to see what went wrong, few enough to read.
const SAMPLES: usize = 3;

impl Count for Meter {
    fn current(&self) -> usize {
        self.phases.lock().expect("phases").0
    }

    fn sent(&self) -> usize {
        let mut p = self.phases.lock().expect("phases");
        let phase = p.0;
        if p.1.len() <= phase {
            p.1.resize(phase + 1, 0);
        }
        p.1[phase] += 1;
        phase
    }

    fn answered(&self, phase: usize) {
        self.phases.lock().expect("phases").1[phase] -= 1;
    }

    fn record(&self, p: usize, step: &'static str, kind: Kind, detail: Option<&str>) {
        *self.counts.lock().expect("counts").entry((p, kind)).or_default() += 1;
        let mut s = self.samples.lock().expect("samples");
        if kind != Kind::Ok && s.iter().filter(|x| x.0 == p && x.2 == kind).count() < SAMPLES {
            s.push((p, step, kind, detail.unwrap_or_default().to_string()));
        }
    }
}

impl Meter {
    /// The tally that counts into this meter.
    pub fn tally(&self) -> Tally {
        Arc::new(self.clone())
    }

    pub fn count(&self, phase: usize, kind: Kind) -> u64 {
        self.counts.lock().expect("counts").get(&(phase, kind)).copied().unwrap_or(0)
    }

    pub fn total(&self, kind: Kind) -> u64 {
        self.counts.lock().expect("counts").iter().filter(|((_, k), _)| *k == kind).map(|(_, n)| n).sum()
    }
}

/// A refresh token a client received in a 200, kept to be presented again after later faults.
#[derive(Clone, Debug)]
pub struct Kept {
    pub token: String,
    /// The phase in which the request that returned it was sent.
    pub phase: usize,
    /// Its last use got no answer at all (the connection was cut): the server may have spent it
    /// before it died, and the client cannot know.
    pub uncertain: bool,
    /// Refused when tried again (then not tried any more).
    pub lost: Option<Kind>,
    /// How its last use ended, when not with a 200: for the report of a lost grant.
    pub last_use: Option<(usize, Kind)>,
}

/// A grant refused: the phase it was issued in, how the refresh was refused, and how its use
/// before that ended if not with a 200 (phase sent, kind).
pub type Lost = (usize, Kind, Option<(usize, Kind)>);

/// What trying the kept grants again found.
#[derive(Debug, Default)]
pub struct GrantCheck {
    pub checked: usize,
    /// Refused although their last use was answered (or they were never used).
    pub lost: Vec<Lost>,
    /// Refused after a use that got no answer: spent by a server killed before it could answer.
    pub lost_uncertain: usize,
}

pub struct Traffic {
    pub meter: Meter,
    stop: Arc<AtomicBool>,
    /// While set, no worker starts a cycle; `busy` counts the cycles under way.
    paused: Arc<AtomicBool>,
    busy: Arc<AtomicUsize>,
    /// Cycles per phase (the one they started in): (phase, succeeded) → count.
    cycles: Counts<(usize, bool)>,
    /// When each worker last finished a cycle successfully.
    last_ok: Arc<Mutex<Vec<Option<Instant>>>>,
    /// Every refresh token received, in the order the cycles ended.
    pub kept: Arc<Mutex<Vec<Kept>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// One cycle (login, code, refresh, userinfo), keeping the newest refresh token received (from
/// the code, or the refresh when that answered) into `kept`, whatever became of the rest.
async fn cycle(site: &Site, nip: &str, meter: &Meter, kept: &Mutex<Vec<Kept>>) -> bool {
    let Ok((_, callback, verifier)) = site.login(nip).await else { return false };
    let phase = meter.current();
    let Ok(first) = site.redeem(&callback, &verifier).await else { return false };
    let Some(rt) = first["refresh_token"].as_str() else { return false };
    let mut grant = Kept { token: rt.to_string(), phase, uncertain: false, lost: None, last_use: None };
    let phase = meter.current();
    let refreshed = site.refresh(rt).await;
    let access = match &refreshed {
        Ok(t) => match (t["refresh_token"].as_str(), t["access_token"].as_str()) {
            (Some(r), Some(a)) => {
                grant = Kept { token: r.to_string(), phase, ..grant };
                Some(a.to_string())
            }
            _ => None,
        },
        Err(k) => {
            grant.uncertain = *k == Kind::Connection;
            grant.last_use = Some((phase, *k));
            None
        }
    };
    kept.lock().expect("kept").push(grant);
    match access {
        Some(a) => site.userinfo(&a).await.is_ok(),
        None => false,
    }
}

/// A check's own earlier attempt, as the phase of a [`Kept::last_use`].
pub const CHECK: usize = usize::MAX;

/// Presents `token` once more (again after a 503 or a cut connection: the test checks after
/// each dependency is back, so those would be transient): its successor, or how it was refused,
/// with the last transient failure before that.
async fn refresh_again(site: &Site, token: &str) -> (Result<String, Kind>, Option<Kind>) {
    let mut transient = None;
    for _ in 0..5 {
        match site.refresh(token).await {
            Ok(t) => return (t["refresh_token"].as_str().map(str::to_string).ok_or(Kind::Unexpected), transient),
            Err(k @ (Kind::Unavailable | Kind::Connection)) => transient = Some(k),
            Err(k) => return (Err(k), transient),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (Err(transient.unwrap_or(Kind::Connection)), transient)
}

/// Cycles one person is used for before the worker moves on to a new one. Each cycle's login
/// opens a session, and a person's 51st session ends the oldest and revokes its grants
/// (`auth::session::MAX_SESSIONS`), which the grant checks would count as lost. Every cycle is
/// counted, whether or not its login opened a session; 10 to spare for a new person that could
/// not be made at once (the database restarting).
const CYCLES_PER_PERSON: usize = MAX_SESSIONS - 10;

/// A new civil servant with the test password, made on the shared database as
/// [`Cluster::person`] does; `None` while the database is away.
async fn new_person(state: &AppState, w: usize) -> Option<String> {
    let nip = unique_nip();
    let new = NewAccount {
        nip: Some(nip.clone()),
        nik: None,
        name: format!("Pengguna Pagi {w}"),
        password: Some(Secret::new(PASSWORD.into())),
        is_admin: false,
    };
    accounts::create(&state.db, &state.hasher, new, now()).await.ok().map(|_| nip)
}

impl Traffic {
    /// `workers` tasks, each logging a person of its own in again and again through `site`
    /// (whose tally should be `meter`'s).
    pub async fn start(cl: &Cluster, site: &Site, workers: usize, meter: Meter) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicUsize::new(0));
        let cycles: Counts<(usize, bool)> = Arc::default();
        let last_ok = Arc::new(Mutex::new(vec![None; workers]));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let mut nip = cl.person(&format!("Pengguna Pagi {w}")).await;
            let (site, stop, paused, busy, m, cycles, last, kept, state) = (
                site.clone(),
                stop.clone(),
                paused.clone(),
                busy.clone(),
                meter.clone(),
                cycles.clone(),
                last_ok.clone(),
                kept.clone(),
                cl.seed.state.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut used = 0;
                while !stop.load(Ordering::SeqCst) {
                    // Counted busy before looking at the flag: `pause` sets the flag before it
                    // reads the count, so one of the two sees the other.
                    busy.fetch_add(1, Ordering::SeqCst);
                    if paused.load(Ordering::SeqCst) {
                        busy.fetch_sub(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    if used >= CYCLES_PER_PERSON {
                        if let Some(n) = new_person(&state, w).await {
                            (nip, used) = (n, 0);
                        }
                    }
                    used += 1;
                    let phase = m.current();
                    let ok = cycle(&site, &nip, &m, &kept).await;
                    busy.fetch_sub(1, Ordering::SeqCst);
                    *cycles.lock().expect("cycles").entry((phase, ok)).or_default() += 1;
                    if ok {
                        last.lock().expect("last")[w] = Some(Instant::now());
                    } else {
                        // Not a tight loop against a refused connection.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        Traffic { meter, stop, paused, busy, cycles, last_ok, kept, tasks }
    }

    /// Starts phase `phase`, then waits until every request sent in the one before has its
    /// answer: a fault begun after this meets only requests of the new phase.
    pub async fn enter(&self, phase: usize) {
        let before = {
            let mut p = self.meter.phases.lock().expect("phases");
            std::mem::replace(&mut p.0, phase)
        };
        let t = Instant::now();
        while self.meter.phases.lock().expect("phases").1.get(before).copied().unwrap_or(0) > 0 {
            // Longer than any request may take (the clients' timeout is 30 s).
            assert!(t.elapsed() < Duration::from_secs(40), "the requests of phase {before} are answered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops new cycles and waits for those under way to end: the replicas are then idle.
    pub async fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        let t = Instant::now();
        while self.busy.load(Ordering::SeqCst) > 0 {
            assert!(t.elapsed() < Duration::from_secs(60), "the workers finish their cycles");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
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

    /// Presents every kept refresh token issued in a phase before `before` (and not refused
    /// already) through `site`, eight at a time, keeping each successor for the next check.
    pub async fn check_grants(&self, site: &Site, before: usize) -> GrantCheck {
        let due: VecDeque<(usize, String)> = {
            let kept = self.kept.lock().expect("kept");
            kept.iter()
                .enumerate()
                .filter(|(_, k)| k.phase < before && k.lost.is_none())
                .map(|(i, k)| (i, k.token.clone()))
                .collect()
        };
        let checked = due.len();
        let due = Arc::new(Mutex::new(due));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (due, kept, site) = (due.clone(), self.kept.clone(), site.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Some((i, token)) = due.lock().expect("due").pop_front() else { return };
                    let (res, transient) = refresh_again(&site, &token).await;
                    let mut kept = kept.lock().expect("kept");
                    match res {
                        Ok(next) => {
                            kept[i].token = next;
                            kept[i].uncertain = false;
                            kept[i].last_use = None;
                        }
                        Err(k) => {
                            kept[i].lost = Some(k);
                            if let Some(t) = transient {
                                kept[i].last_use = Some((CHECK, t));
                            }
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("grant check task");
        }
        let mut out = GrantCheck { checked, ..GrantCheck::default() };
        for k in self.kept.lock().expect("kept").iter().filter(|k| k.phase < before) {
            match k.lost {
                Some(_) if k.uncertain => out.lost_uncertain += 1,
                Some(kind) => out.lost.push((k.phase, kind, k.last_use)),
                None => {}
            }
        }
        out
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
