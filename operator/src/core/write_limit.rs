//! How many writes the operator keeps in flight to the API server: adapted to what the API
//! server answers, by the rate it completes them, their latency and its overload answers.
//!
//! An API server's write rate first rises with the writes in flight (etcd commits them in
//! batches), then flattens, then falls as it runs out of CPU (on the 2-core test machine:
//! 439 writes/s at 8 in flight, 490 at 16, 588 at 32, 595 at 64, 440 at 128). Latency rises
//! all along, so a latency target would stop either far below the best rate or past it:
//! the rate itself is climbed. The rate also moves with everything else the machine does,
//! often more than one step of the limit changes it; so each step compares the two
//! neighbours of the limit measured interleaved (a quarter above, a quarter below, below,
//! above: [`PHASE`] each), which cancels what drifts meanwhile. The limit then moves a step
//! ([`STEP`]) towards the faster neighbour, and stays where it is when they are level. (It
//! used to step down half a step on a level rate, so that the same rate would queue less in
//! the API server; but where the operator's own work, not the API server, sets the pace, the
//! rate is level at every limit, and the limit sank step by step to 5 writes in flight while
//! rolling out 10,000 namespaces, where the API server, answering in 7 ms, batched too
//! little: 625 writes a second against 847-955 of the floor at 32-128 in flight.) A phase whose
//! writes did not queue (fewer writes were wanted than the limit) says nothing about the
//! limit: the comparison starts over. An overload answer (429, 503, 504: priority and
//! fairness rejecting, the API server or etcd struggling), or a phase whose median write
//! took over [`LATENCY_CEILING`], halves the limit at once; further overload answers to
//! writes sent before that halving do not halve it again (they were sent under the old
//! limit: a burst of rejections is one signal, not one per write).
//!
//! Pure: time is passed in (`now`, a monotonic offset), so it is tested by simulation.

use std::time::Duration;

/// How long each neighbour of the limit is measured at a time.
pub const PHASE: Duration = Duration::from_millis(250);
/// Fewer completed writes than this in a phase say too little about the rate.
const MIN_PHASE_WRITES: usize = 8;
/// Factor of one step of the limit (at least 1), and of the neighbours measured.
pub const STEP: f64 = 1.25;
/// A rate difference within this fraction counts as level.
const LEVEL: f64 = 0.03;
/// A phase whose median write took longer than this is treated as an overload.
pub const LATENCY_CEILING: Duration = Duration::from_secs(1);
/// The share of a phase's writes that must have queued for a slot for it to count.
const SATURATED_SHARE: f64 = 0.5;
/// The order the neighbours are measured in, from the side a cycle starts with: that side,
/// the other twice, that side again.
const CYCLE: [bool; 4] = [true, false, false, true];

/// One finished write, as the limiter learns of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it finished.
    pub now: Duration,
    /// From sending it to its answer.
    pub latency: Duration,
    /// It waited for a slot: more writes were wanted than the limit allowed.
    pub queued: bool,
    /// The API server answered 429, 503 or 504.
    pub overloaded: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Above,
    Below,
}

impl Side {
    fn other(self) -> Self {
        match self {
            Self::Above => Self::Below,
            Self::Below => Self::Above,
        }
    }
}

/// The writes measured in the current phase.
#[derive(Clone, Debug, PartialEq)]
struct Phase {
    started: Duration,
    writes: usize,
    queued: usize,
    latencies: Vec<Duration>,
}

impl Phase {
    fn new(started: Duration) -> Self {
        Self {
            started,
            writes: 0,
            queued: 0,
            latencies: Vec::new(),
        }
    }
}

/// The limit, the neighbour in force while it is being measured, and the rates so far.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteLimit {
    /// The centre: the limit the measurements are about.
    centre: usize,
    min: usize,
    max: usize,
    /// The side this cycle started with, and how far into [`CYCLE`] it is.
    first: Side,
    step: usize,
    phase: Phase,
    /// Writes per second measured above and below the centre in this cycle.
    above: Vec<f64>,
    below: Vec<f64>,
    /// After an overload: the halved limit, held until a phase in which writes queued.
    hold: Option<usize>,
    /// When the limit was last halved: an overload answer to a write sent before then
    /// says nothing about the halved limit.
    halved_at: Option<Duration>,
}

impl WriteLimit {
    /// Starts measuring around `initial`, kept within `min..=max` (`min` at least 1).
    pub fn new(initial: usize, min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        Self {
            centre: initial.clamp(min, max),
            min,
            max,
            first: Side::Above,
            step: 0,
            phase: Phase::new(Duration::ZERO),
            above: Vec::new(),
            below: Vec::new(),
            hold: None,
            halved_at: None,
        }
    }

