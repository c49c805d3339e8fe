#!/usr/bin/env bash
# Interop: real Kafka clients against a real runnel broker. kcat (librdkafka)
# and kafka-python each produce and consume, with every compression codec
# they support, and each reads what the other wrote; both consume in
# consumer groups (groups.sh: kcat -G members sharing a topic, a second
# group reading it all again, kafka-python committing and resuming). Installs kcat and
# python3-kafka (plus kafka-python's codec modules) with apt-get if missing.
#
# Usage: ops/interop/run.sh   (from any directory; `make interop` runs it)
# Env:   INTEROP_TIMEOUT  bound on the whole run in seconds (default 900)
#        INTEROP_KEEP=1   keep the broker's data dir and log afterwards
#
# Prints PASS/FAIL/SKIP per check and a summary line; exits non-zero if any
# check failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The whole run is bounded: re-run this script under timeout(1).
if [[ -z "${INTEROP_UNDER_TIMEOUT:-}" ]]; then
	export INTEROP_UNDER_TIMEOUT=1
	exec timeout --kill-after=15 "${INTEROP_TIMEOUT:-900}" bash "${BASH_SOURCE[0]}" "$@"
fi

# Debian's python3-kafka lives in the system python's dist-packages: use that
# interpreter, not whatever python3 comes first on PATH (pyenv, a venv).
PY=/usr/bin/python3
N=500 # records per produce

