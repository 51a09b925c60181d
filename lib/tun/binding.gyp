{
  "targets": [
    {
      "target_name": "l3l4_tun",
      "sources": ["tun.c", "args.c", "device.c", "io.c", "poll.c", "udp.c", "sock.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [
        ["OS!='linux'", {"sources!": ["tun.c", "args.c", "device.c", "io.c", "poll.c", "udp.c", "sock.c"]}]
      ]
    }
  ]
}
