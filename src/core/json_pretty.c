#include "json_pretty.h"

#include <stdbool.h>

static void newline(FILE *out, int depth)
{
    fputc('\n', out);
    for (int i = 0; i < depth; i++)
        fputs("  ", out);
}

void json_pretty_print(FILE *out, const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            fputc(c, out);
            if (c == '\\' && i + 1 < len)
                fputc(text[++i], out);
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            fputc(c, out);
            break;
        case '{':
        case '[':
            fputc(c, out);
            if (i + 1 < len &&
                (text[i + 1] == '}' || text[i + 1] == ']')) { /* {} and [] stay whole */
                fputc(text[++i], out);
                break;
            }
            newline(out, ++depth);
            break;
        case '}':
        case ']':
            newline(out, --depth);
            fputc(c, out);
            break;
        case ',':
            fputc(c, out);
            newline(out, depth);
            break;
        case ':':
            fputs(": ", out);
            break;
        default:
            fputc(c, out);
        }
    }
    fputc('\n', out);
}
