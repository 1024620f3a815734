/*
 * c-listener: a plain C, getdelays-style exit-record listener, the baseline that
 * exitbench (tests/src/bin/exitbench.rs, sink `c`) measures taskwire against.
 *
 * usage: c-listener [--rcvbuf BYTES]
 *
 * What the kernel's tools/accounting/getdelays does with `-m CPUS -l`, written from
 * scratch: resolve the TASKSTATS generic netlink family through nlctrl, register for
 * the exit records of every possible CPU (/sys/devices/system/cpu/possible), then one
 * blocking recv() per datagram, walk its attributes by length, and printf() one line
 * per taskstats struct (pid=, or group= for a thread group's total; tgid, comm, exit
 * code and getdelays' -d totals: CPU, block I/O, swap-in, reclaim), stdout buffered by
 * stdio. No batching, no pause: the cost of this loop is the point of the comparison.
 *
 * Differences from getdelays, all for the benchmark: the receive buffer is set with
 * SO_RCVBUFFORCE (SO_RCVBUF if refused) to 16 MiB by default, taskwire's default on a
 * machine with 1 GiB of RAM or more, so that both lose nothing for the same reason;
 * ENOBUFS is counted, not just reported; SIGINT/SIGTERM stop the loop (a 200 ms
 * SO_RCVTIMEO lets an idle loop see the flag), after which it deregisters and prints
 * on stderr a summary in the form of taskwire listen's:
 *   c-listener: N records (P per-task, T per-thread-group), L loss events; stopped by SIGTERM, deregistered
 * Ready line on stderr, printed once registration is acknowledged:
 *   c-listener: listening for exit records on CPUs LIST, receive buffer B bytes
 *
 * Build: cc -O2 -Wall -o c-listener bench/c-listener.c   (bench/exit-storm does this)
 * Needs CAP_NET_ADMIN, as taskwire does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>

#define DEFAULT_RCVBUF (16 << 20)
/* One exit can carry AGGR_PID and AGGR_TGID (two structs of ~560 bytes plus headers). */
#define BUF_LEN 16384

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static int sock = -1;
static uint32_t seq;

