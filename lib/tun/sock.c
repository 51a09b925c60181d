/*
 * l3l4_tun: nonblocking TCP sockets for the proxy's relay (lib/proxy/native-tcp.ts), with readiness
 * in batches: the node:net path's costs (a net.Socket, StreamBase, a libuv stream, async hooks and
 * an EventEmitter emit per event) replaced by one epoll set per environment, watched by one
 * uv_poll_t on Node's loop, and ONE call into JS per wake with every socket's events.
 *
 * - A socket is named by a token (slot | generation << SLOT_BITS): a token whose socket was closed
 *   no longer names anything (EBADF), and an event harvested for it is never misattributed.
 * - Edge-triggered (EPOLLET), registered once per socket with IN | OUT | RDHUP and never modified:
 *   one epoll_ctl per connection, and pausing or resuming a socket's reads is a flag here, not a
 *   syscall (level-triggered would need EPOLL_CTL_MOD for each pause and for each wait for
 *   writability, and keeps waking for a paused socket's data or HUP). The price is our own state:
 *   `readable` is set by an IN/HUP/ERR edge and cleared when a read comes back short, EOF or
 *   EAGAIN (a short TCP read emptied the receive queue: data after it makes a new edge); a read that
 *   filled its buffer keeps the socket on the `pending` list, read again on the next wake (an idle
 *   handle makes that the next loop iteration). `want_write` is set by a write that came back
 *   partial or EAGAIN; the next OUT edge then reports WRITABLE.
 * - Reads go into one pool the JS side owns (sockInit): each event names its span; the bytes are
 *   valid during the callback only. A read takes at most READ_MAX bytes (the relay's staging block).
 * - Connect completion: the first OUT/ERR/HUP edge, and SO_ERROR says how it went.
 * - Nothing here closes a socket on its own: errors and EOF are reported, and JS closes (sockClose,
 *   with a RST when asked: SO_LINGER 0).
 */
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#define SLOT_BITS 22
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define GEN_MASK 0x1ffu /* 9 bits: tokens stay positive int32 */
#define READ_MAX (64 * 1024)
/* A read into less room than this waits for the next wake's empty pool (a FIN's read needs none, but gets it). */
#define READ_MIN (4 * 1024)
#define EPOLL_BATCH 256
/* The most events one socket adds in one dispatch: CONNECTED, WRITABLE, DATA, then EOF or ERROR. */
#define EVENTS_PER_SOCKET 4
#define EVENT_INTS 4

/* Event kinds (sockEvents in tun.c). */
enum { EV_CONNECTED = 1, EV_FAILED = 2, EV_DATA = 3, EV_EOF = 4, EV_ERROR = 5, EV_WRITABLE = 6 };

typedef struct {
  int fd; /* -1: the slot is free */
  uint32_t gen;
  bool connecting, reading, readable, rdhup, want_write, eof, broken, queued;
  int32_t next_free;
  uint32_t round; /* the dispatch that read it last */
} sock_t;

typedef struct {
  napi_env env;
  int epfd;
  uv_poll_t poll;
  uv_idle_t idle;
  int closing; /* handles still to close at teardown */
  napi_ref callback, pool_ref, events_ref;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup;
  uint8_t *pool;
  size_t pool_size;
  int32_t *events;
  size_t events_cap; /* in events */
  sock_t *socks;
  int32_t cap, free_head, open;
  int32_t *pending; /* tokens to read again */
  int32_t pending_len, pending_cap;
  bool in_dispatch, idle_on;
  uint32_t round; /* dispatches so far */
} sockenv_t;

/* One per environment: each runs on its own thread (the main thread, or a worker's). */
static _Thread_local sockenv_t *current;

static int32_t token_of(sockenv_t *se, int32_t slot) {
  return (int32_t)(((se->socks[slot].gen & GEN_MASK) << SLOT_BITS) | (uint32_t)slot);
}

static sock_t *lookup(sockenv_t *se, int32_t token) {
  if (se == NULL || token < 0) return NULL;
  uint32_t slot = (uint32_t)token & SLOT_MASK;
  if (slot >= (uint32_t)se->cap) return NULL;
  sock_t *s = &se->socks[slot];
  if (s->fd < 0 || (s->gen & GEN_MASK) != ((uint32_t)token >> SLOT_BITS)) return NULL;
  return s;
}

