// SPDX-License-Identifier: GPL-2.0
/*
 * delayline: a propagation-delay line between two TUN devices, for emulating
 * a long path where the kernel has no netem (see tests/wan.sh).
 *
 * Every packet read from device A is written to device B delay_ab later, and
 * every packet read from B is written to A delay_ba later. One thread per
 * direction; each keeps its packets in arrival order in a byte ring of fixed
 * size (--queue-mb, per direction): a packet that does not fit is dropped and
 * counted. Departure times are absolute CLOCK_MONOTONIC times (arrival +
 * delay), waited for with a timerfd armed at TFD_TIMER_ABSTIME, so errors do
 * not accumulate. While a direction is busy its loop runs at most once per
 * --quantum-us (default 50 us) and moves every packet that arrived or became
 * due meanwhile in one go; idle, it sleeps in poll() until a packet comes or
 * one is due. What is left is the wake-up latency of a thread, on arrival and
 * on departure: a lone packet here (2-vCPU VM) leaves ~0.05 ms late on average
 * (the counters report the mean and worst lateness of each direction's writes).
 *
 * The devices are IFF_TUN|IFF_NO_PI (raw IP packets): either existing ones
 * (e.g. `ip tuntap add dev X mode tun`, configured beforehand; they stay
 * when delayline exits), or new ones that go away with the process.
 * --ns-a/--ns-b open a device inside a named network namespace
 * (/run/netns/NAME); by default both are opened in the caller's namespace.
 *
 * By default the devices also carry a virtio_net_hdr and offer TSO/checksum
 * offload (IFF_VNET_HDR, TUNSETOFFLOAD): a 64 KiB TSO packet of a sender
 * crosses as one read and one write, and the packet is passed on untouched,
 * header included. That is what carries multi-Gbit/s on two cores; with
 * --no-offload every MTU-sized frame costs a read, a write and a trip through
 * the receiving stack, and a core runs out at a few hundred Mbit/s.
 *
 * Prints "delayline: ready ..." once both devices are attached; on SIGUSR1 the
 * per-direction counters; on SIGTERM/SIGINT the counters, then exits 0.
 * Exits 1 on a setup error or when a device goes away. "forwarded" counts
 * packets as read (a GSO packet once), "segments" the wire packets in them.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=gnu11 -pthread delayline.c -o delayline
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT (128 * 1024) /* read buffer per packet: more than any GSO packet */
#define ALIGN 16
#define READ_BATCH 256  /* reads per loop iteration at most */
#define WRITE_BATCH 256 /* writes per loop iteration at most */
#define NSEC 1000000000ULL

/* A queued packet: header, then len bytes of packet, padded to ALIGN. */
struct rec {
	uint64_t due; /* CLOCK_MONOTONIC ns when it leaves */
	uint32_t len;
	uint32_t wrap; /* 1: no record here, the data goes on at offset 0 */
};
#define HDR sizeof(struct rec)

struct counters {
	uint64_t rx_pkts, rx_bytes;         /* read from the input device */
	uint64_t fwd_pkts, fwd_bytes;       /* written to the output device */
	uint64_t fwd_segs;                  /* the same in wire packets (GSO packets split) */
	uint64_t drop_full, drop_full_segs; /* dropped: the queue was full */
	uint64_t drop_err, drop_err_segs;   /* dropped: the write failed */
	uint64_t queued, queued_bytes;      /* in the queue now */
	uint64_t max_bytes;                 /* most bytes ever queued */
	uint64_t late_sum, late_max;        /* ns between a packet's due time and its write */
};

struct dir {
	const char *from, *to; /* device names */
	int in, out, tfd;
	uint64_t delay; /* ns */
	unsigned char *buf;
	size_t cap, head, tail, used, count;
	uint64_t armed; /* timerfd expiry set, 0: disarmed */
	struct counters c;
	pthread_t thr;
};

static int stop_fd = -1;
static int stopping;
static int failed;
static uint64_t quantum = 50000; /* ns */
static size_t vnet_len;          /* bytes of virtio_net_hdr before each packet, 0: none */

