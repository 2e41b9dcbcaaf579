//! The `vrm-avatar` command line. On bad input every subcommand prints one line
//! `error: <what and where>` to stderr and exits with status 2 (CONTRACTS.md).

mod bench;
mod bench_obs;
mod bench_track;
mod demo;
mod digital_human;
mod ivs;
mod lipsync;
mod media;
mod quits;
mod render;
mod run;
mod soak;
mod solve;
mod stress_drivers;
mod track;
mod valgrind;
mod vmc;

use crate::launcher::{PluginFiles, install_plugin};
use clap::{Parser, Subcommand};
use obs_vrm_avatar::tracking::holistic::TrackingMode;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "vrm-avatar", version = obs_vrm_avatar::VERSION, about = "VRM avatar for OBS Studio: tools and demo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start OBS with a demo scene holding the VRM Avatar source. With no display (or
    /// --headless) it runs under Xvfb, writes a screenshot and a recording, and quits.
    Demo {
        #[command(flatten)]
        plugin: PluginArgs,
        /// Output folder: screenshots, recording and the throwaway OBS profile.
        #[arg(long)]
        out: PathBuf,
        /// Run under a private Xvfb even when a display is available.
        #[arg(long)]
        headless: bool,
        /// Recording length in seconds (headless).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A video of a person to drive the avatar (instead of idle motion).
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// The headless digital-human demo: OBS with no one at it, the scene built and the avatar
    /// driven only over obs-websocket (lines spoken, expressions, an animation), streamed to an
    /// RTMP ingest (a local one unless --rtmp-url).
    DigitalHuman {
        #[command(flatten)]
        plugin: PluginArgs,
        /// Output folder: the spoken lines, timeline.json, the received stream, OBS's profile.
        #[arg(long)]
        out: PathBuf,
        /// The avatar (the built-in one when left out).
        #[arg(long)]
        vrm: Option<PathBuf>,
        /// A VRM Animation played between the lines.
        #[arg(long)]
        animation: Option<PathBuf>,
        /// A line to speak (repeatable).
        #[arg(long = "line", default_values_t = [
            "Hello everyone, and welcome to the show.".to_string(),
            "Today I am streaming with no one at the keyboard.".to_string(),
            "Thank you for watching, see you next time.".to_string(),
        ])]
        lines: Vec<String>,
        /// An RTMP(S) ingest, e.g. an IVS stage's; its key from --stream-key-file or the
        /// VRM_AVATAR_STREAM_KEY environment variable.
        #[arg(long)]
        rtmp_url: Option<String>,
        #[arg(long, requires = "rtmp_url")]
        stream_key_file: Option<PathBuf>,
        /// The avatar source's `performance` setting: auto, quality or light.
        #[arg(long, default_value = "auto", value_parser = ["auto", "quality", "light"])]
        performance: String,
    },
    /// Print what a VRM (or glTF) file holds: humanoid bones, expressions, materials, springs.
    Inspect {
        file: PathBuf,
        /// JSON output (the only format; kept for the documented command line).
        #[arg(long)]
        json: bool,
    },
    /// Render one frame of an avatar to an RGBA PNG (alpha 0 where nothing is drawn).
    Render {
        /// The VRM file (omit with --default).
        #[arg(required_unless_present = "default")]
        file: Option<PathBuf>,
        /// The built-in default avatar.
        #[arg(long, conflicts_with = "file")]
        default: bool,
        #[arg(long)]
        out: PathBuf,
        /// AvatarPose JSON to pose the avatar with.
        #[arg(long)]
        pose: Option<PathBuf>,
        /// Which frame of --pose.
        #[arg(long, default_value_t = 0)]
        frame: usize,
        /// A VRM Animation clip (.vrma) to pose the avatar with, at --time.
        #[arg(long, conflicts_with = "pose")]
        animation: Option<PathBuf>,
        /// Seconds into --animation.
        #[arg(long, default_value_t = 0.0, requires = "animation")]
        time: f32,
        /// NAME=WEIGHT, e.g. blink=1 (repeatable).
        #[arg(long = "expression", value_parser = render::parse_expression)]
        expressions: Vec<(String, f32)>,
        #[arg(long, default_value_t = 1280)]
        width: u32,
        #[arg(long, default_value_t = 720)]
        height: u32,
        /// Camera position X,Y,Z (meters; the avatar faces +Z).
        #[arg(long, value_parser = render::parse_vec3)]
        eye: Option<glam::Vec3>,
        /// The point the camera looks at, X,Y,Z.
        #[arg(long, value_parser = render::parse_vec3)]
        target: Option<glam::Vec3>,
        #[arg(long, default_value_t = 30.0)]
        fov_deg: f32,
        /// Frame the whole body instead of the upper body.
        #[arg(long)]
        full_body: bool,
        /// Step the spring bones (hair, clothes) this many 1/60 s steps with the pose first.
        #[arg(long, default_value_t = 0)]
        settle_frames: u32,
    },
    /// Time what the pipeline has on this machine: avatar load, render + readback, memory.
    Bench {
        /// The avatar to draw (default: the built-in one).
        #[arg(long)]
        vrm: Option<PathBuf>,
        #[arg(long, default_value_t = 120)]
        frames: usize,
        #[arg(long, default_value_t = 1280)]
        width: u32,
        #[arg(long, default_value_t = 720)]
        height: u32,
        /// JSON output (the only format; kept for the documented command line).
        #[arg(long)]
        json: bool,
        /// A video to time the tracker on (every frame, back to back).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Resize the video's frames to WxH first (e.g. 640x360).
        #[arg(long, value_parser = parse_size)]
        input_size: Option<(u32, u32)>,
        /// Tracking mode for --input (face-only is always timed too).
        #[arg(long, default_value = "upper_body_hands")]
        mode: String,
        /// Track on one inference thread instead of two.
        #[arg(long)]
        single_thread: bool,
        /// Leave out the avatar render timings (tracking only).
        #[arg(long)]
        no_render: bool,
    },
    /// Time the VRM Avatar source live in real OBS (under Xvfb): OBS's graphics thread and CPU
    /// without and with the source, the source's own graphics-thread time and its measured
    /// camera-to-texture latency while it tracks VIDEO (JSON on stdout).
    BenchObs {
        #[command(flatten)]
        live: LiveArgs,
        /// Folder for the throwaway OBS profiles.
        #[arg(long)]
        out: PathBuf,
        /// Measured seconds per run (after an 8 s warm-up).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Keep this many cores busy (a spinning thread each, at normal priority) during both
        /// runs, from before OBS starts until it has quit: a game or an encoder's stand-in.
        #[arg(long, default_value_t = 0)]
        busy_cores: usize,
    },
    /// Hours of live tracking in real OBS (under Xvfb): crashes with backtraces, resident
    /// memory growth after a 5-minute warm-up, missed frames and the quit (JSON on stdout and
    /// in OUT/soak.json, rewritten after every sample). Exits 1 after a crash or an unclean quit.
    Soak {
        #[command(flatten)]
        live: LiveArgs,
        /// Folder for the throwaway OBS profile and the report.
        #[arg(long)]
        out: PathBuf,
        /// The avatar (default: the built-in one).
        #[arg(long)]
        vrm: Option<PathBuf>,
        /// How long to run.
        #[arg(long, default_value_t = 60.0)]
        minutes: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 10)]
        sample_seconds: u64,
        /// Memory growth is counted after this many seconds.
        #[arg(long, default_value_t = 300)]
        warm_up_seconds: u64,
        /// Extra environment for OBS, KEY=VALUE (repeatable): MALLOC_CHECK_=3, LD_PRELOAD=...
        #[arg(long = "env", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// OBS under Valgrind's memcheck (20-50 times slower): bad reads and writes anywhere in
        /// OBS's process, summed up in the report (`valgrind`), the whole log in OUT.
        #[arg(long)]
        valgrind: bool,
    },
    /// OBS quit again and again after a while of live tracking, as a streamer quits it (SIGINT
    /// with everything running), with the plugin or without it: clean quits, crashes and hangs
    /// counted (JSON on stdout). Exits 1 when a quit was not clean.
    Quits {
        #[command(flatten)]
        live: LiveArgs,
        /// Folder for the throwaway OBS profiles.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20)]
        runs: u32,
        /// Seconds of tracking before each quit.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// OBS without the plugin (the clip alone on screen), for comparison.
        #[arg(long)]
        without_plugin: bool,
    },
    /// The errors in a Valgrind memcheck log, grouped by what and where, as `soak --valgrind`
    /// reports them (JSON on stdout).
    Memcheck {
        /// The log (e.g. OUT/valgrind.PID.log of a soak).
        log: PathBuf,
    },
    /// Stability experiment: threads compile and draw new pipelines on Mesa's Vulkan (lavapipe)
    /// and GL (llvmpipe) drivers at once, in one process (JSON counts on stdout; a corrupted
    /// heap kills the process).
    StressDrivers {
        /// Threads on the Vulkan backend.
        #[arg(long, default_value_t = 1)]
        vulkan: usize,
        /// Threads on the GL backend.
        #[arg(long, default_value_t = 1)]
        gl: usize,
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Face, iris, body and hand landmarks of every frame of an image or video (Landmarks JSON).
    Track {
        /// An image (PNG, JPEG) or a video file ffmpeg can read.
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many frames.
        #[arg(long)]
        max_frames: Option<u64>,
        /// face, upper_body, upper_body_hands or full_body.
        #[arg(long, default_value = "full_body")]
        mode: String,
        /// The converted models (default: $VRM_AVATAR_MODELS, models/ next to this program, the checkout's models/).
        #[arg(long)]
        models: Option<PathBuf>,
        /// ONNX Runtime threads per model.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Time stamps advance this many milliseconds a frame instead of following the
        /// video's rate (MediaPipe's Python API and TF.js's tests step 33.333 ms).
        #[arg(long)]
        frame_ms: Option<f64>,
    },
    /// Avatar poses (AvatarPose JSON) from landmarks, with the OBS source's solver and smoothing.
    Solve(solve::SolveArgs),
    /// Mouth openness and VRM's five visemes every 10 ms from a voice (VISEMES JSON), as the
    /// OBS source's lip sync gives them.
    Lipsync(lipsync::LipsyncArgs),
    /// The whole pipeline offline: track, solve and render every frame of a video (MP4 or PNGs).
    Run(run::RunArgs),
    /// Publish to an Amazon IVS real-time stage: tokens, OBS's stream setup, preflight checks.
    #[command(subcommand)]
    Ivs(ivs::IvsCommand),
    /// VMC protocol (OSC over UDP): play poses to a VTuber app, or record what one sends.
    #[command(subcommand)]
    Vmc(vmc::VmcCommand),
    /// Install the plugin into the user's own OBS (`~/.config/obs-studio/plugins/obs-vrm-avatar/`).
    Install {
        #[command(flatten)]
        plugin: PluginArgs,
        /// OBS's configuration folder (default: `$XDG_CONFIG_HOME/obs-studio` or `~/.config/obs-studio`).
        #[arg(long)]
        obs_config: Option<PathBuf>,
    },
}

