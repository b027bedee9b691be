/* Line editing and persistent history for the REPL, from libedit (BSD-licensed). libedit is
 * loaded with dlopen when a REPL starts on a terminal, so the runtime never pays for it. */
#ifndef MOONRUN_LINE_EDITOR_H
#define MOONRUN_LINE_EDITOR_H

#include <stdbool.h>
#include <stddef.h>

/* false (with the reason in why) when libedit cannot be loaded: read lines plainly then. */
bool line_editor_open(const char *history_file, char *why, size_t why_size);
/* A line without its newline, to free(); NULL at end of input. */
char *line_editor_read(const char *prompt);
void line_editor_remember(const char *entry);
/* Saves the history. */
void line_editor_close(void);

#endif
