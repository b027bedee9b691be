---@meta
-- The events Lambda delivers and the answers it reads, as moonrun knows them.

---@class LambdaContext
---@field aws_request_id string
---@field invoked_function_arn string
---@field function_name string
---@field function_version string
---@field memory_limit_in_mb integer
---@field log_group_name string
---@field log_stream_name string
---@field deadline_ms integer
---@field client_context? table
---@field identity? table
local LambdaContext = {}
---@return integer
function LambdaContext:get_remaining_time_in_millis() end

---@class SQSRecord
---@field messageId string
---@field receiptHandle string
---@field body string
---@field attributes {ApproximateReceiveCount: string, SentTimestamp: string, SenderId: string, ApproximateFirstReceiveTimestamp: string, SequenceNumber?: string, MessageGroupId?: string, MessageDeduplicationId?: string, AWSTraceHeader?: string}
---@field messageAttributes table<string, {dataType: string, stringValue?: string, binaryValue?: string, stringListValues: string[], binaryListValues: string[]}>
---@field md5OfBody string
---@field md5OfMessageAttributes? string
---@field eventSource "aws:sqs"
---@field eventSourceARN string
---@field awsRegion string

---@class SQSEvent
---@field Records SQSRecord[]

---With ReportBatchItemFailures: the failed messages. An empty list must be json.array{}.
---@class SQSBatchResponse
---@field batchItemFailures {itemIdentifier: string}[]

---API Gateway HTTP API, payload format 2.0.
---@class APIGatewayProxyEventV2
---@field version "2.0"
---@field routeKey string
---@field rawPath string
---@field rawQueryString string
---@field cookies? string[]
---@field headers table<string, string>
---@field queryStringParameters? table<string, string>
---@field pathParameters? table<string, string>
---@field stageVariables? table<string, string>
---@field requestContext {accountId: string, apiId: string, domainName: string, domainPrefix: string, http: {method: string, path: string, protocol: string, sourceIp: string, userAgent: string}, requestId: string, routeKey: string, stage: string, time: string, timeEpoch: integer}
---@field body? string
---@field isBase64Encoded boolean

---@class APIGatewayProxyResultV2
---@field statusCode integer
---@field headers? table<string, string>
---@field cookies? string[]
---@field body? string
---@field isBase64Encoded? boolean

---API Gateway REST API, Lambda proxy (payload format 1.0).
---@class APIGatewayProxyEvent
---@field resource string
---@field path string
---@field httpMethod string
---@field headers table<string, string>|nil
---@field multiValueHeaders table<string, string[]>|nil
---@field queryStringParameters table<string, string>|nil
---@field multiValueQueryStringParameters table<string, string[]>|nil
---@field pathParameters table<string, string>|nil
---@field stageVariables table<string, string>|nil
---@field requestContext table
---@field body string|nil
---@field isBase64Encoded boolean

---@class APIGatewayProxyResult
---@field statusCode integer
---@field headers? table<string, string>
---@field multiValueHeaders? table<string, string[]>
---@field body string
---@field isBase64Encoded? boolean

---An EventBridge scheduled event.
---@class ScheduledEvent
---@field version string
---@field id string
---@field ["detail-type"] "Scheduled Event"
---@field source "aws.events"
---@field account string
---@field time string
---@field region string
---@field resources string[]
---@field detail table
