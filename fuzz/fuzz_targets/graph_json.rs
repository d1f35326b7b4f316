//! A Graph response body → the typed models, and a delta page → the mirror merge (users,
//! then groups with the removed users), as a sync round applies them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::mirror::merge::{DeltaStats, apply_groups, apply_users};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<model::graph::User>(data);
    let _ = serde_json::from_slice::<model::graph::Group>(data);
    let Ok(page) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let objects: Vec<Value> = match page.get("value") {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![page],
    };
    let mut mirror = model::Mirror::default();
    let mut stats = DeltaStats::default();
    let _ = apply_users(&mut mirror, &objects, true, 1_735_689_600, &mut stats);
    let removed = Default::default();
    let _ = apply_groups(&mut mirror, &objects, &removed, &mut stats);
});