static void set_ref(sockenv_t *se) {
  if (se->open > 0) uv_ref((uv_handle_t *)&se->poll);
  else uv_unref((uv_handle_t *)&se->poll);
}

static void on_idle(uv_idle_t *handle);

/* The socket is read again on the next wake; outside a dispatch, the idle handle makes that the next loop iteration. */
static bool push_pending(sockenv_t *se, int32_t token, sock_t *s) {
  if (s->queued) return true;
  if (se->pending_len == se->pending_cap) {
    int32_t cap = se->pending_cap == 0 ? 64 : se->pending_cap * 2;
    int32_t *p = realloc(se->pending, (size_t)cap * sizeof *p);
    if (p == NULL) return false;
    se->pending = p;
    se->pending_cap = cap;
  }
  se->pending[se->pending_len++] = token;
  s->queued = true;
  if (!se->idle_on && !se->in_dispatch) {
    se->idle_on = true;
    uv_idle_start(&se->idle, on_idle);
  }
  return true;
}

/* ------------------------------------------------------------------------- */
/* Dispatch                                                                   */

typedef struct {
  size_t count;     /* events written */
  size_t pool_used; /* bytes of the pool taken */
} batch_t;

static void emit(sockenv_t *se, batch_t *b, int32_t token, int32_t kind, int32_t a, int32_t c) {
  int32_t *e = se->events + b->count * EVENT_INTS;
  e[0] = token;
  e[1] = kind;
  e[2] = a;
  e[3] = c;
  b->count++;
}

static bool room_for_socket(sockenv_t *se, batch_t *b) {
  return b->count + EVENTS_PER_SOCKET <= se->events_cap;
}

/*
 * Reads a readable socket whose reads are on, into the pool: at most one read per socket per
 * dispatch (the JS side may pause the socket on any read, and nothing may follow the read it paused
 * on). After a short read, when the peer's FIN has come (`rdhup`), a peek tells whether the FIN is all
 * that is left: the FIN sits behind the data that came with it, and no edge would come for it again (a
 * short read otherwise means the queue is empty: more data makes an edge).
 */
static void read_one(sockenv_t *se, batch_t *b, int32_t token, sock_t *s) {
  size_t room = se->pool_size - b->pool_used;
  if (s->round == se->round || room < READ_MIN || !room_for_socket(se, b)) {
    push_pending(se, token, s);
    return;
  }
  s->round = se->round;
  size_t want = room < READ_MAX ? room : READ_MAX;
  ssize_t n = read(s->fd, se->pool + b->pool_used, want);
  if (n > 0) {
    emit(se, b, token, EV_DATA, (int32_t)b->pool_used, (int32_t)n);
    b->pool_used += (size_t)n;
    if ((size_t)n == want) {
      push_pending(se, token, s); /* maybe more: read again on the next wake */
      return;
    }
    if (!s->rdhup) {
      s->readable = false;
      return;
    }
    uint8_t probe;
    n = recv(s->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT); /* the FIN (0), more data, or the error */
    if (n > 0) {
      push_pending(se, token, s);
      return;
    }
  }
  if (n == 0) {
    s->eof = true;
    s->readable = false;
    emit(se, b, token, EV_EOF, 0, 0);
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    s->readable = false;
  } else if (errno == EINTR) {
    push_pending(se, token, s);
  } else {
    s->broken = true;
    s->readable = false;
    emit(se, b, token, EV_ERROR, errno, 0);
  }
}

static void on_ready(sockenv_t *se, batch_t *b, int32_t token, sock_t *s, uint32_t ev) {
  if (s->broken) return;
  if (s->connecting) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0 && !(ev & EPOLLOUT)) err = ECONNRESET;
    s->connecting = false;
    if (err != 0) {
      s->broken = true;
      emit(se, b, token, EV_FAILED, err, 0);
      return;
    }
    emit(se, b, token, EV_CONNECTED, 0, 0);
    ev &= ~(uint32_t)EPOLLOUT; /* the edge that said "connected" is no drain */
  }
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) s->readable = true;
  if (ev & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) s->rdhup = true;
  if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && s->want_write) {
    s->want_write = false;
    emit(se, b, token, EV_WRITABLE, 0, 0);
  }
  if (s->readable && s->reading && !s->eof) read_one(se, b, token, s);
}

