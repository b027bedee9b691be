/* moonrun: an AWS Lambda custom runtime for Lua handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "runtime_loop.h"
#include "version.h"

static const char usage[] =
    "usage: moonrun                          the Lambda runtime loop (AWS_LAMBDA_RUNTIME_API set)\n"
    "       moonrun invoke HANDLER [--event FILE|-] [--timeout S] [--env K=V]... [--watch]\n"
    "       moonrun invoke --template FILE FUNCTION [--env-file FILE] [OPTIONS]\n"
    "                                        one local invocation, prints the response\n"
    "       moonrun run [OPTIONS] SCRIPT [ARGS]  runs a Lua script with moonrun's modules, as lua does\n"
    "       moonrun event TYPE [OPTIONS]     prints a sample event (sqs, apigw-http, apigw-rest, schedule,\n"
    "                                        function-url, sns, eventbridge, s3, dynamodb, kinesis)\n"
    "       moonrun repl [HANDLER | --template FILE FUNCTION [--env-file FILE]]\n"
    "                                        interactive Lua with moonrun's modules\n"
    "       moonrun dev [TEMPLATE] [OPTIONS] the template's service on this machine: HTTP,\n"
    "                                        embedded SQS, triggers, hot reload\n"
    "       moonrun init [DIR] [--force]     writes a new service (template, handlers, specs)\n"
    "       moonrun test [--watch] [PATH...] [BUSTED OPTIONS]\n"
    "                                        the project's busted specs, with moonrun.testing\n"
    "       moonrun --version | --help   (and moonrun COMMAND --help)\n"
    "\n"
    "Environment: AWS_LAMBDA_RUNTIME_API, _HANDLER (path/module.function), LAMBDA_TASK_ROOT,\n"
    "MOONRUN_MEMORY_LIMIT_MB, MOONRUN_HISTORY. See README.md.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
        if (api && *api) return runtime_loop_main(api);
        log_error("AWS_LAMBDA_RUNTIME_API is not set, so there is no Lambda to serve; "
                  "to try a handler locally, run: moonrun invoke HANDLER --event FILE");
        fputs(usage, stderr);
        return 2;
    }
    const char *command = argv[1];
    if (strcmp(command, "invoke") == 0) return invoke_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "run") == 0) return run_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "event") == 0) return event_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "repl") == 0) return repl_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "dev") == 0) return dev_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "init") == 0) return init_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "test") == 0) return test_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "--version") == 0) return puts("moonrun " MOONRUN_VERSION), 0;
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0)
        return fputs(usage, stdout), 0;
    log_error("unknown command '%s'", command);
    fputs(usage, stderr);
    return 2;
}
