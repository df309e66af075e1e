//! Sees the desktop app as a person would: starts it under a virtual X server with software
//! Vulkan, lets the ring and then the city grid run, saves a screenshot of each and checks
//! that the world (road, vehicles; lanes and traffic lights), the panels, the legend and
//! the scenario's notes were drawn.
//! Skipped, with a message, where Xvfb is not installed or no X server can start.
#![cfg(feature = "gui")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private X server that is killed when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_xvfb() -> Result<Xvfb, String> {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join("Xvfb").is_file())).unwrap_or(false);
    if !found {
        return Err("Xvfb is not installed (apt-get install xvfb mesa-vulkan-drivers)".into());
    }
    // A display number unlikely to clash with a desktop or another test run.
    for n in (140 + std::process::id() % 300)..(140 + std::process::id() % 300 + 20) {
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if socket.exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let mut child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start Xvfb: {e}"))?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if socket.exists() {
                return Ok(Xvfb { child, display });
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    Err("could not start an X server with Xvfb".into())
}

struct Png {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn read_png(path: &Path) -> Png {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    Png { width: info.width as usize, height: info.height as usize, rgb }
}

/// A rectangle of the window in pixels: (x0, y0, x1, y1).
type Rect = (usize, usize, usize, usize);

/// The rectangles screenshot mode reported for `what` ("legend", "notes").
fn reported(log: &str, what: &str) -> Option<Rect> {
    let line = log.lines().find(|l| l.starts_with(&format!("masim-ui: {what} ")))?;
    let v: Vec<usize> =
        line.split_whitespace().skip(2).filter_map(|n| n.parse::<f64>().ok()).map(|f| f.max(0.0) as usize).collect();
    (v.len() == 4).then(|| (v[0], v[1], v[2], v[3]))
}

impl Png {
    /// Pixels in the region for which `f` holds, leaving out the `hidden` rectangles
    /// (the legend and notes windows drawn over the world view).
    fn count_outside(
        &self,
        x: std::ops::Range<usize>,
        y: std::ops::Range<usize>,
        hidden: &[Rect],
        f: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        let mut n = 0;
        for yy in y {
            for xx in x.clone() {
                let covered = hidden.iter().any(|&(x0, y0, x1, y1)| (x0..x1).contains(&xx) && (y0..y1).contains(&yy));
                if !covered && f(self.rgb[yy * self.width + xx]) {
                    n += 1;
                }
            }
        }
        n
    }

