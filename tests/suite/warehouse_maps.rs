//! The floor from every source, as a user meets it: the MovingAI importer on a map masim
//! generates (scenarios/maps/warehouse_movingai.map, checked against the generator) and on
//! the public benchmark and League of Robot Runners files where they are present
//! (../shared/warehouse_maps, never copied here), `--set world.map.path=FILE` and
//! `--set world.robots=N`, a relative path read against the scenario file's folder, malformed
//! maps refused with exit code 2 and the map file's line:column, a bad row pointed at in the
//! scenario file, and the coordinate convention in agents.csv.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use masim::worlds::warehouse::map::{CellKind, GridMap, WarehouseLayout, parse_movingai};

const BIN: &str = env!("CARGO_BIN_EXE_masim");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("warehouse_maps").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

fn masim(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary.json")).expect("json")
}

/// The generator settings of the committed map (a MovingAI-style `warehouse-6-8-8-2-2`
/// with a 4-column margin, pick stations on every second face cell and 6 drop stations a
/// side, written with LRR's `S` and `E`).
fn committed_layout() -> WarehouseLayout {
    WarehouseLayout { pick_every: 2, drops_per_side: 6, ..WarehouseLayout::new(6, 8, 8, 2, 2, 4) }
}

const COMMITTED: &str = "scenarios/maps/warehouse_movingai.map";

