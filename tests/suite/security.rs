//! The security layer's end-to-end claims, each of which can fail: with authentication on,
//! no outsider's spoofed or replayed message reaches a decision, while genuine messages
//! reordered by jitter are all accepted; the plausibility checks flag no genuine sender in
//! a noise-free run (V2V beacons and the grid's bad-data detection); the stealthy
//! a = Hc false-data attack leaves the operator's χ² statistic where it was while the naive
//! one of the same size is caught and its meter named; W-MSR holds the consensus dispatch
//! near the optimum under a Byzantine unit that averaging follows away.

use std::path::Path;

use masim::runner::{headless_app, run_ticks};
use masim::scenario::{self, Scenario};
use masim::sim::{EventLog, Metrics};

fn load(name: &str, sets: &[(&str, &str)]) -> Scenario {
    let s = scenario::load_file(&Path::new("scenarios").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let sets: Vec<(String, String)> = sets.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    s.with_sets(&sets).unwrap_or_else(|(_, i)| panic!("{name}: {} {}", i.field, i.message))
}

/// Runs a scenario; its metric series by name and its events.
fn run(s: &Scenario) -> (impl Fn(&str) -> Vec<f64> + use<>, Vec<serde_json::Value>) {
    let mut app = headless_app(s, Some(1));
    run_ticks(&mut app, s.ticks, |_| {});
    let m = app.world().resource::<Metrics>().clone();
    let ev = app.world().resource::<EventLog>().events().iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    (move |name: &str| m.series(name).unwrap_or_else(|| panic!("no column {name}")), ev)
}

fn sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

#[test]
fn authentication_stops_every_spoofed_and_replayed_message_and_keeps_reordered_genuine_ones() {
    // The first two attacks of the V2V scenario: spoofed beacons (300–900) and replays 5 s
    // late (1200–1800), on a channel with jitter that reorders genuine beacons.
    let s = load("security_v2v_spoofing.ron", &[("security.authentication", "true"), ("channel.jitter_ticks", "3")]);
    let (col, _) = run(&s);
    // Rows of 10 ticks: the outsiders' attacks end at tick 1800, the insiders' start at 2100.
    let outsiders = |name: &str| sum(&col(name)[..210]);
    let sent = outsiders("attack_msgs_sent");
    assert!(sent > 1000.0, "the outsiders sent: {sent}");
    assert_eq!(outsiders("attack_msgs_accepted"), 0.0, "no spoofed or replayed copy reached a decision");
    assert!(outsiders("msgs_rejected_auth") > 0.0 && outsiders("msgs_rejected_replay") > 0.0);
    // Insiders hold keys: authentication lets their falsified beacons through.
    assert!(sum(&col("attack_msgs_accepted")[210..]) > 0.0);
    // Before the first attack every rejection would be of a genuine message.
    let before = |name: &str| sum(&col(name)[..29]);
    assert_eq!(before("msgs_rejected_auth") + before("msgs_rejected_replay"), 0.0, "jittered genuine beacons accepted");
    assert!(before("msgs_delivered") > 1000.0);
}

#[test]
fn plausibility_flags_no_genuine_sender_in_a_noise_free_run() {
    // V2V: every check on, no attack.
    let s = load(
        "security_v2v_spoofing.ron",
        &[
            ("ticks", "2000"),
            ("attacks", "[]"),
            ("security.plausibility", "true"),
            ("security.reputation", "true"),
            ("security.authentication", "true"),
        ],
    );
    let (col, ev) = run(&s);
    assert_eq!(sum(&col("msgs_flagged_implausible")), 0.0);
    assert_eq!(sum(&col("detections_false")), 0.0);
    assert!(col("agents_distrusted").iter().all(|&x| x == 0.0));
    assert!(!ev.iter().any(|e| e["kind"] == "detection"));
    // The grid: error-free meters, bad-data detection on, no attack: J = 0, no alarm.
    let s =
        load("security_power_fdi.ron", &[("ticks", "1200"), ("attacks", "[]"), ("world.estimation.noise", "false")]);
    let (col, _) = run(&s);
    assert!(col("se_chi2").iter().all(|&j| j < 1e-6), "J stays 0 without noise");
    assert_eq!(sum(&col("detections_false")) + sum(&col("detections_true")), 0.0);
    // The warehouse, negotiating robots (their intents checked against their claims) and
    // central planning (status reports against reservations), a crowded floor included.
    for sets in [
        vec![],
        vec![("world.robots", "60")],
        vec![("coordination", "Centralized")],
        vec![("coordination", "Centralized"), ("world.robots", "60")],
    ] {
        let mut all = vec![("attacks", "[]"), ("security.plausibility", "true"), ("ticks", "900")];
        all.extend(sets.iter().copied());
        let (col, ev) = run(&load("security_warehouse_hijack.ron", &all));
        assert_eq!(sum(&col("msgs_flagged_implausible")), 0.0, "{sets:?}");
        assert!(!ev.iter().any(|e| e["kind"] == "detection"), "{sets:?}");
        assert!(sum(&col("msgs_delivered")) > 10_000.0);
    }
}

#[test]
fn a_hijacked_robot_is_caught_moving_off_its_claims_and_nobody_else_is() {
    // Only the hijack of robots 5 and 12 (1100–1500 s), every check on.
    let s = load(
        "security_warehouse_hijack.ron",
        &[("security.plausibility", "true"), ("security.authentication", "true"), ("ticks", "1500")],
    );
    let mut s = s;
    s.attacks.retain(|a| matches!(a.attack, masim::sim::security::AttackKind::Hijack));
    let (col, ev) = run(&s);
    let det: Vec<_> = ev.iter().filter(|e| e["kind"] == "detection").collect();
    assert!(!det.is_empty(), "the hijacked robots moved off their claims");
    for e in &det {
        assert!([5, 12].contains(&e["sender"].as_u64().unwrap()), "only the hijacked robots: {e}");
        assert_eq!(e["true_positive"], true);
        assert!(e["tick"].as_u64().unwrap() >= 1100);
    }
    assert_eq!(sum(&col("detections_false")), 0.0);
    assert_eq!(sum(&col("conflicts")), 0.0, "the interlock still holds");
}

#[test]
fn stealthy_false_data_leaves_chi2_unchanged_while_the_naive_attack_is_caught() {
    // Error-free meters, so J is exactly what the attacks make it.
    let s = load("security_power_fdi.ron", &[("world.estimation.noise", "false")]);
    let (col, ev) = run(&s);
    let (j, thr, err) = (col("se_chi2"), col("se_chi2_threshold"), col("se_load_error_mw"));
    let rows = |a: usize, b: usize| a / 10..b / 10; // record_every 10
    // The naive attack (600–1800): J far above the threshold at the scans, the meter named.
    assert!(rows(600, 1800).any(|r| j[r] > thr[r]), "the naive attack shows in J");
    let named: Vec<&serde_json::Value> = ev.iter().filter(|e| e["kind"] == "bad_data").collect();
    assert!(!named.is_empty(), "bad_data events");
    for e in &named {
        let t = e["tick"].as_u64().unwrap();
        assert!((600..1800).contains(&t), "a bad-data alarm only while the naive attack runs: tick {t}");
        assert_eq!(e["removed"][0]["measurement"], "injection:3", "{e}");
        assert_eq!(e["removed"][0]["attacked"], true);
    }
    assert!(sum(&col("detections_true")) > 0.0);
    assert_eq!(sum(&col("detections_false")), 0.0);
    // With the bad meter removed, the estimate is right again.
    assert!(rows(700, 1800).all(|r| err[r] < 5.0), "load error during the naive attack: {:?}", &err[70..180]);
    // The stealthy attack (3000–4200): J unchanged to solver precision, the load moved.
    assert!(rows(3000, 4200).all(|r| j[r] < 1e-6), "J under the stealthy attack: {:?}", &j[300..420]);
    assert!(rows(3100, 4200).all(|r| err[r] > 55.0), "the estimate misses bus 3's load: {:?}", &err[300..420]);
}

#[test]
fn wmsr_holds_consensus_dispatch_that_averaging_lets_a_byzantine_unit_move() {
    let end = |sets: &[(&str, &str)]| {
        let (col, _) = run(&load("security_consensus_byzantine.ron", sets));
        let (price, freq) = (col("price_per_mwh"), col("freq_hz"));
        (price[price.len() - 1], freq[freq.len() - 1], sum(&col("attack_msgs_accepted")))
    };
    let (clean, f_clean, _) = end(&[("attacks", "[]"), ("security.aggregation", "Mean")]);
    let (robust, f_robust, acc_r) = end(&[]);
    let (plain, f_plain, acc_p) = end(&[("security.aggregation", "Mean")]);
    assert!(acc_r > 0.0 && acc_p > 0.0, "the lies were delivered in both runs");
    assert!((robust - clean).abs() < 0.2, "W-MSR: λ {robust} vs {clean} without the attack");
    assert!((f_robust - f_clean).abs() < 0.01, "W-MSR: {f_robust} Hz vs {f_clean} Hz");
    assert!(plain - clean > 100.0, "averaging follows the liar: λ {plain}");
    assert!(f_plain > 61.0, "over-generation: {f_plain} Hz");
}

#[test]
fn a_hijacked_grid_battery_charges_flat_out_while_reporting_its_schedule() {
    // IEEE 14-bus under the operator with a 30 MW battery at bus 3, hijacked at t = 20 s.
    let body = r#"(
  name: "hijacked_battery",
  description: "test",
  seed: 2,
  ticks: 600,
  dt: 0.1,
  coordination: Centralized,
  channel: (topology: AllToAll, latency_ticks: 1),
  attacks: [(at: 200, attackers: (kind: GridBattery, share: 1.0), attack: Hijack)],
  world: Power((
    network: Matpower(path: "scenarios/cases/ieee14.m"),
    ratings: (rule: File),
    batteries: [(bus: 3, mwh: 40.0, mw: 30.0, soc: 0.5)],
  )),
)"#;
    let s = scenario::load_str(body, "hijacked_battery.ron").unwrap_or_else(|e| panic!("{e}"));
    let (col, ev) = run(&s);
    let (bat, freq) = (col("battery_mw"), col("freq_hz"));
    assert!(bat[..19].iter().all(|&b| b.abs() < 5.0), "before: {:?}", &bat[..19]);
    assert!(bat[bat.len() - 1] < -25.0, "after: charging flat out, {} MW", bat[bat.len() - 1]);
    let nadir = freq[20..].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(nadir < 59.95, "a 30 MW load step shows in the frequency: nadir {nadir} Hz");
    assert!(sum(&col("attack_msgs_sent")) > 0.0, "its telemetry lies");
    assert!(ev.iter().any(|e| e["kind"] == "attack_start"));
}

