/* Indents JSON text for people: for output to a terminal. */
#ifndef MOONRUN_JSON_PRETTY_H
#define MOONRUN_JSON_PRETTY_H

#include <stddef.h>
#include <stdio.h>

/* Writes text (valid JSON, as moonrun's writer produces) with two-space indentation. */
void json_pretty_print(FILE *out, const char *text, size_t len);

#endif
