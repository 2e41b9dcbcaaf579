//! One OBS hotkey per expression of the loaded avatar ("VRM expression: happy"), registered on
//! the source so OBS shows them in Settings -> Hotkeys and saves their bindings with the scene
//! collection (they come back when the same names are registered again). Toggle or hold.

use super::ffi;
use crate::pipeline::RenderControl;
use std::ffi::{CString, c_void};
use std::sync::Arc;

/// Hotkeys registered per avatar: presets come first, then custom expressions by name (52 ARKit
/// shapes of a perfect-sync avatar fit); registering thousands in one tick would stall OBS.
pub const MAX_HOTKEYS: usize = 128;

/// The expressions that get a hotkey, in the avatar's order (presets first).
fn with_hotkeys(names: Vec<String>) -> impl Iterator<Item = String> {
    names.into_iter().take(MAX_HOTKEYS)
}

/// What a hotkey's callback needs; boxed so its address stays put while registered.
struct Binding {
    control: Arc<RenderControl>,
    expression: String,
    hold: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Default)]
pub struct ExpressionHotkeys {
    generation: u64,
    registered: Vec<(ffi::obs_hotkey_id, Box<Binding>)>,
    /// Hold (on while the key is down) instead of toggle; set by the source's settings without
    /// any lock (a hotkey callback may update the source while OBS holds its hotkey lock).
    hold: Arc<std::sync::atomic::AtomicBool>,
}

// SAFETY: the bindings are only read by OBS's hotkey thread through their boxes, which live
// until they are unregistered.
unsafe impl Send for ExpressionHotkeys {}

/// The hotkey's name for an expression (what OBS saves bindings under).
pub fn hotkey_name(expression: &str) -> String {
    format!("vrm_avatar.expression.{expression}")
}

impl ExpressionHotkeys {
    /// Hotkeys whose mode (hold or toggle) follows `hold`.
    pub fn new(hold: Arc<std::sync::atomic::AtomicBool>) -> Self {
        ExpressionHotkeys {
            hold,
            ..Default::default()
        }
    }

    /// Whether the hotkeys registered are those of the avatar the control has loaded.
    pub fn is_current(&self, control: &RenderControl) -> bool {
        control.expressions_generation() == self.generation
    }

    /// Registers the hotkeys of the avatar the control has loaded, if it changed.
    pub fn sync(&mut self, source: *mut ffi::obs_source_t, control: &Arc<RenderControl>) {
        let (generation, names) = control.expressions();
        if generation == self.generation || source.is_null() {
            return;
        }
        self.generation = generation;
        self.unregister();
        for expression in with_hotkeys(names) {
            let (Ok(name), Ok(description)) = (
                CString::new(hotkey_name(&expression)),
                CString::new(format!("VRM expression: {expression}")),
            ) else {
                continue;
            };
            let binding = Box::new(Binding {
                control: Arc::clone(control),
                expression,
                hold: Arc::clone(&self.hold),
            });
            // SAFETY: the strings are copied by OBS; the binding's box outlives the hotkey
            // (unregistered before it is dropped).
            let id = unsafe {
                ffi::obs_hotkey_register_source(
                    source,
                    name.as_ptr(),
                    description.as_ptr(),
                    Some(pressed),
                    &*binding as *const Binding as *mut c_void,
                )
            };
            self.registered.push((id, binding));
        }
    }

    pub fn unregister(&mut self) {
        for (id, _) in self.registered.drain(..) {
            // SAFETY: an id this object registered, unregistered once.
            unsafe { ffi::obs_hotkey_unregister(id) };
        }
    }
}

unsafe extern "C" fn pressed(
    data: *mut c_void,
    _id: ffi::obs_hotkey_id,
    _hotkey: *mut ffi::obs_hotkey_t,
    down: bool,
) {
    super::guard("expression hotkey", (), || {
        // SAFETY: `data` is the registered binding's box, alive while registered.
        let Some(binding) = (unsafe { (data as *const Binding).as_ref() }) else {
            return;
        };
        let hold = binding.hold.load(std::sync::atomic::Ordering::Relaxed);
        let name = &binding.expression;
        let on = if hold {
            down
        } else if down {
            !binding.control.direction.expression_held(name)
        } else {
            return;
        };
        // The same path as the control API's SetExpression.
        let weight = if on { 1.0 } else { 0.0 };
        binding
            .control
            .direction
            .set_expression(name, weight, crate::motion::DEFAULT_FADE_MS);
        log::info!("expression {name} {}", if on { "on" } else { "off" });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_avatar_with_thousands_of_expressions_gets_a_bounded_number_of_hotkeys() {
        let names: Vec<String> = (0..5000).map(|i| format!("e{i}")).collect();
        let kept: Vec<String> = with_hotkeys(names).collect();
        assert_eq!(kept.len(), MAX_HOTKEYS);
        assert_eq!(kept[0], "e0");
    }
}