#[test]
fn falsified_queue_reports_are_caught_by_the_lights_and_nobody_genuine_is_flagged() {
    let run_with = |sets: &[(&str, &str)]| {
        let mut all = vec![("ticks", "2400")];
        all.extend_from_slice(sets);
        let (col, _) = run(&load("security_city_queues.ron", &all));
        let trips = col("trips_completed");
        (
            trips[trips.len() - 1],
            sum(&col("attack_msgs_accepted")),
            sum(&col("detections_true")),
            sum(&col("detections_false")),
        )
    };
    let (clean, ..) = run_with(&[("attacks", "[]"), ("security.plausibility", "true")]);
    let (lied, accepted, ..) = run_with(&[]);
    let (checked, acc_on, hits, false_hits) = run_with(&[("security.plausibility", "true")]);
    assert!(accepted > 1000.0 && lied < 0.8 * clean, "the lies cost trips: {lied} against {clean}");
    assert_eq!(acc_on, 0.0, "every lie dropped");
    assert!(hits > 1000.0);
    assert_eq!(false_hits, 0.0, "no genuine report flagged");
    assert!(checked > lied, "the fail-safe does better than the lies: {checked} against {lied}");
}

#[test]
fn a_hijacked_charging_station_keeps_charging_through_the_underfrequency_pause() {
    // IEEE 14 under the operator with one busy station; a 30 % load step pulls the
    // frequency below the stations' pause threshold (f0 − 0.3 %).
    let body = |attacks: &str| {
        format!(
            r#"(
  name: "hijacked_station",
  description: "test",
  seed: 4,
  ticks: 900,
  dt: 0.1,
  coordination: Centralized,
  channel: (topology: AllToAll, latency_ticks: 1),
  attacks: [{attacks}],
  world: Power((
    network: Matpower(path: "scenarios/cases/ieee14.m"),
    ratings: (rule: File),
    agc: (enabled: false),
    ev: (stations: [(bus: 3, ports: 20, port_kw: 50.0, feeder_kw: 1000.0)], arrivals_per_hour: 20000.0),
    events: [(at: 600, event: LoadStep(share: 0.3))],
  )),
)"#
        )
    };
    let charging = |attacks: &str| {
        let s = scenario::load_str(&body(attacks), "hijacked_station.ron").unwrap_or_else(|e| panic!("{e}"));
        let (col, _) = run(&s);
        let (ev, f) = (col("ev_charging_mw"), col("freq_hz"));
        let dip: Vec<usize> = (60..f.len()).filter(|&r| f[r] < 60.0 * (1.0 - 0.004)).collect();
        assert!(
            !dip.is_empty(),
            "the step pulls the frequency below the pause: min {:?}",
            f.iter().copied().reduce(f64::min)
        );
        (dip.iter().map(|&r| ev[r]).sum::<f64>() / dip.len() as f64, ev[55], sum(&col("attack_msgs_sent")))
    };
    let (honest, before, _) = charging("");
    let (hijacked, _, lies) = charging("(at: 300, attackers: (kind: ChargingStation, share: 1.0), attack: Hijack)");
    assert!(before > 0.1, "the station charges before the step: {before} MW");
    assert!(honest < 0.01, "an honest station pauses: {honest} MW");
    assert!(hijacked > 0.1, "a hijacked one does not: {hijacked} MW");
    assert!(lies > 0.0);
}