    /// The writes allowed in flight now.
    pub fn limit(&self) -> usize {
        self.hold.unwrap_or_else(|| self.neighbour(self.side()))
    }

    /// Learns from one finished write; returns the new limit when it changed.
    pub fn record(&mut self, sample: Sample) -> Option<usize> {
        let before = self.limit();
        self.learn(sample);
        let after = self.limit();
        (after != before).then_some(after)
    }

    fn learn(&mut self, sample: Sample) {
        if sample.overloaded {
            // A burst of overload answers (priority and fairness rejecting a queue's worth
            // at once) halves the limit once: the writes sent before it was halved were
            // sent under the old one. As TCP takes one loss per window, not per packet.
            let sent = sample.now.saturating_sub(sample.latency);
            if self.halved_at.is_some_and(|halved| sent < halved) {
                return;
            }
            return self.back_off(sample.now);
        }
        self.phase.writes += 1;
        self.phase.queued += usize::from(sample.queued);
        self.phase.latencies.push(sample.latency);
        let elapsed = sample.now.saturating_sub(self.phase.started);
        if elapsed < PHASE || self.phase.writes < MIN_PHASE_WRITES {
            return;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::new(sample.now));
        let mut latencies = phase.latencies;
        latencies.sort_unstable();
        if latencies[latencies.len() / 2] > LATENCY_CEILING {
            return self.back_off(sample.now);
        }
        if (phase.queued as f64) < SATURATED_SHARE * phase.writes as f64 {
            // The writes wanted fit under the limit: the rate says how much work there
            // was, not what the API server can take. The comparison starts over, from
            // the limit in force.
            if self.hold.is_none() {
                self.restart(self.side());
            }
            return;
        }
        if let Some(held) = self.hold.take() {
            // Writes queue again after an overload: measure around the halved limit.
            self.centre = held;
            return self.restart(Side::Above);
        }
        let rate = phase.writes as f64 / elapsed.as_secs_f64();
        match self.side() {
            Side::Above => self.above.push(rate),
            Side::Below => self.below.push(rate),
        }
        self.step += 1;
        if self.step == CYCLE.len() {
            self.centre = self.decide();
            self.restart(Side::Above);
        }
    }

    /// The side measured now.
    fn side(&self) -> Side {
        if CYCLE[self.step] {
            self.first
        } else {
            self.first.other()
        }
    }

    /// The next centre from a complete cycle.
    fn decide(&self) -> usize {
        let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len().max(1) as f64;
        let (above, below) = (mean(&self.above), mean(&self.below));
        let centre = self.centre as f64;
        let next = if above > below * (1.0 + LEVEL) {
            (centre * STEP).round().max(centre + 1.0)
        } else if below > above * (1.0 + LEVEL) {
            (centre / STEP).round().min(centre - 1.0)
        } else {
            centre
        };
        (next.max(0.0) as usize).clamp(self.min, self.max)
    }

    fn restart(&mut self, first: Side) {
        self.first = first;
        self.step = 0;
        self.above.clear();
        self.below.clear();
    }

    /// Halves the limit in force, holds it, and measures afresh from `now`.
    fn back_off(&mut self, now: Duration) {
        let halved = (self.limit() / 2).max(self.min);
        self.hold = Some(halved);
        self.halved_at = Some(now);
        self.centre = halved;
        self.restart(Side::Above);
        self.phase = Phase::new(now);
    }

