/* The `moonrun.yaml` module: decode(text [, name]) -> Lua value, YAML 1.1 as CloudFormation
 * reads a template. Built on libyaml's event parser (loaded on first use, see yaml_lib.h).
 *
 * - mappings are tables, sequences are tables marked as JSON arrays (json.is_array), a null is
 *   json.null (so that a key with no value is still there);
 * - plain scalars resolve as YAML 1.1 does (null/~, true/false/yes/no/on/off, ints in decimal,
 *   octal, hex, binary and base 60, floats with a dot, .inf, .nan); quoted ones stay strings;
 * - CloudFormation's short-form tags become the long form (!Ref X -> {Ref = "X"},
 *   !GetAtt A.B -> {["Fn::GetAtt"] = {"A", "B"}}, !Sub ... -> {["Fn::Sub"] = ...});
 * - an alias is the anchored value itself (shared, not copied); the nodes that aliases expand
 *   to are counted against a limit, so a "billion laughs" document fails instead of exploding
 *   in whatever walks the result.
 *
 * Every error is raised as "name:line:column: what", never a crash. The parser and its current
 * event live in a to-be-closed userdata, so they are freed on every path, errors included. */
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "modules.h"
#include "yaml_lib.h"

/* Nesting deeper than this is refused (a template nests a dozen levels at most). */
#define YAML_MAX_DEPTH 200
/* Nodes in the document once aliases are expanded; a template has a few thousand. */
#define YAML_MAX_NODES 1000000

struct decoder {
    const struct yaml_lib *yaml;
    yaml_parser_t parser;
    yaml_event_t event;
    bool parser_ready, event_ready;
    const char *name;  /* the document's name in messages ("template.yaml") */
    int anchors;       /* stack index of anchor name -> value */
    int anchor_sizes;  /* stack index of anchor name -> number of nodes it expands to */
    lua_Integer nodes; /* nodes so far, aliases counted as the nodes they stand for */
};

static void release(struct decoder *d)
{
    if (d->event_ready) d->yaml->event_delete(&d->event);
    if (d->parser_ready) d->yaml->parser_delete(&d->parser);
    d->event_ready = d->parser_ready = false;
}

static int decoder_close(lua_State *L)
{
    release(luaL_checkudata(L, 1, "moonrun.yaml.decoder"));
    return 0;
}

static int fail_at(lua_State *L, const struct decoder *d, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(lua_State *L, const struct decoder *d, yaml_mark_t mark, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* no luaL_error: its position prefix would name whichever Lua line called decode */
    lua_pushfstring(L, "%s:%d:%d: %s", d->name, (int)mark.line + 1, (int)mark.column + 1, what);
    return lua_error(L);
}

static void next_event(lua_State *L, struct decoder *d)
{
    if (d->event_ready) d->yaml->event_delete(&d->event);
    d->event_ready = false;
    if (d->yaml->parser_parse(&d->parser, &d->event)) {
        d->event_ready = true;
        return;
    }
    const yaml_parser_t *p = &d->parser;
    const char *problem = p->problem ? p->problem : "cannot parse the document";
    if (p->error == YAML_MEMORY_ERROR) problem = "out of memory";
    if (p->context)
        fail_at(L, d, p->problem_mark, "%s %s (line %d, column %d)", problem, p->context,
                (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    fail_at(L, d, p->problem_mark, "%s", problem);
}

static void count_nodes(lua_State *L, struct decoder *d, lua_Integer n, yaml_mark_t mark)
{
    d->nodes += n;
    if (d->nodes > YAML_MAX_NODES)
        fail_at(L, d, mark, "the document expands to more than %d nodes (aliases included)",
                YAML_MAX_NODES);
}

/* ---- scalars ---- */

static bool is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0) return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", "yes", "Yes",
                                         "YES",  "on",   "On",   "ON",  NULL};
static const char *const false_words[] = {"false", "False", "FALSE", "no",  "No",
                                          "NO",    "off",   "Off",   "OFF", NULL};

/* Copies s without its underscores (YAML 1.1 allows them as digit separators) into out;
 * false if it does not fit. */
static bool without_underscores(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '_') continue;
        if (n + 1 >= size) return false;
        out[n++] = *s;
    }
    out[n] = 0;
    return true;
}

static bool all_of(const char *s, const char *allowed)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s != '_' && !strchr(allowed, *s)) return false;
    return true;
}

