/* l3l4_tun: readiness from the libuv loop Node runs on (a uv_poll_t per fd, no thread, no busy polling), and close. */
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <uv.h>

/* ------------------------------------------------------------------------- */
/* Readiness: a uv_poll_t per fd on the loop of the calling environment       */

typedef struct watch {
  uv_poll_t handle; /* first: the uv_handle_t* of callbacks casts back to it */
  napi_env env;
  int fd;
  int events; /* UV_READABLE, plus UV_WRITABLE while a blocked queue waits */
  napi_ref callback;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup;
  struct watch *next;
} watch_t;

/* Per environment (main thread, each worker): the fds it polls. */
typedef struct {
  watch_t *watches;
} instance_t;

static void free_instance(napi_env env, void *data, void *hint) {
  free(data);
}

/* Gives the environment (the main thread, or a worker) its empty list of watches; false with an exception pending. */
bool poll_init_instance(napi_env env) {
  instance_t *inst = calloc(1, sizeof *inst);
  if (inst == NULL || napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
    free(inst);
    napi_throw_error(env, NULL, "l3l4_tun: out of memory");
    return false;
  }
  return true;
}

static instance_t *instance_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static watch_t *find_watch(instance_t *inst, int fd) {
  for (watch_t *w = inst->watches; w != NULL; w = w->next) {
    if (w->fd == fd) return w;
  }
  return NULL;
}

static void unlink_watch(instance_t *inst, watch_t *target) {
  for (watch_t **p = &inst->watches; *p != NULL; p = &(*p)->next) {
    if (*p == target) {
      *p = target->next;
      return;
    }
  }
}

static void on_watch_closed(uv_handle_t *handle) {
  watch_t *w = (watch_t *)handle;
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->async_context);
  napi_remove_async_cleanup_hook(w->cleanup);
  free(w);
}

/* Stops watching: no callback after this returns; the memory goes in on_watch_closed. */
static void stop_watch(instance_t *inst, watch_t *w) {
  unlink_watch(inst, w);
  uv_poll_stop(&w->handle);
  uv_close((uv_handle_t *)&w->handle, on_watch_closed);
}

/* The environment is going away (worker exit, process teardown) with the fd still polled. */
static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  watch_t *w = arg;
  instance_t *inst = instance_of(w->env);
  if (inst != NULL && find_watch(inst, w->fd) == w) {
    int fd = w->fd;
    stop_watch(inst, w);
    close(fd);
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  watch_t *w = (watch_t *)handle;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argv[2], result;
  napi_get_reference_value(env, w->callback, &callback);
  napi_get_global(env, &receiver); /* napi_make_callback wants an object as `this` */
  int mask = 0;
  if (status >= 0) {
    if (events & UV_READABLE) mask |= EVENT_READABLE;
    if (events & UV_WRITABLE) mask |= EVENT_WRITABLE;
    napi_get_undefined(env, &argv[1]);
  } else {
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &argv[1]);
  }
  argv[0] = make_int32(env, mask);
  /* napi_make_callback enters a callback scope: async hooks, then microtasks and nextTicks afterwards. */
  if (napi_make_callback(env, w->async_context, receiver, callback, 2, argv, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error); /* to process 'uncaughtException', as any callback's throw */
    }
  }
  napi_close_handle_scope(env, scope);
}

/*
 * poll(fd, callback: (events: number, error?: string) => void, ref?: boolean): void
 * events: 1 readable, 2 writable (only while pollWritable(fd, true)).
 */
napi_value js_poll(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type != napi_function) {
    throw_type(env, "callback must be a function");
    return NULL;
  }
  bool ref = true;
  napi_typeof(env, argv[2], &type);
  if (type == napi_boolean) napi_get_value_bool(env, argv[2], &ref);

  instance_t *inst = instance_of(env);
  if (find_watch(inst, fd) != NULL) {
    throw_errno(env, EEXIST, "poll", "(fd already polled)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw_errno(env, EINVAL, "napi_get_uv_event_loop", NULL);
    return NULL;
  }
  watch_t *w = calloc(1, sizeof *w);
  if (w == NULL) {
    throw_errno(env, ENOMEM, "poll", NULL);
    return NULL;
  }
  int rc = uv_poll_init(loop, &w->handle, fd);
  if (rc < 0) {
    free(w); /* uv_poll_init failed before registering the handle */
    throw_errno(env, -rc, "uv_poll_init", NULL);
    return NULL;
  }
  w->env = env;
  w->fd = fd;
  w->events = UV_READABLE;
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_value resource_name;
  napi_create_string_utf8(env, "l3l4:tun", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &w->async_context);
  napi_add_async_cleanup_hook(env, on_env_cleanup, w, &w->cleanup);
  w->next = inst->watches;
  inst->watches = w;
  if (!ref) uv_unref((uv_handle_t *)&w->handle);
  rc = uv_poll_start(&w->handle, w->events, on_poll);
  if (rc < 0) {
    stop_watch(inst, w);
    throw_errno(env, -rc, "uv_poll_start", NULL);
    return NULL;
  }
  return make_undefined(env);
}

/* (fd, on: boolean): the fd's watch and the flag (`fallback` when not a boolean); NULL with an exception pending. */
static watch_t *watch_and_flag(napi_env env, napi_callback_info info, bool fallback, bool *on) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  watch_t *w = find_watch(instance_of(env), fd);
  if (w == NULL) {
    throw_errno(env, ENOENT, "poll", "(fd is not polled)");
    return NULL;
  }
  *on = fallback;
  napi_get_value_bool(env, argv[1], on);
  return w;
}

/* pollWritable(fd, on: boolean): void; also wait for writability, to flush a blocked queue. */
napi_value js_poll_writable(napi_env env, napi_callback_info info) {
  bool on;
  watch_t *w = watch_and_flag(env, info, false, &on);
  if (w == NULL) return NULL;
  int events = on ? (UV_READABLE | UV_WRITABLE) : UV_READABLE;
  if (events == w->events) return make_undefined(env);
  int rc = uv_poll_start(&w->handle, events, on_poll);
  if (rc < 0) {
    throw_errno(env, -rc, "uv_poll_start", NULL);
    return NULL;
  }
  w->events = events;
  return make_undefined(env);
}

/* setRef(fd, on: boolean): void; an unref'd poll does not keep the loop alive. */
napi_value js_set_ref(napi_env env, napi_callback_info info) {
  bool on;
  watch_t *w = watch_and_flag(env, info, true, &on);
  if (w == NULL) return NULL;
  if (on) {
    uv_ref((uv_handle_t *)&w->handle);
  } else {
    uv_unref((uv_handle_t *)&w->handle);
  }
  return make_undefined(env);
}

/* close(fd): void; stops polling the fd (if polled) and closes it. */
napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  instance_t *inst = instance_of(env);
  watch_t *w = find_watch(inst, fd);
  if (w != NULL) stop_watch(inst, w); /* uv_poll_stop removed the fd from epoll: closing is safe */
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, errno, "close", NULL);
    return NULL;
  }
  return make_undefined(env);
}
