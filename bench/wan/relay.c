/*
 * The WAN link of `deno task bench:wan`: a userspace relay between two TUN
 * devices (IFF_TUN | IFF_NO_PI), one per network namespace, since the
 * kernels this runs on have no netem.
 *
 * Per direction, every IP packet read from one device is
 *   1. dropped at random with probability `loss` (i.i.d., when that
 *      direction is lossy: `dirs` says which),
 *   2. dropped if the link's drop-tail queue already holds `qlimit` bytes,
 *   3. otherwise serialised at `rate` bit/s behind the packets before it
 *      (departure = max(now, previous departure) + 8 * len / rate), and
 *   4. written to the other device `delay` after its departure.
 * So packets leave one by one at the link rate, never as a burst: the
 * receiver's socket buffer sees a paced stream, as behind a real bottleneck.
 *
 * One thread: epoll over both devices, stdin and a timerfd armed (absolute,
 * CLOCK_MONOTONIC) at the earliest due packet; the timer slack is set to
 * 1 ns and the thread runs SCHED_FIFO (as root) so the wake-ups are on time.
 *
 * Usage: relay TUN_A TUN_B
 * Prints "ready" once both devices exist (the caller then moves them into
 * their namespaces: the file descriptors stay valid). Commands on stdin, one
 * per line:
 *   set RATE_BPS DELAY_US LOSS_PPM QLIMIT_BYTES DIRS SEED
 *       (RATE_BPS 0 = no rate limit; DIRS: "ab", "ba", "both" or "none")
 *   stats   prints the counters as one JSON line and resets them
 * End of stdin, SIGTERM or SIGINT: prints the counters since the last
 * `stats` and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 32768 /* packets in flight per direction (queue + delay line) */
#define SLOT_BYTES 2048

struct packet {
  int64_t due; /* ns, CLOCK_MONOTONIC: when it is written out */
  int64_t depart; /* ns: when its last bit left the queue */
  uint16_t len;
  unsigned char data[SLOT_BYTES];
};

struct counters {
  uint64_t packets_in, bytes_in;
  uint64_t packets_out, bytes_out;
  uint64_t drops_loss, drops_queue, drops_slots;
  uint64_t max_queue_bytes; /* backlog at the link, at arrivals */
  uint64_t max_in_flight; /* packets in queue + delay line */
  int64_t late_sum_ns, late_max_ns; /* written after `due` by this much */
  uint64_t late_over_1ms;
};

struct direction {
  const char *name;
  int in_fd, out_fd;
  int lossy;
  struct packet *ring;
  unsigned head, count;
  int64_t last_depart;
  struct counters c;
};

static int64_t rate_bps = 0; /* 0: unlimited */
static int64_t delay_ns = 0;
static uint32_t loss_ppm = 0;
static int64_t qlimit_bytes = 1 << 20;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64*: fast, good enough for i.i.d. loss draws. */
static uint32_t random_ppm(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)(((rng_state * 2685821657736338717ULL) >> 32) % 1000000);
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("relay: cannot open /dev/net/tun");
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "relay: cannot create TUN device %s: %s\n", name,
            strerror(errno));
    exit(1);
  }
  return fd;
}

static void print_counters(FILE *out, const char *event, struct direction *d,
                           int n) {
  fprintf(out, "{\"event\":\"%s\"", event);
  for (int i = 0; i < n; i++) {
    struct counters *c = &d[i].c;
    fprintf(out,
            ",\"%s\":{\"packetsIn\":%llu,\"bytesIn\":%llu,\"packetsOut\":%llu,"
            "\"bytesOut\":%llu,\"dropsLoss\":%llu,\"dropsQueue\":%llu,"
            "\"dropsSlots\":%llu,\"maxQueueBytes\":%llu,\"maxInFlight\":%llu,"
            "\"lateMeanUs\":%.1f,\"lateMaxUs\":%.1f,\"lateOver1ms\":%llu}",
            d[i].name, (unsigned long long)c->packets_in,
            (unsigned long long)c->bytes_in,
            (unsigned long long)c->packets_out,
            (unsigned long long)c->bytes_out,
            (unsigned long long)c->drops_loss,
            (unsigned long long)c->drops_queue,
            (unsigned long long)c->drops_slots,
            (unsigned long long)c->max_queue_bytes,
            (unsigned long long)c->max_in_flight,
            c->packets_out ? c->late_sum_ns / 1e3 / c->packets_out : 0.0,
            c->late_max_ns / 1e3, (unsigned long long)c->late_over_1ms);
    memset(c, 0, sizeof *c);
  }
  fprintf(out, "}\n");
  fflush(out);
}

/* Reads every packet waiting on d->in_fd into the queue (or drops it). */
static void receive(struct direction *d) {
  for (;;) {
    struct packet *p = &d->ring[(d->head + d->count) % SLOTS];
    ssize_t n = read(d->in_fd, p->data, SLOT_BYTES);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      perror("relay: cannot read a TUN device");
      exit(1);
    }
    if (n == 0) return;
    int64_t now = now_ns();
    d->c.packets_in++;
    d->c.bytes_in += (uint64_t)n;
    if (d->lossy && loss_ppm > 0 && random_ppm() < loss_ppm) {
      d->c.drops_loss++;
      continue;
    }
    int64_t backlog = 0; /* bytes still waiting to be serialised */
    if (rate_bps > 0 && d->last_depart > now) {
      backlog = (d->last_depart - now) * rate_bps / 8 / 1000000000LL;
    }
    if ((uint64_t)backlog > d->c.max_queue_bytes) {
      d->c.max_queue_bytes = (uint64_t)backlog;
    }
    if (rate_bps > 0 && backlog + n > qlimit_bytes) {
      d->c.drops_queue++;
      continue;
    }
    if (d->count == SLOTS) {
      d->c.drops_slots++;
      continue;
    }
    int64_t start = d->last_depart > now ? d->last_depart : now;
    int64_t depart =
        rate_bps > 0 ? start + (int64_t)n * 8 * 1000000000LL / rate_bps : now;
    d->last_depart = depart;
    p->depart = depart;
    p->due = depart + delay_ns;
    p->len = (uint16_t)n;
    d->count++;
    if (d->count > d->c.max_in_flight) d->c.max_in_flight = d->count;
  }
}

