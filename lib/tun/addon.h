/*
 * l3l4_tun's internals, shared by its files (tun.c is the module and its map):
 *   args.c    errors thrown to JS, and argument checks
 *   device.c  open (TUNSETIFF, the virtio-net header), interface settings (flags, MTU, txqueuelen), TUNSETOFFLOAD
 *   io.c      readBatch and writeBatch: packets in batches between the fd and pools the caller owns
 *   poll.c    readiness from the libuv loop (uv_poll_t per fd), setRef, close
 *   sock.c    TCP sockets for the proxy's relay, readiness batched (one epoll set, one JS call per wake)
 *   udp.c     UDP sockets for the proxy's relay: connect, batched sends (sendmmsg) and reads (recvmmsg)
 */
#ifndef L3L4_TUN_ADDON_H
#define L3L4_TUN_ADDON_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <linux/if_tun.h>

#include <node_api.h>

/* Flags of open(), ours rather than the kernel's, so that the JS side never
 * depends on <linux/if_tun.h> values. */
#define OPEN_MULTI_QUEUE 1u /* IFF_MULTI_QUEUE: one fd per queue */
#define OPEN_VNET_HDR 2u    /* IFF_VNET_HDR: virtio-net header before each packet (offloads) */
#define OPEN_KNOWN (OPEN_MULTI_QUEUE | OPEN_VNET_HDR)

/* Events passed to the poll callback. */
#define EVENT_READABLE 1
#define EVENT_WRITABLE 2

/* struct virtio_net_hdr_v1 (with num_buffers): 12 bytes, which keeps the IP header 4-byte aligned. */
#define VNET_HDR_SIZE 12

/* UDP segmentation offload (Linux 6.2); older headers lack them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* The most arguments any call takes. */
#define MAX_ARGS 6

/* args.c */
void throw_errno(napi_env env, int err, const char *syscall, const char *subject);
void throw_type(napi_env env, const char *message);
void throw_range(napi_env env, const char *message);
/* Fetches up to MAX_ARGS arguments (undefined past the last) and, when `data` is not NULL, the callback data. */
bool get_args(napi_env env, napi_callback_info info, size_t required, napi_value *argv, void **data);
bool get_int32(napi_env env, napi_value value, const char *what, int32_t *out);
bool get_fd(napi_env env, napi_value value, int *fd);
bool get_ifname(napi_env env, napi_value value, char name[IFNAMSIZ]);
bool get_bytes(napi_env env, napi_value value, const char *what, napi_typedarray_type want, void **data,
               size_t *count);
/* Every span [offsets[i], offsets[i] + lengths[i]) of the first `count` lies inside a pool of pool_length
 * bytes; else a RangeError with `message` is pending and false is returned. */
bool check_spans(napi_env env, const int32_t *offsets, const int32_t *lengths, int32_t count, size_t pool_length,
                 const char *message);
napi_value make_int32(napi_env env, int32_t v);
napi_value make_undefined(napi_env env);

/* device.c */
napi_value js_open(napi_env env, napi_callback_info info);
napi_value js_set_up(napi_env env, napi_callback_info info);
napi_value js_get_attribute(napi_env env, napi_callback_info info);
napi_value js_set_attribute(napi_env env, napi_callback_info info);
napi_value js_set_offload(napi_env env, napi_callback_info info);
/* The descriptors js_get_attribute and js_set_attribute take as their callback data. */
extern const struct interface_attribute ATTRIBUTE_MTU;
extern const struct interface_attribute ATTRIBUTE_TX_QUEUE_LEN;

/* io.c */
napi_value js_read_batch(napi_env env, napi_callback_info info);
napi_value js_write_batch(napi_env env, napi_callback_info info);

/* udp.c */
napi_value js_udp_socket(napi_env env, napi_callback_info info);
napi_value js_send_datagrams(napi_env env, napi_callback_info info);
napi_value js_udp_connect(napi_env env, napi_callback_info info);
napi_value js_recv_datagrams(napi_env env, napi_callback_info info);

/* sock.c */
napi_value js_sock_init(napi_env env, napi_callback_info info);
napi_value js_sock_connect(napi_env env, napi_callback_info info);
napi_value js_sock_write(napi_env env, napi_callback_info info);
napi_value js_sock_read(napi_env env, napi_callback_info info);
napi_value js_sock_shutdown(napi_env env, napi_callback_info info);
napi_value js_sock_close(napi_env env, napi_callback_info info);
napi_value js_sock_count(napi_env env, napi_callback_info info);

/* poll.c */
bool poll_init_instance(napi_env env);
napi_value js_poll(napi_env env, napi_callback_info info);
napi_value js_poll_writable(napi_env env, napi_callback_info info);
napi_value js_set_ref(napi_env env, napi_callback_info info);
napi_value js_close(napi_env env, napi_callback_info info);

#endif
