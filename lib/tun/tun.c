/*
 * l3l4_tun: a Linux TUN device for Node.js, through Node-API.
 *
 * One TUN read or write moves one IP packet (no packet-info header: IFF_NO_PI).
 * The calls here move batches: readBatch reads every packet that is ready into
 * consecutive slots of a pool the caller owns; writeBatch writes a queue of
 * packets from a pool. Neither allocates. Readiness comes from the libuv loop
 * Node runs on (uv_poll_t on the fd), so there is no thread and no busy polling.
 *
 * Errors throw a JS Error whose `code` is the errno name ("ENOENT", "EPERM",
 * ...), with `errno` (negative, as Node's own system errors) and `syscall`.
 *
 * Offloads: opened with OPEN_VNET_HDR, every packet read or written starts
 * with a 12-byte virtio-net header (IFF_VNET_HDR, TUNSETVNETHDRSZ 12,
 * little-endian by TUNSETVNETLE); setOffload (TUNSETOFFLOAD) then tells the
 * kernel what it may hand us: packets whose checksum is left to us
 * (TUN_F_CSUM) and super-packets of up to 64 KiB (TSO, USO). The header's
 * contents are the caller's business (lib/wire/virtio-net.ts): here it is
 * bytes like the rest.
 *
 * See Documentation/networking/tuntap.rst in the Linux tree for TUNSETIFF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/if_tun.h>

#include <node_api.h>
#include <uv.h>

/* Flags of open(), ours rather than the kernel's, so that the JS side never
 * depends on <linux/if_tun.h> values. */
#define OPEN_MULTI_QUEUE 1u /* IFF_MULTI_QUEUE: one fd per queue */
#define OPEN_VNET_HDR 2u    /* IFF_VNET_HDR: virtio-net header before each packet (offloads) */
#define OPEN_KNOWN (OPEN_MULTI_QUEUE | OPEN_VNET_HDR)

/* Events passed to the poll callback. */
#define EVENT_READABLE 1
#define EVENT_WRITABLE 2

#define TUN_PATH "/dev/net/tun"

/* struct virtio_net_hdr_v1 (with num_buffers): 12 bytes, which keeps the IP header 4-byte aligned. */
#define VNET_HDR_SIZE 12

/* UDP segmentation offload (Linux 6.2); older headers lack them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

static void throw_errno(napi_env env, int err, const char *syscall, const char *subject) {
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
static void throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
}

static void throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
}

/* ------------------------------------------------------------------------- */
/* Arguments                                                                  */

#define MAX_ARGS 6

/* Fetches the arguments; false (with an exception pending) if fewer than `required`. */
static bool get_args(napi_env env, napi_callback_info info, size_t required, napi_value *argv) {
  size_t argc = MAX_ARGS;
  napi_value all[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, all, NULL, NULL) != napi_ok) return false;
  if (argc < required) {
    throw_type(env, "too few arguments");
    return false;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = 0; i < MAX_ARGS; i++) argv[i] = i < argc ? all[i] : undefined;
  return true;
}

