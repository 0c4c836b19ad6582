package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * Random operation sequences from several threads at once: vCPU threads touch memory while a host thread zaps,
 * converts, punches, ages, unmaps and churns a memslot; after every round the full invariant checker (and the
 * data oracle) must hold.
 *
 * <p>The seed ({@code -Dtdplab.seed=N}, printed) fixes which operations each thread runs, not how the threads
 * interleave: that is the operating system's, so a seed that failed once may pass when run again. Interleavings
 * that replay exactly are the Fray tests' in {@code concurrency-tests}; this test is the cheap, broad net.
 * {@code -Dtdplab.seeds=FROM:COUNT} runs a campaign of seeds (and {@code -Dtdplab.repeat=R} each R times) and
 * reports every failing seed at the end.
 */
class RandomizedConcurrencyTest {
    private static final int VCPUS = 3, ROUNDS = 150, GUEST_OPS_PER_ROUND = 12;
    /** Slot 0 spans [0, 8M), slot 1 (churned) [8M, 12M). Each vCPU owns every third 64K block for its writes. */
    private static final long SLOT0 = 4 * M2, SLOT1_BASE = 4 * M2, SLOT1 = 2 * M2, BLOCK = 0x10000;

    @Test
    void ordinaryVm() throws Exception {
        run(TestVms.ordinary(), false);
    }

    @Test
    void softwareProtectedVm() throws Exception {
        run(TestVms.swProtected(), true);
    }

    @Test
    void ordinaryVmWithAccessTrackingNxAndDirtyLogging() throws Exception {
        run(TestVms.ordinary().withAdDisabled(true).withNxHugePages(true, 2), false);
    }

    @Test
    void ordinaryVmWithDirtyBitLoggingAndNx() throws Exception {
        run(TestVms.ordinary().withDirtyLogByDirtyBit(true).withNxHugePages(true, 1), false);
    }

    /**
     * The seeds to run: {@code -Dtdplab.seed=N} one seed, {@code -Dtdplab.seeds=FROM:COUNT} a campaign of COUNT seeds
     * (each run {@code tdplab.repeat} times, default 1), else one fresh seed.
     */
    static long[] seeds() {
        String range = System.getProperty("tdplab.seeds");
        int repeat = Integer.getInteger("tdplab.repeat", 1);
        long from;
        int count;
        if (range != null) {
            String[] p = range.split(":");
            from = Long.parseLong(p[0]);
            count = Integer.parseInt(p[1]);
        } else {
            from = Long.getLong("tdplab.seed", System.nanoTime());
            count = 1;
        }
        long[] out = new long[count * repeat];
        for (int i = 0; i < out.length; i++)
            out[i] = from + i / repeat;
        return out;
    }

    private void run(VmCapabilities caps, boolean gmem) throws Exception {
        long[] seeds = seeds();
        List<String> failed = new ArrayList<>();
        for (long seed : seeds) {
            try {
                run(caps, gmem, seed);
            } catch (AssertionError e) {
                String first = e.getMessage() + (e.getCause() != null ? " (" + e.getCause() + ")" : "");
                System.out.printf("RandomizedConcurrencyTest %s FAILED %s%n", caps.vmType(), first);
                failed.add(first);
                if (seeds.length == 1)
                    throw e;
            }
        }
        System.out.printf("RandomizedConcurrencyTest %s: %d runs, %d failed%n", caps.vmType(), seeds.length,
                failed.size());
        if (!failed.isEmpty())
            throw new AssertionError(failed.size() + " of " + seeds.length + " runs failed:\n  "
                    + String.join("\n  ", failed));
    }