#[test]
fn a_standby_fleet_manager_takes_over_from_a_crashed_leader_and_keeps_the_warehouse_working() {
    // security_failover.ron: three replicas, the leader (agent 0) crashes at tick 300 for good.
    let field = |e: &serde_json::Value, k: &str| e[k].as_u64().unwrap_or(u64::MAX);
    let s = load("security_failover.ron", &[]);
    let more = load("security_failover.ron", &[("security.failover.replicas", "5")]);
    assert!(scenario::live_editable(&s, &more).is_err(), "the replicas spawn with the world");
    let (col, ev) = run(&s);
    let failovers: Vec<&serde_json::Value> = ev.iter().filter(|e| e["kind"] == "failover").collect();
    assert!(!failovers.is_empty(), "a standby took over");
    let first = failovers[0];
    let took = field(first, "tick");
    assert!((301..=330).contains(&took), "within a few timeouts of the crash: tick {took}");
    assert_eq!(first["previous_leader"], 0);
    assert!([25, 26].contains(&field(first, "leader")), "a standby leads: {first}");
    // At most one leader per term, and terms only grow.
    let terms: Vec<u64> = failovers.iter().map(|e| field(e, "term")).collect();
    assert!(terms.windows(2).all(|w| w[0] < w[1]), "one leader per term: {terms:?}");
    assert!(terms[0] >= 2);
    // Leaderless from the crash to the takeover only (rows of 10 ticks).
    let leaderless = col("coordinators_leaderless");
    assert!(leaderless[..29].iter().all(|&x| x == 0.0) && leaderless[30] > 0.0);
    assert!(leaderless[(took as usize / 10)..].iter().all(|&x| x == 0.0), "a leader from then on");
    assert_eq!(sum(&col("failovers")), failovers.len() as f64);
    // The robots follow the new leader: off the fail-safe again, tasks keep being done.
    let fallback = col("robots_fallback");
    assert_eq!(*fallback.last().unwrap(), 0.0);
    let done = *col("tasks_completed").last().unwrap();
    let waiting = *col("tasks_waiting").last().unwrap();

    // Without a standby the robots stay on the fail-safe and orders pile up.
    let (alone, ev1) = run(&load("security_failover.ron", &[("security.failover.replicas", "1")]));
    assert!(ev1.iter().all(|e| e["kind"] != "failover" && e["kind"] != "election_started"));
    assert_eq!(*alone("robots_fallback").last().unwrap(), 20.0);
    let (done1, waiting1) = (*alone("tasks_completed").last().unwrap(), *alone("tasks_waiting").last().unwrap());
    assert!(
        done > done1 + 50.0 && waiting + 50.0 < waiting1,
        "3 replicas {done}/{waiting}, 1 replica {done1}/{waiting1}"
    );
    // Before the crash the two runs are the same but for the election's heartbeats.
    assert_eq!(col("tasks_completed")[..30], alone("tasks_completed")[..30]);
    assert!(sum(&col("msgs_sent")[..30]) > sum(&alone("msgs_sent")[..30]));
}

