//! The avatar's own voice for the control API's `Speak`: a private media source the plugin owns,
//! put on an output channel of OBS's mix (so it is heard in the stream and in recordings like any
//! other sound), whose sound moves the mouth through a voice worker of its own. Made on the first
//! `Speak`; let go when its avatar goes or OBS quits.

use super::ffi;
use super::voice_input::Listening;
use crate::pipeline::{VoiceControl, spawn_voice_worker};
use parking_lot::Mutex;
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

/// Output channels OBS's own UI leaves alone (it uses 0 to 6); libobs has 64.
const CHANNELS: std::ops::Range<u32> = 8..64;

/// Set when OBS starts quitting: every speech is let go and none is made.
static QUITTING: AtomicBool = AtomicBool::new(false);
static LIVE: Mutex<Vec<Weak<Mutex<Option<Speech>>>>> = Mutex::new(Vec::new());

/// A source's speech slot (empty until its first `Speak`), known to [`quit`].
pub fn new_slot() -> Arc<Mutex<Option<Speech>>> {
    let slot = Arc::new(Mutex::new(None));
    let mut live = LIVE.lock();
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(&slot));
    slot
}

/// OBS is quitting: every speech source leaves the mix and is released before OBS tears down.
pub fn quit() -> usize {
    QUITTING.store(true, Ordering::SeqCst);
    let slots: Vec<_> = LIVE.lock().iter().filter_map(Weak::upgrade).collect();
    slots
        .iter()
        .filter(|slot| slot.lock().take().is_some())
        .count()
}

/// What a tick saw happen to the speech.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEvent {
    Started(String),
    Ended(String),
}

pub struct Speech {
    media: *mut ffi::obs_source_t,
    channel: u32,
    listening: Option<Listening>,
    voice: Arc<VoiceControl>,
    worker: Option<JoinHandle<()>>,
    file: Option<String>,
    playing: bool,
    pending: Vec<SpeechEvent>,
    volume: Option<f32>,
}

// SAFETY: the media source is a counted reference; it is used under the slot's lock.
unsafe impl Send for Speech {}

impl Speech {
    /// Makes the speech of the avatar named `owner`.
    pub fn new(owner: &str) -> Result<Speech, String> {
        if QUITTING.load(Ordering::SeqCst) {
            return Err("OBS is quitting".into());
        }
        // SAFETY: each reference taken is released at once; only null is asked for.
        let channel = CHANNELS
            .clone()
            .find(|&ch| unsafe {
                let taken = ffi::obs_get_output_source(ch);
                ffi::obs_source_release(taken);
                taken.is_null()
            })
            .ok_or("every output channel of OBS is taken")?;
        let name = CString::new(format!("{owner} (speech)")).map_err(|_| "a bad source name")?;
        // SAFETY: the settings are created and released here; the source is ours to release.
        let media = unsafe {
            let settings = ffi::obs_data_create();
            ffi::obs_data_set_bool(settings, c"is_local_file".as_ptr(), true);
            ffi::obs_data_set_bool(settings, c"looping".as_ptr(), false);
            ffi::obs_data_set_bool(settings, c"restart_on_activate".as_ptr(), false);
            ffi::obs_data_set_bool(settings, c"close_when_inactive".as_ptr(), false);
            let media =
                ffi::obs_source_create_private(c"ffmpeg_source".as_ptr(), name.as_ptr(), settings);
            ffi::obs_data_release(settings);
            media
        };
        if media.is_null() {
            return Err("OBS could not make a media source (is its ffmpeg plugin loaded?)".into());
        }
        let voice = VoiceControl::new();
        let worker = spawn_voice_worker(Arc::clone(&voice)).ok();
        // SAFETY: `media` is our reference, kept until drop (which stops the listening first).
        let (listening, _, _) = unsafe { Listening::start(media, &voice) };
        // SAFETY: OBS takes its own reference for the channel, given back in drop.
        unsafe { ffi::obs_set_output_source(channel, media) };
        log::info!("the speech of '{owner}' plays on output channel {channel}");
        Ok(Speech {
            media,
            channel,
            listening: Some(listening),
            voice,
            worker,
            file: None,
            playing: false,
            pending: Vec::new(),
            volume: None,
        })
    }

    /// The voice worker that hears the speech (it moves the mouth while speech plays).
    pub fn voice(&self) -> Arc<VoiceControl> {
        Arc::clone(&self.voice)
    }

    /// Plays `file` from its start, replacing what was playing.
    pub fn speak(&mut self, file: &Path) -> Result<(), String> {
        let text = CString::new(file.to_string_lossy().as_bytes())
            .map_err(|_| "the file name holds a NUL character".to_string())?;
        self.end_now();
        let same = self.file.as_deref() == Some(&*file.to_string_lossy());
        // SAFETY: a valid source and settings created and released here.
        unsafe {
            if same {
                ffi::obs_source_media_restart(self.media);
            } else {
                let settings = ffi::obs_data_create();
                ffi::obs_data_set_string(settings, c"local_file".as_ptr(), text.as_ptr());
                ffi::obs_source_update(self.media, settings);
                ffi::obs_data_release(settings);
            }
        }
        self.file = Some(file.to_string_lossy().into_owned());
        Ok(())
    }

    /// The speech's loudness, 0 to 1 (the source's `speech_volume`); OBS is told only of a
    /// change.
    pub fn set_volume(&mut self, volume: f32) {
        let volume = volume.clamp(0.0, 1.0);
        if self.volume != Some(volume) {
            self.volume = Some(volume);
            // SAFETY: a valid source.
            unsafe { ffi::obs_source_set_volume(self.media, volume) };
        }
    }

    /// Stops the speech playing.
    pub fn stop(&mut self) {
        self.end_now();
        // SAFETY: a valid source.
        unsafe { ffi::obs_source_media_stop(self.media) };
    }

    fn end_now(&mut self) {
        if self.playing {
            self.playing = false;
            if let Some(file) = &self.file {
                self.pending.push(SpeechEvent::Ended(file.clone()));
            }
        }
    }

    /// Whether speech plays now, and what started or ended since the last tick.
    pub fn tick(&mut self) -> (bool, Vec<SpeechEvent>) {
        // SAFETY: a valid source.
        let state = unsafe { ffi::obs_source_media_get_state(self.media) };
        let playing = matches!(
            state,
            ffi::obs_media_state_OBS_MEDIA_STATE_PLAYING
                | ffi::obs_media_state_OBS_MEDIA_STATE_BUFFERING
        );
        let mut events = std::mem::take(&mut self.pending);
        if let Some(file) = &self.file
            && playing != self.playing
        {
            events.push(if playing {
                SpeechEvent::Started(file.clone())
            } else {
                SpeechEvent::Ended(file.clone())
            });
        }
        self.playing = playing;
        (playing, events)
    }
}

impl Drop for Speech {
    fn drop(&mut self) {
        if let Some(listening) = self.listening.take() {
            listening.stop();
        }
        // SAFETY: our channel and our reference, given back once.
        unsafe {
            let on_channel = ffi::obs_get_output_source(self.channel);
            ffi::obs_source_release(on_channel);
            if on_channel == self.media {
                ffi::obs_set_output_source(self.channel, std::ptr::null_mut());
            }
            ffi::obs_source_release(self.media);
        }
        self.voice.stop();
        if let Some(worker) = self.worker.take() {
            crate::pipeline::worker::retire("speech voice", worker);
        }
    }
}
