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
 * This file is the module: what it exports. The calls live by concept (addon.h
 * has the map): args.c (errors, argument checks), device.c (open, interface
 * settings, offloads), io.c (the batches), poll.c (readiness, close).
 */
#include "addon.h"

static void set_int(napi_env env, napi_value object, const char *name, int32_t value) {
  napi_set_named_property(env, object, name, make_int32(env, value));
}

NAPI_MODULE_INIT() {
  if (!poll_init_instance(env)) return NULL;
  static const struct {
    const char *name;
    napi_callback fn;
    const void *data; /* the callback's data: the attribute of get/set<Attribute> */
  } functions[] = {
      {"open", js_open, NULL},
      {"setUp", js_set_up, NULL},
      {"getMtu", js_get_attribute, &ATTRIBUTE_MTU},
      {"setMtu", js_set_attribute, &ATTRIBUTE_MTU},
      {"getTxQueueLen", js_get_attribute, &ATTRIBUTE_TX_QUEUE_LEN},
      {"setTxQueueLen", js_set_attribute, &ATTRIBUTE_TX_QUEUE_LEN},
      {"setOffload", js_set_offload, NULL},
      {"readBatch", js_read_batch, NULL},
      {"writeBatch", js_write_batch, NULL},
      {"poll", js_poll, NULL},
      {"pollWritable", js_poll_writable, NULL},
      {"setRef", js_set_ref, NULL},
      {"close", js_close, NULL},
      {"udpSocket", js_udp_socket, NULL},
      {"sendDatagrams", js_send_datagrams, NULL},
      {"udpConnect", js_udp_connect, NULL},
      {"recvDatagrams", js_recv_datagrams, NULL},
      {"sockInit", js_sock_init, NULL},
      {"sockConnect", js_sock_connect, NULL},
      {"sockWrite", js_sock_write, NULL},
      {"sockRead", js_sock_read, NULL},
      {"sockShutdown", js_sock_shutdown, NULL},
      {"sockClose", js_sock_close, NULL},
      {"sockCount", js_sock_count, NULL},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, (void *)functions[i].data, &fn);
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