/* Counters are written by their direction's thread only, read by main. */
#define SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define ADD(field, n) SET(field, (field) + (n))
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static size_t rec_size(size_t len)
{
	return (HDR + len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* Room for one more packet of up to MAX_PKT bytes, or NULL when full. */
static struct rec *ring_space(struct dir *d)
{
	size_t need = HDR + MAX_PKT;

	if (d->count == 0)
		d->head = d->tail = 0;
	if (d->tail >= d->head) { /* data in [head, tail): free at the end, then before head */
		if (d->cap - d->tail >= need)
			return (struct rec *)(d->buf + d->tail);
		if (d->head < need)
			return NULL;
		if (d->cap - d->tail >= HDR)
			((struct rec *)(d->buf + d->tail))->wrap = 1;
		d->tail = 0;
		return (struct rec *)d->buf;
	}
	if (d->head - d->tail >= need) /* wrapped: free in [tail, head) */
		return (struct rec *)(d->buf + d->tail);
	return NULL;
}

static void ring_push(struct dir *d, struct rec *r, uint32_t len, uint64_t due)
{
	size_t sz = rec_size(len);

	r->due = due;
	r->len = len;
	r->wrap = 0;
	d->tail += sz;
	d->used += sz;
	d->count++;
	if (d->used > d->c.max_bytes)
		SET(d->c.max_bytes, d->used);
}

static struct rec *ring_head(struct dir *d)
{
	return d->count ? (struct rec *)(d->buf + d->head) : NULL;
}

static void ring_pop(struct dir *d)
{
	size_t sz = rec_size(ring_head(d)->len);

	d->head += sz;
	d->used -= sz;
	if (--d->count == 0) {
		d->head = d->tail = 0;
		return;
	}
	if (d->head == d->cap || ((struct rec *)(d->buf + d->head))->wrap)
		d->head = 0;
}

/* Wire packets in what one read from a TUN device gave: 1, or the segments
 * of a GSO packet (its virtio_net_hdr, then the IP and TCP/UDP headers). */
static uint64_t segments(const unsigned char *p, size_t len)
{
	struct virtio_net_hdr h;
	size_t l3, l4;
	unsigned type;

	if (!vnet_len || len < vnet_len)
		return 1;
	memcpy(&h, p, sizeof(h));
	type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (type == VIRTIO_NET_HDR_GSO_NONE || !h.gso_size)
		return 1;
	p += vnet_len;
	len -= vnet_len;
	if (len < 1)
		return 1;
	if (p[0] >> 4 == 4)
		l3 = (size_t)(p[0] & 15) * 4;
	else if (p[0] >> 4 == 6)
		l3 = 40; /* extension headers not counted: an estimate */
	else
		return 1;
	if (type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6) {
		if (len <= l3 + 12)
			return 1;
		l4 = (size_t)(p[l3 + 12] >> 4) * 4;
	} else {
		l4 = 8; /* UDP */
	}
	if (len <= l3 + l4)
		return 1;
	return (len - l3 - l4 + h.gso_size - 1) / h.gso_size;
}

static void fatal_stop(const struct dir *d, const char *what, int err)
{
	fprintf(stderr, "delayline: %s->%s: %s: %s\n", d->from, d->to, what, strerror(err));
	__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
	kill(getpid(), SIGTERM); /* to the process: main is in sigwaitinfo */
}

/* Reads what the input device has (READ_BATCH at most). -1: fatal error. */
static int read_batch(struct dir *d, int *n)
{
	static __thread unsigned char scratch[MAX_PKT];

	for (*n = 0; *n < READ_BATCH; (*n)++) {
		struct rec *r = ring_space(d);
		unsigned char *p = r ? (unsigned char *)(r + 1) : scratch;
		ssize_t len = read(d->in, p, MAX_PKT);

		if (len < 0) {
			if (errno == EINTR) {
				(*n)--;
				continue;
			}
			if (errno == EAGAIN)
				return 0;
			fatal_stop(d, "read", errno);
			return -1;
		}
		ADD(d->c.rx_pkts, 1);
		ADD(d->c.rx_bytes, (uint64_t)len);
		if (!r) {
			ADD(d->c.drop_full, 1);
			ADD(d->c.drop_full_segs, segments(p, (size_t)len));
			continue;
		}
		ring_push(d, r, (uint32_t)len, now_ns() + d->delay);
	}
	return 0;
}

/* Writes the packets due by t (WRITE_BATCH at most). -1: fatal error. */
static int write_due(struct dir *d, uint64_t t, int *n)
{
	struct rec *r;

	for (*n = 0; *n < WRITE_BATCH && (r = ring_head(d)) && r->due <= t; (*n)++) {
		uint64_t late = now_ns() - r->due;
		ssize_t w = write(d->out, r + 1, r->len);

		if (w < 0 && errno == EINTR) {
			(*n)--;
			continue;
		}
		if (w < 0 && (errno == EBADFD || errno == EFAULT || errno == EBADF)) {
			fatal_stop(d, "write", errno);
			return -1;
		}
		if (w < 0) { /* EIO (device down), ENOBUFS, EINVAL...: lose this one */
			ADD(d->c.drop_err, 1);
			ADD(d->c.drop_err_segs, segments((unsigned char *)(r + 1), r->len));
		} else {
			ADD(d->c.fwd_pkts, 1);
			ADD(d->c.fwd_bytes, r->len - vnet_len);
			ADD(d->c.fwd_segs, segments((unsigned char *)(r + 1), r->len));
			ADD(d->c.late_sum, late);
			if (late > d->c.late_max)
				SET(d->c.late_max, late);
		}
		ring_pop(d);
	}
	return 0;
}

/* Arms the timer for the first packet in the queue (or disarms it). */
static void arm(struct dir *d)
{
	struct rec *r = ring_head(d);
	uint64_t due = r ? r->due : 0;
	struct itimerspec its = { 0 };

	if (due == d->armed)
		return;
	its.it_value.tv_sec = (time_t)(due / NSEC);
	its.it_value.tv_nsec = (long)(due % NSEC);
	timerfd_settime(d->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	d->armed = due;
}

static void *run(void *arg)
{
	struct dir *d = arg;
	struct pollfd pfd[3] = {
		{ .fd = d->in, .events = POLLIN },
		{ .fd = d->tfd, .events = POLLIN },
		{ .fd = stop_fd, .events = POLLIN },
	};

	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	while (!__atomic_load_n(&stopping, __ATOMIC_RELAXED)) {
		uint64_t t0 = now_ns();
		int nw, nr;

		if (write_due(d, t0, &nw) < 0 || read_batch(d, &nr) < 0)
			break;
		SET(d->c.queued, d->count);
		SET(d->c.queued_bytes, d->used);
		if (nw == WRITE_BATCH || nr == READ_BATCH)
			continue; /* behind: no sleep */
		if ((nw || nr) && quantum) {
			/* busy: let a quantum's worth of packets gather */
			struct timespec ts = {
				.tv_sec = (time_t)((t0 + quantum) / NSEC),
				.tv_nsec = (long)((t0 + quantum) % NSEC),
			};

			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
			continue;
		}
		if (nw || nr)
			continue;
		arm(d);
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			fatal_stop(d, "poll", errno);
			break;
		}
	}
	return NULL;
}

/* GSO and checksum offload: the router hands the device whole TSO packets
 * (up to 64 KiB) with a virtio_net_hdr, and takes them back the same way. */
static int set_offload(int fd, const char *name)
{
	int hdr = (int)vnet_len;
	unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		fprintf(stderr, "delayline: %s: TUNSETVNETHDRSZ: %s\n", name, strerror(errno));
		return -1;
	}
#if defined(TUN_F_USO4) && defined(TUN_F_USO6)
	if (ioctl(fd, TUNSETOFFLOAD, off | TUN_F_USO4 | TUN_F_USO6) == 0)
		return 0;
#endif
	if (ioctl(fd, TUNSETOFFLOAD, off) < 0) {
		fprintf(stderr, "delayline: %s: TUNSETOFFLOAD: %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Opens TUN device NAME (creating it if it does not exist) in namespace NS. */
static int tun_open(const char *name, const char *ns)
{
	struct ifreq ifr = { 0 };
	int fd, self = -1, nsfd = -1, err = 0;

	if (strlen(name) >= IFNAMSIZ) {
		fprintf(stderr, "delayline: device name too long: %s\n", name);
		return -1;
	}
	if (ns) {
		char path[4096];

		snprintf(path, sizeof(path), strchr(ns, '/') ? "%s" : "/run/netns/%s", ns);
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (self < 0 || nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "delayline: enter namespace %s: %s\n", path,
				strerror(errno));
			if (self >= 0)
				close(self);
			if (nsfd >= 0)
				close(nsfd);
			return -1;
		}
		close(nsfd);
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		fprintf(stderr, "delayline: open /dev/net/tun: %s\n", strerror(err));
	} else {
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet_len ? IFF_VNET_HDR : 0);
		memcpy(ifr.ifr_name, name, strlen(name));
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			err = errno;
			fprintf(stderr, "delayline: attach to TUN device %s: %s%s\n", name,
				strerror(err),
				err == EINVAL ? " (not a tun device without pi and multi_queue?)"
					      : "");
			close(fd);
			fd = -1;
		} else if (vnet_len && set_offload(fd, name) < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (self >= 0) {
		if (setns(self, CLONE_NEWNET) < 0) {
			fprintf(stderr, "delayline: back to own namespace: %s\n", strerror(errno));
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		close(self);
	}
	return fd;
}

static void print_counters(const struct dir *d, const char *when)
{
	const struct counters *c = &d->c;
	uint64_t fwd = GET(c->fwd_pkts);

	printf("delayline: %s %s->%s delay_ms=%.3f forwarded=%llu segments=%llu bytes=%llu "
	       "dropped_full=%llu (%llu segments) dropped_error=%llu (%llu segments) queued=%llu "
	       "max_queue_bytes=%llu late_us_avg=%.1f late_us_max=%.1f\n",
	       when, d->from, d->to, (double)d->delay / 1e6, (unsigned long long)fwd,
	       (unsigned long long)GET(c->fwd_segs), (unsigned long long)GET(c->fwd_bytes),
	       (unsigned long long)GET(c->drop_full), (unsigned long long)GET(c->drop_full_segs),
	       (unsigned long long)GET(c->drop_err), (unsigned long long)GET(c->drop_err_segs),
	       (unsigned long long)GET(c->queued), (unsigned long long)GET(c->max_bytes),
	       fwd ? (double)GET(c->late_sum) / (double)fwd / 1e3 : 0.0,
	       (double)GET(c->late_max) / 1e3);
	fflush(stdout);
}

static int parse_ms(const char *s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 3600e3))
		return -1;
	*ns = (uint64_t)(v * 1e6 + 0.5);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: delayline --dev-a TUN --dev-b TUN --delay-ms MS [options]\n"
		"Forwards packets between two TUN devices, each way after a fixed delay.\n"
		"  --dev-a NAME, --dev-b NAME  TUN devices (IFF_TUN|IFF_NO_PI; created when missing)\n"
		"  --ns-a NS, --ns-b NS        open that device in network namespace NS (name or path)\n"
		"  --delay-ms MS               one-way delay both ways (RTT = 2 x MS); decimals allowed\n"
		"  --delay-ab-ms MS            delay from A to B (overrides --delay-ms)\n"
		"  --delay-ba-ms MS            delay from B to A (overrides --delay-ms)\n"
		"  --queue-mb MB               queue per direction (default 64): packets beyond are dropped\n"
		"  --quantum-us US             while busy, loop at most once per US (default 50; 0: never wait)\n"
		"  --no-offload                one packet per MTU-sized frame (no virtio_net_hdr, no GSO)\n"
		"Prints the counters on SIGUSR1, and on SIGTERM/SIGINT before it exits.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev-a", required_argument, 0, 'a' },
		{ "dev-b", required_argument, 0, 'b' },
		{ "ns-a", required_argument, 0, 'A' },
		{ "ns-b", required_argument, 0, 'B' },
		{ "delay-ms", required_argument, 0, 'd' },
		{ "delay-ab-ms", required_argument, 0, 'x' },
		{ "delay-ba-ms", required_argument, 0, 'y' },
		{ "queue-mb", required_argument, 0, 'q' },
		{ "quantum-us", required_argument, 0, 'u' },
		{ "no-offload", no_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	const char *dev_a = NULL, *dev_b = NULL, *ns_a = NULL, *ns_b = NULL;
	uint64_t delay = 0, delay_ab = UINT64_MAX, delay_ba = UINT64_MAX;
	int have_delay = 0;
	double queue_mb = 64;
	int offload = 1;
	struct dir dirs[2];
	struct sigaction sa = { 0 };
	sigset_t set;
	int opt, i;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;
		uint64_t v;

		switch (opt) {
		case 'a':
			dev_a = optarg;
			break;
		case 'b':
			dev_b = optarg;
			break;
		case 'A':
			ns_a = optarg;
			break;
		case 'B':
			ns_b = optarg;
			break;
		case 'd':
		case 'x':
		case 'y':
			if (parse_ms(optarg, &v) < 0) {
				fprintf(stderr, "delayline: bad delay: %s\n", optarg);
				return 2;
			}
			if (opt == 'd')
				delay = v, have_delay = 1;
			else if (opt == 'x')
				delay_ab = v;
			else
				delay_ba = v;
			break;
		case 'q':
			errno = 0;
			queue_mb = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(queue_mb >= 1 && queue_mb <= 65536)) {
				fprintf(stderr, "delayline: bad --queue-mb (1..65536): %s\n",
					optarg);
				return 2;
			}
			break;
		case 'u':
			if (parse_ms(optarg, &v) < 0 || v > 1000 * NSEC) {
				fprintf(stderr, "delayline: bad --quantum-us: %s\n", optarg);
				return 2;
			}
			quantum = v / 1000; /* parse_ms gives units x 1e6 */
			break;
		case 'n':
			offload = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !dev_a || !dev_b ||
	    (!have_delay && (delay_ab == UINT64_MAX || delay_ba == UINT64_MAX))) {
		usage(stderr);
		return 2;
	}
	if (delay_ab == UINT64_MAX)
		delay_ab = delay;
	if (delay_ba == UINT64_MAX)
		delay_ba = delay;

	/* Handlers, then blocked: main takes them with sigwaitinfo(). (A shell
	 * starts background jobs with SIGINT ignored; a handler undoes that.) */
	sa.sa_handler = SIG_DFL;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (i = 1; i < NSIG; i++)
		if (sigismember(&set, i) == 1)
			sigaction(i, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	vnet_len = offload ? sizeof(struct virtio_net_hdr) : 0;
	memset(dirs, 0, sizeof(dirs));
	dirs[0].from = dirs[1].to = dev_a;
	dirs[0].to = dirs[1].from = dev_b;
	dirs[0].delay = delay_ab;
	dirs[1].delay = delay_ba;
	dirs[0].in = dirs[1].out = tun_open(dev_a, ns_a);
	if (dirs[0].in < 0)
		return 1;
	dirs[0].out = dirs[1].in = tun_open(dev_b, ns_b);
	if (dirs[0].out < 0)
		return 1;
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0) {
		perror("delayline: eventfd");
		return 1;
	}
	for (i = 0; i < 2; i++) {
		struct dir *d = &dirs[i];

		d->cap = ((size_t)(queue_mb * 1048576) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
		if (d->cap < 2 * (HDR + MAX_PKT))
			d->cap = 2 * (HDR + MAX_PKT);
		d->buf = mmap(NULL, d->cap, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (d->buf == MAP_FAILED) {
			perror("delayline: mmap");
			return 1;
		}
		madvise(d->buf, d->cap, MADV_HUGEPAGE);
		d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (d->tfd < 0) {
			perror("delayline: timerfd_create");
			return 1;
		}
	}
	for (i = 0; i < 2; i++) {
		int err = pthread_create(&dirs[i].thr, NULL, run, &dirs[i]);

		if (err) {
			fprintf(stderr, "delayline: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	printf("delayline: ready %s<->%s delay_ab_ms=%.3f delay_ba_ms=%.3f queue_mb=%g quantum_us=%llu "
	       "offload=%s\n",
	       dev_a, dev_b, (double)delay_ab / 1e6, (double)delay_ba / 1e6, queue_mb,
	       (unsigned long long)(quantum / 1000), offload ? "on" : "off");
	fflush(stdout);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0)
			continue;
		if (sig == SIGUSR1) {
			print_counters(&dirs[0], "now");
			print_counters(&dirs[1], "now");
			continue;
		}
		break;
	}
	__atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
	if (write(stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
		perror("delayline: eventfd write");
	for (i = 0; i < 2; i++)
		pthread_join(dirs[i].thr, NULL);
	print_counters(&dirs[0], "exit");
	print_counters(&dirs[1], "exit");
	return __atomic_load_n(&failed, __ATOMIC_RELAXED);
}
