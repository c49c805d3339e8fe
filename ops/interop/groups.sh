# shellcheck shell=bash
# Consumer-group interop checks, sourced by ops/interop/run.sh (which
# provides ADDR, WORK, N, PY, check, expected and same).
#
#   - kcat's balanced consumer (kcat -G, librdkafka's KafkaConsumer): two
#     members of one group share a 4-partition topic, each record read once
#     between them; on SIGTERM they commit and leave, and `runnel groups
#     describe` shows the group Empty with no lag. A second group reads
#     every record again (broadcast).
#   - kafka-python's KafkaConsumer with a group_id reads half a topic,
#     commits and closes; a second run resumes exactly at the committed
#     offsets and reads the rest, nothing twice.
#
# `runnel groups` (this repo's CLI) is what watches the groups.

runnel_groups() { timeout 60 bin/runnel groups --brokers "$ADDR" --timeout 20s "$@"; }

# wait_group GROUP STATE MEMBERS: until `runnel groups describe` says so.
wait_group() {
	local group=$1 state=$2 members=$3
	for _ in $(seq 200); do
		if runnel_groups describe "$group" 2>/dev/null | grep -q "^Group $group: state $state, .*, $members members,"; then
			return 0
		fi
		sleep 0.2
	done
	echo "group $group never became $state with $members members; last:"
	runnel_groups describe "$group" 2>&1 || true
	return 1
}

# wait_lines COUNT FILE...: until the files hold COUNT lines between them.
wait_lines() {
	local want=$1
	shift
	for _ in $(seq 300); do
		(($(cat "$@" | wc -l) >= want)) && return 0
		sleep 0.2
	done
	echo "read $(cat "$@" | wc -l) records in 60s, want $want"
	return 1
}

# no_lag GROUP: every partition of the group's describe table has lag 0.
no_lag() {
	local group=$1 out
	out=$(runnel_groups describe "$group")
	echo "$out" | awk -v g="$group" '$1 == g && NF == 9 && $3 ~ /^[0-9]+$/ { rows++; if ($6 != "0") bad++ }
		END { exit !(rows > 0 && bad == 0) }' || {
		echo "group $group has lag or no committed offsets:"
		echo "$out"
		return 1
	}
}

kcat_member() { # GROUP TOPIC CLIENT OUT: a kcat -G member in the background
	timeout 120 kcat -b "$ADDR" -G "$1" -X client.id="$3" -X auto.offset.reset=earliest \
		-u -q -f '%p\t%k:%s\n' "$2" >"$4" 2>"$4.err" &
}

kcat_group_share() {
	local topic=kcat-group a="$WORK/kcat-g1-a" b="$WORK/kcat-g1-b" pa pb
	"$PY" ops/interop/kafka_python_groups.py --bootstrap "$ADDR" create-topic --topic "$topic" --partitions 4
	kcat_member kcat-g1 "$topic" kcat-a "$a"
	pa=$!
	kcat_member kcat-g1 "$topic" kcat-b "$b"
	pb=$!
	trap 'kill -TERM $pa $pb 2>/dev/null || true' EXIT
	wait_group kcat-g1 Stable 2
	expected kg >"$WORK/$topic.want"
	timeout 60 kcat -b "$ADDR" -t "$topic" -P -K: -X acks=all <"$WORK/$topic.want"
	wait_lines "$N" "$a" "$b"
	sleep 1 # a record read twice would show up now
	kill -TERM "$pa" "$pb"
	wait "$pa" "$pb" || true
	trap - EXIT
	cut -f2- "$a" "$b" | sort >"$WORK/$topic.got"
	sort "$WORK/$topic.want" >"$WORK/$topic.want.sorted"
	same "$WORK/$topic.want.sorted" "$WORK/$topic.got"
	local parts_a parts_b
	parts_a=$(cut -f1 "$a" | sort -u | tr '\n' ' ')
	parts_b=$(cut -f1 "$b" | sort -u | tr '\n' ' ')
	echo "kcat-a read $(wc -l <"$a") records from partitions $parts_a; kcat-b $(wc -l <"$b") from $parts_b"
	[[ -n "$parts_a" && -n "$parts_b" ]] || {
		echo "one member read nothing: the partitions were not shared"
		return 1
	}
	if comm -12 <(cut -f1 "$a" | sort -u) <(cut -f1 "$b" | sort -u) | grep -q .; then
		echo "both members read partition(s) $(comm -12 <(cut -f1 "$a" | sort -u) <(cut -f1 "$b" | sort -u) | tr '\n' ' ')"
		return 1
	fi
	# On SIGTERM kcat commits and leaves: the group is Empty, nothing lags.
	wait_group kcat-g1 Empty 0
	no_lag kcat-g1
}

