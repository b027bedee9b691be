/* The libyaml functions moonrun's YAML decoder uses. libyaml is loaded with dlopen on first
 * use, not linked: only `moonrun dev` reads YAML (a SAM template), and the Lambda bootstrap must
 * not map a library it never calls at every cold start.
 *
 * libyaml's header gives the types; each field is checked against its prototype in
 * yaml_lib.c, so a call through the table is a call of the real function. */
#ifndef MOONRUN_YAML_LIB_H
#define MOONRUN_YAML_LIB_H

#include <stddef.h>
#include <yaml.h>

struct yaml_lib {
    int (*parser_initialize)(yaml_parser_t *parser);
    void (*parser_delete)(yaml_parser_t *parser);
    void (*parser_set_input_string)(yaml_parser_t *parser, const unsigned char *input, size_t size);
    int (*parser_parse)(yaml_parser_t *parser, yaml_event_t *event);
    void (*event_delete)(yaml_event_t *event);
};

/* Loads libyaml-0.so.2 the first time (later calls return the same table), or returns NULL
 * with "moonrun needs libyaml-0.so.2 to read YAML: <reason>" in err. Thread-safe. */
const struct yaml_lib *yaml_lib_load(char *err, size_t errlen);

#endif
