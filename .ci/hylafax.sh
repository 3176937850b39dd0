#!/usr/bin/env bash
# Best effort: a real HylaFAX server (Debian's hylafax-server, no modem: jobs wait in its queue)
# on 127.0.0.1:4559 for the fax gateway's integration test. Where it cannot be had (not root,
# not Debian, no package registry) the test says so and skips; CI does not fail here.
set -u
# hfaxd lets a client in without a password when hosts.hfaxd names its host; Debian's file names
# "localhost", which a loopback client's reverse look-up does not always give, so name the address.
allow_loopback() {
  local hosts=/var/spool/hylafax/etc/hosts.hfaxd
  [ -f "$hosts" ] || return 0
  grep -qF '127\.0\.0\.1' "$hosts" || echo '^127\.0\.0\.1$:21::' >>"$hosts"
  # hfaxd runs as the spool's owner and reads the file only when it owns it (mode 600).
  chown --reference=/var/spool/hylafax "$hosts" 2>/dev/null || true
  chmod 600 "$hosts"
  return 0
}
if (exec 3<>/dev/tcp/127.0.0.1/4559) 2>/dev/null; then
  allow_loopback
  echo "hylafax: hfaxd already listening on 4559"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "hylafax: not root or no apt-get; the real-server test will skip"
  exit 0
fi
if ! command -v hfaxd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >/dev/null 2>&1 || true
  timeout 300 apt-get install -y -qq hylafax-server >/dev/null 2>&1 || {
    echo "hylafax: could not install hylafax-server; the real-server test will skip"; exit 0; }
fi
# The Debian package keeps its configuration in /etc/hylafax; the daemons read the spool's etc/.
mkdir -p /var/spool/hylafax/etc
cp -rn /etc/hylafax/. /var/spool/hylafax/etc/ 2>/dev/null || true
allow_loopback
pgrep -x faxq >/dev/null || /usr/sbin/faxq || true
/usr/sbin/hfaxd -i 4559 || true
for _ in 1 2 3 4 5 6 7 8 9 10; do
  if (exec 3<>/dev/tcp/127.0.0.1/4559) 2>/dev/null; then
    echo "hylafax: hfaxd started on 4559"
    exit 0
  fi
  sleep 1
done
echo "hylafax: hfaxd did not start; the real-server test will skip"
exit 0
