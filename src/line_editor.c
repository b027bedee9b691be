#include "line_editor.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define HISTORY_LINES 1000

static struct {
    void *library;
    char *(*readline)(const char *);
    int (*add_history)(const char *);
    int (*read_history)(const char *);
    int (*write_history)(const char *);
    void (*stifle_history)(int);
    void (*using_history)(void);
    char history_file[4096];
} editor;

bool line_editor_open(const char *history_file, char *why, size_t why_size)
{
    editor.library = dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!editor.library) {
        snprintf(why, why_size, "no line editing: %s (install libedit2)", dlerror());
        return false;
    }
    /* POSIX leaves function pointers from dlsym to memcpy, not to a cast. */
    static const char *names[] = {"readline", "add_history", "read_history", "write_history", "stifle_history",
                                  "using_history"};
    void *slots[] = {&editor.readline,      &editor.add_history,    &editor.read_history,
                     &editor.write_history, &editor.stifle_history, &editor.using_history};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        void *symbol = dlsym(editor.library, names[i]);
        if (!symbol) {
            snprintf(why, why_size, "no line editing: libedit lacks %s", names[i]);
            dlclose(editor.library);
            editor.library = NULL;
            return false;
        }
        memcpy(slots[i], &symbol, sizeof symbol);
    }
    editor.using_history();
    editor.stifle_history(HISTORY_LINES);
    snprintf(editor.history_file, sizeof editor.history_file, "%s", history_file ? history_file : "");
    if (editor.history_file[0]) editor.read_history(editor.history_file); /* none yet is fine */
    return true;
}

char *line_editor_read(const char *prompt)
{
    return editor.readline(prompt);
}

void line_editor_remember(const char *entry)
{
    if (editor.library && entry[0]) editor.add_history(entry);
}

void line_editor_close(void)
{
    if (!editor.library) return;
    if (editor.history_file[0] && editor.write_history(editor.history_file) != 0)
        fprintf(stderr, "moonrun: cannot save the REPL history to %s\n", editor.history_file);
    /* libedit stays mapped: it keeps global state that atexit handlers may still touch. */
}
