package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.M2;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;

/**
 * A randomized run with {@code huge_pages=on}: vCPU threads, each in its own 8M of a TD's private memory, draw from
 * a seeded generator 2M and 4K accepts, pre-faults, reads and writes, conversions (4K, 16K, 2M, both ways), hole
 * punches and memory-type zaps, with TDX_OPERAND_BUSY injected, while the main thread runs the invariant checker.
 * Each thread keeps what every page of its region must read; every read is checked against it, the checker finds
 * nothing (mirror ↔ S-EPT, PAMT, epochs, the data oracle), and teardown gives every frame back.
 */
class TdxHugePagesStressTest {
    private static final int VCPUS = 4, OPS = 120;
    private static final long REGION = 8 * M1, PAGES = REGION / K4;
    /** Page states of a thread's model: not accepted (private, contents gone), accepted private, shared. */
    private static final byte UNACCEPTED = 0, PRIVATE = 1, SHARED = 2;

    @Test
    void randomOperationsFromSeveralVcpusKeepEveryInvariant() {
        for (long seed : new long[] { 1, 2 })
            assertTimeoutPreemptively(Duration.ofSeconds(120), () -> run(seed, false));
    }

    /** The same with Dynamic PAMT: splits draw on the TD's split cache, topped up with the MMU lock let go. */
    @Test
    void withDynamicPamtTheSplitsPairsKeepEveryInvariantToo() {
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> run(3, true));
    }

    private static void run(long seed, boolean dynamicPamt) throws Exception {
        Tds tds = new Tds();
        Vm vm = tds.create("stress" + seed, VCPUS, 48, Map.of("huge_pages", "on", "busy_rate", "0.05", "seed",
                Long.toString(seed), "dynamic_pamt", dynamicPamt ? "on" : "off"));
        vm.addMemslot(0, 0, VCPUS * REGION, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, VCPUS * REGION, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        AtomicLong most2m = new AtomicLong();
        ExecutorService pool = Executors.newFixedThreadPool(VCPUS);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int v = 0; v < VCPUS; v++) {
                Region r = new Region(vm, v, new SplittableRandom(seed * 31 + v));
                done.add(pool.submit(() -> {
                    for (int i = 0; i < OPS; i++) {
                        r.step();
                        most2m.accumulateAndGet(stat(vm, "pages_2m"), Math::max);
                    }
                    r.verifyAll();
                    return null;
                }));
            }
            for (int i = 0; i < 5 && !done.get(0).isDone(); i++) {
                Thread.sleep(30);
                CheckReport c = vm.check(); // mid-run, under the write lock
                assertTrue(c.ok(), () -> "seed " + seed + ":\n" + String.join("\n", c.violations()));
            }
            for (Future<?> f : done)
                f.get();
        } finally {
            pool.shutdownNow();
        }
        assertClean(vm);
        assertTrue(most2m.get() > 0, "some private memory was mapped at 2M");
        assertTrue(stat(vm, "TDH.MEM.PAGE.DEMOTE") > 0, "some 2M leaf was split");
        TdxVm t = tds.tdx(vm);
        vm.destroy();
        assertEquals(0, t.framesHeld());
        assertTrue(t.module().view().pamtEmpty());
    }

    /** One vCPU's 8M region and what each of its pages must read. */
    private static final class Region {
        private final Vm vm;
        private final int vcpu;
        private final long base;
        private final SplittableRandom random;
        private final byte[] state = new byte[(int) PAGES];
        private final long[] value = new long[(int) PAGES];
        private long tokens;

        Region(Vm vm, int vcpu, SplittableRandom random) {
            this.vm = vm;
            this.vcpu = vcpu;
            this.base = vcpu * REGION;
            this.random = random;
        }

        private long gpa(int page) {
            return base + page * K4;
        }

        void step() {
            int block = random.nextInt((int) (REGION / M2)) * 512;
            int page = block + random.nextInt(512);
            switch (random.nextInt(10)) {
            case 0, 1 -> acceptBlock(block);
            case 2 -> accept(page, 1 + random.nextInt(8));
            case 3 -> vm.prefault(vcpu, gpa(block), M2); // may map a PENDING 2M leaf before an accept
            case 4, 5 -> write(page, 1 + random.nextInt(64));
            case 6 -> convert(random.nextBoolean() ? page : block, random.nextInt(3));
            case 7 -> discard(page, 1 + random.nextInt(4), true);
            case 8 -> discard(page, 1 + random.nextInt(4), false);
            default -> verify(block, 512);
            }
        }

        /** The guest accepts a whole 2M block at 2M if all of it is private, else its first private pages at 4K. */
        private void acceptBlock(int block) {
            for (int p = block; p < block + 512; p++)
                if (state[p] == SHARED) {
                    accept(block, 8);
                    return;
                }
            ok(vm.accept(vcpu, gpa(block), M2, PageSize.SIZE_2M));
            accepted(block, 512);
        }

        /** The guest accepts {@code n} 4K pages from {@code page} that are private (stops at a shared one). */
        private void accept(int page, int n) {
            int end = Math.min(page + n, (int) PAGES);
            for (int p = page; p < end && state[p] != SHARED; p++) {
                ok(vm.accept(vcpu, gpa(p), K4, PageSize.SIZE_4K));
                accepted(p, 1);
            }
        }

        private void accepted(int page, int n) {
            for (int p = page; p < page + n; p++)
                if (state[p] == UNACCEPTED) {
                    state[p] = PRIVATE;
                    value[p] = 0;
                }
        }

        /** Writes a fresh token into the accepted or shared pages of a run. */
        private void write(int page, int n) {
            int end = Math.min(page + n, (int) PAGES);
            for (int p = page; p < end; p++) {
                if (state[p] == UNACCEPTED)
                    continue;
                long token = ((long) vcpu << 40) | ++tokens;
                ok(vm.access(vcpu, Access.WRITE, gpa(p), K4, state[p] == SHARED ? Encoding.SHARED : Encoding.PRIVATE,
                        token));
                value[p] = token;
            }
        }

        /** Converts 4K, 16K or (from a block start) 2M to the other kind: to shared, or back (accepted). */
        private void convert(int page, int size) {
            int n = size == 0 ? 1 : size == 1 ? 4 : 512;
            if (n == 512)
                page &= ~511;
            n = Math.min(n, (int) PAGES - page);
            boolean toPrivate = state[page] == SHARED;
            for (int p = page; p < page + n; p++)
                if ((state[p] == SHARED) != toPrivate)
                    n = p - page; // convert only a run of one kind
            if (n == 0)
                return;
            ok(vm.convert(vcpu, toPrivate, gpa(page), n * K4));
            for (int p = page; p < page + n; p++) {
                state[p] = toPrivate ? PRIVATE : SHARED; // the guest accepts what it made private
                value[p] = 0;
            }
        }

        /**
         * Punches the guest_memfd behind a run, or zaps it for a memory-type change: its private pages lose their
         * contents and must be accepted again; shared pages keep their data.
         */
        private void discard(int page, int n, boolean punch) {
            n = Math.min(n, (int) PAGES - page);
            if (punch)
                vm.punchHole(gpa(page), n * K4);
            else
                vm.zapGfnRange(gpa(page), n * K4);
            for (int p = page; p < page + n; p++)
                if (state[p] != SHARED)
                    state[p] = UNACCEPTED;
        }

        private void verify(int page, int n) {
            for (int p = page; p < page + n; p++) {
                if (state[p] == UNACCEPTED)
                    continue;
                AccessResult r = vm.access(vcpu, Access.READ, gpa(p), K4, Encoding.CURRENT, 0);
                ok(r);
                long want = value[p];
                int at = p;
                assertEquals(want, r.value(), () -> String.format("vCPU %d read of gpa 0x%x (%s)", vcpu, gpa(at),
                        state[at] == SHARED ? "shared" : "private"));
            }
        }

        void verifyAll() {
            verify(0, (int) PAGES);
        }

        private void ok(AccessResult r) {
            assertTrue(r.completed(), () -> "vCPU " + vcpu + " ended with " + r);
        }
    }
}
