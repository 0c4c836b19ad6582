package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * The mirror seam, with a vendor-neutral recording backend: links and leaf installs arrive under the read lock with
 * the entry frozen, removals under the write lock, table frees only at teardown after the key release and after
 * every leaf below them; a busy backend makes faults retry; an error bugs the VM.
 */
class MirrorSeamTest {
    /** A backend with mirrored page tables that records every hook call. */
    static final class Recorder implements VmBackend {
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        volatile int busyInstalls;
        volatile boolean keyAssigned = true;
        volatile HookStatus installStatus = HookStatus.OK;
        CoreVm vm;

        @Override
        public HookStatus setExternalSpte(SpteChange change) {
            long gfn = change.gfn();
            int level = change.level();
            assertEquals(RootKind.MIRROR, change.root());
            if (change.after().present()) {
                // installs: read lock, entry frozen by the core meanwhile
                assertTrue(vm.mmu.lock.isReadLockedByMe(), "installs run under the read lock");
                assertTrue(change.isInstall());
                if (busyInstalls > 0) {
                    busyInstalls--;
                    return HookStatus.BUSY;
                }
                if (installStatus != HookStatus.OK)
                    return installStatus;
                events.add((change.after().leaf() ? "set " : "link ") + Long.toHexString(gfn) + " L" + level);
                if (ctx != null)
                    runningAtInstall.add(ctx.runningVcpu());
            } else {
                assertTrue(vm.mmu.lock.isWriteLockedByMe(), "removals run under the write lock");
                assertTrue(change.isLeafRemoval());
                events.add("remove " + Long.toHexString(gfn) + " L" + level);
            }
            return HookStatus.OK;
        }

        /** Split answers: BUSY this many times, then {@link #splitStatus}. */
        volatile int busySplits;
        volatile HookStatus splitStatus = HookStatus.OK;

        @Override
        public HookStatus splitExternalSpt(SpteChange change) {
            assertTrue(vm.mmu.lock.isWriteLockedByMe(), "splits run under the write lock");
            assertTrue(change.isSplit());
            assertEquals(RootKind.MIRROR, change.root());
            if (busySplits > 0) {
                busySplits--;
                return HookStatus.busy("entry locked by a vCPU");
            }
            if (splitStatus.isOk()) {
                assertTrue(splitCached >= splitTakes, "the split cache was topped up before the split");
                splitCached -= splitTakes;
                events.add("split " + Long.toHexString(change.gfn()) + " L" + change.level() + " pfn "
                        + Long.toHexString(change.before().pfn()));
            }
            return splitStatus;
        }

        @Override
        public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
            events.add("free " + Long.toHexString(gfn) + " L" + level);
            return keyAssigned ? HookStatus.error(Errno.EBUSY, "key still assigned") : HookStatus.OK;
        }

        @Override
        public void releaseKey() {
            events.add("release key");
            keyAssigned = false;
        }

        final List<String> topUps = Collections.synchronizedList(new ArrayList<>());
        volatile HookStatus topUpStatus = HookStatus.OK;
        /** {@code kvm_get_running_vcpu()} as each install saw it. */
        final List<Integer> runningAtInstall = Collections.synchronizedList(new ArrayList<>());
        VmContext ctx;

        @Override
        public HookStatus topUpExternalCache(int vcpu, int minTables) {
            assertFalse(vm.mmu.lock.isReadLockedByMe() || vm.mmu.lock.isWriteLockedByMe(), "before the MMU lock");
            topUps.add("v" + vcpu + " " + minTables);
            return topUpStatus;
        }

        /** A per-VM split cache: pages each split takes ({@code 0}: the backend asks for none). */
        volatile int splitTakes;
        volatile int splitCached;
        volatile HookStatus splitTopUpStatus = HookStatus.OK;
        /** A topup that adds nothing, as a broken backend's would. */
        volatile boolean splitTopUpAddsNothing;

        @Override
        public boolean needTopUpExternalSplitCache(int level) {
            assertTrue(vm.mmu.lock.isWriteLockedByMe(), "asked under the write lock");
            return splitCached < splitTakes;
        }

