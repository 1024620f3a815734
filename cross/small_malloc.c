/* A small malloc for the static board builds, in place of musl's mallocng (linked by
 * cross/musl-link when rustc passes -Wl,--taskwire-small-malloc; cross/README.md, "The
 * allocator").
 *
 * Why: mallocng is about 8.5 KiB of code on aarch64, built to return memory to the
 * system piece by piece and to harden a heap against misuse. The agent's allocations are
 * few and mostly made at start (a queue, buffers, strings); a size-class free list does
 * that job in a fraction of the code. Every name a program or libc calls is defined here
 * (malloc, free, calloc, realloc, aligned_alloc, posix_memalign, memalign,
 * malloc_usable_size), so no member of mallocng is linked: if one were, its strong
 * `free` would clash with this one and the link would fail, not the program.
 *
 * Layout: each block is preceded by a 16-byte header (keeping 16-byte alignment) of two
 * words. A small block (at most 32 KiB with its header) comes from one of the size classes
 * below, carved from 1 MiB reservations (pages the kernel only backs once touched) and
 * kept on its class's free list when freed: memory is reused, never returned, so the
 * footprint is the high-water mark of each class. Header: {class, 0}. A large block is a
 * mapping of its own, unmapped when freed. Header: {mapping length, offset of the block
 * from the mapping's start}. One lock (a spin lock that yields) guards the lists: the
 * agent has at most three threads and none allocates on a hot path.
 *
 * Compile with -fno-builtin (cross/musl-link does), as musl compiles itself: otherwise gcc
 * may turn calloc's malloc-then-memset into a call to calloc, itself.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HDR 16
#define NCLASS 21            /* 32, 48, 64, 96, ... 24576, 32768 bytes with the header */
#define SMALL_MAX 32768
#define RESERVE (1 << 20)
#define PAGE 4096

static void *free_list[NCLASS];
static char *bump;
static size_t bump_left;
static int lock_word;

static void lock(void)
{
    while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void unlock(void)
{
    __atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
}

static size_t class_size(unsigned c)
{
    size_t base = (size_t)32 << (c / 2);
    return c & 1 ? base + base / 2 : base;
}

static size_t *header(void *p)
{
    return (size_t *)((char *)p - HDR);
}

/* A mapping of at least `n` bytes with a block aligned to `align` (a power of two of at
 * least 16) and its header inside it. */
static void *large(size_t n, size_t align)
{
    size_t len;
    if (n > SIZE_MAX / 2 - align - HDR - PAGE) {
        errno = ENOMEM;
        return 0;
    }
    len = (n + HDR + align - 16 + PAGE - 1) & ~(size_t)(PAGE - 1);
    char *base = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        errno = ENOMEM;
        return 0;
    }
    char *p = (char *)(((uintptr_t)base + HDR + align - 1) & ~(uintptr_t)(align - 1));
    header(p)[0] = len;
    header(p)[1] = (size_t)(p - base);
    return p;
}

void *malloc(size_t n)
{
    unsigned c = 0;
    if (n > SMALL_MAX - HDR)
        return large(n, 16);
    while (class_size(c) < n + HDR)
        c++;
    size_t sz = class_size(c);
    char *b;
    lock();
    if (free_list[c]) {
        b = free_list[c];
        free_list[c] = *(void **)b;
    } else {
        if (bump_left < sz) {
            /* What is left of the old reservation is never touched: no memory lost. */
            char *r = mmap(0, RESERVE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
            if (r == MAP_FAILED) {
                unlock();
                errno = ENOMEM;
                return 0;
            }
            bump = r;
            bump_left = RESERVE;
        }
        b = bump + HDR;
        bump += sz;
        bump_left -= sz;
    }
    unlock();
    header(b)[0] = c;
    header(b)[1] = 0;
    return b;
}

void free(void *p)
{
    if (!p)
        return;
    size_t *h = header(p);
    if (h[0] >= NCLASS) {
        munmap((char *)p - h[1], h[0]);
        return;
    }
    lock();
    *(void **)p = free_list[h[0]];
    free_list[h[0]] = p;
    unlock();
}

size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    size_t *h = header(p);
    return h[0] >= NCLASS ? h[0] - h[1] : class_size(h[0]) - HDR;
}

void *calloc(size_t m, size_t n)
{
    if (n && m > SIZE_MAX / n) {
        errno = ENOMEM;
        return 0;
    }
    n *= m;
    void *p = malloc(n);
    /* A fresh mapping is zero already. */
    if (p && n <= SMALL_MAX - HDR)
        memset(p, 0, n);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    size_t have = malloc_usable_size(p);
    /* Shrinking keeps the block: the agent shrinks rarely and a copy would cost more. */
    if (n <= have)
        return p;
    void *q = malloc(n);
    if (q) {
        memcpy(q, p, have);
        free(p);
    }
    return q;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!align || align & (align - 1)) {
        errno = EINVAL;
        return 0;
    }
    return align <= 16 ? malloc(n) : large(n, align);
}

void *memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || align & (align - 1))
        return EINVAL;
    void *p = aligned_alloc(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
