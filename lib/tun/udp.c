/*
 * l3l4_tun: UDP sockets for the proxy's relay: opened and connected here, sent to in batches
 * (sendmmsg, UDP GSO), read in batches (recvmmsg, UDP GRO); or wrapped by node:dgram, which then
 * receives (the fallback of an older build).
 */
#include "addon.h"

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* udpSocket's flags: ask for UDP GRO (Linux 5.0): the kernel may hand one flow's datagrams of one size coalesced. */
#define UDP_SOCKET_GRO 1

/*
 * udpSocket(family: 4 | 6, flags?: number): number
 *
 * A non-blocking, close-on-exec UDP socket of that family. Either the caller hands it to node:dgram
 * (socket.bind({ fd })), which then owns it (connect, receive, errors, close; sendDatagrams writes to
 * it besides), or it keeps it: udpConnect, sendDatagrams, recvDatagrams, and close (poll.c).
 * flags & 1: UDP GRO on where the kernel has it (recvDatagrams then reports segment sizes); a
 * kernel without it is not an error.
 */
napi_value js_udp_socket(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int32_t family, flags = 0;
  if (!get_int32(env, argv[0], "family", &family)) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type != napi_undefined && !get_int32(env, argv[1], "flags", &flags)) return NULL;
  if (family != 4 && family != 6) {
    throw_range(env, "family must be 4 or 6");
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  if (flags & UDP_SOCKET_GRO) {
    int on = 1;
    (void)setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on); /* ENOPROTOOPT before 5.0: one datagram a buffer */
  }
  return make_int32(env, fd);
}

/*
 * udpConnect(fd, address: string, port: number): void
 *
 * connect(2) of a UDP socket to a numeric address (IPv4 or IPv6; an IPv4 address on an IPv6 socket
 * as ::ffff:a.b.c.d). Only the kernel's datagrams from there reach the socket afterwards. Throws an
 * errno Error (ENETUNREACH, EINVAL for an address that is not numeric).
 */
napi_value js_udp_connect(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 3, argv, NULL)) return NULL;
  int fd;
  int32_t port;
  char address[INET6_ADDRSTRLEN + 1];
  size_t length = 0;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], address, sizeof address, &length) != napi_ok) {
    throw_type(env, "address must be a string");
    return NULL;
  }
  if (!get_int32(env, argv[2], "port", &port)) return NULL;
  if (port < 0 || port > 65535) {
    throw_range(env, "port must be 0 to 65535");
    return NULL;
  }
  int domain = 0;
  socklen_t domain_length = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &domain_length) < 0) {
    throw_errno(env, errno, "getsockopt", NULL);
    return NULL;
  }
  struct sockaddr_storage to;
  socklen_t to_length;
  memset(&to, 0, sizeof to);
  struct in_addr v4;
  struct sockaddr_in6 *six = (struct sockaddr_in6 *)&to;
  if (domain == AF_INET && inet_pton(AF_INET, address, &v4) == 1) {
    struct sockaddr_in *four = (struct sockaddr_in *)&to;
    four->sin_family = AF_INET;
    four->sin_port = htons((uint16_t)port);
    four->sin_addr = v4;
    to_length = sizeof *four;
  } else if (domain == AF_INET6 && inet_pton(AF_INET6, address, &six->sin6_addr) == 1) {
    six->sin6_family = AF_INET6;
    six->sin6_port = htons((uint16_t)port);
    to_length = sizeof *six;
  } else if (domain == AF_INET6 && inet_pton(AF_INET, address, &v4) == 1) {
    six->sin6_family = AF_INET6;
    six->sin6_port = htons((uint16_t)port);
    six->sin6_addr.s6_addr[10] = 0xff;
    six->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&six->sin6_addr.s6_addr[12], &v4, 4);
    to_length = sizeof *six;
  } else {
    throw_errno(env, EINVAL, "connect", "(not a numeric address of the socket's family)");
    return NULL;
  }
  if (connect(fd, (struct sockaddr *)&to, to_length) < 0) {
    throw_errno(env, errno, "connect", NULL);
    return NULL;
  }
  return make_undefined(env);
}

/* Messages per recvmmsg call. */
#define RECV_CHUNK 64

/*
 * recvDatagrams(fd, pool: Uint8Array, slotSize: number, lengths: Int32Array, segments: Int32Array): number
 *
 * One recvmmsg(MSG_DONTWAIT) into slots of slotSize bytes: message i in pool[i * slotSize ..], at
 * most min(pool.length / slotSize, lengths.length, segments.length, 64) of them. Returns how many
 * came (0: none waiting), each with lengths[i] its bytes and segments[i] the UDP GRO segment size
 * when the kernel coalesced several datagrams of one flow into it (0: one datagram). A message that
 * did not fit its slot (MSG_TRUNC), or a coalesced one whose segment size was cut off (MSG_CTRUNC),
 * gets lengths[i] = -1: dropped, for the caller to count. Other control messages are ignored.
 * A socket error (ECONNREFUSED after an ICMP error, ...) is returned as -errno; only bad arguments throw.
 */
