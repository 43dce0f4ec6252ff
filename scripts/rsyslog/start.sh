#!/usr/bin/env bash
# Starts a private rsyslogd on loopback for manual tests of auditfwd's syslog sink.
#
#   scripts/rsyslog/start.sh [DIR]
#
# Creates DIR (default: a new temp dir) with a test CA, server and client certificates
# (openssl), the config rendered from rsyslog.conf.tmpl, and runs rsyslogd in the
# foreground until Ctrl-C. Received messages appear in DIR/out.jsonl, one JSON line each.
# Ports: TCP 10514, UDP 10515, TLS 10516, RELP 10517, RELP/TLS 10518 (override with
# TCP_PORT, UDP_PORT, TLS_PORT, RELP_PORT, RELP_TLS_PORT).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v rsyslogd >/dev/null || { echo "rsyslogd not found: run scripts/setup-dev" >&2; exit 1; }
dir="${1:-$(mktemp -d -t auditfwd-rsyslog.XXXXXX)}"
mkdir -p "$dir/work"
dir="$(cd "$dir" && pwd)"

gen() { # name subject-alt-names extended-key-usage
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature\n' "$2" "$3" > "$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/$1.pem" -days 7 -extfile "$dir/$1.ext" 2>/dev/null
}
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 7 -subj "/CN=auditfwd test CA" 2>/dev/null
  gen server "DNS:localhost,IP:127.0.0.1" serverAuth
  gen client "DNS:auditfwd-client" clientAuth
fi

sed -e "s|@DIR@|$dir|g" -e "s|@CA@|$dir/ca.pem|g" -e "s|@CERT@|$dir/server.pem|g" -e "s|@KEY@|$dir/server.key|g" \
    -e "s|@TCP_PORT@|${TCP_PORT:-10514}|g" -e "s|@UDP_PORT@|${UDP_PORT:-10515}|g" \
    -e "s|@TLS_PORT@|${TLS_PORT:-10516}|g" -e "s|@RELP_PORT@|${RELP_PORT:-10517}|g" \
    -e "s|@RELP_TLS_PORT@|${RELP_TLS_PORT:-10518}|g" \
    "$here/rsyslog.conf.tmpl" > "$dir/rsyslog.conf"

echo "rsyslogd for auditfwd tests in $dir (messages: $dir/out.jsonl; client cert: $dir/client.pem)" >&2
exec rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid"
