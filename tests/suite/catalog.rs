//! docs/catalog.md lists every scenario's one-line description and its teaching notes word
//! for word, as the app shows them: the notes are data in the scenario files, and this test
//! fails when the page and the files disagree. `MASIM_BLESS=1 cargo test --test suite catalog::`
//! rewrites the page from the files.

use std::path::Path;

use masim::scenario;
use masim::worlds::WorldSpec;

use crate::common::scenario_files;

fn catalog() -> String {
    let mut page = String::from(
        "# Scenario catalog\n\n\
         Every scenario in `scenarios/`, with its one-line description and its teaching notes as\n\
         the desktop app shows them when the scenario opens (the Notes window, key N). The notes\n\
         are the `notes` field of each file; `tests/suite/catalog.rs` keeps this page equal to them\n\
         (`MASIM_BLESS=1 cargo test --test suite catalog::` rewrites it), and each world's claim tests\n\
         (`tests/suite/traffic_claims.rs` for traffic) assert the headline numbers on real runs.\n",
    );
    for path in scenario_files() {
        let s = scenario::load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().and_then(|f| f.to_str()).expect("name");
        page.push_str(&format!("\n## `{file}`\n\n_{}_\n\n", s.description));
        let command = format!("masim run scenarios/{file}");
        page.push_str(&format!("`{command}` · {} world · {} ticks of {} s\n\n", s.world.name(), s.ticks, s.dt));
        page.push_str(&s.notes);
        page.push('\n');
    }
    page
}

#[test]
fn every_scenario_has_notes() {
    for path in scenario_files() {
        let s = scenario::load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(s.notes.len() > 80, "{}: the notes field says what to watch, with numbers", path.display());
        assert!(s.notes.chars().any(|c| c.is_ascii_digit()), "{}: notes give the numbers a run shows", path.display());
    }
}

#[test]
fn catalog_page_repeats_the_notes_word_for_word() {
    let want = catalog();
    let page = Path::new("docs/catalog.md");
    if std::env::var_os("MASIM_BLESS").is_some() {
        std::fs::write(page, &want).expect("write docs/catalog.md");
        return;
    }
    let have = std::fs::read_to_string(page).unwrap_or_default();
    if have != want {
        let first = have.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(have.lines().count());
        panic!(
            "docs/catalog.md differs from the scenarios' notes from line {} on; \
             run `MASIM_BLESS=1 cargo test --test suite catalog::` to rewrite it",
            first + 1
        );
    }
}