static bool get_int32(napi_env env, napi_value value, const char *what, int32_t *out) {
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

static bool get_fd(napi_env env, napi_value value, int *fd) {
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
static bool get_ifname(napi_env env, napi_value value, char name[IFNAMSIZ]) {
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

static bool get_bytes(napi_env env, napi_value value, const char *what, napi_typedarray_type want,
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

static napi_value make_int32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

/* ------------------------------------------------------------------------- */
/* open, setUp, setMtu, getMtu                                                */

/* open(name: string, flags: number): { fd: number, name: string } */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv)) return NULL;
  char name[IFNAMSIZ];
  if (!get_ifname(env, argv[0], name)) return NULL;
  int32_t flags = 0;
  napi_valuetype flags_type;
  napi_typeof(env, argv[1], &flags_type);
  if (flags_type != napi_undefined && !get_int32(env, argv[1], "flags", &flags)) return NULL;
  if ((uint32_t)flags & ~OPEN_KNOWN) {
    throw_errno(env, EINVAL, "TUNSETIFF", "(unknown open flags)");
    return NULL;
  }
  int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, errno, "open", TUN_PATH);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if ((uint32_t)flags & OPEN_MULTI_QUEUE) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if ((uint32_t)flags & OPEN_VNET_HDR) ifr.ifr_flags |= IFF_VNET_HDR;
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "TUNSETIFF", name);
    return NULL;
  }
  if ((uint32_t)flags & OPEN_VNET_HDR) {
    int size = VNET_HDR_SIZE;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
      int err = errno;
      close(fd);
      throw_errno(env, err, "TUNSETVNETHDRSZ", name);
      return NULL;
    }
    /* The header's 16-bit fields little-endian whatever the host (lib/wire/virtio-net.ts reads them so);
     * a kernel without TUNSETVNETLE is little-endian-only anyway on the hosts it matters for. */
    int le = 1;
    if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
      const uint16_t probe = 1;
      if (*(const uint8_t *)&probe != 1) {
        int err = errno;
        close(fd);
        throw_errno(env, err, "TUNSETVNETLE", name);
        return NULL;
      }
    }
  }

  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  napi_value result, js_name;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "fd", make_int32(env, fd));
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &js_name);
  napi_set_named_property(env, result, "name", js_name);
  return result;
}

/* An ioctl on an AF_INET datagram socket, as ip(8) and ifconfig(8) do. */
static bool interface_ioctl(napi_env env, unsigned long request, const char *syscall, struct ifreq *ifr) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    throw_errno(env, errno, "socket", "AF_INET");
    return false;
  }
  int rc = ioctl(sock, request, ifr);
  int err = errno;
  close(sock);
  if (rc < 0) {
    throw_errno(env, err, syscall, ifr->ifr_name);
    return false;
  }
  return true;
}

/* setUp(name: string): void, sets IFF_UP */
static napi_value js_set_up(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  if (!interface_ioctl(env, SIOCGIFFLAGS, "SIOCGIFFLAGS", &ifr)) return NULL;
  if (ifr.ifr_flags & IFF_UP) return make_undefined(env);
  ifr.ifr_flags |= IFF_UP;
  if (!interface_ioctl(env, SIOCSIFFLAGS, "SIOCSIFFLAGS", &ifr)) return NULL;
  return make_undefined(env);
}

/* setMtu(name: string, mtu: number): void */
static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  int32_t mtu;
  if (!get_int32(env, argv[1], "mtu", &mtu)) return NULL;
  ifr.ifr_mtu = mtu;
  if (!interface_ioctl(env, SIOCSIFMTU, "SIOCSIFMTU", &ifr)) return NULL;
  return make_undefined(env);
}

/* getMtu(name: string): number */
static napi_value js_get_mtu(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  if (!interface_ioctl(env, SIOCGIFMTU, "SIOCGIFMTU", &ifr)) return NULL;
  return make_int32(env, ifr.ifr_mtu);
}

/* getTxQueueLen(name: string): number; the kernel's queue of packets for us to read */
static napi_value js_get_tx_queue_len(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  if (!interface_ioctl(env, SIOCGIFTXQLEN, "SIOCGIFTXQLEN", &ifr)) return NULL;
  return make_int32(env, ifr.ifr_qlen);
}

/* setTxQueueLen(name: string, length: number): void (ip link set NAME txqueuelen N) */
static napi_value js_set_tx_queue_len(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  int32_t length;
  if (!get_int32(env, argv[1], "length", &length)) return NULL;
  if (length < 0) {
    throw_range(env, "length must be >= 0");
    return NULL;
  }
  ifr.ifr_qlen = length;
  if (!interface_ioctl(env, SIOCSIFTXQLEN, "SIOCSIFTXQLEN", &ifr)) return NULL;
  return make_undefined(env);
}

/*
 * setOffload(fd, flags: number): void; TUNSETOFFLOAD with TUN_F_* bits (offloadFlags). The kernel
 * refuses bits it does not know with EINVAL: the caller retries with fewer.
 */
static napi_value js_set_offload(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd;
  int32_t flags;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_int32(env, argv[1], "flags", &flags)) return NULL;
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(uint32_t)flags) < 0) {
    throw_errno(env, errno, "TUNSETOFFLOAD", NULL);
    return NULL;
  }
  return make_undefined(env);
}