napi_value js_recv_datagrams(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 5, argv, NULL)) return NULL;
  int fd;
  int32_t slot;
  void *pool_data, *lengths_data, *segments_data;
  size_t pool_length, lengths_count, segments_count;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_bytes(env, argv[1], "pool", napi_uint8_array, &pool_data, &pool_length)) return NULL;
  if (!get_int32(env, argv[2], "slotSize", &slot)) return NULL;
  if (!get_bytes(env, argv[3], "lengths", napi_int32_array, &lengths_data, &lengths_count)) return NULL;
  if (!get_bytes(env, argv[4], "segments", napi_int32_array, &segments_data, &segments_count)) return NULL;
  if (slot <= 0 || (size_t)slot > pool_length) {
    throw_range(env, "slotSize must be > 0 and at most the pool's length");
    return NULL;
  }
  size_t n = pool_length / (size_t)slot;
  if (n > lengths_count) n = lengths_count;
  if (n > segments_count) n = segments_count;
  if (n > RECV_CHUNK) n = RECV_CHUNK;
  if (n == 0) return make_int32(env, 0);
  struct mmsghdr msgs[RECV_CHUNK];
  struct iovec iov[RECV_CHUNK];
  union {
    char buf[CMSG_SPACE(sizeof(int)) * 2];
    struct cmsghdr align;
  } control[RECV_CHUNK];
  memset(msgs, 0, n * sizeof msgs[0]);
  uint8_t *pool = pool_data;
  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = pool + i * (size_t)slot;
    iov[i].iov_len = (size_t)slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = control[i].buf;
    msgs[i].msg_hdr.msg_controllen = sizeof control[i].buf;
  }
  int r;
  do {
    r = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int32(env, 0);
    return make_int32(env, -errno);
  }
  int32_t *lengths = lengths_data;
  int32_t *segments = segments_data;
  for (int i = 0; i < r; i++) {
    struct msghdr *h = &msgs[i].msg_hdr;
    int32_t length = (int32_t)msgs[i].msg_len;
    int32_t segment = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int size;
        memcpy(&size, CMSG_DATA(c), sizeof size);
        if (size > 0 && size < length) segment = size;
      }
    }
    /* MSG_CTRUNC: a coalesced buffer's segment size may be what was lost; it cannot be cut safely. */
    if ((h->msg_flags & MSG_TRUNC) || ((h->msg_flags & MSG_CTRUNC) && length > 0)) length = -1;
    lengths[i] = length;
    segments[i] = length < 0 ? 0 : segment;
  }
  return make_int32(env, r);
}

/* Messages per sendmmsg call (the kernel takes at most UIO_MAXIOV, 1024): a small stack frame. */
#define SEND_CHUNK 64
/*
 * UDP GSO (UDP_SEGMENT, Linux 4.18): consecutive datagrams of one size (the last may be shorter) go as
 * one message the kernel cuts after it has taken it through the stack once. At most GSO_MAX_SEGMENTS
 * (the kernel's UDP_MAX_SEGMENTS is 64 before 5.x's 128) and GSO_MAX_BYTES (a UDP length field) each.
 */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000

/* One message of a sendmmsg call: datagrams [first, first + count), one iovec each. */
typedef struct {
  int32_t first;
  int32_t count;
} span_t;