#[test]
fn a_lossy_channel_causes_needless_elections_but_never_two_leaders_in_a_term() {
    let s = load("security_failover.ron", &[("faults", "[]"), ("channel.loss", "0.3"), ("ticks", "1500")]);
    let (col, ev) = run(&s);
    let mut leaders = std::collections::BTreeMap::new();
    for e in ev.iter().filter(|e| e["kind"] == "failover") {
        let term = e["term"].as_u64().unwrap();
        assert!(leaders.insert(term, e["leader"].clone()).is_none(), "two leaders in term {term}");
    }
    assert!(!leaders.is_empty(), "lost heartbeats start elections");
    assert!(ev.iter().any(|e| e["kind"] == "leader_stepped_down"));
    // Whoever leads, there is one at the end.
    assert_eq!(*col("coordinators_leaderless").last().unwrap(), 0.0);
}

#[test]
fn a_standby_operator_takes_over_the_grid_without_a_bump() {
    // IEEE 14-bus under central dispatch and AGC; generator 1 trips at 30 s and the
    // operator crashes for good at 60 s, before its AGC has brought the frequency back.
    let with = |replicas: &str, crash: bool| {
        let sets = [("coordination", "Centralized"), ("security.failover.replicas", replicas), ("ticks", "2000")];
        // Units, areas, the operator; no households: the operator has the last id of the
        // unreplicated roster.
        let operator = load("power_ieee14.ron", &[]).agent_count() as u32 - 1;
        let s =
            if crash { with_crash("power_ieee14.ron", &sets, operator, 600) } else { load("power_ieee14.ron", &sets) };
        let (col, ev) = run(&s);
        (col, ev, operator)
    };
    let last = |c: &dyn Fn(&str) -> Vec<f64>, name: &str| *c(name).last().unwrap();
    let (base, _, _) = with("1", false);
    let (alone, ev1, _) = with("1", true);
    let (three, ev3, operator) = with("3", true);
    // Alone, the units time out onto their fail-safe and the AGC is gone: the frequency
    // stays where droop left it.
    assert!(ev1.iter().any(|e| e["kind"] == "failsafe_engaged"));
    assert_eq!(last(&alone, "failsafe_units"), 5.0);
    assert!((last(&alone, "freq_hz") - 60.0).abs() > 0.02, "droop only: {}", last(&alone, "freq_hz"));
    // With standbys one takes over within the units' setpoint timeout: no unit falls back.
    let fo: Vec<_> = ev3.iter().filter(|e| e["kind"] == "failover").collect();
    assert_eq!(fo.len(), 1, "{fo:?}");
    assert_eq!(fo[0]["previous_leader"], operator);
    assert!(fo[0]["leader"].as_u64().unwrap() > u64::from(operator));
    assert!(ev3.iter().all(|e| e["kind"] != "failsafe_engaged"));
    // It waits for fresh telemetry before dispatching, so the takeover is bumpless: the
    // frequency never falls below where the units holding their setpoints keep it (the
    // run without a standby, up to the takeover the same), and the run ends as the one
    // without a crash does.
    let low = |c: &dyn Fn(&str) -> Vec<f64>| c("freq_hz")[119..].iter().copied().fold(f64::MAX, f64::min);
    assert!(low(&three) >= low(&alone) - 1e-4, "dip after the takeover: {} below {}", low(&three), low(&alone));
    assert!((last(&three, "freq_hz") - last(&base, "freq_hz")).abs() < 1e-4);
    assert!((last(&three, "gen_cost_per_h") - last(&base, "gen_cost_per_h")).abs() < 1.0);
}

