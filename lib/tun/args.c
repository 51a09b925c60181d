/* l3l4_tun: errors thrown to JS (system errors with errno names, TypeError, RangeError) and argument checks. */
#include "addon.h"

#include <stdio.h>
#include <string.h>

#include <uv.h>

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

void throw_errno(napi_env env, int err, const char *syscall, const char *subject) {
  const char *name = uv_err_name(uv_translate_sys_error(err));
  char message[256];
  if (subject != NULL && subject[0] != '\0') {
    snprintf(message, sizeof message, "%s %s: %s (%s)", syscall, subject, strerror(err), name);
  } else {
    snprintf(message, sizeof message, "%s: %s (%s)", syscall, strerror(err), name);
  }
  napi_value js_code, js_message, error, js_errno, js_syscall;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &js_code) != napi_ok) return;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &js_message) != napi_ok) return;
  if (napi_create_error(env, js_code, js_message, &error) != napi_ok) return;
  napi_create_int32(env, -err, &js_errno);
  napi_set_named_property(env, error, "errno", js_errno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall);
  napi_set_named_property(env, error, "syscall", js_syscall);
  napi_throw(env, error);
}

/* API misuse (wrong argument type or range): a TypeError or RangeError. */
void throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
}

void throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
}

/* ------------------------------------------------------------------------- */
/* Arguments                                                                  */

/* Fetches the arguments (and the callback data when `data` is not NULL); false (with an exception
 * pending) if fewer than `required`. */
bool get_args(napi_env env, napi_callback_info info, size_t required, napi_value *argv, void **data) {
  size_t argc = MAX_ARGS;
  napi_value all[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, all, NULL, data) != napi_ok) return false;
  if (argc < required) {
    throw_type(env, "too few arguments");
    return false;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = 0; i < MAX_ARGS; i++) argv[i] = i < argc ? all[i] : undefined;
  return true;
}

bool get_int32(napi_env env, napi_value value, const char *what, int32_t *out) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type != napi_number) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a number", what);
    throw_type(env, message);
    return false;
  }
  napi_get_value_int32(env, value, out);
  return true;
}

bool get_fd(napi_env env, napi_value value, int *fd) {
  int32_t v;
  if (!get_int32(env, value, "fd", &v)) return false;
  if (v < 0) {
    throw_range(env, "fd must be >= 0");
    return false;
  }
  *fd = v;
  return true;
}

/*
 * An interface name as the kernel accepts it (net/core/dev.c dev_valid_name):
 * shorter than IFNAMSIZ, not "." or "..", no '/', ':' or white space.
 * The empty name lets the kernel choose (tun%d); "%d" in a name is a template.
 */
bool get_ifname(napi_env env, napi_value value, char name[IFNAMSIZ]) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type != napi_string) {
    throw_type(env, "name must be a string");
    return false;
  }
  size_t length;
  napi_get_value_string_utf8(env, value, NULL, 0, &length);
  if (length >= IFNAMSIZ) {
    throw_errno(env, EINVAL, "TUNSETIFF", "(interface name longer than 15 bytes)");
    return false;
  }
  memset(name, 0, IFNAMSIZ);
  napi_get_value_string_utf8(env, value, name, IFNAMSIZ, &length);
  bool bad = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
  for (size_t i = 0; i < length && !bad; i++) {
    unsigned char c = (unsigned char)name[i];
    bad = c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r');
  }
  if (bad) {
    throw_errno(env, EINVAL, "TUNSETIFF", "(interface name has '/', ':' or white space, or is '.' or '..')");
    return false;
  }
  return true;
}

bool get_bytes(napi_env env, napi_value value, const char *what, napi_typedarray_type want,
                      void **data, size_t *count) {
  bool is_typed;
  napi_is_typedarray(env, value, &is_typed);
  napi_typedarray_type type;
  if (is_typed) napi_get_typedarray_info(env, value, &type, count, data, NULL, NULL);
  if (!is_typed || type != want) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a%s", what,
             want == napi_uint8_array ? " Uint8Array" : "n Int32Array");
    throw_type(env, message);
    return false;
  }
  return true;
}

bool check_spans(napi_env env, const int32_t *offsets, const int32_t *lengths, int32_t count, size_t pool_length,
                 const char *message) {
  for (int32_t i = 0; i < count; i++) {
    if (offsets[i] < 0 || lengths[i] < 0 || (uint64_t)offsets[i] + (uint64_t)lengths[i] > pool_length) {
      throw_range(env, message);
      return false;
    }
  }
  return true;
}

napi_value make_int32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}
