//! Runs real OBS Studio with this plugin in a throwaway profile, under Xvfb when there is no
//! display, and drives it over obs-websocket. Used by the demo (`vrm-avatar demo`) and by the
//! end-to-end tests in `tests/`.

pub mod faults;
pub mod obsws;
pub mod python;
pub mod vendor_events;

pub use faults::retry_on_known_obs_fault;

use anyhow::{Context, Result, bail};
use base64::Engine;
use obsws::ObsWs;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where the plugin's files are before they are installed.
#[derive(Debug, Clone)]
pub struct PluginFiles {
    /// The built module (`libobs_vrm_avatar.so` from cargo), installed as `obs-vrm-avatar.so`.
    pub module: PathBuf,
    /// `locale/` of the project, installed as `data/locale/`.
    pub locale_dir: PathBuf,
    /// The tracking models and ONNX Runtime (`models/` of the checkout), linked as
    /// `data/models/` where an installed plugin keeps them; None installs no models.
    pub models_dir: Option<PathBuf>,
}

/// The checkout this program was built from (its `locale/`, `models/`, `../shared/`).
pub const CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

impl PluginFiles {
    /// The module `module` with this checkout's locale and models.
    pub fn with_checkout(module: PathBuf) -> PluginFiles {
        PluginFiles {
            module,
            locale_dir: Path::new(CHECKOUT).join("locale"),
            models_dir: Some(Path::new(CHECKOUT).join("models")),
        }
    }
}

/// The module's file name where OBS looks for it (CONTRACTS.md).
/// (On macOS OBS loads a `.plugin` bundle instead; that packaging is the installer's.)
pub const MODULE_NAME: &str = if cfg!(windows) {
    "obs-vrm-avatar.dll"
} else {
    "obs-vrm-avatar.so"
};

/// Installs the plugin in OBS's per-user layout below `config_dir` (the `obs-studio` folder):
/// `plugins/obs-vrm-avatar/bin/64bit/obs-vrm-avatar.so`, `plugins/obs-vrm-avatar/data/locale/`
/// and, given models, `plugins/obs-vrm-avatar/data/models/`.
pub fn install_plugin(config_dir: &Path, files: &PluginFiles) -> Result<PathBuf> {
    let root = config_dir.join("plugins/obs-vrm-avatar");
    let bin = root.join("bin/64bit");
    let locale = root.join("data/locale");
    std::fs::create_dir_all(&bin)?;
    std::fs::create_dir_all(&locale)?;
    // Copy, then rename: a running OBS that has the old module mapped keeps its old file intact.
    let module = bin.join(MODULE_NAME);
    let partial = bin.join(format!("{MODULE_NAME}.partial"));
    std::fs::copy(&files.module, &partial)
        .with_context(|| format!("copying the module {}", files.module.display()))?;
    std::fs::rename(&partial, &module)?;
    for entry in std::fs::read_dir(&files.locale_dir)
        .with_context(|| format!("reading {}", files.locale_dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ini") {
            std::fs::copy(&path, locale.join(path.file_name().expect("a file")))?;
        }
    }
    if let Some(models) = &files.models_dir {
        let link = root.join("data/models");
        let _ = std::fs::remove_file(&link);
        let models = std::fs::canonicalize(models)
            .with_context(|| format!("the models folder {}", models.display()))?;
        std::os::unix::fs::symlink(&models, &link)
            .with_context(|| format!("linking {} to {}", link.display(), models.display()))?;
    }
    Ok(root)
}

