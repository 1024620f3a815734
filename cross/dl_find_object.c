/* _dl_find_object for static musl links that use gcc's libgcc_eh.a as libunwind.
 *
 * Debian's cross gcc (12+) builds libgcc_eh against glibc >= 2.35, so its _Unwind_Find_FDE
 * calls glibc's _dl_find_object, which musl lacks. This provides it on top of musl's
 * dl_iterate_phdr, filling only what libgcc reads (map start and the PT_GNU_EH_FRAME
 * address). ARM EHABI (armv7) does not use it; aarch64 and x86_64 do. cross/musl-link
 * compiles it into the link only when std is built from source (no rustup libunwind.a). */
#include <link.h>
#include <stdint.h>

/* glibc's layout (dlfcn.h, 2.35): what libgcc_eh was compiled against. */
struct dl_find_object {
    unsigned long long dlfo_flags;
    void *dlfo_map_start;
    void *dlfo_map_end;
    void *dlfo_link_map;
    void *dlfo_eh_frame;
    unsigned long long dlfo_reserved[7];
};

struct query {
    uintptr_t pc;
    struct dl_find_object *out;
    int found;
};

static int visit(struct dl_phdr_info *info, size_t size, void *data)
{
    struct query *q = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0, eh = 0;
    int hit = 0;
    (void)size;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t a = info->dlpi_addr + p->p_vaddr;
        if (p->p_type == PT_LOAD) {
            if (q->pc >= a && q->pc - a < p->p_memsz)
                hit = 1;
            if (a < lo)
                lo = a;
            if (a + p->p_memsz > hi)
                hi = a + p->p_memsz;
        } else if (p->p_type == PT_GNU_EH_FRAME) {
            eh = a;
        }
    }
    if (!hit)
        return 0;
    q->out->dlfo_flags = 0;
    q->out->dlfo_map_start = (void *)lo;
    q->out->dlfo_map_end = (void *)hi;
    q->out->dlfo_link_map = 0;
    q->out->dlfo_eh_frame = (void *)eh;
    q->found = 1;
    return 1;
}

int _dl_find_object(void *pc, struct dl_find_object *result)
{
    struct query q = { (uintptr_t)pc, result, 0 };
    dl_iterate_phdr(visit, &q);
    return q.found ? 0 : -1;
}