static void die(const char *what)
{
	fprintf(stderr, "c-listener: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Appends attribute (type, data, len) at *off in buf; returns the new offset. */
static size_t put_attr(char *buf, size_t off, uint16_t type, const void *data, size_t len)
{
	struct nlattr *na = (struct nlattr *)(buf + off);
	na->nla_type = type;
	na->nla_len = NLA_HDRLEN + len;
	memcpy(buf + off + NLA_HDRLEN, data, len);
	return off + NLA_ALIGN(na->nla_len);
}

/* Sends one generic netlink request with a single attribute, asking for an ack. */
static void send_cmd(uint16_t family, uint8_t cmd, uint16_t attr, const void *data, size_t len)
{
	char buf[512] __attribute__((aligned(4)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct genlmsghdr *gh = (struct genlmsghdr *)(buf + NLMSG_HDRLEN);
	size_t off;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(buf, 0, sizeof(buf));
	if (NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + NLA_ALIGN(len) > sizeof(buf)) {
		errno = EMSGSIZE;
		die("request");
	}
	gh->cmd = cmd;
	gh->version = 1;
	off = put_attr(buf, NLMSG_HDRLEN + GENL_HDRLEN, attr, data, len);
	nh->nlmsg_len = off;
	nh->nlmsg_type = family;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = ++seq;
	nh->nlmsg_pid = 0;
	for (;;) {
		ssize_t r = sendto(sock, buf, off, 0, (struct sockaddr *)&kernel, sizeof(kernel));
		if (r == (ssize_t)off)
			return;
		if (r < 0 && errno == EINTR)
			continue;
		die("sendto");
	}
}

static unsigned long long records, per_task, per_tgid, enobufs;

/* Reads a field of a taskstats struct of `len` bytes, 0 if the struct is too short. */
#define FIELD(ts, len, f) \
	((len) >= offsetof(struct taskstats, f) + sizeof((ts)->f) ? (ts)->f : 0)

static void print_stats(const struct nlattr *na, uint32_t id, int tgid_record)
{
	const struct taskstats *ts = (const struct taskstats *)((const char *)na + NLA_HDRLEN);
	size_t len = na->nla_len - NLA_HDRLEN;
	char comm[TS_COMM_LEN + 1];
	size_t i;

	records++;
	if (tgid_record)
		per_tgid++;
	else
		per_task++;
	/* comm as one token: stop at NUL, anything unprintable or a space becomes '?'. */
	for (i = 0; i < TS_COMM_LEN && len >= offsetof(struct taskstats, ac_comm) + i + 1; i++) {
		unsigned char c = (unsigned char)ts->ac_comm[i];
		if (c == 0)
			break;
		comm[i] = (c <= ' ' || c >= 0x7f) ? '?' : (char)c;
	}
	comm[i] = 0;
	printf("%s=%u tgid=%u comm=%s exit=%u cpu_count=%llu cpu_real_ns=%llu "
	       "cpu_virtual_ns=%llu cpu_delay_ns=%llu io_count=%llu io_delay_ns=%llu "
	       "swap_count=%llu swap_delay_ns=%llu reclaim_count=%llu reclaim_delay_ns=%llu\n",
	       tgid_record ? "group" : "pid", id, (unsigned)FIELD(ts, len, ac_tgid), comm,
	       (unsigned)FIELD(ts, len, ac_exitcode),
	       (unsigned long long)FIELD(ts, len, cpu_count),
	       (unsigned long long)FIELD(ts, len, cpu_run_real_total),
	       (unsigned long long)FIELD(ts, len, cpu_run_virtual_total),
	       (unsigned long long)FIELD(ts, len, cpu_delay_total),
	       (unsigned long long)FIELD(ts, len, blkio_count),
	       (unsigned long long)FIELD(ts, len, blkio_delay_total),
	       (unsigned long long)FIELD(ts, len, swapin_count),
	       (unsigned long long)FIELD(ts, len, swapin_delay_total),
	       (unsigned long long)FIELD(ts, len, freepages_count),
	       (unsigned long long)FIELD(ts, len, freepages_delay_total));
}

/* Walks one AGGR_PID / AGGR_TGID nest: a PID or TGID attribute, then STATS. */
static void walk_aggr(const struct nlattr *nest, int tgid_record)
{
	const char *p = (const char *)nest + NLA_HDRLEN;
	const char *end = (const char *)nest + nest->nla_len;
	uint32_t id = 0;

	while (p + NLA_HDRLEN <= end) {
		const struct nlattr *na = (const struct nlattr *)p;
		if (na->nla_len < NLA_HDRLEN || p + na->nla_len > end)
			break;
		switch (na->nla_type & NLA_TYPE_MASK) {
		case TASKSTATS_TYPE_PID:
		case TASKSTATS_TYPE_TGID:
			if (na->nla_len >= NLA_HDRLEN + sizeof(uint32_t))
				memcpy(&id, p + NLA_HDRLEN, sizeof(id));
			break;
		case TASKSTATS_TYPE_STATS:
			print_stats(na, id, tgid_record);
			break;
		default:
			break;
		}
		p += NLA_ALIGN(na->nla_len);
	}
}

/*
 * Handles one datagram. Returns 0, or for an NLMSG_ERROR the (negative) error or 0 for
 * an ack, with *acked set to its sequence number.
 */
static int handle(const char *buf, int n, uint16_t family, uint32_t *acked)
{
	const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;
	int rc = 0;

	for (; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);
			*acked = e->msg.nlmsg_seq;
			rc = e->error;
			continue;
		}
		if (nh->nlmsg_type != family)
			continue;
		const char *p = (const char *)NLMSG_DATA(nh) + GENL_HDRLEN;
		const char *end = (const char *)nh + nh->nlmsg_len;
		while (p + NLA_HDRLEN <= end) {
			const struct nlattr *na = (const struct nlattr *)p;
			if (na->nla_len < NLA_HDRLEN || p + na->nla_len > end)
				break;
			switch (na->nla_type & NLA_TYPE_MASK) {
			case TASKSTATS_TYPE_AGGR_PID:
				walk_aggr(na, 0);
				break;
			case TASKSTATS_TYPE_AGGR_TGID:
				walk_aggr(na, 1);
				break;
			default:
				break;
			}
			p += NLA_ALIGN(na->nla_len);
		}
	}
	return rc;
}

static char buf[BUF_LEN] __attribute__((aligned(8)));

/* Receives until the ack (or error) of request `want`; exit records on the way count. */
static int wait_ack(uint16_t family, uint32_t want)
{
	for (;;) {
		uint32_t acked = 0;
		ssize_t n = recv(sock, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ENOBUFS) {
				enobufs++;
				continue;
			}
			die("recv");
		}
		int rc = handle(buf, n, family, &acked);
		if (acked == want)
			return rc;
	}
}

/* CTRL_CMD_GETFAMILY for "TASKSTATS": the family id. */
static uint16_t resolve_family(void)
{
	uint32_t acked = 0;
	send_cmd(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME,
		 sizeof(TASKSTATS_GENL_NAME));
	for (;;) {
		ssize_t n = recv(sock, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recv (nlctrl)");
		}
		const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;
		for (int left = (int)n; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);
				acked = e->msg.nlmsg_seq;
				if (e->error) {
					errno = -e->error;
					die("resolving the TASKSTATS family");
				}
				continue;
			}
			if (nh->nlmsg_type != GENL_ID_CTRL)
				continue;
			const char *p = (const char *)NLMSG_DATA(nh) + GENL_HDRLEN;
			const char *end = (const char *)nh + nh->nlmsg_len;
			while (p + NLA_HDRLEN <= end) {
				const struct nlattr *na = (const struct nlattr *)p;
				if (na->nla_len < NLA_HDRLEN || p + na->nla_len > end)
					break;
				if ((na->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID &&
				    na->nla_len >= NLA_HDRLEN + sizeof(uint16_t)) {
					uint16_t id;
					memcpy(&id, p + NLA_HDRLEN, sizeof(id));
					/* The ack follows in its own datagram; read it off. */
					if (acked != seq)
						(void)recv(sock, buf, sizeof(buf), 0);
					return id;
				}
				p += NLA_ALIGN(na->nla_len);
			}
		}
		if (acked == seq) {
			fprintf(stderr, "c-listener: nlctrl gave no id for TASKSTATS\n");
			exit(1);
		}
	}
}

