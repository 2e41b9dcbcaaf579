//! The voice side of a VRM Avatar source: the OBS source whose sound moves the mouth (a mic or
//! aux input, a media source, ...), heard through `obs_source_add_audio_capture_callback` after
//! the streamer's own filters. The callback only copies the sound into the voice worker's
//! queue ([`VoiceControl::hear`], which never waits).

use super::{ffi, guard};
use crate::pipeline::{Chunk, VoiceControl};
use parking_lot::Mutex;
use std::ffi::{CString, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Set when OBS starts quitting: voices are let go and not taken up again.
static QUITTING: AtomicBool = AtomicBool::new(false);

/// Every source's voice input, so that all of them can be let go when OBS quits.
static LIVE: Mutex<Vec<Weak<Mutex<VoiceInput>>>> = Mutex::new(Vec::new());

/// A new source's voice input, known to [`quit`].
pub fn new_voice_input() -> Arc<Mutex<VoiceInput>> {
    let input = Arc::new(Mutex::new(VoiceInput::default()));
    let mut live = LIVE.lock();
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(&input));
    input
}

/// OBS is quitting: every voice source is let go (its callback and reference), so that OBS's
/// own teardown meets none of ours. Returns how many were let go.
pub fn quit() -> usize {
    QUITTING.store(true, Ordering::SeqCst);
    let inputs: Vec<_> = LIVE.lock().iter().filter_map(Weak::upgrade).collect();
    inputs
        .iter()
        .map(|input| {
            let mut input = input.lock();
            let had = input.attached.is_some();
            input.detach();
            usize::from(had)
        })
        .sum()
}

/// How often a missing voice source is looked for, and how often the one heard is checked
/// against its name (a renamed source is let go, like a removed one).
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// What the audio callback gets: the worker's queue and the layout of OBS's audio.
struct Ear {
    voice: Arc<VoiceControl>,
    rate: u32,
    channels: usize,
}

struct Attached {
    name: String,
    /// A strong reference to the heard source.
    source: *mut ffi::obs_source_t,
    listening: Listening,
    checked: Instant,
}

/// An audio capture callback on a source, feeding a voice worker; removed by [`Listening::stop`].
pub(super) struct Listening {
    source: *mut ffi::obs_source_t,
    /// Boxed for the callback; freed only after the callback is removed.
    ear: *mut Ear,
}

// SAFETY: the pointers are a source the owner holds a reference to and an owned box.
unsafe impl Send for Listening {}

impl Listening {
    /// Hears `source` (after its filters) into `voice`. Returns the listening, OBS's sample
    /// rate and channels.
    ///
    /// # Safety
    /// `source` is a strong reference the caller keeps until [`Listening::stop`].
    pub(super) unsafe fn start(
        source: *mut ffi::obs_source_t,
        voice: &Arc<VoiceControl>,
    ) -> (Listening, u32, usize) {
        let mut info = ffi::obs_audio_info::default();
        // SAFETY: fills the struct; false when OBS has no audio set up.
        let (rate, channels) = if unsafe { ffi::obs_get_audio_info(&mut info) } {
            (info.samples_per_sec, channels_of(info.speakers))
        } else {
            (48_000, 2)
        };
        let ear = Box::into_raw(Box::new(Ear {
            voice: Arc::clone(voice),
            rate,
            channels,
        }));
        // SAFETY: the callback and its param stay valid until removed in stop.
        unsafe {
            ffi::obs_source_add_audio_capture_callback(source, Some(on_audio), ear as *mut c_void)
        };
        voice.set_listening(true);
        (Listening { source, ear }, rate, channels)
    }

    /// Removes the callback (the voice then stops moving the mouth).
    pub(super) fn stop(self) {
        // SAFETY: removing the callback added in start; libobs takes the source's audio
        // callback lock, so no call is running once this returns and the ear can go.
        unsafe {
            ffi::obs_source_remove_audio_capture_callback(
                self.source,
                Some(on_audio),
                self.ear as *mut c_void,
            );
            let ear = Box::from_raw(self.ear);
            ear.voice.set_listening(false);
        }
    }
}

/// The voice a source hears now. Touched only on OBS's graphics thread (video_tick) and in
/// destroy.
#[derive(Default)]
pub struct VoiceInput {
    attached: Option<Attached>,
    tried: Option<(String, Instant)>,
}

// SAFETY: the source pointer is a counted reference and the ear is owned; both are used under
// the owner's lock.
unsafe impl Send for VoiceInput {}