static void call_js(sockenv_t *se, size_t count) {
  napi_env env = se->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argv[1], result;
  napi_get_reference_value(env, se->callback, &callback);
  napi_get_global(env, &receiver);
  argv[0] = make_int32(env, (int32_t)count);
  if (napi_make_callback(env, se->async_context, receiver, callback, 1, argv, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* Harvest: the sockets left to read from the last wake, then epoll's ready list; one call into JS. */
static void dispatch(sockenv_t *se) {
  batch_t b = {0, 0};
  se->in_dispatch = true;
  if (++se->round == 0) se->round = 1; /* 0 is no dispatch's: a new slot's round */
  int32_t n_work = se->pending_len;
  int32_t *work = NULL;
  if (n_work > 0) {
    work = se->pending;
    se->pending = NULL;
    se->pending_len = se->pending_cap = 0;
  }
  for (int32_t i = 0; i < n_work; i++) {
    sock_t *s = lookup(se, work[i]);
    if (s == NULL) continue;
    s->queued = false;
    if (s->readable && s->reading && !s->eof && !s->broken) read_one(se, &b, work[i], s);
  }
  free(work);
  struct epoll_event evs[EPOLL_BATCH];
  size_t room = (se->events_cap - b.count) / EVENTS_PER_SOCKET;
  int max = room < EPOLL_BATCH ? (int)room : EPOLL_BATCH;
  int n = max > 0 ? epoll_wait(se->epfd, evs, max, 0) : 0;
  for (int i = 0; i < n; i++) {
    int32_t token = (int32_t)evs[i].data.u32;
    sock_t *s = lookup(se, token);
    if (s != NULL) on_ready(se, &b, token, s, evs[i].events);
  }
  se->in_dispatch = false;
  if (b.count > 0) call_js(se, b.count);
  bool more = se->pending_len > 0;
  if (more && !se->idle_on) {
    se->idle_on = true;
    uv_idle_start(&se->idle, on_idle);
  } else if (!more && se->idle_on) {
    se->idle_on = false;
    uv_idle_stop(&se->idle);
  }
}

static void on_idle(uv_idle_t *handle) {
  dispatch(handle->data);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  dispatch(handle->data);
}

/* ------------------------------------------------------------------------- */
/* Teardown                                                                   */

static void on_handle_closed(uv_handle_t *handle) {
  sockenv_t *se = handle->data;
  if (--se->closing > 0) return;
  napi_delete_reference(se->env, se->callback);
  napi_delete_reference(se->env, se->pool_ref);
  napi_delete_reference(se->env, se->events_ref);
  napi_async_destroy(se->env, se->async_context);
  napi_remove_async_cleanup_hook(se->cleanup);
  free(se->socks);
  free(se->pending);
  free(se);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  sockenv_t *se = arg;
  if (current == se) current = NULL;
  for (int32_t i = 0; i < se->cap; i++) {
    if (se->socks[i].fd >= 0) close(se->socks[i].fd);
  }
  close(se->epfd);
  se->closing = 2;
  uv_poll_stop(&se->poll);
  uv_idle_stop(&se->idle);
  uv_close((uv_handle_t *)&se->poll, on_handle_closed);
  uv_close((uv_handle_t *)&se->idle, on_handle_closed);
}

/* ------------------------------------------------------------------------- */
/* The calls                                                                  */

static sockenv_t *env_or_throw(napi_env env) {
  if (current == NULL || current->env != env) {
    throw_errno(env, ENOTCONN, "sock", "(sockInit first)");
    return NULL;
  }
  return current;
}

/* A call's `argc` arguments (argv[0]: a token) and its socket; NULL with an exception pending (EBADF: no such socket). */
static sock_t *sock_call(napi_env env, napi_callback_info info, size_t argc, napi_value *argv, sockenv_t **se_out, int32_t *token_out, const char *call) {
  if (!get_args(env, info, argc, argv, NULL)) return NULL;
  sockenv_t *se = env_or_throw(env);
  if (se == NULL) return NULL;
  int32_t token;
  if (!get_int32(env, argv[0], "token", &token)) return NULL;
  sock_t *s = lookup(se, token);
  if (s == NULL) {
    throw_errno(env, EBADF, call, "(token names no open socket)");
    return NULL;
  }
  *se_out = se;
  *token_out = token;
  return s;
}

/*
 * sockInit(pool: Uint8Array, events: Int32Array, callback: (count: number) => void): void
 * Once per environment. Each event is 4 int32s in `events`: token, kind, a, b (DATA: offset and length
 * in `pool`; FAILED / ERROR: the errno).
 */
napi_value js_sock_init(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 3, argv, NULL)) return NULL;
  if (current != NULL && current->env == env) {
    throw_errno(env, EEXIST, "sockInit", "(already initialised)");
    return NULL;
  }
  void *pool, *events;
  size_t pool_size, events_len;
  if (!get_bytes(env, argv[0], "pool", napi_uint8_array, &pool, &pool_size)) return NULL;
  if (!get_bytes(env, argv[1], "events", napi_int32_array, &events, &events_len)) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  if (type != napi_function) {
    throw_type(env, "callback must be a function");
    return NULL;
  }
  if (pool_size < READ_MAX || events_len / EVENT_INTS < EVENTS_PER_SOCKET * 4) {
    throw_range(env, "pool must hold 64 KiB and events 16 events at least");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw_errno(env, EINVAL, "napi_get_uv_event_loop", NULL);
    return NULL;
  }
  sockenv_t *se = calloc(1, sizeof *se);
  if (se == NULL) {
    throw_errno(env, ENOMEM, "sockInit", NULL);
    return NULL;
  }
  se->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (se->epfd < 0) {
    int err = errno;
    free(se);
    throw_errno(env, err, "epoll_create1", NULL);
    return NULL;
  }
  int rc = uv_poll_init(loop, &se->poll, se->epfd);
  if (rc < 0) {
    close(se->epfd);
    free(se);
    throw_errno(env, -rc, "uv_poll_init", NULL);
    return NULL;
  }
  uv_idle_init(loop, &se->idle);
  se->poll.data = se;
  se->idle.data = se;
  se->env = env;
  se->pool = pool;
  se->pool_size = pool_size;
  se->events = events;
  se->events_cap = events_len / EVENT_INTS;
  se->free_head = -1;
  napi_create_reference(env, argv[0], 1, &se->pool_ref);
  napi_create_reference(env, argv[1], 1, &se->events_ref);
  napi_create_reference(env, argv[2], 1, &se->callback);
  napi_value resource_name;
  napi_create_string_utf8(env, "l3l4:sock", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &se->async_context);
  napi_add_async_cleanup_hook(env, on_env_cleanup, se, &se->cleanup);
  uv_poll_start(&se->poll, UV_READABLE, on_poll);
  uv_unref((uv_handle_t *)&se->poll);
  uv_unref((uv_handle_t *)&se->idle);
  current = se;
  return make_undefined(env);
}

static int32_t take_slot(sockenv_t *se) {
  if (se->free_head < 0) {
    if (se->cap >= (int32_t)SLOT_MASK) return -1;
    int32_t cap = se->cap == 0 ? 256 : se->cap * 2;
    if (cap > (int32_t)SLOT_MASK) cap = (int32_t)SLOT_MASK;
    sock_t *socks = realloc(se->socks, (size_t)cap * sizeof *socks);
    if (socks == NULL) return -1;
    for (int32_t i = cap - 1; i >= se->cap; i--) {
      memset(&socks[i], 0, sizeof socks[i]);
      socks[i].fd = -1;
      socks[i].next_free = se->free_head;
      se->free_head = i;
    }
    se->socks = socks;
    se->cap = cap;
  }
  int32_t slot = se->free_head;
  se->free_head = se->socks[slot].next_free;
  return slot;
}

static void free_slot(sockenv_t *se, sock_t *s) {
  int32_t slot = (int32_t)(s - se->socks);
  s->fd = -1;
  s->gen++;
  s->next_free = se->free_head;
  se->free_head = slot;
  se->open--;
  set_ref(se);
}

/*
 * sockConnect(host: string (an IPv4 or IPv6 literal), port: number): number
 * A token (>= 0) for a socket whose connect is under way (CONNECTED or FAILED follows), or a negative
 * errno when it failed at once (ENETUNREACH, EMFILE, ...). TCP_NODELAY, as the node:net path sets.
 */
napi_value js_sock_connect(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  sockenv_t *se = env_or_throw(env);
  if (se == NULL) return NULL;
  char host[64];
  size_t length;
  napi_valuetype type;
  napi_typeof(env, argv[0], &type);
  if (type != napi_string) {
    throw_type(env, "host must be a string");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], host, sizeof host, &length);
  int32_t port;
  if (!get_int32(env, argv[1], "port", &port)) return NULL;
  if (port < 1 || port > 65535) {
    throw_range(env, "port must be 1-65535");
    return NULL;
  }
  struct sockaddr_storage addr;
  socklen_t addr_len;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    addr_len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    addr_len = sizeof *v6;
  } else {
    throw_type(env, "host must be an IPv4 or IPv6 address");
    return NULL;
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int32(env, -errno);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return make_int32(env, -err);
  }
  int32_t slot = take_slot(se);
  if (slot < 0) {
    close(fd);
    return make_int32(env, -ENOMEM);
  }
  sock_t *s = &se->socks[slot];
  s->fd = fd;
  s->connecting = true;
  s->reading = true;
  s->readable = s->rdhup = s->want_write = s->eof = s->broken = s->queued = false;
  s->round = 0;
  int32_t token = token_of(se, slot);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = (uint32_t)token};
  se->open++;
  if (epoll_ctl(se->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    close(fd);
    free_slot(se, s);
    return make_int32(env, -err);
  }
  set_ref(se);
  return make_int32(env, token);
}

