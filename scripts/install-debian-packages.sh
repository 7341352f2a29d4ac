#!/usr/bin/env bash
# Install the Debian packages Juanzong needs, only those missing (idempotent).
set -euo pipefail
packages=(tesseract-ocr tesseract-ocr-chi-sim ghostscript qpdf unpaper pngquant fonts-noto-cjk
          fonts-droid-fallback poppler-utils postgresql chromium chromium-driver zip openssl softhsm2 clamav-daemon
          libgl1 libglib2.0-0)  # the last two: OpenCV (opencv-python, which rapidocr-onnxruntime needs) links them
# Toolchains that build siegfried and fetch veraPDF/Elasticsearch, unless installed otherwise.
command -v go >/dev/null || packages+=(golang-go)
command -v java >/dev/null || packages+=(default-jre-headless)
command -v mvn >/dev/null || packages+=(maven)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