/// `name` with `sets`, its agent `crash` crashed for good at tick `at`.
fn with_crash(name: &str, sets: &[(&str, &str)], crash: u32, at: u64) -> Scenario {
    let mut s = load(name, sets);
    s.faults.push(masim::sim::FaultSpec {
        at,
        duration: None,
        fault: masim::sim::FaultKind::Crash { kind: None, fraction: 0.0, agents: vec![crash] },
        ended_at: None,
    });
    s
}

#[test]
fn standby_traffic_controllers_take_over_on_the_ring_and_in_the_city() {
    let last = |c: &dyn Fn(&str) -> Vec<f64>, name: &str| *c(name).last().unwrap();
    // The ring under a roadside controller's speed advice (agent 22, after the 22
    // vehicles), crashed at 300 s.
    let ring = |replicas: &str| {
        let sets = [("coordination", "Centralized"), ("security.failover.replicas", replicas)];
        run(&with_crash("traffic_ring.ron", &sets, 22, 3000))
    };
    let (alone, _) = ring("1");
    let (three, ev) = ring("3");
    let fo: Vec<_> = ev.iter().filter(|e| e["kind"] == "failover").collect();
    assert_eq!(fo.len(), 1);
    assert_eq!(fo[0]["previous_leader"], 22);
    // Without a standby every vehicle stays on its fail-safe and the jam comes back; with
    // one the advice resumes and the ring ends as smooth as it was.
    assert_eq!(last(&alone, "vehicles_fallback"), 22.0);
    assert!(last(&alone, "speed_std_mps") > 0.3, "{}", last(&alone, "speed_std_mps"));
    assert_eq!(last(&three, "vehicles_fallback"), 0.0);
    assert!(last(&three, "speed_std_mps") < 0.05, "{}", last(&three, "speed_std_mps"));

    // The green wave's city controller (agent 8, after the 8 lights), crashed at 500 s.
    let city = |replicas: &str| {
        let sets = [("ticks", "3000"), ("security.failover.replicas", replicas)];
        run(&with_crash("traffic_green_wave.ron", &sets, 8, 1000))
    };
    let (alone, ev1) = city("1");
    let (three, ev3) = city("3");
    assert_eq!(ev1.iter().filter(|e| e["kind"] == "signal_fallback").count(), 8);
    assert_eq!(last(&alone, "lights_fallback"), 8.0);
    let fo: Vec<_> = ev3.iter().filter(|e| e["kind"] == "failover").collect();
    assert_eq!((fo.len(), &fo[0]["previous_leader"]), (1, &serde_json::json!(8)));
    assert!(ev3.iter().all(|e| e["kind"] != "signal_fallback"), "the lights hear plans again within their timeout");
    assert!(last(&three, "mean_stops") + 0.5 < last(&alone, "mean_stops"));
}