/*
 * sockWrite(token, data: Uint8Array): number
 * Bytes the kernel took (send, MSG_NOSIGNAL); fewer than data.length (0 on EAGAIN): WRITABLE follows
 * when there is room. A negative errno: the connection broke (EPIPE, ECONNRESET).
 */
napi_value js_sock_write(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  sockenv_t *se;
  int32_t token;
  sock_t *s = sock_call(env, info, 2, argv, &se, &token, "sockWrite");
  if (s == NULL) return NULL;
  void *data;
  size_t length;
  if (!get_bytes(env, argv[1], "data", napi_uint8_array, &data, &length)) return NULL;
  size_t done = 0;
  while (done < length) {
    ssize_t n = send(s->fd, (uint8_t *)data + done, length - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (done > 0) break; /* report what went; the error comes back on the next write or read */
    return make_int32(env, n < 0 ? -errno : -EPIPE);
  }
  if (done < length) s->want_write = true;
  return make_int32(env, (int32_t)done);
}

/* sockRead(token, on: boolean): void; reads off (backpressure) or on again (what waits is read on the next wake). */
napi_value js_sock_read(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  sockenv_t *se;
  int32_t token;
  sock_t *s = sock_call(env, info, 2, argv, &se, &token, "sockRead");
  if (s == NULL) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  s->reading = on;
  if (on && s->readable && !s->eof && !s->broken && !s->connecting) push_pending(se, token, s);
  return make_undefined(env);
}

/* sockShutdown(token): number; shutdown(SHUT_WR) (our FIN after what the kernel holds): 0 or a negative errno. */
napi_value js_sock_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  sockenv_t *se;
  int32_t token;
  sock_t *s = sock_call(env, info, 1, argv, &se, &token, "sockShutdown");
  if (s == NULL) return NULL;
  return make_int32(env, shutdown(s->fd, SHUT_WR) < 0 ? -errno : 0);
}

/* sockClose(token, reset?: boolean): void; close(2), after SO_LINGER 0 when `reset` (a RST, not a FIN). The token is dead after. */
napi_value js_sock_close(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  sockenv_t *se;
  int32_t token;
  sock_t *s = sock_call(env, info, 1, argv, &se, &token, "sockClose");
  if (s == NULL) return NULL;
  bool reset = false;
  napi_get_value_bool(env, argv[1], &reset);
  if (reset) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(s->fd); /* the last descriptor of the file: epoll forgets it */
  free_slot(se, s);
  return make_undefined(env);
}

/* sockCount(): number; the sockets open in this environment. */
napi_value js_sock_count(napi_env env, napi_callback_info info) {
  return make_int32(env, current != NULL && current->env == env ? current->open : 0);
}