#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// A throwaway HOME; emptied first.
    pub home: PathBuf,
    pub plugin: PluginFiles,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Where recordings go.
    pub record_dir: PathBuf,
    /// Run under a private Xvfb server (software OpenGL) instead of `$DISPLAY`.
    pub headless: bool,
    /// Extra environment for OBS (e.g. the test panic hook).
    pub env: Vec<(String, String)>,
    /// OBS's user interface language, e.g. `en-US` or `ja-JP`.
    pub language: String,
    /// OBS's preview in its window (off, as a streamer on a weak machine may keep it).
    pub preview: bool,
    /// A program (and its arguments) OBS runs under, e.g. Valgrind; empty: OBS itself. OBS is
    /// then given 15 minutes instead of 90 s to open obs-websocket and 10 minutes instead of
    /// 30 s to answer a request.
    pub wrapper: Vec<String>,
}

impl LaunchOptions {
    /// Headless OBS at 1280x720 and 30 fps in `home`, recording into `home/recordings`, in English.
    pub fn headless_720p30(home: &Path, plugin: PluginFiles) -> Self {
        LaunchOptions {
            home: home.to_path_buf(),
            plugin,
            width: 1280,
            height: 720,
            fps: 30,
            record_dir: home.join("recordings"),
            headless: true,
            env: Vec::new(),
            language: "en-US".into(),
            preview: true,
            wrapper: Vec::new(),
        }
    }
}

/// A running OBS Studio. Dropping it kills OBS; [`ObsStudio::quit`] shuts it down cleanly.
pub struct ObsStudio {
    obs: Option<Child>,
    xvfb: Option<Child>,
    pub ws: ObsWs,
    /// obs-websocket's port on 127.0.0.1 (for other clients, e.g. `vrm-avatar ivs`).
    pub ws_port: u16,
    /// obs-websocket's password, generated for this OBS (other clients need it too).
    pub ws_password: String,
    pub config_dir: PathBuf,
    /// The X display OBS runs on (`:N`), for tests that drive its windows (xdotool).
    pub display: String,
    output_log: PathBuf,
    home: PathBuf,
}

/// A screenshot from `GetSourceScreenshot`: the PNG and its decoded RGBA pixels.
pub struct Screenshot {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Screenshot {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let at = ((y * self.width + x) * 4) as usize;
        self.rgba[at..at + 4].try_into().expect("4 bytes")
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("a parent"))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// [`write`] for a file that holds a secret: readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(path.parent().expect("a parent"))?;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// A fresh obs-websocket password: 128 random bits, hex.
fn generated_password() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes OBS's configuration: no first-run wizard (OBS sets `FirstRun=true` once its first
/// start is done, so `true` skips the auto-configuration wizard), obs-websocket on `port` with
/// `password` (in both the OBS 29 and the OBS 30+ places, readable by their owner only: OBS
/// 29's server listens on every interface), and a "Demo" profile with the video settings.
fn write_config(config_dir: &Path, opts: &LaunchOptions, port: u16, password: &str) -> Result<()> {
    write_private(
        &config_dir.join("global.ini"),
        &format!(
            "[General]\nFirstRun=true\nEnableAutoUpdates=false\nLanguage={language}\n\n\
             [BasicWindow]\nPreviewEnabled={preview}\n\n\
             [Basic]\nProfile=Demo\nProfileDir=Demo\nSceneCollection=Demo\nSceneCollectionFile=Demo\n\n\
             [OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort={port}\nAlertsEnabled=false\n\
             AuthRequired=true\nServerPassword={password}\n",
            language = opts.language,
            preview = opts.preview,
        ),
    )?;
    write_private(
        &config_dir.join("plugin_config/obs-websocket/config.json"),
        &json!({"first_load": false, "server_enabled": true, "server_port": port, "alerts_enabled": false,
                "auth_required": true, "server_password": password})
            .to_string(),
    )?;
    let (w, h, fps, rec) = (opts.width, opts.height, opts.fps, opts.record_dir.display());
    write(
        &config_dir.join("basic/profiles/Demo/basic.ini"),
        &format!(
            "[General]\nName=Demo\n\n\
             [Video]\nBaseCX={w}\nBaseCY={h}\nOutputCX={w}\nOutputCY={h}\nFPSType=1\nFPSInt={fps}\n\n\
             [Output]\nMode=Simple\n\n\
             [SimpleOutput]\nFilePath={rec}\nRecFormat=mp4\nRecFormat2=mp4\nRecQuality=Stream\n\
             StreamEncoder=x264\nRecEncoder=x264\nVBitrate=2500\nABitrate=160\nPreset=ultrafast\n"
        ),
    )
}

/// Starts a private X server and returns it with its display name (`:N`).
fn start_xvfb() -> Result<(Child, String)> {
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1920x1080x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting Xvfb (apt-get install xvfb)")?;
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().expect("piped")).read_line(&mut line)?;
    let number = line.trim();
    if number.is_empty() {
        let _ = xvfb.kill();
        bail!("Xvfb did not report a display");
    }
    Ok((xvfb, format!(":{number}")))
}