        @Override
        public HookStatus topUpExternalSplitCache(int level) {
            assertFalse(vm.mmu.lock.isReadLockedByMe() || vm.mmu.lock.isWriteLockedByMe(), "without the MMU lock");
            events.add("split topup L" + level);
            if (splitTopUpStatus.isOk() && !splitTopUpAddsNothing)
                splitCached = splitTakes;
            return splitTopUpStatus;
        }
    }

    private static final VmCapabilities CAPS = VmCapabilities.ordinary("mirror-test", 48)
            .withPrivateMemory(PrivateSource.SHARED_BIT, 1).withMirroredPt(47).withProtectedState()
            .withMemtypeZap(false);
    private static final long SHARED = 1L << 47;

    private static CoreVm create(Recorder recorder) {
        return create(recorder, CAPS);
    }

    private static CoreVm create(Recorder recorder, VmCapabilities caps) {
        Backend backend = new Backend() {
            @Override
            public String vmType() {
                return CAPS.vmType();
            }

            @Override
            public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
                return caps;
            }

            @Override
            public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
                recorder.ctx = vm;
                return recorder;
            }
        };
        CoreVm vm = new CoreVm(77, "mirror", caps.vmType(), 2, caps, TestVms.MEMORY, backend, Map.of(),
                new CopyOnWriteArrayList<>(), v -> {
                });
        recorder.vm = vm;
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        return vm;
    }

    @Test
    void aPrivateFaultLinksTablesTopDownThenSetsA4kLeafInTheMirrorOnly() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 5).completed());
        assertEquals(List.of("link 0 L4", "link 0 L3", "link 0 L2", "set 3 L1"), r.events);
        assertEquals(1, vm.stats().get("pages_4k"), "private leaves are capped at the backend's level");
        assertTrue(vm.lookup(0x3000, RootKind.MIRROR).orElseThrow().present());
        assertFalse(vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().present());
        assertEquals(5, vm.access(1, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        assertClean(vm);
    }

    @Test
    void sharedAccessesUseTheDirectRootAtTheAliasedGfnWithoutHooks() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        assertTrue(vm.access(0, Access.WRITE, M2 | SHARED, 0x1000, Encoding.CURRENT, 9).completed());
        assertTrue(r.events.isEmpty());
        assertTrue(vm.lookup(M2, RootKind.DIRECT).orElseThrow().present());
        assertEquals(9, vm.access(0, Access.READ, M2, 0x1000, Encoding.SHARED, 0).value());
        assertClean(vm);
    }

    @Test
    void convertingToSharedRemovesMirrorLeavesUnderTheWriteLockAndFreesNoTable() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        vm.access(0, Access.WRITE, 0, 0x4000, Encoding.CURRENT, 1);
        r.events.clear();
        vm.convert(0, false, 0, 0x2000);
        assertEquals(List.of("remove 0 L1", "remove 1 L1"), r.events);
        assertEquals(2, vm.stats().get("pages_4k"));
        assertClean(vm);
    }

    @Test
    void aBusyBackendMakesTheFaultRetryAndNothingChangesMeanwhile() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        r.busyInstalls = 5;
        assertTrue(vm.access(0, Access.WRITE, 0x1000, 0x1000, Encoding.CURRENT, 3).completed());
        assertTrue(vm.stats().get("pf_retry") >= 5, "each BUSY is a RET_PF_RETRY");
        assertEquals(List.of("link 0 L4", "link 0 L3", "link 0 L2", "set 1 L1"), r.events);
        assertClean(vm);
    }

    @Test
    void everyFaultTopsUpTheFaultingVcpusCachesBeforeTheLockAndItsInstallsSeeItRunning() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        assertTrue(vm.access(1, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 5).completed());
        assertEquals(List.of("v1 5"), r.topUps, "mmu_topup_memory_caches: PT64_ROOT_MAX_LEVEL tables");
        assertEquals(List.of(1, 1, 1, 1), r.runningAtInstall, "kvm_get_running_vcpu() in the install hooks");
        assertEquals(-1, r.ctx.runningVcpu(), "no vCPU ioctl on this thread now");
        assertTrue(vm.access(0, Access.WRITE, M2 | SHARED, 0x1000, Encoding.CURRENT, 9).completed());
        assertEquals(List.of("v1 5", "v0 5"), r.topUps, "shared faults of a mirrored VM top up too");
        assertClean(vm);
    }

    @Test
    void aVmWithoutMirroredTablesIsNotAskedToTopUp() {
        Recorder r = new Recorder();
        CoreVm vm = create(r,
                VmCapabilities.ordinary("mirror-test", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 2));
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 9).completed());
        assertTrue(vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().present());
        assertTrue(r.topUps.isEmpty(), r.topUps::toString);
    }

    @Test
    void aTopUpThatFailsFailsTheFaultWithItsErrnoAndChangesNothing() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        r.topUpStatus = HookStatus.error(Errno.ENOMEM, "no page left for vCPU %d's cache", 0);
        MmuException e = assertThrows(MmuException.class,
                () -> vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 5));
        assertEquals(Errno.ENOMEM, e.errno());
        assertEquals("ENOMEM: no page left for vCPU 0's cache", e.getMessage());
        assertTrue(r.events.isEmpty(), r.events::toString);
        assertFalse(vm.bugged());
        assertFalse(vm.lookup(0x3000, RootKind.MIRROR).orElseThrow().present());
        r.topUpStatus = HookStatus.OK;
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 5).completed());
        assertClean(vm);
    }

    @Test
    void aBackendErrorBugsTheVmAndLaterOperationsFailWithEio() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        r.installStatus = HookStatus.error(Errno.ENOSPC, "no room for gfn 0x%x", 0);
        assertEquals("vm_dead", vm.access(0, Access.WRITE, 0, 0x1000, Encoding.CURRENT, 1).exit().name());
        assertTrue(vm.bugged());
        assertTrue(vm.bugReason().orElseThrow().contains("ENOSPC: no room for gfn 0x0"), vm.bugReason().orElseThrow());
        assertEquals(Errno.EIO, assertThrows(MmuException.class, () -> vm.setMemoryAttributes(0, 0x1000, false))
                .errno());
        assertClean(vm);
    }

    @Test
    void aMemoryTypeZapBugsAVmWhoseBackendCannotTakeIt() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        vm.access(0, Access.WRITE, 0, 0x1000, Encoding.CURRENT, 1);
        MmuException e = assertThrows(MmuException.class, () -> vm.zapGfnRange(0, M2));
        assertEquals(Errno.EIO, e.errno());
        assertTrue(vm.bugged());
        assertTrue(vm.lookup(0, RootKind.MIRROR).orElseThrow().present(), "nothing was zapped");
    }

    @Test
    void teardownRemovesLeavesThenReleasesTheKeyThenFreesTablesBottomUp() {
        Recorder r = new Recorder();
        CoreVm vm = create(r);
        vm.access(0, Access.WRITE, 0, 0x2000, Encoding.CURRENT, 1);
        vm.access(1, Access.WRITE, M2 | SHARED, 0x1000, Encoding.CURRENT, 1);
        r.events.clear();
        vm.destroy();
        assertEquals(List.of("remove 0 L1", "remove 1 L1", "release key", "free 0 L1", "free 0 L2", "free 0 L3"),
                r.events);
        assertFalse(vm.bugged());
    }

    // ---- split_external_spt ---------------------------------------------------------------------------------

    /** The same seam with 2M private leaves allowed. */
    private static final VmCapabilities HUGE = VmCapabilities.ordinary("mirror-test", 48)
            .withPrivateMemory(PrivateSource.SHARED_BIT, 2).withMirroredPt(47).withProtectedState()
            .withMemtypeZap(false);

    private static CoreVm hugeMapped(Recorder r) {
        CoreVm vm = create(r, HUGE);
        assertTrue(vm.access(0, Access.WRITE, 0, M2, Encoding.CURRENT, 7).completed());
        assertEquals(List.of("link 0 L4", "link 0 L3", "set 0 L2"), r.events);
        r.events.clear();
        return vm;
    }

    @Test
    void aPartialConversionSplitsTheHugeMirrorLeafUnderTheWriteLockAndZapsOnlyThePage() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        long pfn = vm.lookup(0, RootKind.MIRROR).orElseThrow().pfn();
        vm.convert(0, false, 0x3000, 0x1000);
        assertEquals(List.of("split 0 L2 pfn " + Long.toHexString(pfn), "remove 3 L1"), r.events);
        assertEquals(1, vm.stats().get("lpage_splits"));
        assertEquals(0, vm.stats().get("pages_2m"));
        assertEquals(511, vm.stats().get("pages_4k"));
        assertEquals(1, vm.lookup(0x4000, RootKind.MIRROR).orElseThrow().level(), "the rest stays mapped, at 4K");
        assertEquals(7, vm.access(1, Access.READ, 0x4000, 0x1000, Encoding.CURRENT, 0).value(), "data kept");
        assertFalse(vm.bugged());
        assertClean(vm);
    }

    @Test
    void aFaultUnderASplitMirrorTableMapsSmallInsteadOfMergingTheTable() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        vm.convert(0, false, 0x3000, 0x1000);
        vm.convert(0, true, 0x3000, 0x1000);
        r.events.clear();
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 8).completed());
        assertEquals(List.of("set 3 L1"), r.events, "the table at 2M is kept: the goal steps down to 4K");
        assertFalse(vm.bugged());
        assertClean(vm);
    }

    @Test
    void aBusySplitIsRetriedUnderTheLockAndAFailedOneBugsTheVmNamingTheBackendsReason() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        r.busySplits = 3;
        vm.convert(0, false, 0x3000, 0x1000);
        assertFalse(vm.bugged());
        assertEquals(1, vm.stats().get("lpage_splits"));

        Recorder e = new Recorder();
        CoreVm bad = hugeMapped(e);
        e.splitStatus = HookStatus.error(Errno.ENOMEM, "no page for the new table");
        bad.setMemoryAttributes(0x3000, 0x1000, false);
        assertTrue(bad.bugged());
        String reason = bad.bugReason().orElseThrow();
        assertTrue(reason.contains("split_external_spt") && reason.contains("ENOMEM: no page for the new table"),
                reason);
    }

    @Test
    void aBackendSplitsOnRequestAndEveryTranslationStays() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        assertTrue(vm.context().splitCrossBoundaryLeafs(0x10, 1));
        assertEquals(1, r.events.size());
        assertEquals(1, vm.lookup(0x10000, RootKind.MIRROR).orElseThrow().level());
        assertTrue(vm.context().splitCrossBoundaryLeafs(0, 512), "aligned: nothing to split");
        assertEquals(1, r.events.size());
        assertEquals(7, vm.access(0, Access.READ, 0, M2, Encoding.CURRENT, 0).value());
        assertClean(vm);
    }

    @Test
    void aSplitRequestWhoseRangeEndsInsideAHugeLeafSplitsIt() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        assertTrue(vm.context().splitCrossBoundaryLeafs(0, 0x10), "its start is aligned, its end is not");
        assertEquals(1, vm.lookup(0xf000, RootKind.MIRROR).orElseThrow().level());
        assertEquals(7, vm.access(0, Access.READ, 0xf000, 0x2000, Encoding.CURRENT, 0).value());
        assertClean(vm);
    }

    @Test
    void aSplitCacheIsToppedUpWithoutTheLockBeforeEachSplitThatNeedsIt() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        r.splitTakes = 4;
        long pfn = vm.lookup(0, RootKind.MIRROR).orElseThrow().pfn();
        vm.convert(0, false, 0x3000, 0x1000);
        assertEquals(List.of("split topup L2", "split 0 L2 pfn " + Long.toHexString(pfn), "remove 3 L1"), r.events,
                "need_topup under the write lock, the topup without it, then the split under it again");
        assertEquals(0, r.splitCached);
        assertFalse(vm.bugged());
        assertClean(vm);

        Recorder full = new Recorder();
        CoreVm ready = hugeMapped(full);
        full.splitTakes = 4;
        full.splitCached = 4;
        ready.convert(0, false, 0x3000, 0x1000);
        assertFalse(full.events.contains("split topup L2"), "a cache that holds enough is not topped up");
        assertEquals(0, full.splitCached);
    }

    @Test
    void aSplitCacheTopUpThatFailsBugsTheVmNamingItsReasonAndSplitsNothing() {
        Recorder r = new Recorder();
        CoreVm vm = hugeMapped(r);
        r.splitTakes = 4;
        r.splitTopUpStatus = HookStatus.error(Errno.ENOMEM, "no host page for the split cache");
        assertFalse(vm.context().splitCrossBoundaryLeafs(0x10, 1));
        assertTrue(vm.bugged());
        String reason = vm.bugReason().orElseThrow();
        assertTrue(reason.contains("topup_external_per_vm_split_cache") && reason.contains("level 2")
                && reason.contains("ENOMEM: no host page for the split cache"), reason);
        assertEquals(2, vm.lookup(0x10000, RootKind.MIRROR).orElseThrow().level(), "nothing split");

        Recorder broken = new Recorder();
        CoreVm looping = hugeMapped(broken);
        broken.splitTakes = 4;
        broken.splitTopUpAddsNothing = true;
        assertFalse(looping.context().splitCrossBoundaryLeafs(0x10, 1));
        assertTrue(looping.bugReason().orElseThrow().contains("still short after"), looping.bugReason()::get);
        assertEquals(org.tdplab.mmu.tdp.mmu.HugePages.MAX_TOP_UPS + 1,
                broken.events.stream().filter("split topup L2"::equals).count());
    }
}
