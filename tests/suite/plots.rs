//! `masim plot`: figures of a run and of a sweep, as PNG and SVG, that are not blank.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_masim");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ok(args: &[&str]) -> Output {
    let o = Command::new(BIN).args(args).env_remove("SLURM_ARRAY_TASK_ID").output().expect("masim runs");
    assert!(o.status.success(), "masim {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Width, height and how many pixels are not white, and how many distinct colours.
fn png_stats(p: &Path) -> (u32, u32, usize, usize) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0;
    for c in buf[..info.buffer_size()].chunks(px) {
        if c[..3] != [255, 255, 255] {
            ink += 1;
        }
        colours.insert([c[0], c[1], c[2]]);
    }
    (info.width, info.height, ink, colours.len())
}

#[test]
fn a_run_and_a_sweep_plot_to_real_figures() {
    let d = scratch("run");
    let ds = d.display().to_string();
    ok(&["run", "scenarios/traffic_ring_faults.ron", "--ticks", "2000", "--out", &ds, "-q"]);
    let o = ok(&["plot", &ds]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("figures (PNG and SVG)"));
    let plots = d.join("plots");
    let world = plots.join("world_m_s.png");
    assert!(
        world.is_file(),
        "{:?}",
        std::fs::read_dir(&plots).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>()
    );
    let (w, h, ink, colours) = png_stats(&world);
    assert_eq!((w, h), (960, 540));
    assert!(ink > 5_000 && colours > 20, "a blank figure: {ink} inked pixels, {colours} colours");
    let svg = std::fs::read_to_string(plots.join("world_m_s.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("traffic_ring_faults") && svg.contains("simulated time (s)"));
    assert!(svg.contains("mean_speed_mps"), "the legend names the lines");
    let names: Vec<String> =
        std::fs::read_dir(&plots).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert!(names.iter().any(|n| n == "channel_messages_per_tick.png"), "{names:?}");
    assert!(names.len().is_multiple_of(2) && names.len() >= 6, "each figure as PNG and SVG: {names:?}");
    // A paired sweep: a metric against its factor, and the pair's differences.
    let s = scratch("sweep");
    let ss = s.display().to_string();
    ok(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "300",
        "--vary",
        "channel.loss=0,0.5",
        "--pair",
        "coordination=None,Decentralized",
        "--seeds",
        "1..4",
        "--keep",
        "summary",
        "--metric",
        "mean_speed_mps",
        "--out",
        &ss,
        "-q",
    ]);
    ok(&["plot", &ss]);
    let f = s.join("plots").join("mean_mean_speed_mps_vs_channel_loss.png");
    let (w, h, ink, _) = png_stats(&f);
    assert_eq!((w, h), (960, 540));
    assert!(ink > 5_000, "{ink}");
    let pair = std::fs::read_to_string(s.join("plots").join("pair_mean_mean_speed_mps.svg")).unwrap();
    assert!(pair.contains("Decentralized") && pair.contains("None"), "the arms are named");
    // Not a results folder: bad input.
    let o = Command::new(BIN).args(["plot", "scenarios"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds neither a run"));
}