impl VoiceInput {
    /// Follows the wanted voice source ("" for none), feeding `voice` from it.
    pub fn tick(&mut self, wanted: &str, voice: &Arc<VoiceControl>) {
        if QUITTING.load(Ordering::SeqCst) {
            self.detach();
            return;
        }
        let wanted = wanted.trim();
        if let Some(a) = &mut self.attached {
            let stale = a.name != wanted
                // SAFETY: a strong reference held since attach.
                || unsafe { ffi::obs_source_removed(a.source) }
                || (a.checked.elapsed() >= LOOK_EVERY && {
                    a.checked = Instant::now();
                    !still_named(a.source, &a.name)
                });
            if stale {
                if a.name == wanted {
                    log::info!("the voice source '{}' is gone: let go", a.name);
                    self.tried = Some((a.name.clone(), Instant::now()));
                }
                self.detach();
            }
        }
        if self.attached.is_none() && !wanted.is_empty() {
            let due = self
                .tried
                .as_ref()
                .is_none_or(|(last, at)| last != wanted || at.elapsed() >= LOOK_EVERY);
            if due {
                self.tried = Some((wanted.to_string(), Instant::now()));
                self.attach(wanted, voice);
            }
        }
    }

    /// Whether a voice source is heard now.
    pub fn hearing(&self) -> bool {
        self.attached.is_some()
    }

    fn attach(&mut self, name: &str, voice: &Arc<VoiceControl>) {
        let Some(source) = find(name) else {
            return;
        };
        // SAFETY: a strong reference, just taken.
        let flags = unsafe { ffi::obs_source_get_output_flags(source) };
        if flags & ffi::OBS_SOURCE_AUDIO == 0 {
            log::warn!("the source '{name}' has no sound: it cannot move the mouth");
            // SAFETY: releasing the reference just taken.
            unsafe { ffi::obs_source_release(source) };
            return;
        }
        // SAFETY: the reference just taken is kept in `attached` until detach.
        let (listening, rate, channels) = unsafe { Listening::start(source, voice) };
        log::info!("hearing the voice of '{name}' ({rate} Hz, {channels} channels)");
        self.attached = Some(Attached {
            name: name.to_string(),
            source,
            listening,
            checked: Instant::now(),
        });
    }

    /// Stops hearing the voice source (the mouth goes back to the camera).
    pub fn detach(&mut self) {
        if let Some(a) = self.attached.take() {
            a.listening.stop();
            // SAFETY: the reference taken in attach, released once.
            unsafe { ffi::obs_source_release(a.source) };
        }
    }
}

/// A strong reference to the source named `name` that is not on its way out.
fn find(name: &str) -> Option<*mut ffi::obs_source_t> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: a valid C string; the result is a strong reference or null.
    let source = unsafe { ffi::obs_get_source_by_name(c_name.as_ptr()) };
    if source.is_null() {
        return None;
    }
    // A removed source can still be found by name until its last reference goes.
    // SAFETY: the reference just taken; released when not kept.
    if unsafe { ffi::obs_source_removed(source) } {
        unsafe { ffi::obs_source_release(source) };
        return None;
    }
    Some(source)
}

/// Whether `name` still finds `source` (false once it was renamed or replaced).
fn still_named(source: *mut ffi::obs_source_t, name: &str) -> bool {
    let Some(found) = find(name) else {
        return false;
    };
    // SAFETY: releasing the reference `find` took; only the pointers are compared.
    unsafe { ffi::obs_source_release(found) };
    found == source
}

/// Channels of an OBS speaker layout.
fn channels_of(speakers: ffi::speaker_layout) -> usize {
    match speakers {
        ffi::speaker_layout_SPEAKERS_MONO => 1,
        ffi::speaker_layout_SPEAKERS_2POINT1 => 3,
        ffi::speaker_layout_SPEAKERS_4POINT0 => 4,
        ffi::speaker_layout_SPEAKERS_4POINT1 => 5,
        ffi::speaker_layout_SPEAKERS_5POINT1 => 6,
        ffi::speaker_layout_SPEAKERS_7POINT1 => 8,
        _ => 2,
    }
}

/// OBS's audio thread, after the source's filters: float planar samples at OBS's rate. The
/// first two channels (left and right) are averaged and handed over; nothing waits.
unsafe extern "C" fn on_audio(
    param: *mut c_void,
    _source: *mut ffi::obs_source_t,
    audio: *const ffi::audio_data,
    muted: bool,
) {
    guard("audio_capture", (), || {
        // SAFETY: `param` is the ear given in attach, alive until the callback is removed;
        // `audio` is valid for the call.
        let (ear, audio) = unsafe { (&*(param as *const Ear), &*audio) };
        let frames = audio.frames as usize;
        let planes: Vec<&[f32]> = audio.data[..ear.channels.clamp(1, 2)]
            .iter()
            .take_while(|p| !p.is_null())
            // SAFETY: each plane holds `frames` floats (OBS's float planar format).
            .map(|p| unsafe { std::slice::from_raw_parts(*p as *const f32, frames) })
            .collect();
        if planes.is_empty() {
            return;
        }
        let scale = 1.0 / planes.len() as f32;
        let samples = (0..frames)
            .map(|i| planes.iter().map(|p| p[i]).sum::<f32>() * scale)
            .collect();
        ear.voice.hear(Chunk {
            rate: ear.rate,
            samples,
            muted,
        });
    })
}
