#!/usr/bin/env bash
# Best effort: poppler's pdftoppm and pdftotext (Debian poppler-utils), with which the letter
# tests render sample letters to PNG (build/letter-samples/) and read the PDFs back. Without them
# the PNG test says so and skips; the text checks read the PDFs with pypdf. CI does not fail here.
set -u
if command -v pdftoppm >/dev/null 2>&1; then
  echo "poppler: pdftoppm present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "poppler: not root or no apt-get; the PNG letter samples will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
timeout 300 apt-get update -qq >/dev/null 2>&1 || true
timeout 300 apt-get install -y -qq poppler-utils >/dev/null 2>&1 || {
  echo "poppler: could not install poppler-utils; the PNG letter samples will skip"; exit 0; }
echo "poppler: installed"
