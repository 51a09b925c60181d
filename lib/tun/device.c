/*
 * l3l4_tun: the device. open() makes or attaches the TUN interface (TUNSETIFF, and the virtio-net header
 * for offloads); setUp and the integer attributes (MTU, txqueuelen) are interface ioctls on a datagram
 * socket, as ip(8) makes them; setOffload is TUNSETOFFLOAD on the fd.
 *
 * See Documentation/networking/tuntap.rst in the Linux tree for TUNSETIFF.
 */
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define TUN_PATH "/dev/net/tun"

/* open(name: string, flags: number): { fd: number, name: string } */
napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
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

/* Reads the arguments (and the callback data) and the name into a zeroed ifreq; false with an exception pending. */
static bool interface_request(napi_env env, napi_callback_info info, size_t required, napi_value *argv,
                              struct ifreq *ifr, void **data) {
  if (!get_args(env, info, required, argv, data)) return false;
  memset(ifr, 0, sizeof *ifr);
  return get_ifname(env, argv[0], ifr->ifr_name);
}

/* setUp(name: string): void, sets IFF_UP */
napi_value js_set_up(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  struct ifreq ifr;
  if (!interface_request(env, info, 1, argv, &ifr, NULL)) return NULL;
  if (!interface_ioctl(env, SIOCGIFFLAGS, "SIOCGIFFLAGS", &ifr)) return NULL;
  if (ifr.ifr_flags & IFF_UP) return make_undefined(env);
  ifr.ifr_flags |= IFF_UP;
  if (!interface_ioctl(env, SIOCSIFFLAGS, "SIOCSIFFLAGS", &ifr)) return NULL;
  return make_undefined(env);
}

/*
 * An integer attribute of an interface, read and written by a pair of SIOC ioctls. Both attributes
 * here are the int of struct ifreq's union (ifr_mtu is ifru_mtu, ifr_qlen is ifru_ivalue: the same
 * storage), so one accessor serves them.
 */
struct interface_attribute {
  unsigned long get_request;
  const char *get_syscall;
  unsigned long set_request;
  const char *set_syscall;
  const char *argument; /* the value's name in errors */
  bool non_negative;    /* a negative value is a RangeError here rather than the kernel's EINVAL */
};

/* getMtu / setMtu(name, mtu): the kernel checks the range (EINVAL). */
const struct interface_attribute ATTRIBUTE_MTU = {SIOCGIFMTU, "SIOCGIFMTU", SIOCSIFMTU, "SIOCSIFMTU", "mtu", false};
/* getTxQueueLen / setTxQueueLen(name, length): the kernel's queue of packets for us to read (ip link set NAME txqueuelen N). */
const struct interface_attribute ATTRIBUTE_TX_QUEUE_LEN = {SIOCGIFTXQLEN, "SIOCGIFTXQLEN", SIOCSIFTXQLEN,
                                                           "SIOCSIFTXQLEN", "length", true};

/* get<Attribute>(name: string): number; the callback data is the attribute. */
napi_value js_get_attribute(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  struct ifreq ifr;
  void *data;
  if (!interface_request(env, info, 1, argv, &ifr, &data)) return NULL;
  const struct interface_attribute *attribute = data;
  if (!interface_ioctl(env, attribute->get_request, attribute->get_syscall, &ifr)) return NULL;
  return make_int32(env, ifr.ifr_ifru.ifru_ivalue);
}

/* set<Attribute>(name: string, value: number): void; the callback data is the attribute. */
napi_value js_set_attribute(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  struct ifreq ifr;
  void *data;
  if (!interface_request(env, info, 2, argv, &ifr, &data)) return NULL;
  const struct interface_attribute *attribute = data;
  int32_t value;
  if (!get_int32(env, argv[1], attribute->argument, &value)) return NULL;
  if (attribute->non_negative && value < 0) {
    char message[96];
    snprintf(message, sizeof message, "%s must be >= 0", attribute->argument);
    throw_range(env, message);
    return NULL;
  }
  ifr.ifr_ifru.ifru_ivalue = value;
  if (!interface_ioctl(env, attribute->set_request, attribute->set_syscall, &ifr)) return NULL;
  return make_undefined(env);
}

/*
 * setOffload(fd, flags: number): void; TUNSETOFFLOAD with TUN_F_* bits (offloadFlags). The kernel
 * refuses bits it does not know with EINVAL: the caller retries with fewer.
 */
napi_value js_set_offload(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
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
