/* The unwinder of a release board build: nothing to unwind, an empty backtrace.
 *
 * cross/build's release binaries use panic = "abort" and no unwind tables, so nothing ever
 * unwinds. std still links an unwinder for one job: printing RUST_BACKTRACE frames from
 * its panic hook (_Unwind_Backtrace, _Unwind_GetIP; on ARM EHABI _Unwind_VRS_Get). gcc's
 * libgcc_eh.a serves those from whole objects that bring the DWARF/EHABI unwinder and the
 * FDE search with them: 22 KiB on aarch64. Without unwind tables that unwinder stops at
 * the first frame anyway, and a stripped binary has no symbols to name frames with.
 *
 * So: a backtrace reports the end of the stack at once. A panic still prints its message
 * and location and aborts; RUST_BACKTRACE=1 adds a "stack backtrace:" line with no frames.
 * cross/musl-link links this instead of libgcc_eh.a when rustc passes it
 * -Wl,--taskwire-no-unwind (cross/build does, unless TASKWIRE_UNWIND_TABLES=1); test
 * builds unwind and keep the real one. */

struct _Unwind_Context;
typedef int (*_Unwind_Trace_Fn)(struct _Unwind_Context *, void *);

enum { URC_END_OF_STACK = 5 };

int _Unwind_Backtrace(_Unwind_Trace_Fn trace, void *arg)
{
    (void)trace;
    (void)arg;
    return URC_END_OF_STACK;
}

#if defined(__arm__)
/* ARM EHABI: _Unwind_GetIP is a macro over this. Never reached (no frame is reported). */
int _Unwind_VRS_Get(struct _Unwind_Context *ctx, int regclass, unsigned regno, int repr,
                    void *value)
{
    (void)ctx;
    (void)regclass;
    (void)regno;
    (void)repr;
    (void)value;
    return 1; /* _UVRSR_NOT_IMPLEMENTED */
}
#else
unsigned long _Unwind_GetIP(struct _Unwind_Context *ctx)
{
    (void)ctx;
    return 0;
}
#endif