#[test]
fn a_quorum_of_operator_replicas_refuses_a_hijacked_replicas_orders_and_carries_out_the_honest_ones() {
    let events = |ev: &[serde_json::Value], kind: &str| ev.iter().filter(|e| e["kind"] == kind).count();
    // security_power_quorum.ron: 4 replicas, quorum 1, replica 9 hijacked from 60 s.
    let (col, ev) = run(&load("security_power_quorum.ron", &[]));
    let refused: Vec<_> = ev.iter().filter(|e| e["kind"] == "command_refused").collect();
    assert!(refused.len() >= 5, "every bogus order refused: {}", refused.len());
    for e in &refused {
        assert_eq!(
            (&e["votes"], &e["needed"], &e["order"]),
            (&serde_json::json!(1), &serde_json::json!(3), &serde_json::json!("open"))
        );
    }
    assert_eq!(sum(&col("commands_refused")), refused.len() as f64);
    assert_eq!(events(&ev, "line_trip"), 0);
    assert_eq!(sum(&col("load_shed_mw")), 0.0);
    assert!(col("islands").iter().all(|&x| x == 1.0));
    // Without the quorum the area controller carries the orders out and the grid comes apart.
    let (col, ev) = run(&load("security_power_quorum.ron", &[("security.quorum", "0")]));
    let opened = ev.iter().filter(|e| e["kind"] == "line_trip" && e["cause"] == "operator_order").count();
    assert!(opened >= 5, "{opened}");
    assert!(*col("load_shed_mw").last().unwrap() > 50.0 && *col("islands").last().unwrap() > 2.0);
    // Honest orders need three honest votes and get them: the cascade's reclosing is the
    // same with the quorum as without.
    let cascade = |q: &str| {
        let sets = [
            ("coordination", "Centralized"),
            ("world.protection.overload_s", "1"),
            ("world.operator.reclose_after_s", "30"),
            ("security.failover.replicas", "4"),
            ("security.quorum", q),
        ];
        let (_, ev) = run(&load("power_cascade.ron", &sets));
        let mut restored: Vec<u64> =
            ev.iter().filter(|e| e["kind"] == "line_restore").map(|e| e["line"].as_u64().unwrap()).collect();
        restored.sort_unstable();
        (restored, events(&ev, "command_refused"))
    };
    let (with, refused) = cascade("1");
    assert!(with.len() >= 3, "{with:?}");
    assert_eq!(refused, 0);
    assert_eq!(with, cascade("0").0);
}

#[test]
fn zero_cost_bids_are_caught_below_the_grid_distance() {
    // Only the forged bids (300–600 s), the robots checking bids against distances.
    let mut s = load("security_warehouse_hijack.ron", &[("security.plausibility", "true")]);
    s.attacks.retain(|a| matches!(a.attack, masim::sim::security::AttackKind::Spoofing { .. }));
    s.ticks = 700;
    let (col, ev) = run(&s);
    let flagged = ev.iter().filter(|e| e["kind"] == "detection" && e["reason"] == "bid_below_distance").count();
    assert!(flagged > 1000, "{flagged}");
    assert_eq!(sum(&col("detections_false")), 0.0);
    assert_eq!(sum(&col("attack_msgs_accepted")), 0.0, "no forged bid reached an auction");
    // The auctions run as without the attack.
    let done = |c: &dyn Fn(&str) -> Vec<f64>| c("tasks_completed")[59] - c("tasks_completed")[29];
    let (clean, _) = run(&load("security_warehouse_hijack.ron", &[("attacks", "[]"), ("ticks", "700")]));
    assert!(done(&col) >= done(&clean) - 2.0, "{} against {}", done(&col), done(&clean));
}
