#include "handler.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EXAMPLE "a handler is named path/module.function, e.g. handlers/app.handler"

static bool is_identifier(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static bool is_module_char(char c)
{
    return c == '_' || c == '-' || c == '/' || c == '.' || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Splits spec at its last dot; the module part may name folders with '/' or '.'. */
static const char *parse_name(const char *spec, struct handler *h, char *module_path,
                              size_t path_size)
{
    if (!spec || !*spec) return "_HANDLER is not set; " EXAMPLE;
    const char *dot = strrchr(spec, '.');
    if (!dot) return "the handler name has no '.' between module and function; " EXAMPLE;
    size_t module_len = (size_t)(dot - spec);
    if (module_len == 0) return "the handler name has no module before the '.'; " EXAMPLE;
    if (module_len >= sizeof h->module || module_len >= path_size)
        return "the module name is too long";
    if (strlen(dot + 1) >= sizeof h->function) return "the function name is too long";
    strcpy(h->function, dot + 1);
    if (!is_identifier(h->function))
        return "the function name after the last '.' is not a Lua identifier; " EXAMPLE;
    for (size_t i = 0; i < module_len; i++) {
        char c = spec[i];
        if (!is_module_char(c))
            return "the module name may hold only letters, digits, '_', '-', '/' and '.'";
        module_path[i] = c == '.' ? '/' : c;
        h->module[i] = c == '/' ? '.' : c;
    }
    module_path[module_len] = h->module[module_len] = '\0';
    if (module_path[0] == '/' || module_path[module_len - 1] == '/' || strstr(module_path, "//") ||
        strstr(spec, ".."))
        return "the module must be a relative path inside the task root, without empty or '..' "
               "parts";
    return NULL;
}

static bool fail(lua_State *L, const char *type, const char *message, struct buffer *out,
                 struct error_report *report)
{
    error_report_new(L, type, message, out, report);
    return false;
}

static bool find_file(struct handler *h, const char *task_root, const char *module_path,
                      char *looked, size_t size)
{
    snprintf(h->file, sizeof h->file, "%s/%s.lua", task_root, module_path);
    if (access(h->file, F_OK) == 0) return true;
    snprintf(looked, size, "'%s' or '%s/%s/init.lua'", h->file, task_root, module_path);
    snprintf(h->file, sizeof h->file, "%s/%s/init.lua", task_root, module_path);
    return access(h->file, F_OK) == 0;
}

/* Runs the loaded chunk as require would (with its name and file), leaving its result. */
static bool run_chunk(lua_State *L, struct handler *h, struct buffer *out,
                      struct error_report *report)
{
    lua_pushcfunction(L, error_report_handler);
    lua_insert(L, -2);
    lua_pushstring(L, h->module);
    lua_pushstring(L, h->file);
    int status = lua_pcall(L, 2, 1, -4);
    lua_remove(L, -2);
    if (status != LUA_OK) {
        error_report_from_pcall(L, status, "Runtime.ModuleInitError", out, report);
        return false;
    }
    /* Other modules that require this one get the same table. */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, h->module) == LUA_TNIL) {
        lua_pushvalue(L, -3);
        if (lua_isnil(L, -1)) lua_pushboolean(L, 1), lua_remove(L, -2);
        lua_setfield(L, -3, h->module);
    }
    lua_pop(L, 2);
    return true;
}

static bool is_callable(lua_State *L, int idx)
{
    if (lua_isfunction(L, idx)) return true;
    if (luaL_getmetafield(L, idx, "__call") == LUA_TNIL) return false;
    lua_pop(L, 1);
    return true;
}

static bool find_function(lua_State *L, struct handler *h, struct buffer *out,
                          struct error_report *report)
{
    int module_result = lua_gettop(L);
    bool in_table = lua_istable(L, module_result);
    if (in_table) lua_getfield(L, module_result, h->function);
    if (!in_table || lua_isnil(L, -1)) {
        if (in_table) lua_pop(L, 1);
        lua_getglobal(L, h->function);
    }
    char message[PATH_MAX + 512];
    if (lua_isnil(L, -1)) {
        snprintf(
            message, sizeof message,
            "handler '%s' not found: module '%s' (%s) returned %s%s%s and there is no global '%s'",
            h->function, h->module, h->file, in_table ? "a table without a field '" : "a ",
            in_table ? h->function : luaL_typename(L, module_result), in_table ? "'" : "",
            h->function);
        lua_pop(L, 2);
        return fail(L, "Runtime.HandlerNotFound", message, out, report);
    }
    if (!is_callable(L, -1)) {
        snprintf(message, sizeof message, "handler '%s' in module '%s' is a %s, not a function",
                 h->function, h->module, luaL_typename(L, -1));
        lua_pop(L, 2);
        return fail(L, "Runtime.HandlerNotFound", message, out, report);
    }
    h->function_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    return true;
}

bool handler_load(lua_State *L, const char *spec, const char *task_root, struct handler *h,
                  struct buffer *error_json, struct error_report *report)
{
    *h = (struct handler){.function_ref = LUA_NOREF};
    char module_path[256], message[PATH_MAX * 2 + 256];
    const char *malformed = parse_name(spec, h, module_path, sizeof module_path);
    if (malformed) {
        snprintf(message, sizeof message, "bad handler name '%s': %s", spec ? spec : "", malformed);
        return fail(L, "Runtime.MalformedHandlerName", message, error_json, report);
    }
    char looked[PATH_MAX * 2 + 16];
    if (!find_file(h, task_root, module_path, looked, sizeof looked)) {
        snprintf(message, sizeof message, "cannot find handler module '%s': no file %s", h->module,
                 looked);
        return fail(L, "Runtime.ImportModuleError", message, error_json, report);
    }
    int status = luaL_loadfilex(L, h->file, "bt");
    if (status == LUA_ERRSYNTAX) {
        snprintf(message, sizeof message, "syntax error in handler module: %s",
                 lua_tostring(L, -1));
        lua_pop(L, 1);
        return fail(L, "Runtime.UserCodeSyntaxError", message, error_json, report);
    }
    if (status != LUA_OK) {
        snprintf(message, sizeof message, "cannot load handler module '%s': %s", h->module,
                 lua_tostring(L, -1));
        lua_pop(L, 1);
        return fail(L, "Runtime.ImportModuleError", message, error_json, report);
    }
    if (!run_chunk(L, h, error_json, report)) return false;
    return find_function(L, h, error_json, report);
}

void handler_release(lua_State *L, struct handler *h)
{
    luaL_unref(L, LUA_REGISTRYINDEX, h->function_ref);
    h->function_ref = LUA_NOREF;
}