    private void run(VmCapabilities caps, boolean gmem, long seed) throws Exception {
        boolean features = caps.adDisabled() || caps.nxHugePages() || caps.dirtyLogByDirtyBit();
        System.out.printf("RandomizedConcurrencyTest %s seed=%d%n", caps.vmType(), seed);
        CoreVm vm = TestVms.create(caps, VCPUS);
        SlotFlag[] flags = gmem ? new SlotFlag[] { SlotFlag.GMEM } : new SlotFlag[0];
        slot(vm, 0, 0, SLOT0, PageSize.SIZE_2M, flags);
        slot(vm, 1, SLOT1_BASE, SLOT1, PageSize.SIZE_4K, flags);
        Random master = new Random(seed);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int round = 0; round < ROUNDS; round++) {
            long roundSeed = master.nextLong();
            CyclicBarrier start = new CyclicBarrier(VCPUS + 1);
            List<Thread> threads = new ArrayList<>();
            for (int v = 0; v < VCPUS; v++) {
                int vcpu = v;
                threads.add(new Thread(() -> guard(failure, () -> {
                    start.await();
                    guestOps(vm, vcpu, new Random(roundSeed + vcpu), features);
                }), "vcpu-" + v));
            }
            threads.add(new Thread(() -> guard(failure, () -> {
                start.await();
                hostOp(vm, gmem, new Random(roundSeed - 1), features);
            }), "host"));
            threads.forEach(Thread::start);
            for (Thread t : threads)
                t.join();
            if (failure.get() != null)
                throw new AssertionError("seed " + seed + " round " + round, failure.get());
            CheckReport report = vm.check();
            if (!report.ok())
                throw new AssertionError("seed " + seed + " round " + round + ":\n  "
                        + String.join("\n  ", report.violations()));
        }
        vm.destroy();
    }

    private interface Body {
        void run() throws Exception;
    }

    private static void guard(AtomicReference<Throwable> failure, Body body) {
        try {
            body.run();
        } catch (Throwable t) {
            failure.compareAndSet(null, t);
        }
    }

    /** Random reads and writes inside this vCPU's own blocks (the selftests' per-vCPU regions). */
    private static void guestOps(Vm vm, int vcpu, Random rnd, boolean features) {
        long blocks = (SLOT0 + SLOT1) / BLOCK;
        for (int i = 0; i < GUEST_OPS_PER_ROUND; i++) {
            long block = rnd.nextLong(blocks / VCPUS) * VCPUS + vcpu;
            long gpa = block * BLOCK + rnd.nextInt(16) * 0x1000L;
            long size = 0x1000L * (1 + rnd.nextInt((int) ((block * BLOCK + BLOCK - gpa) >>> 12)));
            Access access = features && rnd.nextInt(4) == 0 ? Access.EXEC
                    : rnd.nextBoolean() ? Access.WRITE : Access.READ;
            vm.access(vcpu, access, gpa, size, Encoding.CURRENT, rnd.nextInt(1 << 20) + 1);
        }
    }

    private static void hostOp(Vm vm, boolean gmem, Random rnd, boolean features) {
        long gpa = rnd.nextLong((SLOT0 + SLOT1) >>> 12) << 12;
        long size = Math.min(0x1000L << rnd.nextInt(10), SLOT0 + SLOT1 - gpa);
        try {
            int op = features ? rnd.nextInt(12) : rnd.nextInt(gmem ? 9 : 7);
            if (features && op >= 7) {
                int id = rnd.nextInt(2);
                switch (op) {
                case 7 -> vm.setDirtyLogging(id, true, new org.tdplab.mmu.api.DirtyLogOptions(rnd.nextBoolean(),
                        rnd.nextBoolean()));
                case 8 -> vm.setDirtyLogging(id, false, org.tdplab.mmu.api.DirtyLogOptions.DEFAULT);
                case 9 -> vm.getDirtyLog(id);
                case 10 -> vm.clearDirtyLog(id, id == 0 ? 0 : SLOT1_BASE, 64 * 0x1000L);
                default -> vm.recoverNxHugePages();
                }
                return;
            }
            switch (op) {
            case 0 -> vm.zapGfnRange(gpa, size);
            case 1 -> vm.notifyUnmap(gpa, size);
            case 2 -> vm.age(gpa, size);
            case 3 -> vm.testAge(gpa, size);
            case 4 -> {
                vm.deleteMemslot(1);
                vm.addMemslot(1, SLOT1_BASE, SLOT1, gmem ? java.util.Set.of(SlotFlag.GMEM) : java.util.Set.of(),
                        PageSize.SIZE_4K);
            }
            case 5 -> vm.prefault(0, gpa, size);
            case 6 -> vm.zapGfnRange(0, SLOT0 + SLOT1);
            case 7 -> vm.setMemoryAttributes(gpa, size, rnd.nextBoolean());
            default -> vm.punchHole(gpa, size);
            }
        } catch (MmuException e) {
            // refusals (e.g. prefault into a gap) are part of the game; they must leave the model consistent
        }
    }
}
