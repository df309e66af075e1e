//! Agent kinds as names that worlds register ("walker", "relay_node"), so the
//! core can select and count agents by kind without knowing any world. Scenario files
//! write a kind as an identifier in CamelCase (`kind: RelayNode`); outputs use the
//! snake_case name (`relay_node`).

use std::fmt;
use std::sync::Mutex;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What sort of agent an entity is: a name a world registers. Two kinds are equal when
/// their names are; a kind defined as a constant and one read from a file compare equal.
#[derive(Clone, Copy, Eq)]
pub struct AgentKind(&'static str);

impl AgentKind {
    /// A kind named `name` (snake_case, as in outputs).
    pub const fn new(name: &'static str) -> Self {
        AgentKind(name)
    }

    /// The snake_case name used in outputs (`relay_node`).
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The CamelCase name used in scenario files (`RelayNode`).
    pub fn file_name(self) -> &'static str {
        intern(self.0).1
    }

    /// The kind a scenario file names (`RelayNode` → `relay_node`). Any identifier
    /// reads as a kind; whether the scenario's world has it is checked by validation.
    pub fn from_file_name(file_name: &str) -> Self {
        AgentKind(intern(&snake_case(file_name)).0)
    }
}

impl PartialEq for AgentKind {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

impl std::hash::Hash for AgentKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialOrd for AgentKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AgentKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(other.0)
    }
}

impl fmt::Debug for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Every name seen, as (snake_case, CamelCase), leaked once each: a run knows a handful.
static NAMES: Mutex<Vec<(&'static str, &'static str)>> = Mutex::new(Vec::new());

fn intern(snake: &str) -> (&'static str, &'static str) {
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(&n) = names.iter().find(|n| n.0 == snake) {
        return n;
    }
    let s: &'static str = Box::leak(snake.to_string().into_boxed_str());
    let c: &'static str = Box::leak(camel_case(snake).into_boxed_str());
    names.push((s, c));
    (s, c)
}

fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| f.to_ascii_uppercase().to_string() + c.as_str())
        })
        .collect()
}

impl Serialize for AgentKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Written like an enum variant, so RON shows `kind: RelayNode` and JSON "RelayNode".
        s.serialize_unit_variant("AgentKind", 0, self.file_name())
    }
}

impl<'de> Deserialize<'de> for AgentKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = AgentKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an agent kind such as `Walker`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AgentKind, E> {
                let ok = v.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && v.chars().all(|c| c.is_ascii_alphanumeric());
                if ok {
                    Ok(AgentKind::from_file_name(v))
                } else {
                    Err(E::custom(format!("expected an agent kind in CamelCase such as `Walker`, found `{v}`")))
                }
            }
        }
        d.deserialize_identifier(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: AgentKind = AgentKind::new("relay_node");

    #[test]
    fn names_round_trip() {
        assert_eq!(NODE.file_name(), "RelayNode");
        assert_eq!(AgentKind::from_file_name("RelayNode"), NODE);
        assert_eq!(AgentKind::from_file_name("Walker").name(), "walker");
        assert_ne!(AgentKind::from_file_name("Sensor"), NODE);
        let ron = ron::to_string(&NODE).expect("serializes");
        assert_eq!(ron, "RelayNode");
        let back: AgentKind = ron::from_str(&ron).expect("reads back");
        assert_eq!(back, NODE);
        let json = serde_json::to_string(&NODE).expect("json");
        assert_eq!(json, "\"RelayNode\"");
        let back: AgentKind = serde_json::from_str(&json).expect("json back");
        assert_eq!(back, NODE);
        assert!(serde_json::from_str::<AgentKind>("\"lower\"").is_err());
    }
}
