/* moonrun: an AWS Lambda custom runtime for Lua handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "runtime_loop.h"
#include "version.h"

static const char usage[] =
    "usage: moonrun [HANDLER]                the Lambda runtime loop (AWS_LAMBDA_RUNTIME_API "
    "set);\n"
    "                                        HANDLER (module.function) overrides _HANDLER\n"
    "       moonrun invoke HANDLER [--event FILE|-] [--timeout S] [--env K=V]... [--watch]\n"
    "       moonrun invoke --template FILE FUNCTION [--env-file FILE] [OPTIONS]\n"
    "                                        one local invocation, prints the response\n"
    "       moonrun run [OPTIONS] SCRIPT [ARGS]  runs a Lua script with moonrun's modules, as lua "
    "does\n"
    "       moonrun event TYPE [OPTIONS]     prints a sample event (sqs, apigw-http, apigw-rest, "
    "schedule,\n"
    "                                        function-url, sns, eventbridge, s3, dynamodb, "
    "kinesis)\n"
    "       moonrun repl [HANDLER | --template FILE FUNCTION [--env-file FILE]]\n"
    "                                        interactive Lua with moonrun's modules\n"
    "       moonrun dev [TEMPLATE] [OPTIONS] the template's service on this machine: HTTP,\n"
    "                                        embedded SQS, triggers, hot reload\n"
    "       moonrun init [DIR] [--force]     writes a new service (template, handlers, specs)\n"
    "       moonrun test [--watch] [PATH...] [BUSTED OPTIONS]\n"
    "                                        the project's busted specs, with moonrun.testing\n"
    "       moonrun deps [DIR]               installs the rockspec's dependencies into "
    "lua_modules/\n"
    "       moonrun package [--arch x86_64|arm64|all] [--server URL]...\n"
    "                                        the project's zips and layers in dist/, for sam "
    "deploy\n"
    "       moonrun --version | --help   (and moonrun COMMAND --help)\n"
    "\n"
    "Environment: AWS_LAMBDA_RUNTIME_API, _HANDLER (path/module.function), LAMBDA_TASK_ROOT,\n"
    "MOONRUN_MEMORY_LIMIT_MB, MOONRUN_HISTORY, MOONRUN_ROCKS_SERVER. The manual: man moonrun,\n"
    "and docs/ in the source (docs/configuration.md lists every variable).\n";

/* The runtime loop, for `moonrun` and `moonrun HANDLER`. */
static int serve_lambda(const char *handler)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        log_error("AWS_LAMBDA_RUNTIME_API is not set, so there is no Lambda to serve; "
                  "to try a handler locally, run: moonrun invoke %s --event FILE",
                  handler ? handler : "HANDLER");
        fputs(usage, stderr);
        return 2;
    }
    /* As AWS's runtime clients do, the argument wins over _HANDLER: container images and the
     * Runtime Interface Emulator start the bootstrap as ENTRYPOINT + CMD ["app.handler"]. It is
     * put in the environment (before any thread starts) so every worker loads it and a handler
     * reading os.getenv("_HANDLER") sees what runs. */
    if (handler && setenv("_HANDLER", handler, 1) != 0) {
        log_error("cannot set _HANDLER to '%s': out of memory", handler);
        return 1;
    }
    return runtime_loop_main(api);
}

int main(int argc, char **argv)
{
    if (argc < 2) return serve_lambda(NULL);
    const char *command = argv[1];
    if (strcmp(command, "invoke") == 0) return invoke_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "run") == 0) return run_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "event") == 0) return event_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "repl") == 0) return repl_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "dev") == 0) return dev_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "init") == 0) return init_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "test") == 0) return test_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "deps") == 0) return deps_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "package") == 0) return package_cmd_main(argc - 2, argv + 2);
    if (strcmp(command, "--version") == 0) return puts("moonrun " MOONRUN_VERSION), 0;
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0)
        return fputs(usage, stdout), 0;
    /* A handler always holds a '.' (module.function) and no command does, so the two cannot be
     * confused; a handler is accepted only as the one argument, as ENTRYPOINT + CMD passes it. */
    if (strchr(command, '.') && command[0] != '-' && argc == 2) return serve_lambda(command);
    if (strchr(command, '.') && command[0] != '-')
        log_error(
            "unexpected arguments after the handler '%s': the runtime loop takes the handler alone",
            command);
    else
        log_error("unknown command '%s' (a handler is written module.function, with a '.')",
                  command);
    fputs(usage, stderr);
    return 2;
}
