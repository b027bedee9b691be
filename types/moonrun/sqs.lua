---@meta moonrun.sqs
-- Amazon SQS: operations named as in boto3 (snake_case), parameters with AWS's PascalCase names.
-- Each raises an AWS error value (MoonrunAwsError) on failure.
local sqs = {}

---@class MoonrunSqsClient
local Client = {}

---The operations' table: name -> {AWS name, required parameters, list fields}.
---@type table
sqs.OPERATIONS = {}
---The service description moonrun.aws uses.
---@type table
sqs.SERVICE = {}

---A client with its own options (region, endpoint, credentials, timeouts, retries).
---@param options? MoonrunAwsOptions
---@return MoonrunSqsClient
function sqs.client(options) end
---The client the module functions use (made from the environment on first use).
---@return MoonrunSqsClient
function sqs.default_client() end
---Forgets the default client: the next call reads the environment again.
function sqs.reset() end
---Iterates over the pages of list_queues or list_dead_letter_source_queues.
---@param name string
---@param params? table
---@return fun(): table|nil
function sqs.pages(name, params) end
---A queue object for a URL.
---@param url string
---@return MoonrunSqsQueue
function sqs.queue(url) end
---The queue object of a queue name.
---@param name string
---@param owner? string
---@return MoonrunSqsQueue
function sqs.get_queue_by_name(name, owner) end

---SQS AddPermission.
---@param params? table
---@return table
function sqs.add_permission(params) end
---@param params? table
---@return table
function Client:add_permission(params) end
---SQS CancelMessageMoveTask.
---@param params? table
---@return table
function sqs.cancel_message_move_task(params) end
---@param params? table
---@return table
function Client:cancel_message_move_task(params) end
---SQS ChangeMessageVisibility.
---@param params? table
---@return table
function sqs.change_message_visibility(params) end
---@param params? table
---@return table
function Client:change_message_visibility(params) end
---SQS ChangeMessageVisibilityBatch.
---@param params? table
---@return table
function sqs.change_message_visibility_batch(params) end
---@param params? table
---@return table
function Client:change_message_visibility_batch(params) end
---SQS CreateQueue.
---@param params? table
---@return table
function sqs.create_queue(params) end
---@param params? table
---@return table
function Client:create_queue(params) end
---SQS DeleteMessage.
---@param params? table
---@return table
function sqs.delete_message(params) end
---@param params? table
---@return table
function Client:delete_message(params) end
---SQS DeleteMessageBatch.
---@param params? table
---@return table
function sqs.delete_message_batch(params) end
---@param params? table
---@return table
function Client:delete_message_batch(params) end
---SQS DeleteQueue.
---@param params? table
---@return table
function sqs.delete_queue(params) end
---@param params? table
---@return table
function Client:delete_queue(params) end
---SQS GetQueueAttributes.
---@param params? table
---@return table
function sqs.get_queue_attributes(params) end
---@param params? table
---@return table
function Client:get_queue_attributes(params) end
---SQS GetQueueUrl.
---@param params? table
---@return table
function sqs.get_queue_url(params) end
---@param params? table
---@return table
function Client:get_queue_url(params) end
---SQS ListDeadLetterSourceQueues.
---@param params? table
---@return table
function sqs.list_dead_letter_source_queues(params) end
---@param params? table
---@return table
function Client:list_dead_letter_source_queues(params) end
---SQS ListMessageMoveTasks.
---@param params? table
---@return table
function sqs.list_message_move_tasks(params) end
---@param params? table
---@return table
function Client:list_message_move_tasks(params) end
---SQS ListQueueTags.
---@param params? table
---@return table
function sqs.list_queue_tags(params) end
---@param params? table
---@return table
function Client:list_queue_tags(params) end
---SQS ListQueues.
---@param params? table
---@return table
function sqs.list_queues(params) end
---@param params? table
---@return table
function Client:list_queues(params) end
---SQS PurgeQueue.
---@param params? table
---@return table
function sqs.purge_queue(params) end
---@param params? table
---@return table
function Client:purge_queue(params) end
---SQS ReceiveMessage.
---@param params? table
---@return table
function sqs.receive_message(params) end
---@param params? table
---@return table
function Client:receive_message(params) end
---SQS RemovePermission.
---@param params? table
---@return table
function sqs.remove_permission(params) end
---@param params? table
---@return table
function Client:remove_permission(params) end
---SQS SendMessage.
---@param params? table
---@return table
function sqs.send_message(params) end
---@param params? table
---@return table
function Client:send_message(params) end
---SQS SendMessageBatch.
---@param params? table
---@return table
function sqs.send_message_batch(params) end
---@param params? table
---@return table
function Client:send_message_batch(params) end
---SQS SetQueueAttributes.
---@param params? table
---@return table
function sqs.set_queue_attributes(params) end
---@param params? table
---@return table
function Client:set_queue_attributes(params) end
---SQS StartMessageMoveTask.
---@param params? table
---@return table
function sqs.start_message_move_task(params) end
---@param params? table
---@return table
function Client:start_message_move_task(params) end
---SQS TagQueue.
---@param params? table
---@return table
function sqs.tag_queue(params) end
---@param params? table
---@return table
function Client:tag_queue(params) end
---SQS UntagQueue.
---@param params? table
---@return table
function sqs.untag_queue(params) end
---@param params? table
---@return table
function Client:untag_queue(params) end

return sqs