static bool gso_unsupported(int err) {
  /* EINVAL: a segment over the path MTU, or no UDP_SEGMENT here; EIO: no checksum offload on the route. */
  return err == EINVAL || err == EIO || err == EMSGSIZE || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

/*
 * Sends datagrams [from, to) (all on `fd`): runs of one size as UDP GSO messages when `gso`, else one
 * message each, SEND_CHUNK messages per sendmmsg. A datagram the kernel refuses gets its errno in
 * errors[] (a refused GSO message: each of its datagrams). A GSO message the kernel cannot take
 * (gso_unsupported) is sent again datagram by datagram. After EAGAIN / ENOBUFS (the socket's send
 * buffer is full) the rest get that errno unsent, as a full socket would drop them. Returns how many went.
 */
static int32_t send_run(int fd, uint8_t *pool, const int32_t *offsets, const int32_t *lengths, int32_t from,
                        int32_t to, int32_t *errors, bool gso) {
  struct mmsghdr msgs[SEND_CHUNK];
  struct iovec iov[SEND_CHUNK * 2];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control[SEND_CHUNK];
  span_t spans[SEND_CHUNK];
  int32_t sent = 0;
  int32_t i = from;
  while (i < to) {
    /* Fill up to SEND_CHUNK messages and at most 2 * SEND_CHUNK iovecs. */
    int32_t n = 0, used_iov = 0, next = i;
    memset(msgs, 0, sizeof msgs);
    while (next < to && n < SEND_CHUNK && used_iov < SEND_CHUNK * 2) {
      int32_t size = lengths[next];
      int32_t count = 1;
      int32_t bytes = size;
      if (gso && size > 0) {
        while (next + count < to && count < GSO_MAX_SEGMENTS && used_iov + count < SEND_CHUNK * 2 &&
               lengths[next + count] <= size && lengths[next + count] > 0 && bytes + lengths[next + count] <= GSO_MAX_BYTES) {
          bytes += lengths[next + count];
          count++;
          if (lengths[next + count - 1] < size) break; /* a shorter datagram ends the message */
        }
      }
      struct msghdr *h = &msgs[n].msg_hdr;
      h->msg_iov = &iov[used_iov];
      h->msg_iovlen = (size_t)count;
      for (int32_t k = 0; k < count; k++) {
        iov[used_iov + k].iov_base = pool + offsets[next + k];
        iov[used_iov + k].iov_len = (size_t)lengths[next + k];
      }
      if (count > 1) {
        h->msg_control = control[n].buf;
        h->msg_controllen = sizeof control[n].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segment = (uint16_t)size;
        memcpy(CMSG_DATA(c), &segment, sizeof segment);
      }
      spans[n].first = next;
      spans[n].count = count;
      used_iov += count;
      next += count;
      n++;
    }
    int r = sendmmsg(fd, msgs, (unsigned)n, 0);
    int err = r < 0 ? errno : 0;
    if (r < 0 && err == EINTR) continue;
    if (r < 0) r = 0;
    for (int32_t m = 0; m < r; m++) {
      for (int32_t k = 0; k < spans[m].count; k++) errors[spans[m].first + k] = 0;
      sent += spans[m].count;
    }
    if (r == n) {
      i = next;
      continue;
    }
    if (r > 0) {
      /* sendmmsg(2): an error after some messages went is not reported; the next call from the
       * first message not sent reports it (or sends it). */
      i = spans[r].first;
      continue;
    }
    /* The first message failed. */
    span_t failed = spans[0];
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      for (int32_t k = failed.first; k < to; k++) errors[k] = err;
      return sent;
    }
    if (failed.count > 1 && gso_unsupported(err)) {
      int32_t end = failed.first + failed.count;
      sent += send_run(fd, pool, offsets, lengths, failed.first, end, errors, false);
      int last = errors[end - 1];
      if (last == EAGAIN || last == EWOULDBLOCK || last == ENOBUFS) {
        for (int32_t k = end; k < to; k++) errors[k] = last;
        return sent;
      }
    } else {
      /* ECONNREFUSED after an ICMP error, EMSGSIZE, ...: the message's datagrams are dropped. */
      for (int32_t k = 0; k < failed.count; k++) errors[failed.first + k] = err;
    }
    i = failed.first + failed.count;
  }
  return sent;
}

/*
 * sendDatagrams(fds: Int32Array, pool: Uint8Array, offsets: Int32Array, lengths: Int32Array,
 *               count: number, errors: Int32Array): number
 *
 * Sends datagram i = pool[offsets[i] .. offsets[i] + lengths[i]] on the connected socket fds[i], for
 * i in [0, count), in order; consecutive datagrams of one socket go in one sendmmsg, and runs of one
 * size among them as UDP GSO messages (send_run). errors[i] = 0
 * when datagram i went, else its errno (it is dropped: nothing is retried). Returns how many went.
 * Never throws for what the kernel says about a datagram; only bad arguments throw.
 */
napi_value js_send_datagrams(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 6, argv, NULL)) return NULL;
  void *fds_data, *pool_data, *offsets_data, *lengths_data, *errors_data;
  size_t fds_count, pool_length, offsets_count, lengths_count, errors_count;
  int32_t count;
  if (!get_bytes(env, argv[0], "fds", napi_int32_array, &fds_data, &fds_count)) return NULL;
  if (!get_bytes(env, argv[1], "pool", napi_uint8_array, &pool_data, &pool_length)) return NULL;
  if (!get_bytes(env, argv[2], "offsets", napi_int32_array, &offsets_data, &offsets_count)) return NULL;
  if (!get_bytes(env, argv[3], "lengths", napi_int32_array, &lengths_data, &lengths_count)) return NULL;
  if (!get_int32(env, argv[4], "count", &count)) return NULL;
  if (!get_bytes(env, argv[5], "errors", napi_int32_array, &errors_data, &errors_count)) return NULL;
  if (count < 0 || (size_t)count > fds_count || (size_t)count > offsets_count || (size_t)count > lengths_count ||
      (size_t)count > errors_count) {
    throw_range(env, "count must be >= 0 and at most the length of fds, offsets, lengths and errors");
    return NULL;
  }
  int32_t *fds = fds_data;
  int32_t *offsets = offsets_data;
  int32_t *lengths = lengths_data;
  for (int32_t i = 0; i < count; i++) {
    if (fds[i] < 0) {
      throw_range(env, "fds must be >= 0");
      return NULL;
    }
  }
  if (!check_spans(env, offsets, lengths, count, pool_length, "a datagram lies outside the pool")) return NULL;
  int32_t sent = 0;
  for (int32_t from = 0; from < count;) {
    int32_t to = from + 1;
    while (to < count && fds[to] == fds[from]) to++;
    sent += send_run(fds[from], pool_data, offsets, lengths, from, to, errors_data, true);
    from = to;
  }
  return make_int32(env, sent);
}
