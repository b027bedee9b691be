/* `moonrun invoke HANDLER [--event FILE|-]`: one local invocation through the same handler
 * host as the Lambda loop. */
#ifndef MOONRUN_INVOKE_CMD_H
#define MOONRUN_INVOKE_CMD_H

int invoke_cmd_main(int argc, char **argv);

#endif
