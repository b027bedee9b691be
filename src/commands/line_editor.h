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
/* Tab completion: complete(word) returns the candidates for the word before the cursor, a
 * NULL-terminated malloc'd array of malloc'd strings (the editor frees them), or NULL. A word is
 * what follows the last space or operator: a name path such as json.enc or q:send_ is one word. */
void line_editor_complete_with(char **(*complete)(const char *word));
/* Saves the history. */
void line_editor_close(void);

#endif