/* Pushes the integer s holds after the sign, in base; a value beyond 64 bits becomes a float. */
static void push_integer(lua_State *L, bool negative, const char *digits, int base)
{
    char clean[128];
    if (!without_underscores(digits, clean, sizeof clean)) {
        lua_pushnumber(L, negative ? -HUGE_VAL : HUGE_VAL);
        return;
    }
    errno = 0;
    unsigned long long u = strtoull(clean, NULL, base);
    if (errno == 0 && u <= (unsigned long long)INT64_MAX)
        lua_pushinteger(L, negative ? -(lua_Integer)u : (lua_Integer)u);
    else if (errno == 0 && negative && u == (unsigned long long)INT64_MAX + 1)
        lua_pushinteger(L, INT64_MIN);
    else
        lua_pushnumber(L, (negative ? -1 : 1) * strtod(clean, NULL));
}

/* 190:20:30 is 190*3600 + 20*60 + 30 in YAML 1.1: each part after the first is 0 to 59. */
static bool push_base60(lua_State *L, bool negative, const char *s)
{
    if (*s < '1' || *s > '9' || !strchr(s, ':')) return false;
    lua_Integer value = 0;
    const char *p = s;
    bool first = true;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        lua_Integer part = 0;
        size_t digits = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '_' && first) continue;
            if (p[i] < '0' || p[i] > '9') return false;
            if (part > (INT64_MAX - 9) / 10) return false;
            part = part * 10 + (p[i] - '0');
            digits++;
        }
        if (digits == 0 || (!first && (digits > 2 || part > 59))) return false;
        if (value > (INT64_MAX - part) / 60) return false;
        value = value * 60 + part;
        first = false;
        p = end ? end + 1 : p + len;
        if (end && !*p) return false;
    }
    lua_pushinteger(L, negative ? -value : value);
    return true;
}

static bool push_int(lua_State *L, const char *s)
{
    bool negative = *s == '-';
    const char *body = (*s == '-' || *s == '+') ? s + 1 : s;
    if (strncmp(body, "0b", 2) == 0 && all_of(body + 2, "01")) {
        push_integer(L, negative, body + 2, 2);
    } else if (strncmp(body, "0x", 2) == 0 && all_of(body + 2, "0123456789abcdefABCDEF")) {
        push_integer(L, negative, body + 2, 16);
    } else if (body[0] == '0' && body[1] && all_of(body + 1, "01234567")) {
        push_integer(L, negative, body + 1, 8);
    } else if (strcmp(body, "0") == 0 ||
               (body[0] >= '1' && body[0] <= '9' && all_of(body, "0123456789"))) {
        push_integer(L, negative, body, 10);
    } else {
        return push_base60(L, negative, body);
    }
    return true;
}

/* [-+]?[0-9][0-9_]*.[0-9_]*([eE][-+][0-9]+)?, .5 and the like, [-+]?.inf, .nan */
static bool push_float(lua_State *L, const char *s)
{
    const char *body = (*s == '-' || *s == '+') ? s + 1 : s;
    if (strcmp(body, ".inf") == 0 || strcmp(body, ".Inf") == 0 || strcmp(body, ".INF") == 0) {
        lua_pushnumber(L, *s == '-' ? -HUGE_VAL : HUGE_VAL);
        return true;
    }
    if (s == body && (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)) {
        lua_pushnumber(L, NAN);
        return true;
    }
    const char *p = body;
    size_t int_digits = 0, frac_digits = 0;
    if (*p >= '0' && *p <= '9') {
        while ((*p >= '0' && *p <= '9') || *p == '_')
            p++, int_digits++;
    }
    if (*p != '.') return false;
    p++;
    while ((*p >= '0' && *p <= '9') || *p == '_')
        p++, frac_digits++;
    if (int_digits == 0 && (frac_digits == 0 || body != s || body[1] == '_')) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p != '-' && *p != '+') return false;
        p++;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p) return false;
    char clean[128];
    if (!without_underscores(s, clean, sizeof clean)) return false;
    lua_pushnumber(L, strtod(clean, NULL));
    return true;
}

/* A plain scalar with no tag: what YAML 1.1's resolver makes of it. */
static void push_plain(lua_State *L, const char *s, size_t len)
{
    if (strlen(s) != len) { /* a NUL inside: only a string can hold it */
        lua_pushlstring(L, s, len);
    } else if (is_one_of(s, null_words)) {
        json_push_null(L);
    } else if (is_one_of(s, true_words)) {
        lua_pushboolean(L, 1);
    } else if (is_one_of(s, false_words)) {
        lua_pushboolean(L, 0);
    } else if (!push_int(L, s) && !push_float(L, s)) {
        lua_pushlstring(L, s, len);
    }
}

#define YAML_TAG "tag:yaml.org,2002:"