    fn neighbour(&self, side: Side) -> usize {
        let centre = self.centre as f64;
        let next = match side {
            Side::Above => (centre * STEP).round().max(centre + 1.0),
            Side::Below => (centre / STEP).round().min(centre - 1.0),
        };
        (next.max(0.0) as usize).clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A simulated API server: its write rate at `c` writes in flight, and the latency
    /// that goes with it (Little's law), with multiplicative noise.
    struct Server {
        rate: fn(f64) -> f64,
        noise: f64,
        seed: u64,
        now: f64,
        /// The machine's speed now: other work on it comes and goes (changed every
        /// 100 ms, correlated over about a second).
        speed: f64,
        speed_at: f64,
    }

    impl Server {
        fn new(rate: fn(f64) -> f64, noise: f64, seed: u64) -> Self {
            Self {
                rate,
                noise,
                seed,
                now: 0.0,
                speed: 1.0,
                speed_at: 0.0,
            }
        }

        /// The rate at `c` in flight now.
        fn rate_now(&mut self, c: f64) -> f64 {
            while self.speed_at + 0.1 <= self.now {
                self.speed_at += 0.1;
                let r = self.random();
                self.speed = 0.8 * self.speed + 0.2 * (1.0 + 2.0 * self.noise * r);
            }
            (self.rate)(c) * self.speed.max(0.05)
        }
    }

    impl Server {
        fn random(&mut self) -> f64 {
            // xorshift: deterministic noise in [-1, 1].
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            (self.seed % 2001) as f64 / 1000.0 - 1.0
        }

        fn run_until(&mut self, limit: &mut WriteLimit, until: f64) {
            while self.now < until {
                let c = limit.limit() as f64;
                let rate = self.rate_now(c);
                let latency = c / rate;
                self.now += 1.0 / rate;
                limit.record(Sample {
                    now: Duration::from_secs_f64(self.now),
                    latency: Duration::from_secs_f64(latency),
                    queued: true,
                    overloaded: false,
                });
            }
        }

        /// Runs `seconds` of saturated demand; the limit at each window's end.
        fn run(&mut self, limit: &mut WriteLimit, seconds: f64) -> Vec<usize> {
            let mut limits = Vec::new();
            let end = self.now + seconds;
            while self.now < end {
                let c = limit.limit() as f64;
                let rate = self.rate_now(c);
                let latency = c / rate;
                self.now += 1.0 / rate;
                if limit
                    .record(Sample {
                        now: Duration::from_secs_f64(self.now),
                        latency: Duration::from_secs_f64(latency),
                        queued: true,
                        overloaded: false,
                    })
                    .is_some()
                {
                    limits.push(limit.limit());
                }
            }
            limits
        }
    }

    /// The curve measured on the test machine (8: 439/s, 16: 490, 32: 588, 64: 595,
    /// 128: 440), interpolated in log2 of the writes in flight.
    fn measured(c: f64) -> f64 {
        let points = [
            (1.0, 120.0),
            (8.0, 439.0),
            (16.0, 490.0),
            (32.0, 588.0),
            (64.0, 595.0),
            (128.0, 440.0),
            (512.0, 150.0),
        ];
        let x = c.max(1.0).log2();
        for pair in points.windows(2) {
            let ((c0, r0), (c1, r1)) = (pair[0], pair[1]);
            let (x0, x1) = (f64::log2(c0), f64::log2(c1));
            if x <= x1 {
                return r0 + (r1 - r0) * (x - x0) / (x1 - x0);
            }
        }
        150.0
    }

    /// The mean rate over `seconds` of saturated demand, as a share of `best`: the
    /// limit looked at every 100 ms of simulated time.
    fn efficiency(server: &mut Server, limit: &mut WriteLimit, seconds: f64, best: f64) -> f64 {
        let start = server.now;
        let (mut total, mut looks) = (0.0, 0.0);
        while server.now < start + seconds {
            let until = server.now + 0.1;
            server.run_until(limit, until);
            total += (server.rate)(limit.limit() as f64);
            looks += 1.0;
        }
        total / looks / best
    }

    #[test]
    fn the_limit_finds_the_best_rate_of_the_measured_api_server_while_the_machine_is_busy() {
        for noise in [0.0, 0.15, 0.3] {
            for seed in 1..=25 {
                let mut server = Server::new(measured, noise, seed);
                let mut limit = WriteLimit::new(32, 1, 128);
                // A rollout of 1,000 namespaces takes about 10 s, one of 10,000 about 100.
                let short = efficiency(&mut server, &mut limit, 10.0, 595.0);
                let long = efficiency(&mut server, &mut limit, 90.0, 595.0);
                assert!(
                    short >= 0.93 && long >= 0.93,
                    "noise {noise}, seed {seed}: {short:.2} of the best rate in the first 10 s, {long:.2} after"
                );
            }
        }
    }

    #[test]
    fn a_small_api_server_gets_fewer_writes_in_flight() {
        // The best rate at 4 in flight; more only queue and then slow it down.
        let small = |c: f64| {
            if c <= 4.0 {
                50.0 * c
            } else {
                200.0 * (4.0 / c).powf(0.3)
            }
        };
        let mut server = Server::new(small, 0.1, 3);
        let mut limit = WriteLimit::new(32, 1, 128);
        server.run(&mut limit, 30.0);
        let later = efficiency(&mut server, &mut limit, 30.0, 200.0);
        // Measuring both neighbours costs a little at so sharp a peak.
        assert!(
            later >= 0.85,
            "{later:.2} of the best rate at limit {}",
            limit.limit()
        );
        assert!(limit.limit() <= 8, "{}", limit.limit());
    }

    #[test]
    fn a_level_rate_does_not_sink_the_limit() {
        // The writer's own work sets the pace: the same rate at every limit (1 % noise, as
        // the level band would not see). The limit neither sinks nor climbs.
        for seed in 1..=25 {
            let mut server = Server::new(|_| 700.0, 0.01, seed);
            let mut limit = WriteLimit::new(32, 1, 128);
            let limits = server.run(&mut limit, 90.0);
            let centre = limit.centre;
            assert!(
                (26..=40).contains(&centre),
                "seed {seed}: centre {centre} after 90 s of a level rate (limits {limits:?})"
            );
        }
    }

    #[test]
    fn a_larger_api_server_gets_more_writes_in_flight() {
        // The rate keeps rising up to 400 in flight.
        let big = |c: f64| 5000.0 * (c.min(400.0) / 400.0).sqrt();
        let mut server = Server::new(big, 0.03, 7);
        let mut limit = WriteLimit::new(16, 1, 1024);
        server.run(&mut limit, 60.0);
        assert!(limit.limit() >= 200, "{}", limit.limit());
    }

    #[test]
    fn an_overload_answer_halves_the_limit_at_once() {
        let mut limit = WriteLimit::new(64, 4, 128);
        assert_eq!(limit.limit(), 80, "the neighbour above is measured first");
        let overload = Sample {
            now: ms(10),
            latency: ms(5),
            queued: true,
            overloaded: true,
        };
        assert_eq!(limit.record(overload), Some(40));
        // The rest of the burst: writes sent (at 5 ms) before the limit was halved.
        for i in 11..20 {
            assert_eq!(
                limit.record(Sample {
                    now: ms(i),
                    latency: ms(i - 5),
                    ..overload
                }),
                None,
                "answer at {i} ms to a write sent before the halving"
            );
        }
        // Writes sent after it that are rejected too halve it again, down to min.
        let mut now = 20;
        for expected in [Some(20), Some(10), Some(5), Some(4), None] {
            now += 10;
            assert_eq!(
                limit.record(Sample {
                    now: ms(now),
                    latency: ms(5),
                    ..overload
                }),
                expected,
                "at {now} ms"
            );
        }
        assert_eq!(limit.limit(), 4, "never below min");
        // Held while writes do not queue; measured around it once they do.
        let calm = Sample {
            now: ms(15),
            latency: ms(5),
            queued: false,
            overloaded: false,
        };
        for i in 0..100 {
            assert_eq!(
                limit.record(Sample {
                    now: ms(16 + i * 10),
                    ..calm
                }),
                None
            );
        }
        let busy = Sample {
            queued: true,
            ..calm
        };
        let changed = (0..100).find_map(|i| {
            limit.record(Sample {
                now: ms(1100 + i * 10),
                ..busy
            })
        });
        assert_eq!(changed, Some(5), "a quarter above the halved limit");
    }

    #[test]
    fn slow_writes_halve_the_limit_and_unqueued_ones_leave_it() {
        let mut limit = WriteLimit::new(40, 1, 128);
        assert_eq!(limit.limit(), 50);
        let changed = (0..=40).find_map(|i| {
            limit.record(Sample {
                now: ms(i * 20),
                latency: ms(1500),
                queued: true,
                overloaded: false,
            })
        });
        assert_eq!(changed, Some(25));
        let mut calm = WriteLimit::new(40, 1, 128);
        for i in 0..200 {
            let sample = Sample {
                now: ms(i * 20),
                latency: ms(5),
                queued: false,
                overloaded: false,
            };
            assert_eq!(calm.record(sample), None);
        }
    }

    proptest! {
        #[test]
        fn the_limit_stays_within_its_bounds_and_overloads_never_raise_it(
            min in 1usize..8,
            span in 0usize..200,
            initial in 0usize..300,
            samples in proptest::collection::vec((0u64..50, 0u64..3000, any::<bool>(), proptest::bool::weighted(0.05)), 0..600),
        ) {
            let max = min + span;
            let mut limit = WriteLimit::new(initial, min, max);
            prop_assert!((min..=max).contains(&limit.limit()));
            let mut now = 0;
            for (gap, latency, queued, overloaded) in samples {
                now += gap;
                let before = limit.limit();
                let changed = limit.record(Sample { now: ms(now), latency: ms(latency), queued, overloaded });
                prop_assert!((min..=max).contains(&limit.limit()));
                prop_assert_eq!(changed.is_some(), limit.limit() != before);
                if overloaded {
                    prop_assert!(limit.limit() <= before);
                }
            }
        }

        #[test]
        fn writes_that_never_queue_and_answer_in_time_never_move_the_limit(
            initial in 1usize..300,
            samples in proptest::collection::vec((0u64..50, 0u64..1000), 0..600),
        ) {
            let mut limit = WriteLimit::new(initial, 1, 1024);
            let first = limit.limit();
            let mut now = 0;
            for (gap, latency) in samples {
                now += gap;
                let sample = Sample { now: ms(now), latency: ms(latency), queued: false, overloaded: false };
                prop_assert_eq!(limit.record(sample), None);
            }
            prop_assert_eq!(limit.limit(), first);
        }
    }
}
