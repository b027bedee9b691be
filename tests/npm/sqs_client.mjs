// The JavaScript SDK (v3) against an SQS endpoint: a scenario of the operations a service uses,
// printed as one JSON line of what came back, for tests/test_dev_sqs.py to check.
//   node tests/npm/sqs_client.mjs ENDPOINT
import {
  SQSClient, CreateQueueCommand, GetQueueUrlCommand, SendMessageCommand, SendMessageBatchCommand,
  ReceiveMessageCommand, DeleteMessageCommand, DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand, GetQueueAttributesCommand, ListQueuesCommand,
  DeleteQueueCommand, TagQueueCommand, ListQueueTagsCommand, PurgeQueueCommand,
} from "@aws-sdk/client-sqs";

const endpoint = process.argv[2];
const client = new SQSClient({
  endpoint, region: "us-east-1",
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID || "AKIAMOONRUNDEV000000",
                 secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || "moonrun-dev-secret" },
});
const out = {};
const name = "js-" + Date.now();
const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, tags: { by: "js" } }));
out.url = QueueUrl;
out.found = (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
// the SDK checks MD5OfMessageBody and MD5OfMessageAttributes itself
const sent = await client.send(new SendMessageCommand({
  QueueUrl, MessageBody: "hello from js",
  MessageAttributes: { kind: { DataType: "String", StringValue: "greeting" },
                       raw: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 2]) } },
}));
out.sent = { id: sent.MessageId, md5: sent.MD5OfMessageBody, md5Attributes: sent.MD5OfMessageAttributes };
const batch = await client.send(new SendMessageBatchCommand({
  QueueUrl, Entries: [{ Id: "a", MessageBody: "one" }, { Id: "b", MessageBody: "two" }],
}));
out.batch = { ok: (batch.Successful || []).length, failed: (batch.Failed || []).length };
const received = [];
for (let i = 0; i < 5 && received.length < 3; i++) {
  const r = await client.send(new ReceiveMessageCommand({
    QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ["All"],
    MessageSystemAttributeNames: ["All"],
  }));
  received.push(...(r.Messages || []));
}
out.bodies = received.map((m) => m.Body).sort();
const first = received.find((m) => m.Body === "hello from js");
out.attribute = first.MessageAttributes.kind.StringValue;
out.binary = Array.from(first.MessageAttributes.raw.BinaryValue);
out.receiveCount = first.Attributes.ApproximateReceiveCount;
await client.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }));
await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: first.ReceiptHandle }));
const rest = received.filter((m) => m !== first);
const deleted = await client.send(new DeleteMessageBatchCommand({
  QueueUrl, Entries: rest.map((m, i) => ({ Id: "d" + i, ReceiptHandle: m.ReceiptHandle })),
}));
out.deleted = (deleted.Successful || []).length;
const attributes = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }));
out.visible = attributes.Attributes.ApproximateNumberOfMessages;
out.tags = (await client.send(new ListQueueTagsCommand({ QueueUrl }))).Tags;
await client.send(new TagQueueCommand({ QueueUrl, Tags: { more: "yes" } }));
await client.send(new PurgeQueueCommand({ QueueUrl }));
out.listed = ((await client.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls || []).length;
try {
  await client.send(new GetQueueUrlCommand({ QueueName: name + "-none" }));
  out.missing = "no error";
} catch (err) {
  out.missing = { name: err.name, code: err.Code, status: err.$metadata.httpStatusCode };
}
await client.send(new DeleteQueueCommand({ QueueUrl }));
console.log(JSON.stringify(out));
