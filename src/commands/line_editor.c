#include "line_editor.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
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
    /* completion, when this libedit has it (each is optional) */
    char **(*completion_matches)(const char *, char *(*)(const char *, int));
    char **(**attempted_completion)(const char *, int, int);
    int *attempted_completion_over, *completion_append_character;
    const char **basic_word_breaks, **completer_word_breaks;
    char **(*complete)(const char *word);
} editor;

/* Not the shell's word breaks: '.' and ':' are part of a Lua name path. */
static const char lua_word_breaks[] = " \t\n\"'`@$><=;|&{}()[]+-*/%^~#,";

static void *optional_symbol(const char *name)
{
    return dlsym(editor.library, name);
}

static void load_completion(void)
{
    void *matches = optional_symbol("rl_completion_matches"),
         *attempted = optional_symbol("rl_attempted_completion_function");
    memcpy(&editor.completion_matches, &matches, sizeof matches);
    editor.attempted_completion = attempted;
    editor.attempted_completion_over = optional_symbol("rl_attempted_completion_over");
    editor.completion_append_character = optional_symbol("rl_completion_append_character");
    editor.basic_word_breaks = optional_symbol("rl_basic_word_break_characters");
    editor.completer_word_breaks = optional_symbol("rl_completer_word_break_characters");
}

/* The candidates of the completion under way, handed out one by one to libedit, which frees
 * each; the array itself is ours. */
static char **candidates;
static size_t next_candidate;

static char *next_match(const char *text, int state)
{
    (void)text;
    if (state == 0) next_candidate = 0;
    if (!candidates || !candidates[next_candidate]) return NULL;
    return candidates[next_candidate++];
}

static char **attempt_completion(const char *text, int start, int end)
{
    (void)start, (void)end;
    if (editor.attempted_completion_over) *editor.attempted_completion_over = 1; /* no file names */
    if (editor.completion_append_character) *editor.completion_append_character = '\0';
    candidates = editor.complete(text);
    next_candidate = 0;
    char **matches =
        candidates && candidates[0] ? editor.completion_matches(text, next_match) : NULL;
    if (candidates) {
        for (size_t i = next_candidate; candidates[i]; i++)
            free(candidates[i]); /* not handed out */
        free(candidates);
    }
    candidates = NULL;
    return matches;
}

void line_editor_complete_with(char **(*complete)(const char *word))
{
    if (!editor.library || !editor.completion_matches || !editor.attempted_completion) return;
    editor.complete = complete;
    *editor.attempted_completion = attempt_completion;
    if (editor.basic_word_breaks) *editor.basic_word_breaks = lua_word_breaks;
    if (editor.completer_word_breaks) *editor.completer_word_breaks = lua_word_breaks;
}

bool line_editor_open(const char *history_file, char *why, size_t why_size)
{
    editor.library = dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!editor.library) {
        snprintf(why, why_size, "no line editing: %s (install libedit2)", dlerror());
        return false;
    }
    /* POSIX leaves function pointers from dlsym to memcpy, not to a cast. */
    static const char *names[] = {"readline",      "add_history",    "read_history",
                                  "write_history", "stifle_history", "using_history"};
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
    load_completion();
    editor.using_history();
    editor.stifle_history(HISTORY_LINES);
    snprintf(editor.history_file, sizeof editor.history_file, "%s",
             history_file ? history_file : "");
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