/* A scalar with one of YAML's own tags (!!str, !!int, ...). */
static void push_tagged_scalar(lua_State *L, struct decoder *d, const char *tag, const char *s,
                               size_t len, yaml_mark_t mark)
{
    const char *kind = tag + strlen(YAML_TAG);
    bool ok = true;
    if (strcmp(kind, "str") == 0) {
        lua_pushlstring(L, s, len);
    } else if (strcmp(kind, "null") == 0) {
        ok = is_one_of(s, null_words);
        if (ok) json_push_null(L);
    } else if (strcmp(kind, "bool") == 0) {
        ok = is_one_of(s, true_words) || is_one_of(s, false_words);
        if (ok) lua_pushboolean(L, is_one_of(s, true_words));
    } else if (strcmp(kind, "int") == 0) {
        ok = strlen(s) == len && push_int(L, s);
    } else if (strcmp(kind, "float") == 0) {
        ok = strlen(s) == len && (push_float(L, s) || push_int(L, s));
        if (ok && lua_isinteger(L, -1)) {
            lua_Number n = (lua_Number)lua_tointeger(L, -1);
            lua_pop(L, 1);
            lua_pushnumber(L, n);
        }
    } else {
        fail_at(L, d, mark,
                "tag !!%s is not supported (supported: !!str, !!int, !!float, !!bool, "
                "!!null, !!seq, !!map)",
                kind);
    }
    if (!ok) fail_at(L, d, mark, "\"%.80s\" is not a valid !!%s", s, kind);
}

/* ---- CloudFormation's short forms ---- */

/* The long form of each short-form tag. !GetAtt's scalar form and !Ref/!Condition are special
 * cased in wrap_intrinsic. */
static const char *const intrinsic_tags[][2] = {
    {"!Ref", "Ref"},
    {"!Condition", "Condition"},
    {"!GetAtt", "Fn::GetAtt"},
    {"!Sub", "Fn::Sub"},
    {"!If", "Fn::If"},
    {"!Equals", "Fn::Equals"},
    {"!Not", "Fn::Not"},
    {"!And", "Fn::And"},
    {"!Or", "Fn::Or"},
    {"!Join", "Fn::Join"},
    {"!Select", "Fn::Select"},
    {"!Split", "Fn::Split"},
    {"!FindInMap", "Fn::FindInMap"},
    {"!Base64", "Fn::Base64"},
    {"!GetAZs", "Fn::GetAZs"},
    {"!ImportValue", "Fn::ImportValue"},
    {"!Cidr", "Fn::Cidr"},
    {"!Length", "Fn::Length"},
    {"!ToJsonString", "Fn::ToJsonString"},
    {"!Transform", "Fn::Transform"},
};

static const char *long_form(const char *tag)
{
    for (size_t i = 0; i < sizeof intrinsic_tags / sizeof intrinsic_tags[0]; i++)
        if (strcmp(tag, intrinsic_tags[i][0]) == 0) return intrinsic_tags[i][1];
    return NULL;
}

/* Checks that tag is one moonrun knows (an intrinsic's short form, or one of YAML's own). */
static void check_tag(lua_State *L, struct decoder *d, const char *tag, yaml_mark_t mark)
{
    if (strcmp(tag, "!") == 0 || long_form(tag) || strncmp(tag, YAML_TAG, strlen(YAML_TAG)) == 0)
        return;
    fail_at(L, d, mark,
            "unknown tag %.100s (CloudFormation's short forms are !Ref, !GetAtt, !Sub, !If, "
            "!Equals, !Not, !And, !Or, !Join, !Select, !Split, !FindInMap, !Base64, !GetAZs, "
            "!ImportValue, !Condition, !Cidr, !Length, !ToJsonString, !Transform)",
            tag);
}

/* Replaces the value on top of the stack with {[long form] = value}. */
static void wrap_intrinsic(lua_State *L, struct decoder *d, const char *tag, bool scalar,
                           yaml_mark_t mark)
{
    const char *key = long_form(tag);
    if ((strcmp(tag, "!Ref") == 0 || strcmp(tag, "!Condition") == 0) && !scalar)
        fail_at(L, d, mark, "%s takes a name (a scalar), not a list or a mapping", tag);
    if (strcmp(tag, "!GetAtt") == 0 && scalar) {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        const char *dot = memchr(text, '.', len);
        if (!dot || dot == text || dot == text + len - 1)
            fail_at(L, d, mark, "!GetAtt %.100s: expected Resource.Attribute", text);
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, text, (size_t)(dot - text));
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, dot + 1, len - (size_t)(dot - text) - 1);
        lua_rawseti(L, -2, 2);
        json_push_array_marker(L);
        lua_setmetatable(L, -2);
        lua_replace(L, -2);
    }
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, key);
    count_nodes(L, d, 1, mark);
}

