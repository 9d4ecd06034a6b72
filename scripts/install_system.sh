#!/usr/bin/env bash
# Installs the Debian packages the project needs (idempotent: does nothing when present).
#   ffmpeg     torchcodec's shared libraries; gradio's streaming audio output
#   espeak-ng  offline TTS / IPA phonemizer
#   flite      offline TTS voices
#   alsa-utils recorded speech clips (/usr/share/sounds/alsa) for the quality benchmark
#   chromium   the browser of the Space's browser test (driven by Playwright, headless)
#   fonts-noto-color-emoji  the Space's emoji in that browser (its screenshots: python -m space.screenshots)
#   fortunes   ~17k clean English sentences (/usr/share/games/fortunes) for the embedded speech decoder's text corpus
set -euo pipefail
PACKAGES=(ffmpeg espeak-ng flite alsa-utils chromium fonts-noto-color-emoji fortunes)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: missing Debian packages (${missing[*]}) and not root; install them with apt-get" >&2
    exit 1
  fi
fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