/* ------------------------------------------------------------------------- */
/* Batched I/O                                                                */

/*
 * readBatch(fd, pool: Uint8Array, slotSize, maxCount, lengths: Int32Array): number
 *
 * Reads packets into pool[i * slotSize ..] until the fd has none ready (EAGAIN)
 * or maxCount were read; lengths[i] = packet i's length. A packet longer than a
 * slot is cut to slotSize (the slot size is the MTU plus headroom, so only an
 * MTU raised behind our back does that). An error other than EAGAIN throws if
 * it comes first; after some packets it ends the batch, and the next call
 * reports it.
 */
static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 5, argv)) return NULL;
  int fd;
  int32_t slot_size, max_count;
  void *pool_data, *lengths_data;
  size_t pool_length, lengths_count;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_bytes(env, argv[1], "pool", napi_uint8_array, &pool_data, &pool_length)) return NULL;
  if (!get_int32(env, argv[2], "slotSize", &slot_size)) return NULL;
  if (!get_int32(env, argv[3], "maxCount", &max_count)) return NULL;
  if (!get_bytes(env, argv[4], "lengths", napi_int32_array, &lengths_data, &lengths_count)) return NULL;
  if (slot_size <= 0 || max_count < 0) {
    throw_range(env, "slotSize must be > 0 and maxCount >= 0");
    return NULL;
  }
  if ((uint64_t)slot_size * (uint64_t)max_count > pool_length || (size_t)max_count > lengths_count) {
    throw_range(env, "pool must hold maxCount slots of slotSize bytes and lengths maxCount entries");
    return NULL;
  }

  uint8_t *pool = pool_data;
  int32_t *lengths = lengths_data;
  int32_t count = 0;
  while (count < max_count) {
    ssize_t n = read(fd, pool + (size_t)count * (size_t)slot_size, (size_t)slot_size);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (count > 0) break;
      throw_errno(env, err, "read", NULL);
      return NULL;
    }
    if (n == 0) break;
    lengths[count++] = n > slot_size ? slot_size : (int32_t)n;
  }
  return make_int32(env, count);
}

/*
 * writeBatch(fd, pool: Uint8Array, offsets: Int32Array, lengths: Int32Array,
 *            count: number, errors?: Int32Array): number
 *
 * Writes packet i = pool[offsets[i] .. offsets[i] + lengths[i]] for i in
 * [0, count), in order. Stops at EAGAIN (the device queue is full) and returns
 * how many packets were consumed. A packet that fails otherwise (EINVAL for a
 * malformed one, EIO while the link is down, ...) is dropped and counted as
 * consumed; errors[0] += the number dropped, errors[1] = the last errno.
 */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 5, argv)) return NULL;
  int fd;
  int32_t count;
  void *pool_data, *offsets_data, *lengths_data, *errors_data = NULL;
  size_t pool_length, offsets_count, lengths_count, errors_count = 0;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_bytes(env, argv[1], "pool", napi_uint8_array, &pool_data, &pool_length)) return NULL;
  if (!get_bytes(env, argv[2], "offsets", napi_int32_array, &offsets_data, &offsets_count)) return NULL;
  if (!get_bytes(env, argv[3], "lengths", napi_int32_array, &lengths_data, &lengths_count)) return NULL;
  if (!get_int32(env, argv[4], "count", &count)) return NULL;
  napi_valuetype errors_type;
  napi_typeof(env, argv[5], &errors_type);
  if (errors_type != napi_undefined) {
    if (!get_bytes(env, argv[5], "errors", napi_int32_array, &errors_data, &errors_count)) return NULL;
    if (errors_count < 2) {
      throw_range(env, "errors must have 2 entries");
      return NULL;
    }
  }
  if (count < 0 || (size_t)count > offsets_count || (size_t)count > lengths_count) {
    throw_range(env, "count must be >= 0 and at most the length of offsets and lengths");
    return NULL;
  }
  uint8_t *pool = pool_data;
  int32_t *offsets = offsets_data;
  int32_t *lengths = lengths_data;
  for (int32_t i = 0; i < count; i++) {
    if (offsets[i] < 0 || lengths[i] < 0 || (uint64_t)offsets[i] + (uint64_t)lengths[i] > pool_length) {
      throw_range(env, "a packet lies outside the pool");
      return NULL;
    }
  }

  int32_t done = 0, failed = 0, last_error = 0;
  while (done < count) {
    ssize_t n = write(fd, pool + offsets[done], (size_t)lengths[done]);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      failed++;
      last_error = err;
    }
    done++;
  }
  if (errors_data != NULL && failed > 0) {
    int32_t *errors = errors_data;
    errors[0] += failed;
    errors[1] = last_error;
  }
  return make_int32(env, done);
}

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
static napi_value js_poll(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv)) return NULL;
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

