// A Node.js Lambda function that publishes to Amazon MSK with IAM auth
// through the msklink extension (layer extensions/msklink): kafkajs
// without SASL or SSL, to 127.0.0.1:9092. docs/EXTENSION.md has the
// settings.
//
// Event: {"topic": "orders", "values": ["a", "b"]} (topic defaults to
// MSK_TOPIC). Answer: {"offsets": [...]}.
import { Kafka } from 'kafkajs';

const kafka = new Kafka({ clientId: process.env.AWS_LAMBDA_FUNCTION_NAME, brokers: ['127.0.0.1:9092'] });
const producer = kafka.producer();
await producer.connect(); // in Init, once per execution environment

export const handler = async (event) => {
  const topic = event.topic || process.env.MSK_TOPIC;
  const res = await producer.send({ topic, acks: -1, messages: (event.values || []).map((value) => ({ value })) });
  return { offsets: res.map((r) => Number(r.baseOffset)) };
};
