; Inno Setup 6 script: installs obs-vrm-avatar for every user of this Windows machine, in the
; per-machine plugin folder that the OBS Studio frontend searches by itself (AddExtraModulePaths):
;   %ProgramData%\obs-studio\plugins\obs-vrm-avatar\bin\64bit\obs-vrm-avatar.dll
;   %ProgramData%\obs-studio\plugins\obs-vrm-avatar\data\locale\*.ini
;   %ProgramData%\obs-studio\plugins\obs-vrm-avatar\data\models\*.onnx, onnxruntime.dll
;   %ProgramData%\obs-studio\plugins\obs-vrm-avatar\THIRD-PARTY-NOTICES.txt
; The module loads onnxruntime.dll by its full path in data\models (never a copy of ONNX Runtime
; that Windows or another program put on the search path).
;
; Built by installer\windows\build.ps1, which stages the files and passes:
;   /DAppVersion=<version from Cargo.toml>  /DStageDir=<staged plugin folder>  /DOutputDir=<dir>
; Not built on the project's Linux machine: review it against build.ps1.

#ifndef AppVersion
  #error Pass /DAppVersion=... (build.ps1 reads it from Cargo.toml)
#endif
#ifndef StageDir
  #error Pass /DStageDir=... (the folder build.ps1 staged)
#endif
#ifndef OutputDir
  #define OutputDir "."
#endif

[Setup]
AppId={{6F1C7A52-8E0B-4C39-9F7A-2B5D0C4E8A31}
AppName=obs-vrm-avatar
AppVersion={#AppVersion}
AppVerName=obs-vrm-avatar {#AppVersion}
AppPublisher=obs-vrm-avatar developers
; Windows shows this in the file's properties; SmartScreen looks for it too.
VersionInfoVersion={#AppVersion}
VersionInfoDescription=obs-vrm-avatar {#AppVersion} setup
DefaultDirName={commonappdata}\obs-studio\plugins\obs-vrm-avatar
DisableDirPage=yes
DisableProgramGroupPage=yes
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=obs-vrm-avatar-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
UninstallDisplayName=obs-vrm-avatar {#AppVersion} (OBS Studio plugin)
; A running OBS holds the DLLs open: ask the user to close it.
CloseApplications=yes
AppMutex=OBSStudioCore

[Files]
Source: "{#StageDir}\bin\64bit\obs-vrm-avatar.dll"; DestDir: "{app}\bin\64bit"; Flags: ignoreversion
Source: "{#StageDir}\data\locale\*.ini"; DestDir: "{app}\data\locale"; Flags: ignoreversion
Source: "{#StageDir}\data\models\*.onnx"; DestDir: "{app}\data\models"; Flags: ignoreversion
Source: "{#StageDir}\data\models\onnxruntime.dll"; DestDir: "{app}\data\models"; Flags: ignoreversion
Source: "{#StageDir}\THIRD-PARTY-NOTICES.txt"; DestDir: "{app}"; Flags: ignoreversion

[UninstallDelete]
; Only this plugin's own folder; OBS's plugins folder stays.
Type: dirifempty; Name: "{app}\bin\64bit"
Type: dirifempty; Name: "{app}\bin"
Type: dirifempty; Name: "{app}\data\locale"
Type: dirifempty; Name: "{app}\data\models"
Type: dirifempty; Name: "{app}\data"
Type: dirifempty; Name: "{app}"