/* ---- nodes ---- */

static void parse_node(lua_State *L, struct decoder *d, int depth);

/* The anchor of the current event (NULL if none) as a string pushed on the stack, since the
 * event is gone by the time the node ends; pushes nil when there is none. */
static void push_anchor(lua_State *L, const yaml_char_t *anchor)
{
    if (anchor)
        lua_pushstring(L, (const char *)anchor);
    else
        lua_pushnil(L);
}

/* With the anchor name at index anchor and the node's value on top: remembers both. */
static void remember_anchor(lua_State *L, struct decoder *d, int anchor, lua_Integer size)
{
    if (lua_isnil(L, anchor)) return;
    lua_pushvalue(L, anchor);
    lua_pushvalue(L, -2);
    lua_rawset(L, d->anchors);
    lua_pushvalue(L, anchor);
    lua_pushinteger(L, size);
    lua_rawset(L, d->anchor_sizes);
}

static void parse_scalar(lua_State *L, struct decoder *d)
{
    const yaml_event_t *e = &d->event;
    const char *text = (const char *)e->data.scalar.value;
    size_t len = e->data.scalar.length;
    const char *tag = (const char *)e->data.scalar.tag;
    yaml_mark_t mark = e->start_mark;
    lua_Integer before = d->nodes;
    count_nodes(L, d, 1, mark);
    push_anchor(L, e->data.scalar.anchor);
    int anchor = lua_gettop(L);
    if (tag) check_tag(L, d, tag, mark);
    if (tag && strncmp(tag, YAML_TAG, strlen(YAML_TAG)) == 0) {
        push_tagged_scalar(L, d, tag, text, len, mark);
    } else if (tag || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        lua_pushlstring(L, text, len);
        if (tag && long_form(tag)) wrap_intrinsic(L, d, tag, true, mark);
    } else {
        push_plain(L, text, len);
    }
    remember_anchor(L, d, anchor, d->nodes - before);
    lua_remove(L, anchor);
}

static void check_depth(lua_State *L, struct decoder *d, int depth, yaml_mark_t mark)
{
    if (depth > YAML_MAX_DEPTH)
        fail_at(L, d, mark, "nested more than %d levels deep", YAML_MAX_DEPTH);
    if (!lua_checkstack(L, 8)) fail_at(L, d, mark, "out of Lua stack space");
}

/* Checks a collection's tag and leaves on the stack its CloudFormation tag (or nil). */
static void push_collection_tag(lua_State *L, struct decoder *d, const yaml_char_t *raw,
                                const char *own, yaml_mark_t mark)
{
    const char *tag = (const char *)raw;
    if (!tag || strcmp(tag, "!") == 0 || strcmp(tag, own) == 0) {
        lua_pushnil(L);
        return;
    }
    check_tag(L, d, tag, mark);
    if (!long_form(tag))
        fail_at(L, d, mark, "tag !!%s does not fit a %s", tag + strlen(YAML_TAG),
                strcmp(own, YAML_TAG "seq") == 0 ? "list" : "mapping");
    lua_pushstring(L, tag);
}

/* After a collection: with its anchor at index base, its tag at base + 1 and its value on
 * top, applies the tag, remembers the anchor and leaves only the value. */
static void finish_collection(lua_State *L, struct decoder *d, int base, lua_Integer before,
                              yaml_mark_t mark)
{
    if (!lua_isnil(L, base + 1)) wrap_intrinsic(L, d, lua_tostring(L, base + 1), false, mark);
    remember_anchor(L, d, base, d->nodes - before);
    lua_replace(L, base);
    lua_settop(L, base);
}

static void parse_sequence(lua_State *L, struct decoder *d, int depth)
{
    yaml_mark_t mark = d->event.start_mark;
    check_depth(L, d, depth, mark);
    lua_Integer before = d->nodes;
    count_nodes(L, d, 1, mark);
    push_anchor(L, d->event.data.sequence_start.anchor);
    int base = lua_gettop(L);
    push_collection_tag(L, d, d->event.data.sequence_start.tag, YAML_TAG "seq", mark);
    lua_newtable(L);
    json_push_array_marker(L);
    lua_setmetatable(L, -2);
    for (lua_Integer i = 1;; i++) {
        next_event(L, d);
        if (d->event.type == YAML_SEQUENCE_END_EVENT) break;
        parse_node(L, d, depth + 1);
        lua_rawseti(L, -2, i);
    }
    finish_collection(L, d, base, before, mark);
}