#[test]
fn the_committed_map_is_the_generators_and_imports_at_its_size() {
    let m = committed_layout().generate().expect("generates");
    let text = m.to_movingai();
    if std::env::var_os("MASIM_WRITE_MAPS").is_some() {
        std::fs::write(COMMITTED, &text).expect("write the map");
    }
    let file = std::fs::read(COMMITTED).expect("the committed map");
    assert_eq!(file, text.as_bytes(), "{COMMITTED} is not what the generator writes (MASIM_WRITE_MAPS=1 rewrites it)");
    let read = parse_movingai(&file).expect("parses");
    // Height 2 + R·D + (R+1)·W = 2 + 16 + 18, width 2 + 2M + C·L + (C−1)·W = 2 + 8 + 48 + 10.
    assert_eq!((read.rows(), read.cols()), (36, 68));
    assert_eq!(read.free_cell_count(), 34 * 66 - 6 * 8 * 8 * 2);
    assert_eq!(read.count(CellKind::Drop), 12);
    assert_eq!(read.count(CellKind::Pick), m.count(CellKind::Pick));
    // Through the scenario, as shipped: summary.json reports the floor.
    let out = scratch("shipped");
    let o =
        masim(&["run", "scenarios/warehouse_movingai.ron", "--ticks", "50", "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = &summary(&out)["world"];
    assert_eq!((w["map_rows"].as_u64(), w["map_cols"].as_u64()), (Some(36), Some(68)));
    assert_eq!(w["free_cells"].as_u64(), Some(34 * 66 - 6 * 8 * 8 * 2));
    assert_eq!(w["cell_m"].as_f64(), Some(1.0));
    assert_eq!(w["drop_stations"].as_u64(), Some(12));
    assert_eq!(w["chargers"].as_array().map(Vec::len), Some(4), "chargers placed by the rule");
}

#[test]
fn any_generated_movingai_map_by_set_with_its_size_and_free_cells() {
    let dir = scratch("generated");
    for (k, layout) in
        [WarehouseLayout::new(3, 4, 5, 1, 1, 2), WarehouseLayout::new(10, 20, 10, 2, 1, 25)].iter().enumerate()
    {
        let m = layout.generate().expect("generates");
        let path = dir.join(format!("g{k}.map"));
        std::fs::write(&path, m.to_movingai()).expect("write");
        let out = dir.join(format!("out{k}"));
        let o = masim(&[
            "run",
            "scenarios/warehouse_movingai.ron",
            "--ticks",
            "30",
            "--quiet",
            "--set",
            &format!("world.map.path={}", path.display()),
            "--set",
            "world.robots=12",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = summary(&out);
        let (h, w) = layout.dims();
        assert_eq!(s["world"]["map_rows"].as_u64(), Some(h));
        assert_eq!(s["world"]["map_cols"].as_u64(), Some(w));
        assert_eq!(s["world"]["free_cells"].as_u64(), Some(layout.free_cells()));
        assert_eq!(s["world"]["robots"].as_u64(), Some(12));
        assert_eq!(s["world"]["errands"].as_bool(), Some(true), "no stations: errands between free cells");
    }
    // warehouse-10-20-10-2-1 as published: 63 × 161, 5 699 free cells.
    assert_eq!(WarehouseLayout::movingai_10_20_10_2_1().dims(), (63, 161));
    assert_eq!(WarehouseLayout::movingai_10_20_10_2_1().free_cells(), 5699);
}

fn shared(rel: &str) -> Option<PathBuf> {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/warehouse_maps");
    let dir = std::env::var_os("MASIM_WAREHOUSE_MAPS").map_or_else(|| PathBuf::from(default), PathBuf::from);
    let p = dir.join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present", p.display());
        None
    }
}

#[test]
fn public_benchmark_and_lrr_maps_where_present() {
    let dir = scratch("public");
    // (file, rows, cols, passable, picks, drops)
    let maps = [
        ("random-32-32-20.map", 32, 32, 819, 0, 0),
        ("lrr/2023_warehouse_small/warehouse_small.map", 33, 57, 1277, 342, 40),
        ("lrr/2024_maps/warehouse_large.map", 140, 500, 38586, 25249, 352),
    ];
    for (k, (rel, rows, cols, free, picks, drops)) in maps.into_iter().enumerate() {
        let Some(path) = shared(rel).or_else(|| {
            // The LRR kit keeps its maps in a `maps/` folder in some versions.
            shared(&rel.replace("warehouse_small/", "warehouse_small/maps/"))
        }) else {
            continue;
        };
        let m: GridMap = parse_movingai(&std::fs::read(&path).expect("readable")).expect("parses");
        assert_eq!((m.rows(), m.cols(), m.free_cell_count()), (rows, cols, free), "{rel}");
        assert_eq!((m.count(CellKind::Pick), m.count(CellKind::Drop)), (picks, drops), "{rel}: S and E cells");
        let out = dir.join(format!("out{k}"));
        let o = masim(&[
            "run",
            "scenarios/warehouse_movingai.ron",
            "--ticks",
            "40",
            "--quiet",
            "--set",
            &format!("world.map.path={}", path.display()),
            "--set",
            "world.robots=30",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{rel}: {}", String::from_utf8_lossy(&o.stderr));
        let w = &summary(&out)["world"];
        assert_eq!(w["free_cells"].as_u64(), Some(free as u64), "{rel}");
        assert_eq!(w["pick_stations"].as_u64(), Some(picks as u64), "{rel}");
        assert_eq!(w["drop_stations"].as_u64(), Some(drops as u64), "{rel}");
    }
}

fn bad_input(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "exit status {:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn malformed_maps_are_refused_with_their_file_line_and_column() {
    let dir = scratch("malformed");
    let cases = [
        ("char.map", "type octile\nheight 2\nwidth 3\nmap\n...\n.x.\n", ":6:2:", "unknown map character `x`"),
        (
            "short.map",
            "type octile\nheight 3\nwidth 3\nmap\n...\n..\n...\n",
            ":6:3:",
            "map row 2 has 2 characters, expected the width 3",
        ),
        ("header.map", "type square\nheight 2\nwidth 2\nmap\n..\n..\n", ":1:1:", "expected `type octile`"),
        ("rows.map", "type octile\nheight 3\nwidth 2\nmap\n..\n..\n", ":7:1:", "expected 3 map rows, found 2"),
    ];
    for (name, text, at, phrase) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        for cmd in ["validate", "run"] {
            let set = format!("world.map.path={}", path.display());
            let mut args = vec![cmd, "scenarios/warehouse_movingai.ron", "--set", &set];
            let out = dir.join("never");
            if cmd == "run" {
                args.extend(["--quiet", "--out", out.to_str().unwrap()]);
            }
            let err = bad_input(&masim(&args));
            assert!(err.contains(&format!("{}{at}", path.display())), "{name} {cmd}: {err}");
            assert!(err.contains(phrase), "{name} {cmd}: {err}");
            assert!(err.contains("world.map.path"), "{name}: {err}");
            assert!(!out.exists(), "a refused run wrote {}", out.display());
        }
    }
    let err =
        bad_input(&masim(&["validate", "scenarios/warehouse_movingai.ron", "--set", "world.map.path=/no/such.map"]));
    assert!(err.contains("/no/such.map: no such file"), "{err}");
}

#[test]
fn a_relative_map_path_is_read_against_the_scenario_file() {
    let dir = scratch("relative");
    std::fs::create_dir_all(dir.join("floors")).expect("folder");
    let m = WarehouseLayout { drops_per_side: 2, ..WarehouseLayout::new(2, 2, 4, 1, 1, 2) }.generate().expect("map");
    std::fs::write(dir.join("floors/f.map"), m.to_movingai()).expect("write");
    let scn = r#"(name: "rel", ticks: 20, dt: 1.0, coordination: Centralized, channel: (topology: AllToAll),
      world: Warehouse((map: MovingAi(path: "floors/f.map"), robots: 3, chargers: (count: 1))))"#;
    std::fs::write(dir.join("rel.ron"), scn).expect("write");
    let out = dir.join("out");
    // Run from another folder: the path is the scenario file's, not the working directory's.
    let o = Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(["run", dir.join("rel.ron").to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()])
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(summary(&out)["world"]["free_cells"].as_u64(), Some(m.free_cell_count() as u64));
    // The run folder's scenario.ron names the file absolutely, so it reruns from anywhere.
    let again = dir.join("again");
    let o = masim(&["run", out.join("scenario.ron").to_str().unwrap(), "--quiet", "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(out.join("metrics.csv")).ok(), std::fs::read(again.join("metrics.csv")).ok());
}

#[test]
fn a_bad_row_in_the_scenario_points_at_that_row() {
    let dir = scratch("rows");
    let scn = "(\n  name: \"rows\",\n  ticks: 20,\n  dt: 1.0,\n  world: Warehouse((\n    map: Rows([\n      \"#####\",\n      \"#..D#\",\n      \"#.x.#\",\n      \"#####\",\n    ]),\n    robots: 1,\n  )),\n)\n";
    let path = dir.join("rows.ron");
    std::fs::write(&path, scn).expect("write");
    let err = bad_input(&masim(&["validate", path.to_str().unwrap()]));
    // Line 9 is the third row; its string starts in column 7.
    assert!(err.contains(&format!("{}:9:7: field `world.map[2]`", path.display())), "{err}");
    assert!(err.contains("character 3: unknown map character 'x'"), "{err}");
    assert!(err.contains("legend"), "{err}");
}

#[test]
fn robots_stand_on_cell_centres_with_y_north() {
    let out = scratch("coords");
    let o = masim(&[
        "run",
        "scenarios/warehouse_small.ron",
        "--ticks",
        "40",
        "--trace",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = masim::scenario::load_file(Path::new("scenarios/warehouse_small.ron")).expect("loads");
    let masim::scenario::WorldConfig::Warehouse(w) = &s.world else { panic!("a warehouse") };
    let m = masim::worlds::warehouse::floor::load_map(&w.map, &w.chargers).expect("map");
    let text = std::fs::read_to_string(out.join("agents.csv")).expect("agents.csv");
    let mut robots = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[2] != "robot" {
            continue;
        }
        robots += 1;
        let (x, y): (f64, f64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
        // x = (col + 0.5)·cell_m, y = (rows − row − 0.5)·cell_m.
        let col = x / w.cell_m - 0.5;
        let row = f64::from(m.rows()) - y / w.cell_m - 0.5;
        assert!(col.fract() == 0.0 && row.fract() == 0.0, "{line}: not a cell centre");
        let cell = m.index(row as u32, col as u32).expect("inside the map");
        assert!(m.is_passable(cell), "{line}: on a shelf");
    }
    assert!(robots > 0);
}