log() { echo "interop: $*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

if ! command -v go >/dev/null 2>&1; then
	export PATH="/usr/local/go/bin:$PATH"
fi

# --- tools -----------------------------------------------------------------

install_tools() {
	local missing=()
	command -v kcat >/dev/null 2>&1 || missing+=(kcat)
	"$PY" -c 'import kafka' >/dev/null 2>&1 || missing+=(python3-kafka)
	# Optional codec modules of kafka-python (gzip needs none).
	"$PY" -c 'import snappy' >/dev/null 2>&1 || missing+=(python3-snappy)
	"$PY" -c 'import lz4.frame' >/dev/null 2>&1 || missing+=(python3-lz4)
	"$PY" -c 'import zstandard' >/dev/null 2>&1 || missing+=(python3-zstandard)
	((${#missing[@]} == 0)) && return 0
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing ${missing[*]}: install them (apt-get install ${missing[*]})"
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	timeout 300 apt-get update -qq
	timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_tools
command -v kcat >/dev/null 2>&1 || die "kcat not installed"
"$PY" -c 'import kafka' || die "kafka-python not importable by $PY"
log "$(kcat -V 2>&1 | grep -m1 Version)"
log "kafka-python $("$PY" -c 'import kafka; print(kafka.__version__)')"

# --- broker ----------------------------------------------------------------

WORK=$(mktemp -d -t runnel-interop.XXXXXX)
BROKER_LOG="$WORK/broker.log"
BROKER_PID=""

cleanup() {
	local rc=$?
	if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -KILL "$BROKER_PID" 2>/dev/null || true
	fi
	if ((rc != 0)) && [[ -f "$BROKER_LOG" ]]; then
		log "broker log (last 40 lines of $BROKER_LOG):"
		tail -n 40 "$BROKER_LOG" >&2 || true
	fi
	if [[ -z "${INTEROP_KEEP:-}" ]]; then
		rm -rf "$WORK"
	else
		log "kept $WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building bin/runnel"
timeout 600 make --no-print-directory build >&2

bin/runnel broker --listen 127.0.0.1:0 --data-dir "$WORK/data" 2>"$BROKER_LOG" &
BROKER_PID=$!

# The ready line says where it listens: msg="runnel broker ready" addr=HOST:PORT
ADDR=""
for _ in $(seq 300); do
	ADDR=$(sed -n 's/.*msg="runnel broker ready" addr=\([^ ]*\).*/\1/p' "$BROKER_LOG" | head -n1)
	[[ -n "$ADDR" ]] && break
	kill -0 "$BROKER_PID" 2>/dev/null || die "broker exited before it was ready"
	sleep 0.1
done
[[ -n "$ADDR" ]] || die "broker not ready after 30s"
log "broker pid $BROKER_PID ready on $ADDR, data in $WORK/data"

# --- checks ----------------------------------------------------------------

RESULTS=()
FAILED=0

# check NAME FUNC ARGS...: runs FUNC in a subshell with errexit in force
# (a bare `if FUNC` would switch it off inside FUNC) and records the result.
check() {
	local name=$1 rc
	shift
	set +e
	(
		set -e
		"$@"
	) >"$WORK/check.out" 2>&1
	rc=$?
	set -e
	if ((rc == 0)); then
		RESULTS+=("PASS  $name")
		echo "PASS  $name"
	else
		RESULTS+=("FAIL  $name")
		FAILED=$((FAILED + 1))
		echo "FAIL  $name"
		sed 's/^/      /' "$WORK/check.out" | tail -n 20
	fi
}

skip() {
	RESULTS+=("SKIP  $1 ($2)")
	echo "SKIP  $1 ($2)"
}

# expected PREFIX: the records the producers write, as "key:value" lines.
# Every tenth value holds non-ASCII text (the same rule as
# kafka_python_client.py's value_for), to check bytes pass untouched.
expected() {
	local prefix=$1 i
	for ((i = 0; i < N; i++)); do
		if ((i % 10 == 0)); then
			printf '%s-key-%d:%s-value-%d ünïcødé ✓\n' "$prefix" "$i" "$prefix" "$i"
		else
			printf '%s-key-%d:%s-value-%d\n' "$prefix" "$i" "$prefix" "$i"
		fi
	done
}

# same WANT GOT: the files are identical, else show where they differ.
same() {
	local want=$1 got=$2
	if ! cmp -s "$want" "$got"; then
		echo "want $(wc -l <"$want") records, got $(wc -l <"$got"); first differences:"
		diff "$want" "$got" | head -n 10 || true
		return 1
	fi
}

kcat_produce() { # TOPIC PREFIX [CODEC]
	local topic=$1 prefix=$2 codec=${3:-}
	expected "$prefix" >"$WORK/$topic.want"
	local args=(-b "$ADDR" -t "$topic" -P -K: -p 0 -X acks=all)
	[[ -n "$codec" ]] && args+=(-z "$codec")
	timeout 60 kcat "${args[@]}" <"$WORK/$topic.want"
}

kcat_consume() { # TOPIC WANTFILE
	local topic=$1 want=$2
	# -f prints "key:value" per record; -e exits at the end of the partition.
	timeout 60 kcat -b "$ADDR" -t "$topic" -C -p 0 -o beginning -e -q -f '%k:%s\n' >"$WORK/$topic.kcat.got"
	same "$want" "$WORK/$topic.kcat.got"
	# Offsets are 0..N-1, in order.
	timeout 60 kcat -b "$ADDR" -t "$topic" -C -p 0 -o beginning -e -q -f '%o\n' >"$WORK/$topic.offsets"
	seq 0 $((N - 1)) | cmp -s - "$WORK/$topic.offsets" || {
		echo "offsets are not 0..$((N - 1)): $(head -c 200 "$WORK/$topic.offsets" | tr '\n' ' ')"
		return 1
	}
}

py() { timeout 120 "$PY" ops/interop/kafka_python_client.py --bootstrap "$ADDR" "$@"; }

py_produce() { # TOPIC PREFIX [CODEC]
	local topic=$1 prefix=$2 codec=${3:-}
	expected "$prefix" >"$WORK/$topic.want"
	local args=(produce --topic "$topic" --count "$N" --prefix "$prefix")
	[[ -n "$codec" ]] && args+=(--compression "$codec")
	py "${args[@]}"
}

py_consume() { # TOPIC WANTFILE
	local topic=$1 want=$2
	py consume --topic "$topic" --expect "$N" >"$WORK/$topic.py.got"
	same "$want" "$WORK/$topic.py.got"
}

kcat_roundtrip() { # TOPIC PREFIX [CODEC]
	kcat_produce "$1" "$2" "${3:-}"
	kcat_consume "$1" "$WORK/$1.want"
}

py_roundtrip() { # TOPIC PREFIX [CODEC]
	py_produce "$1" "$2" "${3:-}"
	py_consume "$1" "$WORK/$1.want"
}

kcat_metadata() {
	timeout 30 kcat -b "$ADDR" -L >"$WORK/metadata"
	grep -q 'topic "kcat-plain" with 1 partitions' "$WORK/metadata" || {
		cat "$WORK/metadata"
		return 1
	}
}

kcat_large() {
	# One ~512 KiB record (under message.max.bytes) with a key, through
	# kcat's line reader, back byte for byte.
	local v
	v=$(head -c 393216 /dev/urandom | base64 -w0)
	printf 'big:%s\n' "$v" >"$WORK/kcat-large.want"
	timeout 60 kcat -b "$ADDR" -t kcat-large -P -K: -X message.max.bytes=1000000 <"$WORK/kcat-large.want"
	timeout 60 kcat -b "$ADDR" -t kcat-large -C -o beginning -e -q -f '%k:%s\n' >"$WORK/kcat-large.got"
	same "$WORK/kcat-large.want" "$WORK/kcat-large.got"
}

# Codecs kcat's librdkafka was built with.
kcat_has() { kcat -V 2>&1 | grep -q "builtin.features=.*\b$1\b"; }
py_has() {
	case $1 in
	gzip) return 0 ;;
	snappy) "$PY" -c 'import snappy' 2>/dev/null ;;
	lz4) "$PY" -c 'import lz4.frame' 2>/dev/null ;;
	zstd) "$PY" -c 'import zstandard' 2>/dev/null ;;
	esac
}

CODECS=(gzip snappy lz4 zstd)

check "kcat produce+consume ($N keyed records)" kcat_roundtrip kcat-plain kc
check "kcat metadata lists the topic" kcat_metadata
check "kcat one 512 KiB record" kcat_large
for c in "${CODECS[@]}"; do
	if kcat_has "$c"; then
		check "kcat produce+consume -z $c" kcat_roundtrip "kcat-$c" "kc$c" "$c"
	else
		skip "kcat -z $c" "librdkafka built without $c"
	fi
done

check "kafka-python produce+consume ($N keyed records)" py_roundtrip py-plain py
for c in "${CODECS[@]}"; do
	if py_has "$c"; then
		check "kafka-python produce+consume compression=$c" py_roundtrip "py-$c" "py$c" "$c"
	else
		skip "kafka-python compression=$c" "its python module is not installed"
	fi
done

# Cross-checks: each client reads what the other wrote (codecs included).
check "kafka-python reads kcat's records" py_consume kcat-plain "$WORK/kcat-plain.want"
check "kcat reads kafka-python's records" kcat_consume py-plain "$WORK/py-plain.want"
for c in "${CODECS[@]}"; do
	if kcat_has "$c" && py_has "$c" && [[ -f "$WORK/kcat-$c.want" && -f "$WORK/py-$c.want" ]]; then
		check "kafka-python reads kcat's $c records" py_consume "kcat-$c" "$WORK/kcat-$c.want"
		check "kcat reads kafka-python's $c records" kcat_consume "py-$c" "$WORK/py-$c.want"
	fi
done

# Consumer groups: kcat -G and kafka-python's KafkaConsumer, watched with
# `runnel groups` (ops/interop/groups.sh).
# shellcheck source=ops/interop/groups.sh
source ops/interop/groups.sh
group_checks

# A clean stop: SIGTERM, exit status 0, the stop line logged.
clean_stop() {
	local rc=0
	kill -TERM "$BROKER_PID"
	timeout 30 tail --pid="$BROKER_PID" -f /dev/null || {
		echo "broker still running 30s after SIGTERM"
		return 1
	}
	wait "$BROKER_PID" || rc=$?
	[[ $rc -eq 0 ]] || {
		echo "broker exited with status $rc"
		return 1
	}
	grep -q 'msg="runnel broker stopped"' "$BROKER_LOG" || {
		echo "no stop line in the log"
		return 1
	}
}
# Run in this shell, not in check's subshell: only the broker's parent may
# wait for it.
set +e
clean_stop >"$WORK/check.out" 2>&1
rc=$?
set -e
if ((rc == 0)); then
	RESULTS+=("PASS  broker stops cleanly on SIGTERM")
	echo "PASS  broker stops cleanly on SIGTERM"
else
	RESULTS+=("FAIL  broker stops cleanly on SIGTERM: $(cat "$WORK/check.out")")
	FAILED=$((FAILED + 1))
	echo "FAIL  broker stops cleanly on SIGTERM: $(cat "$WORK/check.out")"
fi

# On disk, after the stop: every partition log verifies (CRCs, offsets), and
# the compressed topics' batches are stored with the codec the client chose
# (proof the clients compressed, and the broker kept their bytes). A client
# may send a batch uncompressed when compressing would not shrink it (a
# batch of one small record): codec=none is allowed, but not everywhere.
stored_codecs() {
	local dir topic codec
	for dir in "$WORK"/data/*-0; do
		bin/runnel log dump --batches "$dir" >"$WORK/dump" || {
			echo "runnel log dump $dir failed:"
			tail -n 5 "$WORK/dump"
			return 1
		}
		topic=$(basename "$dir" -0)
		case $topic in kcat-* | py-*) ;; *) continue ;; esac # the broker's own topics
		codec=none
		case $topic in *-gzip | *-snappy | *-lz4 | *-zstd) codec=${topic##*-} ;; esac
		if grep '^batch ' "$WORK/dump" | grep -v -q -e "codec=$codec " -e "codec=none "; then
			echo "$topic: a batch stored with another codec than $codec:"
			grep '^batch ' "$WORK/dump" | grep -v -e "codec=$codec " -e "codec=none " | head -n 3
			return 1
		fi
		if ! grep -q "^batch .*codec=$codec " "$WORK/dump"; then
			echo "$topic: no batch stored with codec=$codec:"
			grep '^batch ' "$WORK/dump" | head -n 3
			return 1
		fi
	done
}
check "logs on disk verify; batches keep the client's codec" stored_codecs

# --- summary ---------------------------------------------------------------

echo
echo "interop summary (broker $ADDR):"
printf '  %s\n' "${RESULTS[@]}"
passed=$(printf '%s\n' "${RESULTS[@]}" | grep -c '^PASS' || true)
skipped=$(printf '%s\n' "${RESULTS[@]}" | grep -c '^SKIP' || true)
echo "interop: $passed passed, $FAILED failed, $skipped skipped"
((FAILED == 0))
