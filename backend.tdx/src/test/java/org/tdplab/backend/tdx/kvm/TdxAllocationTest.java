package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.M1;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * The TDX side of the guest's private paths allocates nothing per page: the S-EPT walk behind a TLB miss and the
 * guest's ACCEPT allocate nothing at all, and a PAGE.AUG only its share of the S-EPT page, PAMT chunk and frame
 * that come with every 512 pages. Measured inside the backend's hooks (the core's own share is its business).
 */
class TdxAllocationTest {
    private static final long SIZE = 16 * M1; // 4096 pages: four times the vCPU's TLB
    private static final com.sun.management.ThreadMXBean MX =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Bytes allocated inside each kind of hook, on the calling thread. */
    static final class Meter implements VmBackend {
        final TdxVm tdx;
        long translate, accept, install, translates, accepts, installs;

        Meter(TdxVm tdx) {
            this.tdx = tdx;
        }

        @Override
        public HookStatus setExternalSpte(SpteChange change) {
            long before = MX.getCurrentThreadAllocatedBytes();
            HookStatus s = tdx.setExternalSpte(change);
            install += MX.getCurrentThreadAllocatedBytes() - before;
            installs++;
            return s;
        }

        @Override
        public HookStatus installExternalSpte(RootKind root, long gfn, int level, boolean leaf, long pfn,
                boolean readable, boolean writable, boolean executable) {
            long before = MX.getCurrentThreadAllocatedBytes();
            HookStatus s = tdx.installExternalSpte(root, gfn, level, leaf, pfn, readable, writable, executable);
            install += MX.getCurrentThreadAllocatedBytes() - before;
            installs++;
            return s;
        }

        @Override
        public long translatePrivate(int vcpu, long gfn, Access access) {
            long before = MX.getCurrentThreadAllocatedBytes();
            long w = tdx.translatePrivate(vcpu, gfn, access);
            translate += MX.getCurrentThreadAllocatedBytes() - before;
            translates++;
            return w;
        }

        @Override
        public long accept(int vcpu, long gfn, int level) {
            long before = MX.getCurrentThreadAllocatedBytes();
            long w = tdx.accept(vcpu, gfn, level);
            accept += MX.getCurrentThreadAllocatedBytes() - before;
            accepts++;
            return w;
        }

        @Override
        public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
            return tdx.freeExternalSpt(root, gfn, level);
        }

        @Override
        public int privateMaxLevel(long gfn, long pfn) {
            return tdx.privateMaxLevel(gfn, pfn);
        }

        @Override
        public VerbResult invoke(String verb, VerbArgs args) {
            return tdx.invoke(verb, args);
        }

        @Override
        public void releaseKey() {
            tdx.releaseKey();
        }

        @Override
        public void teardown() {
            tdx.teardown();
        }

        @Override
        public List<String> check(MmuView view) {
            return tdx.check(view);
        }

        void reset() {
            translate = accept = install = translates = accepts = installs = 0;
        }
    }

    private Meter meter;

    /** A finalized TD on a core with no trace observer, its first 32M private. */
    private Vm td() {
        Vm vm = Standalone.vmManager(new TdxBackend() {
            @Override
            public VmBackend attach(VmContext ctx, org.tdplab.mmu.api.backend.VerbArgs options) {
                meter = new Meter((TdxVm) super.attach(ctx, options));
                return meter;
            }
        }).create("alloc", "tdx", 1, 48, Map.of());
        vm.addMemslot(0, 0, 2 * SIZE, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 2 * SIZE, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        return vm;
    }

    @Test
    void sEptWalksAndAcceptsAllocateNothing() {
        Vm vm = td();
        vm.accept(0, 0, SIZE, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, SIZE, Encoding.PRIVATE, 7);
        vm.access(0, Access.READ, 0, SIZE, Encoding.PRIVATE, 0); // every path once before measuring
        vm.accept(0, 0, SIZE, PageSize.SIZE_4K);
        meter.reset();
        for (int round = 0; round < 3; round++) {
            assertTrue(vm.access(0, Access.READ, 0, SIZE, Encoding.PRIVATE, 0).completed());
            assertTrue(vm.accept(0, 0, SIZE, PageSize.SIZE_4K).completed());
        }
        assertTrue(meter.translates >= 3 * 4096 - 3 * 1024, "the reads missed the TLB: " + meter.translates);
        assertEquals(3 * 4096, meter.accepts);
        // nothing per call (a one-off, such as a lazily initialized JDK structure, may show as a few bytes)
        assertTrue(meter.translate < 1024, meter.translate + " bytes allocated by " + meter.translates + " walks");
        assertTrue(meter.accept < 1024, meter.accept + " bytes allocated by " + meter.accepts + " accepts");
    }

    @Test
    void augmentingAcceptsAllocateOnlyPerSeptPage() {
        Vm vm = td();
        vm.accept(0, 0, SIZE, PageSize.SIZE_4K); // maps grown, caches warm
        meter.reset();
        assertTrue(vm.accept(0, SIZE, SIZE, PageSize.SIZE_4K).completed());
        assertEquals(2 * 4096, meter.accepts, "each page: ACCEPT exits, KVM AUGs, the guest accepts again");
        assertTrue(meter.accept < 4096, meter.accept + " bytes allocated by 8192 accepts: nothing per page");
        // 8 PT pages for 16M: a 4K entry array each, and their share of the PAMT; nothing per page
        assertTrue(meter.install < 8 * 12 * 1024, meter.install + " bytes for " + meter.installs + " installs");
        assertTrue(meter.install / 4096 < 32, (meter.install / 4096) + " bytes per page");
    }

    @Test
    void meterDoesNotHideErrors() {
        Vm vm = td();
        MmuException e = org.junit.jupiter.api.Assertions.assertThrows(MmuException.class,
                () -> vm.invoke("finalize", VerbArgs.none("finalize")));
        assertEquals(org.tdplab.mmu.api.Errno.EINVAL, e.errno());
    }

    /**
     * The check visits every mirror leaf allocating nothing per leaf: a TD with four times the private pages allocates
     * under a byte more per extra leaf in its check (each leaf's decoded {@code SpteChange.Entry} alone would be 24).
     */
    @Test
    void theCheckAllocatesNothingPerLeaf() {
        long small = checkAllocation(SIZE / 4), large = checkAllocation(SIZE);
        long extraLeaves = (SIZE - SIZE / 4) >>> 12;
        assertTrue(large - small < extraLeaves, "a check of 4096 leaves allocated " + large + " bytes, of 1024 "
                + small);
    }

    /** Bytes the TD's check allocates with {@code size} of private memory mapped 4K (its third check: warmed up). */
    private long checkAllocation(long size) {
        Vm vm = td();
        assertTrue(vm.accept(0, 0, size, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0, size, Encoding.PRIVATE, 1).completed());
        long allocated = 0;
        for (int round = 0; round < 3; round++) {
            long before = MX.getCurrentThreadAllocatedBytes();
            assertTrue(vm.check().ok());
            allocated = MX.getCurrentThreadAllocatedBytes() - before;
        }
        vm.destroy();
        return allocated;
    }
}