static void parse_mapping(lua_State *L, struct decoder *d, int depth)
{
    yaml_mark_t mark = d->event.start_mark;
    check_depth(L, d, depth, mark);
    lua_Integer before = d->nodes;
    count_nodes(L, d, 1, mark);
    push_anchor(L, d->event.data.mapping_start.anchor);
    int base = lua_gettop(L);
    push_collection_tag(L, d, d->event.data.mapping_start.tag, YAML_TAG "map", mark);
    lua_newtable(L);
    for (;;) {
        next_event(L, d);
        if (d->event.type == YAML_MAPPING_END_EVENT) break;
        yaml_mark_t key_mark = d->event.start_mark;
        if (d->event.type != YAML_SCALAR_EVENT || d->event.data.scalar.tag ||
            d->event.data.scalar.anchor)
            fail_at(L, d, key_mark,
                    "a mapping key must be a plain string (no list, mapping, "
                    "alias, tag or anchor)");
        const char *key = (const char *)d->event.data.scalar.value;
        size_t key_len = d->event.data.scalar.length;
        if (d->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(key, "<<") == 0)
            fail_at(L, d, key_mark, "merge keys (<<) are not supported by CloudFormation");
        lua_pushlstring(L, key, key_len);
        if (lua_rawget(L, -2) != LUA_TNIL) fail_at(L, d, key_mark, "duplicate key \"%.100s\"", key);
        lua_pop(L, 1);
        lua_pushlstring(L, key, key_len);
        count_nodes(L, d, 1, key_mark);
        next_event(L, d);
        parse_node(L, d, depth + 1);
        lua_rawset(L, -3);
    }
    finish_collection(L, d, base, before, mark);
}

static void parse_alias(lua_State *L, struct decoder *d)
{
    const char *name = (const char *)d->event.data.alias.anchor;
    yaml_mark_t mark = d->event.start_mark;
    lua_pushstring(L, name);
    if (lua_rawget(L, d->anchor_sizes) != LUA_TNUMBER)
        fail_at(L, d, mark,
                "alias *%.100s refers to no anchor &%.100s before it (an alias "
                "cannot refer to the node that holds it)",
                name, name);
    lua_Integer size = lua_tointeger(L, -1);
    lua_pop(L, 1);
    count_nodes(L, d, size, mark);
    lua_pushstring(L, name);
    lua_rawget(L, d->anchors);
}

/* Pushes the value of the node whose first event is the current one. */
static void parse_node(lua_State *L, struct decoder *d, int depth)
{
    switch (d->event.type) {
    case YAML_SCALAR_EVENT:
        parse_scalar(L, d);
        break;
    case YAML_SEQUENCE_START_EVENT:
        parse_sequence(L, d, depth);
        break;
    case YAML_MAPPING_START_EVENT:
        parse_mapping(L, d, depth);
        break;
    case YAML_ALIAS_EVENT:
        parse_alias(L, d);
        break;
    default:
        fail_at(L, d, d->event.start_mark, "unexpected YAML event %d", d->event.type);
    }
}

static int yaml_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "yaml");
    char err[640];
    const struct yaml_lib *yaml = yaml_lib_load(err, sizeof err);
    if (!yaml) {
        lua_pushstring(L, err);
        return lua_error(L);
    }

    struct decoder *d = lua_newuserdatauv(L, sizeof *d, 0);
    *d = (struct decoder){.yaml = yaml, .name = name};
    luaL_setmetatable(L, "moonrun.yaml.decoder");
    lua_toclose(L, -1);
    if (!yaml->parser_initialize(&d->parser)) {
        lua_pushfstring(L, "%s: out of memory", name);
        return lua_error(L);
    }
    d->parser_ready = true;
    yaml->parser_set_input_string(&d->parser, (const unsigned char *)text, len);
    lua_newtable(L);
    d->anchors = lua_gettop(L);
    lua_newtable(L);
    d->anchor_sizes = lua_gettop(L);

    next_event(L, d); /* stream start */
    next_event(L, d);
    if (d->event.type == YAML_STREAM_END_EVENT) {
        lua_pushnil(L); /* an empty document */
        return 1;
    }
    /* a document start */
    next_event(L, d);
    parse_node(L, d, 1);
    next_event(L, d); /* document end */
    next_event(L, d);
    if (d->event.type != YAML_STREAM_END_EVENT)
        fail_at(L, d, d->event.start_mark,
                "a second document (a template is one YAML document; remove the '---')");
    return 1;
}

int luaopen_moonrun_yaml(lua_State *L)
{
    if (luaL_newmetatable(L, "moonrun.yaml.decoder")) {
        lua_pushcfunction(L, decoder_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, decoder_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg functions[] = {{"decode", yaml_decode}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
