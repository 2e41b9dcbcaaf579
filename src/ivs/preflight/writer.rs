//! Writing [`Change`]s through a [`ProfileWriter`], and [`apply`] to a model of OBS's profile.

use serde_json::{Map, Value};

#[cfg(doc)]
use super::changes;
use super::{Change, ObsSettings, VideoSettings};

/// Where [`changes`] are written: a running OBS over obs-websocket (the command line), OBS's
/// frontend (the plugin's IVS Stage Setup), or a model (tests).
pub trait ProfileWriter {
    /// The output size and frame rate (OBS refuses while an output is active).
    fn set_video(
        &mut self,
        output_width: u32,
        output_height: u32,
        fps_num: u32,
        fps_den: u32,
    ) -> anyhow::Result<()>;
    /// A `basic.ini` value.
    fn set_parameter(&mut self, section: &str, key: &str, value: &str) -> anyhow::Result<()>;
    /// Keys merged into the profile's `streamEncoder.json`.
    fn merge_stream_encoder(&mut self, keys: &Map<String, Value>) -> anyhow::Result<()>;
}

/// Writes `changes` in order, stopping at the first that fails. Returns a line per change,
/// then which ones wait for an OBS restart.
pub fn write_changes(
    changes: &[Change],
    writer: &mut dyn ProfileWriter,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let mut restart = Vec::new();
    for change in changes {
        match change {
            Change::Video {
                output_width,
                output_height,
                fps_num,
                fps_den,
            } => {
                writer.set_video(*output_width, *output_height, *fps_num, *fps_den)?;
                done.push(format!(
                    "video: output {output_width}x{output_height}, {fps_num}/{fps_den} fps"
                ));
            }
            Change::Parameter {
                section,
                key,
                value,
                needs_restart,
            } => {
                writer.set_parameter(section, key, value)?;
                done.push(format!("profile: [{section}] {key}={value}"));
                if *needs_restart {
                    restart.push(format!("[{section}] {key}"));
                }
            }
            Change::StreamEncoder(keys) => {
                writer.merge_stream_encoder(keys)?;
                done.push(format!(
                    "stream encoder (streamEncoder.json): {}",
                    Value::Object(keys.clone())
                ));
            }
        }
    }
    if !restart.is_empty() {
        done.push(format!(
            "restart OBS for {} to take effect",
            restart.join(", ")
        ));
    }
    Ok(done)
}

/// Applies `changes` to a model as OBS would read them back (for tests and dry runs).
pub fn apply(
    current: &ObsSettings,
    changes: &[Change],
    ini: &mut std::collections::BTreeMap<(String, String), String>,
    stream_encoder: &mut Map<String, Value>,
) -> ObsSettings {
    struct Model<'a> {
        video: VideoSettings,
        ini: &'a mut std::collections::BTreeMap<(String, String), String>,
        stream_encoder: &'a mut Map<String, Value>,
    }
    impl ProfileWriter for Model<'_> {
        fn set_video(&mut self, w: u32, h: u32, num: u32, den: u32) -> anyhow::Result<()> {
            (self.video.output_width, self.video.output_height) = (w, h);
            (self.video.fps_num, self.video.fps_den) = (num, den);
            Ok(())
        }
        fn set_parameter(&mut self, section: &str, key: &str, value: &str) -> anyhow::Result<()> {
            self.ini
                .insert((section.to_string(), key.to_string()), value.to_string());
            Ok(())
        }
        fn merge_stream_encoder(&mut self, keys: &Map<String, Value>) -> anyhow::Result<()> {
            self.stream_encoder.extend(keys.clone());
            Ok(())
        }
    }
    let mut model = Model {
        video: VideoSettings {
            base_width: current.base_width,
            base_height: current.base_height,
            output_width: current.output_width,
            output_height: current.output_height,
            fps_num: current.fps_num,
            fps_den: current.fps_den,
        },
        ini,
        stream_encoder,
    };
    write_changes(changes, &mut model).expect("the model takes every change");
    let ini = model.ini.clone();
    let get = move |s: &str, k: &str| ini.get(&(s.to_string(), k.to_string())).cloned();
    ObsSettings::from_profile(
        model.video,
        &get,
        Some(&Value::Object(model.stream_encoder.clone())),
        &current.service_type,
    )
}
