# Builds the Windows installer, out\packages\obs-vrm-avatar-<version>-windows-x64-setup.exe.
# Not run on the project's Linux machine; written to be reviewed and run on Windows 10/11 x64 with:
#   - Rust (rustup, stable MSVC toolchain) and Visual Studio 2022 Build Tools (C++; lib.exe, dumpbin.exe)
#   - OBS Studio 29+ installed (its obs.dll gives the import library the module links against)
#   - Python 3.9+ with pip (fetches ONNX Runtime from PyPI's onnxruntime wheel)
#   - Inno Setup 6 (ISCC.exe)
#   - models\ made by scripts/models.sh on Linux (the ONNX files are the same on every platform);
#     copy that folder into the checkout first.
# Run from a "Developer PowerShell for VS 2022":  powershell -File installer\windows\build.ps1
param(
    [string]$ObsDir = "$env:ProgramFiles\obs-studio",
    [string]$Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe"
)
$ErrorActionPreference = "Stop"
$Root = (Resolve-Path "$PSScriptRoot\..\..").Path
Set-Location $Root
$Out = "$Root\out\packages"
$Stage = "$Root\out\windows\obs-vrm-avatar"
$Work = "$Root\out\windows\work"
Remove-Item -Recurse -Force "$Root\out\windows" -ErrorAction SilentlyContinue
New-Item -ItemType Directory -Force $Stage, $Work, $Out | Out-Null

# The version: Cargo.toml is its only home.
$Version = ((cargo pkgid) -split '[#@]')[-1]
if ($LASTEXITCODE -ne 0) { throw "cargo pkgid failed" }

# Import library for obs.dll (the module imports libobs functions; build.rs links "obs").
$ObsDll = "$ObsDir\bin\64bit\obs.dll"
if (-not (Test-Path $ObsDll)) { throw "$ObsDll not found: install OBS Studio or pass -ObsDir" }
$exports = dumpbin /exports $ObsDll | Select-String '^\s+\d+\s+[0-9A-F]+\s+[0-9A-F]{8}\s+(\S+)' |
    ForEach-Object { $_.Matches[0].Groups[1].Value }
@("LIBRARY obs", "EXPORTS") + $exports | Set-Content -Encoding ascii "$Work\obs.def"
lib /nologo /def:"$Work\obs.def" /machine:x64 /out:"$Work\obs.lib" | Out-Null
if ($LASTEXITCODE -ne 0) { throw "lib.exe could not make obs.lib" }

# The module (the checked-in libobs bindings are used: no OBS headers are needed).
$env:RUSTFLAGS = "-L native=$Work"
$env:VRM_AVATAR_CHECKED_IN_BINDINGS = "1"
cargo build --release --locked -p obs-vrm-avatar --lib
if ($LASTEXITCODE -ne 0) { throw "cargo build failed" }

# ONNX Runtime from the onnxruntime==1.31.1 win_amd64 wheel (sha256-pinned in fetch_wheels.py).
python installer\fetch_wheels.py --platform windows-x64 --dest "$Work\ort" --cache "$Root\out\wheels"
if ($LASTEXITCODE -ne 0) { throw "fetching ONNX Runtime failed" }
$Wheels = Get-Content "$Work\ort\wheels.txt"

New-Item -ItemType Directory -Force "$Stage\bin\64bit", "$Stage\data\locale", "$Stage\data\models" | Out-Null
$TargetDir = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { "$Root\target" }
Copy-Item "$TargetDir\release\obs_vrm_avatar.dll" "$Stage\bin\64bit\obs-vrm-avatar.dll"
Copy-Item "$Root\locale\*.ini" "$Stage\data\locale\"
# Exactly the models scripts/models.sh listed (its Linux library is left out).
Get-Content "$Root\models\SHA256SUMS" | ForEach-Object {
    $file = ($_ -split '\s+', 2)[1]
    if ($file -like '*.onnx') { Copy-Item "$Root\models\$file" "$Stage\data\models\" }
}
Copy-Item "$Work\ort\onnxruntime.dll" "$Stage\data\models\"
python installer\third_party_notices.py --target x86_64-pc-windows-msvc `
    --ort-wheel $Wheels[0] --mediapipe-wheel $Wheels[1] --out "$Stage\THIRD-PARTY-NOTICES.txt"
if ($LASTEXITCODE -ne 0) { throw "third_party_notices.py failed" }

& $Iscc /Q "/DAppVersion=$Version" "/DStageDir=$Stage" "/DOutputDir=$Out" installer\windows\obs-vrm-avatar.iss
if ($LASTEXITCODE -ne 0) { throw "ISCC failed" }
Write-Host "installer: $Out\obs-vrm-avatar-$Version-windows-x64-setup.exe"
