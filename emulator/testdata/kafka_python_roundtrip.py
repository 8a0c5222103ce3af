"""Produce then consume a few records with kafka-python, against msklink's
emulator. Prints one JSON object: {"ok", "consumed", "error", "log"}.

Used by emulator/interop_test.go with Debian's python3-kafka (2.0.2), the
client of the classic MSK "Connection reset during recv" reports.
"""
import argparse
import io
import json
import logging
import sys
import uuid

from kafka import KafkaConsumer, KafkaProducer
from kafka.oauth.abstract import AbstractTokenProvider


class StaticToken(AbstractTokenProvider):
    def __init__(self, token):
        self._token = token

    def token(self):
        return self._token


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--protocol", default="SSL")
    ap.add_argument("--mechanism")
    ap.add_argument("--cafile")
    ap.add_argument("--token")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=15)
    a = ap.parse_args()

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.INFO)
    logging.getLogger("kafka").addHandler(handler)
    logging.getLogger("kafka").setLevel(logging.INFO)

    common = dict(bootstrap_servers=a.bootstrap.split(","), security_protocol=a.protocol,
                  request_timeout_ms=int(a.timeout * 1000), api_version_auto_timeout_ms=int(a.timeout * 1000))
    if a.cafile:
        common.update(ssl_cafile=a.cafile, ssl_check_hostname=True)
    if a.mechanism:
        common["sasl_mechanism"] = a.mechanism
    if a.mechanism == "OAUTHBEARER":
        common["sasl_oauth_token_provider"] = StaticToken(a.token)
    elif a.mechanism and a.mechanism.startswith("SCRAM"):
        common.update(sasl_plain_username=a.user, sasl_plain_password=a.password)

    run = uuid.uuid4().hex
    sent = ["%s-%d" % (run, i) for i in range(a.count)]
    result = {"ok": False, "consumed": [], "error": None}
    try:
        producer = KafkaProducer(acks="all", max_block_ms=int(a.timeout * 1000), **common)
        for v in sent:
            producer.send(a.topic, v.encode()).get(timeout=a.timeout)
        producer.close()
        consumer = KafkaConsumer(a.topic, auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=int(a.timeout * 1000), **common)
        for msg in consumer:
            v = msg.value.decode()
            if v.startswith(run):
                result["consumed"].append(v)
            if len(result["consumed"]) == len(sent):
                break
        consumer.close()
        result["ok"] = sorted(result["consumed"]) == sorted(sent)
    except Exception as e:  # reported to the Go test, which asserts on it
        result["error"] = "%s: %s" % (type(e).__name__, e)
    result["log"] = log.getvalue()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
