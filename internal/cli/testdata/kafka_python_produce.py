"""Produce stdin's lines with kafka-python over MSK IAM (OAUTHBEARER), as a
Python Lambda or service does: the token is signed with botocore, the way
aws-msk-iam-sasl-signer-python signs it (a SigV4 presigned GET of
kafka-cluster:Connect for host kafka.<region>.amazonaws.com, base64url).

Used by the produce benchmark in internal/cli (bench_test.go) with Debian's
python3-kafka (kafka-python 2.0.2) and python3-botocore. acks=all, linger 5
ms. Prints one JSON object: {"sent", "acked", "failed", "first_error"}.
"""
import argparse
import base64
import json
import sys

import botocore.session
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from kafka import KafkaProducer
from kafka.oauth.abstract import AbstractTokenProvider


class MSKToken(AbstractTokenProvider):
    def __init__(self, region):
        self.region = region
        self.creds = botocore.session.Session().get_credentials()

    def token(self):
        url = "https://kafka.%s.amazonaws.com/?Action=kafka-cluster%%3AConnect" % self.region
        req = AWSRequest(method="GET", url=url)
        SigV4QueryAuth(self.creds, "kafka-cluster", self.region, expires=900).add_auth(req)
        signed = req.url + "&User-Agent=kafka-python-bench"
        return base64.urlsafe_b64encode(signed.encode()).decode().rstrip("=")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--topic", required=True)
    a = ap.parse_args()

    producer = KafkaProducer(
        bootstrap_servers=a.bootstrap.split(","), security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=MSKToken(a.region),
        ssl_cafile=a.cafile, ssl_check_hostname=True, acks="all", linger_ms=5)
    result = {"sent": 0, "acked": 0, "failed": 0, "first_error": None}

    def ok(_):
        result["acked"] += 1

    def failed(e):
        result["failed"] += 1
        if result["first_error"] is None:
            result["first_error"] = "%s: %s" % (type(e).__name__, e)

    for line in sys.stdin.buffer:
        producer.send(a.topic, line.rstrip(b"\n")).add_callback(ok).add_errback(failed)
        result["sent"] += 1
    producer.flush()
    producer.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
