/* The sub-commands of moonrun, each in its own file; argv starts after the command's name. */
#ifndef MOONRUN_COMMANDS_H
#define MOONRUN_COMMANDS_H

#include <stdbool.h>

int invoke_cmd_main(int argc, char **argv); /* invoke_cmd.c */
int run_cmd_main(int argc, char **argv);    /* run_cmd.c */
/* `moonrun run` with the module paths given (moonrun test: a handler's, and busted's modules). */
struct lua_host_options;
int run_cmd_with_paths(int argc, char **argv, const struct lua_host_options *paths); /* run_cmd.c */
int event_cmd_main(int argc, char **argv);   /* event_cmd.c */
int repl_cmd_main(int argc, char **argv);    /* repl_cmd.c */
int dev_cmd_main(int argc, char **argv);     /* dev_cmd.c */
int init_cmd_main(int argc, char **argv);    /* lua_cmd.c */
int test_cmd_main(int argc, char **argv);    /* test_cmd.c */
int package_cmd_main(int argc, char **argv); /* lua_cmd.c */
int deps_cmd_main(int argc, char **argv);    /* lua_cmd.c */
/* Before invoke, repl and test run a project's handlers: installs the dependencies its rockspec
 * declares when they changed since the last install (moonrun.deps). start: the folder to look
 * for the project from. Logs the error and returns false when they cannot be installed. */
bool deps_ensure(const char *command, const char *start); /* deps_check.c */

#endif
