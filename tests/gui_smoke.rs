//! Sees the desktop app as a person would: starts it under a virtual X server with software
//! Vulkan, lets the ring run, saves a screenshot and checks that the world and the panels were drawn.
//! Skipped, with a message, where Xvfb is not installed.
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

impl Png {
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

#[test]
fn app_draws_world_and_panels() {
    let x = match start_xvfb() {
        Ok(x) => x,
        Err(why) => {
            eprintln!("skipping the GUI smoke test: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("masim-gui-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let shot = dir.join("shot.png");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traffic_ring.ron");
    let mut app = Command::new(env!("CARGO_BIN_EXE_masim"))
        .arg("gui")
        .arg(&scenario)
        .arg("--screenshot")
        .arg(&shot)
        .args(["--after-ticks", "300"])
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
            panic!("masim gui did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = app.wait_with_output().expect("masim output");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "masim gui failed: {status}\n{log}");
    let png = read_png(&shot);
    assert_eq!((png.width, png.height), (1280, 800), "window size");

    // The left control panel: egui's dark panel fill with light text on it.
    let panel_text = png.count(10..280, 60..500, |p| p.iter().all(|c| *c > 150));
    let panel_fill = png.count(10..280, 60..500, |p| p.iter().all(|c| (20..=40).contains(c)));
    assert!(panel_text > 500, "no text in the control panel ({panel_text} light pixels)");
    assert!(panel_fill > 20_000, "no panel background ({panel_fill} pixels)");

    // The world view between the panels: the grey road and vehicles coloured by speed.
    let (wx, wy) = (320..940, 40..560);
    let road = png.count(wx.clone(), wy.clone(), |p| {
        (60..=85).contains(&p[0]) && (60..=90).contains(&p[1]) && (65..=95).contains(&p[2])
    });
    let vehicles = png.count(wx, wy, |p| {
        let (max, min) = (*p.iter().max().unwrap_or(&0), *p.iter().min().unwrap_or(&0));
        max > 150 && max - min > 90
    });
    assert!(road > 1_000, "no road drawn ({road} road-grey pixels)");
    assert!(vehicles > 40, "no vehicles drawn ({vehicles} saturated pixels)");
    let _ = std::fs::remove_dir_all(&dir);
}