/* Writes out every packet that is due. */
static void deliver(struct direction *d, int64_t now) {
  while (d->count > 0) {
    struct packet *p = &d->ring[d->head];
    if (p->due > now) return;
    ssize_t n = write(d->out_fd, p->data, p->len);
    if (n < 0 && errno == EAGAIN) return; /* retried on the next wake-up */
    int64_t late = now - p->due;
    d->c.late_sum_ns += late;
    if (late > d->c.late_max_ns) d->c.late_max_ns = late;
    if (late > 1000000) d->c.late_over_1ms++;
    if (n == p->len) {
      d->c.packets_out++;
      d->c.bytes_out += (uint64_t)n;
    }
    d->head = (d->head + 1) % SLOTS;
    d->count--;
  }
}

static void arm(int tfd, struct direction *d, int n) {
  int64_t next = INT64_MAX;
  for (int i = 0; i < n; i++) {
    if (d[i].count > 0 && d[i].ring[d[i].head].due < next) {
      next = d[i].ring[d[i].head].due;
    }
  }
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (next != INT64_MAX) {
    if (next <= 0) next = 1;
    its.it_value.tv_sec = next / 1000000000LL;
    its.it_value.tv_nsec = next % 1000000000LL;
  }
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void command(char *line, struct direction *d, int n) {
  long long rate, delay_us, ppm, qlimit;
  unsigned long long seed;
  char dirs[8];
  if (sscanf(line, "set %lld %lld %lld %lld %7s %llu", &rate, &delay_us, &ppm,
             &qlimit, dirs, &seed) == 6) {
    rate_bps = rate;
    delay_ns = delay_us * 1000;
    loss_ppm = (uint32_t)ppm;
    qlimit_bytes = qlimit;
    rng_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
    d[0].lossy = !strcmp(dirs, "ab") || !strcmp(dirs, "both");
    d[1].lossy = !strcmp(dirs, "ba") || !strcmp(dirs, "both");
    printf("{\"event\":\"set\",\"rateBps\":%lld,\"delayUs\":%lld,"
           "\"lossPpm\":%lld,\"qlimitBytes\":%lld,\"lossDirs\":\"%s\"}\n",
           rate, delay_us, ppm, qlimit, dirs);
    fflush(stdout);
  } else if (!strncmp(line, "stats", 5)) {
    print_counters(stdout, "stats", d, n);
  } else {
    fprintf(stderr, "relay: cannot read command \"%s\": see relay.c\n", line);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: relay TUN_A TUN_B\n");
    return 2;
  }
  /* Ends with the benchmark even if it is killed. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  prctl(PR_SET_TIMERSLACK, 1UL);
  /* The machine is shared: a real-time priority keeps the wake-ups on time
   * while browsers and servers take the cores (the loop sleeps in
   * epoll_wait between packets, so it cannot starve them). */
  struct sched_param sp = {.sched_priority = 10};
  if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) {
    setpriority(PRIO_PROCESS, 0, -10);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct direction d[2];
  memset(d, 0, sizeof d);
  int a = open_tun(argv[1]);
  int b = open_tun(argv[2]);
  d[0] = (struct direction){.name = "ab", .in_fd = a, .out_fd = b};
  d[1] = (struct direction){.name = "ba", .in_fd = b, .out_fd = a};
  for (int i = 0; i < 2; i++) {
    d[i].ring = calloc(SLOTS, sizeof(struct packet));
    if (!d[i].ring) {
      fprintf(stderr, "relay: cannot allocate the queues\n");
      return 1;
    }
  }

  int ep = epoll_create1(EPOLL_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u32 = 0;
  epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
  ev.data.u32 = 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
  ev.data.u32 = 2;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  ev.data.u32 = 3;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  printf("ready\n");
  fflush(stdout);

  char line[256];
  size_t line_len = 0;
  while (!stop_requested) {
    struct epoll_event events[8];
    int n = epoll_wait(ep, events, 8, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("relay: epoll_wait failed");
      break;
    }
    int quit = 0;
    for (int i = 0; i < n; i++) {
      uint32_t which = events[i].data.u32;
      if (which < 2) {
        receive(&d[which]);
      } else if (which == 2) {
        uint64_t expirations;
        while (read(tfd, &expirations, sizeof expirations) > 0) {
        }
      } else {
        char buf[256];
        ssize_t got = read(0, buf, sizeof buf);
        if (got <= 0) {
          quit = 1;
          continue;
        }
        for (ssize_t j = 0; j < got; j++) {
          if (buf[j] == '\n') {
            line[line_len] = 0;
            command(line, d, 2);
            line_len = 0;
          } else if (line_len < sizeof line - 1) {
            line[line_len++] = buf[j];
          }
        }
      }
    }
    int64_t now = now_ns();
    deliver(&d[0], now);
    deliver(&d[1], now);
    arm(tfd, d, 2);
    if (quit) break;
  }
  print_counters(stdout, "exit", d, 2);
  return 0;
}