static watch_t *watch_arg(napi_env env, napi_value value) {
  int fd;
  if (!get_fd(env, value, &fd)) return NULL;
  watch_t *w = find_watch(instance_of(env), fd);
  if (w == NULL) throw_errno(env, ENOENT, "poll", "(fd is not polled)");
  return w;
}

/* pollWritable(fd, on: boolean): void; also wait for writability, to flush a blocked queue. */
static napi_value js_poll_writable(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv)) return NULL;
  watch_t *w = watch_arg(env, argv[0]);
  if (w == NULL) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
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
static napi_value js_set_ref(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv)) return NULL;
  watch_t *w = watch_arg(env, argv[0]);
  if (w == NULL) return NULL;
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  if (on) {
    uv_ref((uv_handle_t *)&w->handle);
  } else {
    uv_unref((uv_handle_t *)&w->handle);
  }
  return make_undefined(env);
}

/* close(fd): void; stops polling the fd (if polled) and closes it. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv)) return NULL;
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

/* ------------------------------------------------------------------------- */
/* Module                                                                     */

static void free_instance(napi_env env, void *data, void *hint) {
  free(data);
}

static void set_int(napi_env env, napi_value object, const char *name, int32_t value) {
  napi_set_named_property(env, object, name, make_int32(env, value));
}

NAPI_MODULE_INIT() {
  instance_t *inst = calloc(1, sizeof *inst);
  if (inst == NULL || napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
    free(inst);
    napi_throw_error(env, NULL, "l3l4_tun: out of memory");
    return NULL;
  }
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"open", js_open},           {"setUp", js_set_up},           {"setMtu", js_set_mtu},
      {"getMtu", js_get_mtu},      {"readBatch", js_read_batch},   {"writeBatch", js_write_batch},
      {"poll", js_poll},           {"pollWritable", js_poll_writable}, {"setRef", js_set_ref},
      {"close", js_close},         {"setOffload", js_set_offload}, {"getTxQueueLen", js_get_tx_queue_len},
      {"setTxQueueLen", js_set_tx_queue_len},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, functions[i].name, fn);
  }
  napi_value flags, events;
  napi_create_object(env, &flags);
  set_int(env, flags, "MULTI_QUEUE", OPEN_MULTI_QUEUE);
  set_int(env, flags, "VNET_HDR", OPEN_VNET_HDR);
  napi_set_named_property(env, exports, "openFlags", flags);
  napi_create_object(env, &events);
  set_int(env, events, "READABLE", EVENT_READABLE);
  set_int(env, events, "WRITABLE", EVENT_WRITABLE);
  napi_set_named_property(env, exports, "pollEvents", events);
  napi_value offload;
  napi_create_object(env, &offload);
  set_int(env, offload, "CSUM", TUN_F_CSUM);
  set_int(env, offload, "TSO4", TUN_F_TSO4);
  set_int(env, offload, "TSO6", TUN_F_TSO6);
  set_int(env, offload, "TSO_ECN", TUN_F_TSO_ECN);
  set_int(env, offload, "USO4", TUN_F_USO4);
  set_int(env, offload, "USO6", TUN_F_USO6);
  napi_set_named_property(env, exports, "offloadFlags", offload);
  set_int(env, exports, "VNET_HDR_SIZE", VNET_HDR_SIZE);
  set_int(env, exports, "IFNAMSIZ", IFNAMSIZ);
  return exports;
}
