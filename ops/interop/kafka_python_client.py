#!/usr/bin/python3
"""kafka-python side of ops/interop/run.sh.

produce: writes COUNT records key=<prefix>-key-<i>, value=<prefix>-value-<i>
         (every tenth value holds non-ASCII text) with acks=all, and checks
         that they were acknowledged at consecutive offsets.
consume: reads a topic's partition 0 from the beginning without a consumer
         group and prints each record as "key:value", one a line, in offset
         order; it fails unless exactly EXPECT records are there.

Debian's python3-kafka is kafka-python 2.0.x. Run with /usr/bin/python3 (the
Debian interpreter that python3-kafka installs into), not a pyenv or venv
python.
"""

import argparse
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def parse_version(s):
    """--api-version "2.5.0" pins kafka-python's protocol generation; the
    default (None) lets it probe the broker, as applications do: it sends
    ApiVersions and infers a Kafka release from the APIs listed (runnel's
    list makes it pick 2.4.0 today)."""
    return tuple(int(x) for x in s.split(".")) if s else None


def value_for(prefix, i):
    v = "%s-value-%d" % (prefix, i)
    if i % 10 == 0:
        v += " ünïcødé ✓"
    return v


def produce(args):
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        api_version=args.api_version,
        acks="all",
        compression_type=args.compression,
        linger_ms=5,
        retries=3,
        request_timeout_ms=10000,
        max_block_ms=20000,
    )
    futures = []
    for i in range(args.count):
        key = ("%s-key-%d" % (args.prefix, i)).encode()
        futures.append(producer.send(args.topic, key=key, value=value_for(args.prefix, i).encode(), partition=0))
    print("kafka-python %s speaks Kafka %s" % (kafka.__version__, producer.config["api_version"]), file=sys.stderr)
    producer.flush(timeout=30)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(timeout=10)
    first = offsets[0]
    if offsets != list(range(first, first + args.count)):
        sys.exit("produce: offsets not consecutive: %s..." % offsets[:20])
    print("produced %d records at offsets %d..%d" % (args.count, first, offsets[-1]), file=sys.stderr)


def consume(args):
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        api_version=args.api_version,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        request_timeout_ms=15000,
    )
    tp = TopicPartition(args.topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    if end != args.expect:
        sys.exit("consume: end offset %d, want %d" % (end, args.expect))
    records = []
    deadline = time.monotonic() + args.timeout
    while consumer.position(tp) < end and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close()
    for want, r in enumerate(records):
        if r.offset != want:
            sys.exit("consume: record %d at offset %d" % (want, r.offset))
        key = "" if r.key is None else r.key.decode()
        print("%s:%s" % (key, r.value.decode()))
    if len(records) != args.expect:
        sys.exit("consume: read %d records in %ds, want %d" % (len(records), args.timeout, args.expect))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--api-version", type=parse_version, default=None)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("produce")
    pp.add_argument("--topic", required=True)
    pp.add_argument("--count", type=int, required=True)
    pp.add_argument("--prefix", required=True)
    pp.add_argument("--compression", default=None)
    pc = sub.add_parser("consume")
    pc.add_argument("--topic", required=True)
    pc.add_argument("--expect", type=int, required=True)
    pc.add_argument("--timeout", type=int, default=30)
    args = p.parse_args()
    if args.cmd == "produce":
        produce(args)
    else:
        consume(args)


if __name__ == "__main__":
    main()