/// Where the plugin's files are. The defaults fit a source checkout built with cargo: the module
/// next to this program (`target/<profile>/`) and the checkout's `locale/`.
#[derive(clap::Args)]
struct PluginArgs {
    /// The built plugin module (cargo's libobs_vrm_avatar.so).
    #[arg(long)]
    module: Option<PathBuf>,
    /// The folder of the locale files (`locale/` of the checkout).
    #[arg(long)]
    locale: Option<PathBuf>,
    /// The folder of the tracking models and ONNX Runtime (`models/` of the checkout).
    #[arg(long)]
    models: Option<PathBuf>,
}

/// What `bench-obs` and `soak` both set up in OBS: the plugin, the video it tracks and the
/// source's configuration.
#[derive(clap::Args)]
struct LiveArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// A video of a person, played by a hidden media source as the tracking input.
    #[arg(long)]
    input: PathBuf,
    /// The source's tracking mode: face, upper_body, upper_body_hands or full_body.
    #[arg(long, default_value = "upper_body_hands")]
    mode: String,
    /// The source's output size, WxH.
    #[arg(long, value_parser = parse_size, default_value = "1280x720")]
    size: (u32, u32),
    /// OBS with its preview turned off (as on a machine without a GPU).
    #[arg(long)]
    no_preview: bool,
    /// The source's `performance` setting: auto, quality or light.
    #[arg(long, default_value = "auto")]
    performance: String,
}