kcat_group_broadcast() {
	local topic=kcat-group
	[[ -f "$WORK/$topic.want.sorted" ]] || {
		echo "needs kcat_group_share's topic"
		return 1
	}
	timeout 60 kcat -b "$ADDR" -G kcat-g2 -X client.id=kcat-c -X auto.offset.reset=earliest \
		-e -q -f '%k:%s\n' "$topic" 2>"$WORK/kcat-g2.err" | sort >"$WORK/kcat-g2.got"
	same "$WORK/$topic.want.sorted" "$WORK/kcat-g2.got"
	wait_group kcat-g2 Empty 0
	no_lag kcat-g2
}

py_group_resume() {
	local topic=py-group half=$((N / 2)) first="$WORK/py-g1-first" second="$WORK/py-g1-second"
	"$PY" ops/interop/kafka_python_groups.py --bootstrap "$ADDR" create-topic --topic "$topic" --partitions 3
	expected pg >"$WORK/$topic.want"
	timeout 60 kcat -b "$ADDR" -t "$topic" -P -K: -X acks=all <"$WORK/$topic.want"
	timeout 120 "$PY" ops/interop/kafka_python_groups.py --bootstrap "$ADDR" \
		group-consume --topic "$topic" --group py-g1 --max "$half" >"$first"
	[[ $(wc -l <"$first") -eq $half ]] || {
		echo "first run read $(wc -l <"$first") records, want $half"
		return 1
	}
	# What the first run committed, per partition: one past the last
	# offset it read there. `runnel groups describe` must show the same.
	wait_group py-g1 Empty 0
	local desc want_commits got_commits
	desc=$(runnel_groups describe py-g1)
	want_commits=$(awk '{ if ($2 + 1 > c[$1]) c[$1] = $2 + 1 } END { for (p in c) print p, c[p] }' "$first" | sort)
	got_commits=$(echo "$desc" | awk '$1 == "py-g1" && NF == 9 && $4 != "-" { print $3, $4 }' | sort)
	[[ "$want_commits" == "$got_commits" ]] || {
		printf 'committed offsets after the first run:\n%s\nwant (partition offset):\n%s\n' "$desc" "$want_commits"
		return 1
	}
	timeout 120 "$PY" ops/interop/kafka_python_groups.py --bootstrap "$ADDR" \
		group-consume --topic "$topic" --group py-g1 --max "$N" --idle 3 >"$second"
	# The second run starts in each partition exactly where the first
	# committed (a partition the first run never read starts at 0).
	local starts
	starts=$(awk '!($1 in s) { s[$1] = $2 } END { for (p in s) print p, s[p] }' "$second" | sort)
	while read -r p off; do
		local c
		c=$(echo "$want_commits" | awk -v p="$p" '$1 == p { print $2 }')
		[[ "$off" == "${c:-0}" ]] || {
			echo "partition $p: the second run started at $off, the first committed ${c:-nothing}"
			return 1
		}
	done <<<"$starts"
	cut -d' ' -f3- "$first" "$second" | sort >"$WORK/$topic.got"
	sort "$WORK/$topic.want" >"$WORK/$topic.want.sorted"
	same "$WORK/$topic.want.sorted" "$WORK/$topic.got"
	wait_group py-g1 Empty 0
	no_lag py-g1
}

group_checks() {
	check "kcat -G: two members share a topic, each record read once" kcat_group_share
	check "kcat -G: a second group reads every record again" kcat_group_broadcast
	check "kafka-python group: commits, then a new run resumes there" py_group_resume
}
