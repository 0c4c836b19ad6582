package com.example.tdplab.template;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * The backend's side of one {@code template} VM. It counts every hook the core calls (its {@link #stats()} show
 * them as {@code template.hook.NAME}), records a firmware call {@value #PREPARE} for each guest_memfd folio it
 * prepares, caps private leaves at a level the {@code template.limit} verb sets, and checks that cap as its own
 * invariant. Hooks come from several vCPU threads at once (most under the MMU read lock), so the counters are
 * {@link LongAdder}s and the cap is volatile.
 */
final class TemplateVm implements VmBackend {
    /** The firmware call counted (and priced) for each prepared folio. */
    static final String PREPARE = "TEMPLATE.PREPARE";
    static final String HOOK = "template.hook.";
    static final String LEVEL_STAT = "template.private_max_level";

    private final VmContext vm;
    private final Map<String, LongAdder> hooks = new ConcurrentHashMap<>();
    private volatile int maxLevel;

    TemplateVm(VmContext vm, int maxLevel) {
        this.vm = vm;
        this.maxLevel = maxLevel;
    }

    private void count(String hook) {
        hooks.computeIfAbsent(hook, h -> new LongAdder()).increment();
    }

    // ---- private memory ---------------------------------------------------------------------------------------

    /** A guest_memfd folio of {@code 2^order} pages is handed out for {@code gfn}: the firmware "prepares" it. */
    @Override
    public void gmemPrepare(long pfn, long gfn, int order) {
        count("gmem_prepare");
        vm.firmwareCall(PREPARE, gfn, order / 9 + 1, "OK");
    }

    @Override
    public void gmemInvalidate(long pfn, int order) {
        count("gmem_invalidate");
    }

    /** The fault path asks how large a private leaf may be; the core takes the smaller of this and its limits. */
    @Override
    public int privateMaxLevel(long gfn, long pfn) {
        count("private_max_level");
        return maxLevel;
    }

    // ---- hardware ---------------------------------------------------------------------------------------------

    /** Every guest access the nested walk translated passes here; this backend lets it through unchanged. */
    @Override
    public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
        count("check_access");
        return Walk.translated(pfn, level);
    }

    // ---- guest protocols --------------------------------------------------------------------------------------

    @Override
    public void convertBefore(int vcpu, long gfn, long npages, boolean toPrivate) {
        count("convert_before");
    }

    @Override
    public void convertAfter(int vcpu, long gfn, long npages, boolean toPrivate) {
        count("convert_after");
    }

    // ---- lifecycle --------------------------------------------------------------------------------------------

    @Override
    public void releaseKey() {
        count("release_key");
    }

    @Override
    public void teardown() {
        count("teardown");
    }

    // ---- verbs, stats, invariants -----------------------------------------------------------------------------

    /**
     * {@code template.limit VM level=4K|2M|1G}: private leaves at most at that level from now on. Leaves already
     * larger are zapped (the next access faults them back in at the new size), so the invariant in {@link #check}
     * holds. The language has parsed and checked the level; the result ({@code expect result}) is the previous one.
     */
    @Override
    public VerbResult invoke(String verb, VerbArgs args) {
        if (!verb.equals(TemplateBackend.LIMIT))
            throw new MmuException(Errno.ENOTSUP, "VM type %s has no verb '%s' (%s)", TemplateBackend.TYPE, verb,
                    TemplateBackend.LIMIT);
        int level = args.level("level", 0);
        if (level < 1 || level > 3)
            throw new MmuException(Errno.EINVAL, "%s.%s needs level=4K|2M|1G", TemplateBackend.TYPE, verb);
        count("invoke");
        int before = maxLevel;
        maxLevel = level;
        if (level < before)
            vm.zapGfnRange(0, vm.capabilities().maxGfn());
        return VerbResult.count(before);
    }

    @Override
    public Map<String, Long> stats() {
        Map<String, Long> out = new LinkedHashMap<>();
        hooks.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .forEach(e -> out.put(HOOK + e.getKey(), e.getValue().sum()));
        out.put(LEVEL_STAT, (long) maxLevel);
        return out;
    }

    /** No private leaf larger than the cap: what {@link #privateMaxLevel} promises. One line per violation. */
    @Override
    public List<String> check(MmuView view) {
        List<String> out = new ArrayList<>();
        int cap = maxLevel;
        view.forEachLeaf(RootKind.DIRECT, (gfn, level, pfn, r, w, x) -> { // the fields form: no object per leaf
            if (level > cap && view.isPrivate(gfn))
                out.add(String.format("template: private leaf at gfn 0x%x has level %d, above the cap %d", gfn, level,
                        cap));
        });
        return out;
    }

    // ---- hot swap ---------------------------------------------------------------------------------------------

    /** Plain data only: the format version, the cap and the hook counts. */
    @Override
    public Map<String, Object> snapshot() {
        Map<String, Long> counts = new LinkedHashMap<>();
        hooks.forEach((hook, n) -> counts.put(hook, n.sum()));
        return Map.of(Backend.SNAPSHOT_VERSION, TemplateBackend.SNAPSHOT_FORMAT, "max_level", maxLevel, "hooks",
                counts);
    }

    /** The inverse of {@link #snapshot()}; anything it did not write is refused with EINVAL. */
    static TemplateVm restore(VmContext vm, Map<String, Object> snapshot) {
        if (!(snapshot.get("max_level") instanceof Integer level) || level < 1 || level > 3
                || !(snapshot.get("hooks") instanceof Map<?, ?> counts))
            throw new MmuException(Errno.EINVAL, "VM type %s: snapshot without a max_level 1..3 and hook counts",
                    TemplateBackend.TYPE);
        TemplateVm out = new TemplateVm(vm, level);
        for (Map.Entry<?, ?> e : counts.entrySet()) {
            if (!(e.getKey() instanceof String hook) || !(e.getValue() instanceof Long n))
                throw new MmuException(Errno.EINVAL, "VM type %s: snapshot hook count %s=%s is not a name and a "
                        + "number", TemplateBackend.TYPE, e.getKey(), e.getValue());
            out.hooks.computeIfAbsent(hook, h -> new LongAdder()).add(n);
        }
        return out;
    }
}