static void read_possible(char *out, size_t len)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	if (!f || !fgets(out, len, f))
		die("/sys/devices/system/cpu/possible");
	fclose(f);
	out[strcspn(out, "\n")] = 0;
}

int main(int argc, char **argv)
{
	int rcvbuf = DEFAULT_RCVBUF, granted = 0;
	socklen_t glen = sizeof(granted);
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct timeval tick = { .tv_sec = 0, .tv_usec = 200000 };
	struct sigaction sa;
	char cpus[256];
	uint16_t family;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--rcvbuf") == 0) {
		rcvbuf = atoi(argv[2]);
	} else if (argc != 1) {
		fprintf(stderr, "usage: c-listener [--rcvbuf BYTES]\n");
		return 2;
	}

	/* No SA_RESTART: a signal interrupts the blocking recv(). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (sock < 0)
		die("socket");
	if (bind(sock, (struct sockaddr *)&local, sizeof(local)) < 0)
		die("bind");
	if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		die("SO_RCVBUF");
	getsockopt(sock, SOL_SOCKET, SO_RCVBUF, &granted, &glen);
	if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) < 0)
		die("SO_RCVTIMEO");

	family = resolve_family();
	read_possible(cpus, sizeof(cpus));
	send_cmd(family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, cpus,
		 strlen(cpus) + 1);
	rc = wait_ack(family, seq);
	if (rc) {
		errno = -rc;
		die("registering");
	}
	fprintf(stderr, "c-listener: listening for exit records on CPUs %s, receive buffer %d bytes\n",
		cpus, granted);

	/* getdelays' -l loop: one blocking recv() per datagram, one printf per record. */
	while (!stop_sig) {
		uint32_t acked = 0;
		ssize_t n = recv(sock, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ENOBUFS) {
				enobufs++;
				continue;
			}
			die("recv");
		}
		handle(buf, n, family, &acked);
	}

	send_cmd(family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, cpus,
		 strlen(cpus) + 1);
	/* Records still queued before the ack are printed too: they were received. */
	rc = wait_ack(family, seq);
	if (fflush(stdout) != 0)
		die("stdout");
	fprintf(stderr,
		"c-listener: %llu records (%llu per-task, %llu per-thread-group), %llu loss events; "
		"stopped by %s, %s\n",
		records, per_task, per_tgid, enobufs, stop_sig == SIGINT ? "SIGINT" : "SIGTERM",
		rc ? "deregistering failed" : "deregistered");
	return rc ? 1 : 0;
}
