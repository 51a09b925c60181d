/* l3l4_tun: packets in batches between the TUN fd and pools the caller owns; nothing allocates. */
#include "addon.h"

#include <errno.h>
#include <unistd.h>

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
napi_value js_read_batch(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 5, argv, NULL)) return NULL;
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
napi_value js_write_batch(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!get_args(env, info, 5, argv, NULL)) return NULL;
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
  if (!check_spans(env, offsets, lengths, count, pool_length, "a packet lies outside the pool")) return NULL;

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
