//! The core names no world: no file under src/sim mentions a world's name, one of its
//! agent kinds, or the worlds module. The words come from the scenarios themselves (each
//! scenario's world and the kinds it spawns), so a new world is covered as soon as it
//! ships a scenario.

use std::path::Path;

use masim::worlds::WorldSpec;

fn words() -> Vec<String> {
    let mut w = vec!["worlds::".to_string()];
    for f in std::fs::read_dir("scenarios").expect("scenarios/").filter_map(|e| e.ok().map(|e| e.path())) {
        if f.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let s = masim::scenario::load_file(&f).unwrap_or_else(|e| panic!("{e}"));
        w.push(s.world.name().to_string());
        for k in s.world.agent_kinds() {
            w.push(k.name().to_string());
            w.push(k.file_name().to_string());
        }
    }
    w.sort();
    w.dedup();
    w
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `text` holds `word` as a whole word (or with a plural s), case-insensitively.
fn mentions(text: &str, word: &str) -> Option<usize> {
    let (t, w) = (text.to_lowercase(), word.to_lowercase());
    let mut from = 0;
    while let Some(k) = t[from..].find(&w) {
        let at = from + k;
        let before = t[..at].chars().next_back();
        let mut end = at + w.len();
        if t[end..].starts_with('s') && !w.ends_with(':') {
            end += 1;
        }
        let after = t[end..].chars().next();
        if before.is_none_or(|c| !is_word_char(c)) && (w.ends_with(':') || after.is_none_or(|c| !is_word_char(c))) {
            return Some(at);
        }
        from = at + w.len();
    }
    None
}

#[test]
fn src_sim_names_no_world_and_no_world_kind() {
    let words = words();
    assert!(words.iter().any(|w| w == "traffic") && words.iter().any(|w| w == "vehicle"), "{words:?}");
    let mut found = Vec::new();
    let mut stack = vec![Path::new("src/sim").to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("src/sim").filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("readable");
            for (n, line) in text.lines().enumerate() {
                for w in &words {
                    if mentions(line, w).is_some() {
                        found.push(format!("{}:{}: `{w}` in: {}", p.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "the core names a world:\n{}", found.join("\n"));
}

#[test]
fn the_check_would_catch_a_mention() {
    assert!(mentions("use crate::worlds::traffic;", "worlds::").is_some());
    assert!(mentions("// every Vehicle brakes", "vehicle").is_some());
    assert!(mentions("vehicles", "vehicle").is_some());
    assert!(mentions("trafficking", "traffic").is_none());
    assert!(mentions("convehicle", "vehicle").is_none());
}