impl LiveArgs {
    fn setup(self) -> bench_obs::LiveSetup {
        bench_obs::LiveSetup {
            plugin: self.plugin.files(),
            input: self.input,
            mode: self.mode,
            performance: self.performance,
            size: self.size,
            preview: !self.no_preview,
        }
    }
}

impl PluginArgs {
    fn files(self) -> PluginFiles {
        let module = self.module.unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join(MODULE_FILE)))
                .unwrap_or_else(|| PathBuf::from(MODULE_FILE))
        });
        let checkout = PluginFiles::with_checkout(module);
        PluginFiles {
            locale_dir: self.locale.unwrap_or(checkout.locale_dir),
            models_dir: self.models.or(checkout.models_dir),
            module: checkout.module,
        }
    }
}

/// The module file cargo builds on this platform.
const MODULE_FILE: &str = if cfg!(windows) {
    "obs_vrm_avatar.dll"
} else if cfg!(target_os = "macos") {
    "libobs_vrm_avatar.dylib"
} else {
    "libobs_vrm_avatar.so"
};

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    // Built in a checkout, the tools use its models (the OBS module finds its own).
    obs_vrm_avatar::tracking::runtime::search_models_in(
        std::path::Path::new(crate::launcher::CHECKOUT).join("models"),
    );
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return 0;
        }
        Err(err) => {
            let text = err.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("error: {first}");
            return 2;
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Demo {
            plugin,
            out,
            headless,
            seconds,
            input,
        } => {
            let headless = headless || std::env::var_os("DISPLAY").is_none();
            demo::run(&demo::DemoOptions {
                plugin: plugin.files(),
                out,
                headless,
                seconds,
                input,
            })
        }
        Command::DigitalHuman {
            plugin,
            out,
            vrm,
            animation,
            lines,
            rtmp_url,
            stream_key_file,
            performance,
        } => digital_human::run(&digital_human::DigitalHumanOptions {
            plugin: plugin.files(),
            out,
            vrm,
            animation,
            lines,
            rtmp_url,
            stream_key_file,
            performance,
        }),
        Command::Track {
            input,
            out,
            max_frames,
            mode,
            models,
            threads,
            frame_ms,
        } => track::run(&track::TrackOptions {
            input,
            out,
            max_frames,
            mode,
            models,
            threads,
            frame_ms,
        }),
        Command::Solve(args) => solve::run(&args),
        Command::Lipsync(args) => lipsync::run(&args),
        Command::Vmc(command) => vmc::run(&command),
        Command::Run(args) => run::run(&args),
        Command::Install { plugin, obs_config } => install(plugin.files(), obs_config),
        Command::Ivs(command) => match ivs::run(command) {
            Ok(status) => return status,
            Err(err) => Err(err),
        },
        Command::Inspect { file, json: _ } => render::inspect(&file),
        Command::BenchObs {
            live,
            out,
            seconds,
            busy_cores,
        } => bench_obs::run(&bench_obs::BenchObsOptions {
            live: live.setup(),
            out,
            seconds,
            busy_cores,
        })
        .map(|report| println!("{report:#}")),
        Command::Memcheck { log } => std::fs::read_to_string(&log)
            .map_err(|err| anyhow::anyhow!("reading {}: {err}", log.display()))
            .map(|text| println!("{:#}", valgrind::summary(&text))),
        Command::StressDrivers {
            vulkan,
            gl,
            seconds,
        } => match stress_drivers::run(vulkan, gl, seconds) {
            Ok(report) => {
                println!("{report:#}");
                let failed = report["threads"]
                    .as_array()
                    .is_some_and(|threads| threads.iter().any(|t| !t["error"].is_null()));
                return if failed { 1 } else { 0 };
            }
            Err(err) => Err(err),
        },
        Command::Quits {
            live,
            out,
            runs,
            seconds,
            without_plugin,
        } => match quits::run(&quits::QuitsOptions {
            live: live.setup(),
            out,
            runs,
            seconds,
            without_plugin,
        }) {
            Ok(report) => {
                println!("{report:#}");
                return if report["clean"] == report["runs"] {
                    0
                } else {
                    1
                };
            }
            Err(err) => Err(err),
        },
        Command::Soak {
            live,
            out,
            vrm,
            minutes,
            sample_seconds,
            warm_up_seconds,
            env,
            valgrind,
        } => match soak::run(&soak::SoakOptions {
            live: live.setup(),
            out,
            vrm,
            minutes,
            sample_seconds,
            warm_up: std::time::Duration::from_secs(warm_up_seconds),
            env,
            valgrind,
        }) {
            Ok(mut report) => {
                // The samples are in OUT/soak.json; stdout gets the summary. A crash or an
                // unclean quit exits 1.
                let survived = report["crash"].is_null() && report["quit"]["clean"] == true;
                if let Some(map) = report.as_object_mut() {
                    map.remove("samples");
                }
                println!("{report:#}");
                return if survived { 0 } else { 1 };
            }
            Err(err) => Err(err),
        },
        Command::Bench {
            vrm,
            frames,
            width,
            height,
            json: _,
            input,
            input_size,
            mode,
            single_thread,
            no_render,
        } => bench(
            bench::BenchOptions {
                vrm,
                frames,
                width,
                height,
            },
            input,
            input_size,
            &mode,
            !single_thread,
            no_render,
        ),
        Command::Render {
            file,
            default: _,
            out,
            pose,
            frame,
            animation,
            time,
            expressions,
            width,
            height,
            eye,
            target,
            fov_deg,
            full_body,
            settle_frames,
        } => render::render(&render::RenderOptions {
            file,
            out,
            pose,
            frame,
            animation,
            time,
            expressions,
            width,
            height,
            eye,
            target,
            fov_deg,
            full_body,
            settle_frames,
        }),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            2
        }
    }
}

