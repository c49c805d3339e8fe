#!/usr/bin/python3
"""kafka-python consumer groups, for ops/interop/groups.sh.

create-topic:  creates TOPIC with PARTITIONS partitions (KafkaAdminClient).
group-consume: joins GROUP as a KafkaConsumer subscribed to TOPIC
               (auto_offset_reset=earliest, auto-commit off), reads at most
               MAX records, committing after every batch the offset after
               the last record it processed in each partition, then closes
               (leaving the group). It prints each record it processed as
               "partition offset key:value", one a line, and stops early
               once IDLE seconds pass with nothing to read.

Run with /usr/bin/python3 (Debian's python3-kafka, kafka-python 2.0.x).
"""

import argparse
import sys
import time

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata


def create_topic(args):
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(args.topic, num_partitions=args.partitions, replication_factor=1)])
    admin.close()


def offset_and_metadata(offset):
    # kafka-python 2.1 added a leader epoch field; 2.0 has two.
    try:
        return OffsetAndMetadata(offset, "", -1)
    except TypeError:
        return OffsetAndMetadata(offset, "")


def group_consume(args):
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=args.client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
        request_timeout_ms=30000,
    )
    read = 0
    last = time.monotonic()
    deadline = last + args.timeout
    while read < args.max and time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=500, max_records=min(50, args.max - read))
        if not batches:
            if read > 0 and time.monotonic() - last > args.idle:
                break
            continue
        last = time.monotonic()
        commit = {}
        for tp, records in batches.items():
            for r in records:
                key = "" if r.key is None else r.key.decode()
                print("%d %d %s:%s" % (tp.partition, r.offset, key, r.value.decode()))
                commit[tp] = offset_and_metadata(r.offset + 1)
                read += 1
        consumer.commit(offsets=commit)
    sys.stdout.flush()
    consumer.close()
    print("group-consume: %s read %d records" % (args.group, read), file=sys.stderr)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    pt = sub.add_parser("create-topic")
    pt.add_argument("--topic", required=True)
    pt.add_argument("--partitions", type=int, required=True)
    pg = sub.add_parser("group-consume")
    pg.add_argument("--topic", required=True)
    pg.add_argument("--group", required=True)
    pg.add_argument("--client-id", default="kafka-python-interop")
    pg.add_argument("--max", type=int, required=True)
    pg.add_argument("--idle", type=float, default=5)
    pg.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    if args.cmd == "create-topic":
        create_topic(args)
    else:
        group_consume(args)


if __name__ == "__main__":
    main()