/// The last `lines` lines of `text`.
pub fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The backtraces of every thread of the live process `pid`, read by attaching gdb (what a
/// hung shutdown is waiting on).
fn live_backtraces(pid: u32) -> String {
    Command::new("gdb")
        .args([
            "-batch",
            "-nx",
            "-p",
            &pid.to_string(),
            "-ex",
            "thread apply all bt 25",
        ])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_else(|err| format!("(gdb could not run: {err})"))
}

/// The text of the newest log file in OBS's config folder `config_dir` ("" without one), also
/// after OBS has quit.
pub fn newest_log_text(config_dir: &Path) -> String {
    let newest = std::fs::read_dir(config_dir.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    newest
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// CPU seconds (user + system) from a Linux `/proc/PID/stat` or `/proc/PID/task/TID/stat`
/// file; None when it cannot be read.
pub fn cpu_seconds(stat_file: &Path) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_file).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

/// How the plugin gets into the OBS that [`ObsStudio::start_with`] runs.
#[derive(Debug, Clone)]
pub enum PluginSetup<'a> {
    /// This build, copied into the throwaway profile's per-user plugin folder.
    Copy(&'a PluginFiles),
    /// Nothing is copied: OBS finds the plugin where a package installed it system-wide.
    System,
    /// A package's own per-user install script, run with HOME set to the throwaway home.
    PerUserScript(&'a Path),
}

impl ObsStudio {
    /// Starts OBS with this build copied in as a per-user plugin (`opts.plugin`).
    pub fn start(opts: &LaunchOptions) -> Result<Self> {
        Self::start_with(opts, &PluginSetup::Copy(&opts.plugin))
    }

    /// Starts OBS with the plugin set up by `plugin` (`opts.plugin` is not used). OBS is never
    /// pointed at a plugin folder: `OBS_PLUGINS_PATH` and `OBS_PLUGINS_DATA_PATH` are removed
    /// from its environment, so it loads what it finds in its own places.
    pub fn start_with(opts: &LaunchOptions, plugin: &PluginSetup) -> Result<Self> {
        if opts.home.exists() {
            std::fs::remove_dir_all(&opts.home)
                .with_context(|| format!("emptying {}", opts.home.display()))?;
        }
        let config_dir = opts.home.join(".config/obs-studio");
        // OBS rewrites its settings (the obs-websocket password among them) readable by all;
        // the throwaway HOME is its owner's only, as a user's home is.
        std::fs::create_dir_all(&opts.home)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opts.home, std::fs::Permissions::from_mode(0o700))?;
        std::fs::create_dir_all(&opts.record_dir)?;
        let port = free_port()?;
        let password = generated_password()?;
        write_config(&config_dir, opts, port, &password)?;
        match plugin {
            PluginSetup::Copy(files) => {
                install_plugin(&config_dir, files)?;
            }
            PluginSetup::System => {}
            PluginSetup::PerUserScript(script) => {
                let run = Command::new(script)
                    .env("HOME", &opts.home)
                    .env_remove("XDG_CONFIG_HOME")
                    .output()
                    .with_context(|| format!("running {}", script.display()))?;
                if !run.status.success() {
                    bail!(
                        "{} failed: {}",
                        script.display(),
                        String::from_utf8_lossy(&run.stderr).trim()
                    );
                }
            }
        }

        let (xvfb, display) = if opts.headless {
            let (child, display) = start_xvfb()?;
            (Some(child), display)
        } else {
            (
                None,
                std::env::var("DISPLAY").context("no DISPLAY: run headless")?,
            )
        };
        let output_log = opts.home.join("obs-output.log");
        let out = std::fs::File::create(&output_log)?;
        let mut command = match opts.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg("obs");
                command
            }
            None => Command::new("obs"),
        };
        command
            .args(["--disable-shutdown-check", "--multi", "--disable-updater"])
            .current_dir(&opts.home)
            .env("HOME", &opts.home)
            .env("DISPLAY", &display)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("OBS_PLUGINS_PATH")
            .env_remove("OBS_PLUGINS_DATA_PATH")
            .env_remove("WAYLAND_DISPLAY")
            .env("QT_QPA_PLATFORM", "xcb")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        if opts.headless {
            command.env("LIBGL_ALWAYS_SOFTWARE", "1");
            // Keep OBS's own web requests (service lists, ingest updates) on this machine:
            // a throwaway profile has no use for them.
            for var in [
                "http_proxy",
                "https_proxy",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
            ] {
                command.env(var, "http://127.0.0.1:9");
            }
            command.env("no_proxy", "127.0.0.1,localhost");
        }
        command.envs(opts.env.iter().map(|(k, v)| (k, v)));
        // A crash leaves a core file in `home` (with the kernel's default core pattern), which
        // `quit` turns into a backtrace.
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                let unlimited = libc::rlimit {
                    rlim_cur: libc::RLIM_INFINITY,
                    rlim_max: libc::RLIM_INFINITY,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &unlimited);
                Ok(())
            });
        }
        let mut obs = command
            .spawn()
            .context("starting obs (apt-get install obs-studio)")?;

        let startup = if opts.wrapper.is_empty() { 90 } else { 900 };
        let connected = ObsWs::connect_with_password(
            "127.0.0.1",
            port,
            Some(&password),
            Duration::from_secs(startup),
        )
        .and_then(|mut ws| {
            if !opts.wrapper.is_empty() {
                ws.set_timeout(Duration::from_secs(600))?;
            }
            Ok(ws)
        });
        let ws = match connected {
            Ok(ws) => ws,
            Err(err) => {
                let _ = obs.kill();
                let _ = obs.wait();
                let output = std::fs::read_to_string(&output_log).unwrap_or_default();
                bail!(
                    "{err:#}; OBS output ends with:\n{}",
                    tail_lines(&output, 15)
                );
            }
        };
        Ok(ObsStudio {
            obs: Some(obs),
            xvfb,
            ws,
            ws_port: port,
            ws_password: password,
            config_dir,
            display,
            output_log,
            home: opts.home.clone(),
        })
    }

    /// The OBS process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.obs.as_ref().map(Child::id)
    }

    /// Whether the OBS process is still running.
    pub fn running(&mut self) -> bool {
        self.obs
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// None while OBS runs; once it has ended, its exit status, or for a crash (death by a
    /// signal) the threads' backtraces and the end of its log as the error.
    pub fn exited(&mut self) -> Option<std::result::Result<ExitStatus, String>> {
        let obs = self.obs.as_mut()?;
        let status = obs.try_wait().ok()??;
        let pid = obs.id();
        self.obs = None;
        use std::os::unix::process::ExitStatusExt;
        Some(if status.signal().is_some() {
            let report = self.crash_details(status, pid);
            faults::note_fault(&report);
            Err(report)
        } else {
            Ok(status)
        })
    }

    /// Asks OBS to quit as a user would (SIGINT runs its normal shutdown) and returns its exit
    /// status; kills it if it has not exited after `wait`. A crash (death by a signal) is an
    /// error that holds the threads' backtraces and the end of OBS's log.
    pub fn quit(mut self, wait: Duration) -> Result<ExitStatus> {
        let mut obs = self.obs.take().expect("OBS was started");
        self.ws.close();
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(obs.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = obs.try_wait()? {
                use std::os::unix::process::ExitStatusExt;
                if status.signal().is_some() {
                    let report = self.crash_details(status, obs.id());
                    faults::note_fault(&report);
                    bail!("{report}");
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let threads = live_backtraces(obs.id());
                let _ = obs.kill();
                let _ = obs.wait();
                let report = format!(
                    "OBS did not quit within {wait:?} (shutdown hung)\n--- backtraces\n{threads}\n\
                     --- OBS log ends with\n{}\n--- OBS output ends with\n{}",
                    tail_lines(&self.log_text(), 60),
                    tail_lines(&self.output_text(), 30)
                );
                faults::note_fault(&report);
                bail!("{report}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Self::quit`], and an error unless OBS exited with status 0 and wrote no crash report:
    /// what every end-to-end test asks of a quit.
    pub fn quit_cleanly(self, wait: Duration) -> Result<()> {
        let crashes = self.config_dir.join("crashes");
        let status = self.quit(wait)?;
        if !status.success() {
            bail!("OBS exited with {status}");
        }
        let reports: Vec<PathBuf> = std::fs::read_dir(&crashes)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        if !reports.is_empty() {
            bail!("OBS wrote crash reports: {reports:?}");
        }
        Ok(())
    }

    /// Why OBS died: the backtraces of its threads from the core file (when gdb and a core are
    /// there) and the last lines of its log and output.
    fn crash_details(&self, status: ExitStatus, pid: u32) -> String {
        let core = [format!("core.{pid}"), "core".to_string()]
            .into_iter()
            .map(|name| self.home.join(name))
            .find(|path| path.exists());
        let backtrace = match &core {
            Some(core) => Command::new("gdb")
                .args(["-batch", "-nx", "-ex", "thread apply all bt 25", "obs"])
                .arg(core)
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_else(|err| format!("(gdb could not run: {err})")),
            None => "(no core file; core_pattern may send it elsewhere)".to_string(),
        };
        format!(
            "OBS crashed ({status})\n--- backtraces\n{backtrace}\n--- OBS log ends with\n{}\n\
             --- OBS output ends with\n{}",
            tail_lines(&self.log_text(), 60),
            tail_lines(&self.output_text(), 30)
        )
    }

    /// The text of OBS's newest log file.
    pub fn log_text(&self) -> String {
        newest_log_text(&self.config_dir)
    }

    /// Waits up to `limit` for `line` in OBS's log (OBS logs from its own threads, after
    /// requests return); whether it came.
    pub fn wait_for_log(&self, line: &str, limit: Duration) -> bool {
        self.wait_for_log_since(0, line, limit)
    }

    /// [`ObsStudio::wait_for_log`] for a line logged after byte `from` of the log (its length
    /// before the step the line should follow).
    pub fn wait_for_log_since(&self, from: usize, line: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self
                .log_text()
                .get(from..)
                .is_some_and(|new| new.contains(line))
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `source`'s screenshot once at least `opaque` of its pixels are opaque (the avatar is
    /// drawn), waiting up to `limit` (a loaded machine takes seconds); an error with the end
    /// of OBS's log when it never is.
    pub fn wait_for_drawn(
        &mut self,
        source: &str,
        opaque: usize,
        limit: Duration,
    ) -> Result<Screenshot> {
        let deadline = Instant::now() + limit;
        loop {
            let shot = self.screenshot(source)?;
            if shot.rgba.chunks(4).filter(|p| p[3] == 255).count() >= opaque {
                return Ok(shot);
            }
            if Instant::now() >= deadline {
                bail!(
                    "'{source}' was not drawn within {limit:?}; OBS's log ends with:\n{}",
                    tail_lines(&self.log_text(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// What OBS printed on stdout and stderr.
    pub fn output_text(&self) -> String {
        std::fs::read_to_string(&self.output_log).unwrap_or_default()
    }

    /// Crash reports OBS wrote (it writes one when it crashes).
    pub fn crash_reports(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.config_dir.join("crashes"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    }

    /// A second obs-websocket client, subscribed to the plugin's vendor events (close it
    /// before quitting OBS).
    pub fn vendor_events(&self) -> Result<vendor_events::VendorEvents> {
        ObsWs::connect_subscribed(
            "127.0.0.1",
            self.ws_port,
            Some(&self.ws_password),
            obsws::VENDOR_EVENTS,
            Duration::from_secs(10),
        )
        .map(vendor_events::VendorEvents::new)
    }

    /// Changes some of input `input`'s settings (the others stay), as `SetInputSettings` does.
    pub fn set_input_settings(&mut self, input: &str, settings: Value) -> Result<()> {
        self.ws.request(
            "SetInputSettings",
            json!({"inputName": input, "inputSettings": settings}),
        )?;
        Ok(())
    }

    /// Creates `scene` with a dark background and a VRM Avatar source named `input` over it, and
    /// makes it the program scene.
    pub fn create_avatar_scene(&mut self, scene: &str, input: &str, settings: Value) -> Result<()> {
        self.ws
            .request("CreateScene", json!({"sceneName": scene}))?;
        let video = self.ws.request("GetVideoSettings", json!({}))?;
        self.ws.request(
            "CreateInput",
            json!({"sceneName": scene, "inputName": "Background", "inputKind": "color_source_v3",
                   "inputSettings": {"color": 0xFF40_2A24u32, "width": video["baseWidth"], "height": video["baseHeight"]}}),
        )?;
        self.ws.request(
            "CreateInput",
            json!({"sceneName": scene, "inputName": input, "inputKind": "vrm_avatar_source", "inputSettings": settings}),
        )?;
        self.ws
            .request("SetCurrentProgramScene", json!({"sceneName": scene}))?;
        Ok(())
    }

    /// Removes input `name` and gives OBS a moment to let it go. For a playing media source
    /// before quitting: OBS 29 here crashes now and then on its way out while an audio source
    /// plays (a repaint of a freed widget in its main thread), with no VRM Avatar source at all
    /// (1 exit in 15 with only a playing clip in the scene, 2026-11-23).
    pub fn remove_input(&mut self, name: &str) -> Result<()> {
        self.ws.request("RemoveInput", json!({"inputName": name}))?;
        std::thread::sleep(Duration::from_millis(500));
        Ok(())
    }

    /// Adds `video` to `scene` as a looping media source named `name`, hidden: a stand-in for a
    /// camera that only a VRM Avatar source tracking it keeps playing.
    pub fn add_hidden_clip(&mut self, scene: &str, name: &str, video: &Path) -> Result<()> {
        self.ws.request(
            "CreateInput",
            json!({"sceneName": scene, "inputName": name, "inputKind": "ffmpeg_source",
                   "inputSettings": {"local_file": video.display().to_string(), "looping": true}}),
        )?;
        let item = self.ws.request(
            "GetSceneItemId",
            json!({"sceneName": scene, "sourceName": name}),
        )?["sceneItemId"]
            .clone();
        self.ws.request(
            "SetSceneItemEnabled",
            json!({"sceneName": scene, "sceneItemId": item, "sceneItemEnabled": false}),
        )?;
        Ok(())
    }

    /// A PNG of OBS's whole screen (its main window as the user sees it), grabbed from the X
    /// display with ffmpeg.
    pub fn screen_png(&self, path: &Path) -> Result<()> {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "x11grab", "-i"])
            .arg(&self.display)
            .args(["-frames:v", "1"])
            .arg(path)
            .output()
            .context("running ffmpeg (apt-get install ffmpeg)")?;
        if !out.status.success() {
            bail!(
                "ffmpeg could not grab {}: {}",
                self.display,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// A PNG screenshot of a source or scene at its own size (alpha kept for a single source).
    pub fn screenshot(&mut self, source: &str) -> Result<Screenshot> {
        let reply = self.ws.request(
            "GetSourceScreenshot",
            json!({"sourceName": source, "imageFormat": "png"}),
        )?;
        let data = reply["imageData"].as_str().context("no imageData")?;
        let b64 = data.split_once("base64,").map_or(data, |(_, b)| b);
        let png = base64::engine::general_purpose::STANDARD.decode(b64)?;
        let mut decoder = png::Decoder::new(std::io::Cursor::new(&png));
        decoder.set_transformations(
            png::Transformations::normalize_to_color8() | png::Transformations::ALPHA,
        );
        let mut reader = decoder.read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().context("image too large")?];
        let info = reader.next_frame(&mut buf)?;
        if info.color_type != png::ColorType::Rgba {
            bail!("screenshot is {:?}, expected RGBA", info.color_type);
        }
        buf.truncate(info.buffer_size());
        Ok(Screenshot {
            png,
            width: info.width,
            height: info.height,
            rgba: buf,
        })
    }
}

/// Whether something listens on 127.0.0.1:`port` (from /proc, without connecting: ffmpeg's
/// RTMP listener takes one connection only).
fn listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| format!("{a} ").ends_with(&needle))
                && l.split_whitespace().nth(3) == Some("0A")
        })
}

/// A local RTMP ingest: ffmpeg listening once on a free port for stream key `key`, copying
/// what it receives into `file` (FLV; its messages into `file` with the extension `log`).
/// Returns ffmpeg and the server URL to give OBS (`rtmp://127.0.0.1:PORT/live`).
pub fn local_rtmp_ingest(file: &Path, key: &str) -> Result<(Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = format!("rtmp://127.0.0.1:{port}/live");
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-listen",
            "1",
            "-i",
        ])
        .arg(format!("{server}/{key}"))
        .args(["-c", "copy", "-f", "flv"])
        .arg(file)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(file.with_extension("log"))?)
        .spawn()
        .context("ffmpeg (apt-get install ffmpeg)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("ffmpeg did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, server))
}

/// What ffprobe says of a video file's first video stream.
#[derive(Debug, Clone)]
pub struct VideoInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub duration_s: f64,
}

/// Reads a recording's video stream with ffprobe (counting its packets, so the frame count is real).
pub fn probe_video(path: &Path) -> Result<VideoInfo> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_packets:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .context("running ffprobe (apt-get install ffmpeg)")?;
    if !out.status.success() {
        bail!(
            "ffprobe cannot read {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let json: Value = serde_json::from_slice(&out.stdout).context("ffprobe's JSON")?;
    let stream = &json["streams"][0];
    let number = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .or(v.as_f64())
    };
    Ok(VideoInfo {
        codec: stream["codec_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        width: stream["width"].as_u64().unwrap_or(0) as u32,
        height: stream["height"].as_u64().unwrap_or(0) as u32,
        frames: number(&stream["nb_read_packets"]).unwrap_or(0.0) as u64,
        duration_s: number(&json["format"]["duration"]).unwrap_or(0.0),
    })
}

impl Drop for ObsStudio {
    fn drop(&mut self) {
        // An OBS that died while a test ran (its requests then fail) is noted for
        // `retry_on_known_obs_fault`.
        if self.exited().is_none()
            && let Some(mut obs) = self.obs.take()
        {
            let _ = obs.kill();
            let _ = obs.wait();
        }
        if let Some(mut xvfb) = self.xvfb.take() {
            let _ = xvfb.kill();
            let _ = xvfb.wait();
        }
    }
}
