//! Any bytes given to the loader give a model or an error, never a panic, a hang or a huge
//! allocation (the loader's limits bound memory and time).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(model) = obs_vrm_avatar::vrm::load(data) {
        // What the OBS source and `inspect` do next must not panic either.
        let _ = obs_vrm_avatar::vrm::inspect_json(&model);
        if let Some(humanoid) = &model.humanoid {
            let _ = obs_vrm_avatar::vrm::NormalizedRig::new(&model.nodes, humanoid);
        }
    }
});
