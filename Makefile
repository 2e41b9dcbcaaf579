# Developer shortcuts; the README's Quick start needs none of them.
.PHONY: build install uninstall demo test deb tarball

PLUGIN_DIR ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/obs-studio/plugins/obs-vrm-avatar

build:
	cargo build --release

# Installs into your own OBS: ~/.config/obs-studio/plugins/obs-vrm-avatar/{bin/64bit,data/locale}.
install: build
	target/release/vrm-avatar install

uninstall:
	rm -rf "$(PLUGIN_DIR)"

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

# Packages (out/packages/): the Debian package and the per-user tarball; see installer/.
deb:
	bash installer/build-deb.sh

tarball:
	bash installer/build-tarball.sh
