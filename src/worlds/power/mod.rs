//! The power grid world. Its numerical core is pure and tested on its own: `matpower` (the
//! case parser, with positioned errors), `dcflow` (MATPOWER's DC model, islands, a cached
//! sparse factorization), `frequency` (Kundur's single-area model, AGC, relays) and
//! `dispatch` (economic dispatch, DC OPF, consensus).

pub mod dcflow;
pub mod dispatch;
pub mod frequency;
pub mod matpower;