/// `bench`: the renderer's timings, and with `--input` the tracker's, in one JSON object.
fn bench(
    render: bench::BenchOptions,
    input: Option<PathBuf>,
    input_size: Option<(u32, u32)>,
    mode: &str,
    parallel: bool,
    no_render: bool,
) -> anyhow::Result<()> {
    let mut report = if no_render {
        serde_json::json!({})
    } else {
        bench::run(&render)?
    };
    if let Some(input) = input {
        let mode = TrackingMode::parse(mode)
            .ok_or_else(|| anyhow::anyhow!("--mode {mode}: not a tracking mode"))?;
        report["tracking"] = bench_track::run(&input, input_size, mode, parallel)?;
        report["tracking_face_only"] =
            bench_track::run(&input, input_size, TrackingMode::Face, parallel)?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `KEY=VALUE` for `--env`.
fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text}: not KEY=VALUE")),
    }
}

/// WxH, e.g. 640x360.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    text.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0)
        .ok_or_else(|| format!("{text}: expected WIDTHxHEIGHT, e.g. 640x360"))
}

fn install(files: PluginFiles, obs_config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = match obs_config {
        Some(dir) => dir,
        None => std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
            .ok_or_else(|| {
                anyhow::anyhow!("neither XDG_CONFIG_HOME nor HOME is set: give --obs-config")
            })?
            .join("obs-studio"),
    };
    let root = install_plugin(&config, &files)?;
    println!("installed into {} (restart OBS to load it)", root.display());
    Ok(())
}

/// Logs of this crate at info level and above to stderr (wgpu's only from warnings up).
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn
                || (m.level() <= log::Level::Info
                    && ["obs_vrm_avatar", "vrm_avatar_tools"]
                        .iter()
                        .any(|ours| m.target().starts_with(ours)))
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{}: {}", r.level().as_str().to_lowercase(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