    fn count(&self, x: std::ops::Range<usize>, y: std::ops::Range<usize>, f: impl Fn([u8; 3]) -> bool) -> usize {
        let mut n = 0;
        for yy in y {
            for xx in x.clone() {
                if f(self.rgb[yy * self.width + xx]) {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Runs `masim gui SCENARIO --screenshot` for `ticks` ticks on display `x`; returns the PNG and the log.
fn screenshot(x: &Xvfb, dir: &Path, scenario: &str, ticks: u64) -> (Png, String) {
    let shot = dir.join(format!("{scenario}.png"));
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{scenario}.ron"));
    let mut app = Command::new(env!("CARGO_BIN_EXE_masim"))
        .arg("gui")
        .arg(&file)
        .arg("--screenshot")
        .arg(&shot)
        .args(["--after-ticks", &ticks.to_string()])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start masim gui");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = app.try_wait().expect("wait for masim") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = app.kill();
            panic!("masim gui {scenario} did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = app.wait_with_output().expect("masim output");
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(status.success(), "masim gui {scenario} failed: {status}\n{log}");
    let png = read_png(&shot);
    assert_eq!((png.width, png.height), (1280, 800), "{scenario}: window size");
    (png, log)
}

/// The left control panel: egui's dark panel fill with light text on it.
fn assert_panel(png: &Png, scenario: &str) {
    let panel_text = png.count(10..280, 60..500, |p| p.iter().all(|c| *c > 150));
    let panel_fill = png.count(10..280, 60..500, |p| p.iter().all(|c| (20..=40).contains(c)));
    assert!(panel_text > 500, "{scenario}: no text in the control panel ({panel_text} light pixels)");
    assert!(panel_fill > 20_000, "{scenario}: no panel background ({panel_fill} pixels)");
}

/// The world view between the panels.
const WORLD_X: std::ops::Range<usize> = 320..940;
const WORLD_Y: std::ops::Range<usize> = 40..560;

/// Road asphalt, the same grey on the ring and the grid.
fn road_grey(p: [u8; 3]) -> bool {
    (60..=85).contains(&p[0]) && (60..=90).contains(&p[1]) && (65..=95).contains(&p[2])
}

#[test]
fn app_draws_ring_and_grid_with_panels() {
    let x = match start_xvfb() {
        Ok(x) => x,
        Err(why) => {
            eprintln!("skipping the GUI smoke test: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("masim-gui-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // The ring: the grey road and vehicles coloured by speed, the legend and the scenario's
    // notes over the world view, each with text in it.
    let (png, log) = screenshot(&x, &dir, "traffic_ring", 300);
    assert_panel(&png, "ring");
    let mut hidden = Vec::new();
    for what in ["legend", "notes"] {
        let r = reported(&log, what).unwrap_or_else(|| panic!("ring: the {what} was not drawn:\n{log}"));
        let (x0, y0, x1, y1) = r;
        assert!(x1 <= png.width && y1 <= png.height && x1 > x0 + 150 && y1 > y0 + 80, "ring: {what} at {r:?}");
        let text = png.count(x0..x1, y0..y1, |p| p.iter().all(|c| *c > 150));
        assert!(text > 300, "ring: no text in the {what} ({text} light pixels in {r:?})");
        hidden.push(r);
    }
    let road = png.count_outside(WORLD_X, WORLD_Y, &hidden, road_grey);
    let vehicles = png.count_outside(WORLD_X, WORLD_Y, &hidden, |p| {
        let (max, min) = (*p.iter().max().unwrap_or(&0), *p.iter().min().unwrap_or(&0));
        max > 150 && max - min > 90
    });
    assert!(road > 1_000, "ring: no road drawn ({road} road-grey pixels)");
    assert!(vehicles > 40, "ring: no vehicles drawn ({vehicles} saturated pixels)");
    // Empty meshes used to make Bevy log "use-after-free" from its mesh allocator.
    assert!(!log.contains("slab_allocator"), "ring: mesh allocator errors in the log:\n{log}");

    // The city grid after five simulated minutes: lanes and boxes in road grey, and traffic
    // lights, each a red, yellow or green square in a near-black housing (the ring has none),
    // counted outside the legend and the notes (about half the grid shows at 1280 × 800).
    let (png, log) = screenshot(&x, &dir, "traffic_grid", 600);
    assert_panel(&png, "grid");
    let hidden: Vec<Rect> = ["legend", "notes"].iter().filter_map(|w| reported(&log, w)).collect();
    assert_eq!(hidden.len(), 2, "grid: legend and notes drawn:\n{log}");
    let road = png.count_outside(WORLD_X, WORLD_Y, &hidden, road_grey);
    let housing = png.count_outside(WORLD_X, WORLD_Y, &hidden, |p| p.iter().all(|c| (8..=17).contains(c)));
    let red = png.count_outside(WORLD_X, WORLD_Y, &hidden, |p| p[0] > 220 && p[1] < 60 && p[2] < 60);
    let green = png.count_outside(WORLD_X, WORLD_Y, &hidden, |p| p[1] > 200 && p[0] < 80 && p[2] < 110);
    assert!(road > 3_000, "grid: no lanes drawn ({road} road-grey pixels)");
    assert!(housing > 100, "grid: no traffic lights drawn ({housing} housing pixels)");
    assert!(red > 50 && green > 50, "grid: lights lack their colours ({red} red, {green} green pixels)");
    assert!(!log.contains("slab_allocator"), "grid: mesh allocator errors in the log:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--after-ticks` without `--screenshot` runs to the tick and then stays open, paused (it
/// used to panic on the first frame after reaching it).
#[test]
fn after_ticks_without_a_screenshot_opens_paused_and_stays_open() {
    let x = match start_xvfb() {
        Ok(x) => x,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traffic_ring.ron");
    let mut app = Command::new(env!("CARGO_BIN_EXE_masim"))
        .arg("gui")
        .arg(&file)
        .args(["--after-ticks", "50"])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start masim gui");
    // Software rendering opens the window in a few seconds; give it time to reach the
    // tick and draw many frames after it.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(25) {
        if let Some(status) = app.try_wait().expect("wait for masim") {
            let out = app.wait_with_output().expect("output");
            panic!("the app exited ({status}) instead of staying open:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = app.kill();
    let out = app.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("panic") && !log.contains("failed validation"), "{log}");
}
