"""A Python Lambda function that publishes to Amazon MSK with IAM auth
through the msklink extension (layer extensions/msklink): kafka-python
with neither signer nor token provider, PLAINTEXT to 127.0.0.1:9092.
docs/EXTENSION.md has the before and after.

Event: {"topic": "orders", "values": ["a", "b"]} (topic defaults to
MSK_TOPIC). Answer: {"offsets": [...]}.
"""
import os

from kafka import KafkaProducer

# Created in Init, once per execution environment; the extension keeps its
# MSK connections authenticated across invocations and freezes.
producer = KafkaProducer(
    bootstrap_servers="127.0.0.1:9092",
    security_protocol="PLAINTEXT",
    acks="all",
)


def handler(event, context):
    topic = event.get("topic") or os.environ["MSK_TOPIC"]
    futures = [producer.send(topic, v.encode()) for v in event.get("values", [])]
    return {"offsets": [f.get(timeout=10).offset for f in futures]}
