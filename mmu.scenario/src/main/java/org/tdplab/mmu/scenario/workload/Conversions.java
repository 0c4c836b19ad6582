package org.tdplab.mmu.scenario.workload;

import java.util.Set;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;

/**
 * {@code private_mem_conversions_test}, each vCPU in its own partition, {@code iterations=N} times (default 1):
 *
 * <ol>
 * <li>explicit conversions: over the selftest's test ranges (offset, size: 0+4K, 0+2M, 4K+4K, 4K+2M, 2M+4K — the
 * ones that fit the partition), convert the range to private (accepting it on VM types with acceptance), write and
 * read a private pattern, check that the shared memory around it still holds the initial pattern, convert it back
 * to shared, check it reads zero (the contract's {@code convert} discards the old kind's backing, as QEMU does,
 * where the selftest's host checks the shared data survived), write and read a shared pattern, restore the initial
 * pattern;</li>
 * <li>punch hole: with the partition private, for each test range punch the whole partition, fault in and write the
 * partition (first pass) or the range only (second pass, the selftest's {@code precise}), punch the range and check
 * it reads zero (re-accepted first where the guest accepts: a punched page is gone).</li>
 * </ol>
 * The partition is left shared. A vCPU whose read finds the wrong value fails the run with EIO. Needs a VM with
 * private memory; {@code overlap} is refused (each vCPU owns its chunk).
 */
final class Conversions implements Workloads.Workload {
    private static final long PAGE = Context.PAGE, MB2 = PageSize.SIZE_2M.bytes();
    /** The selftest's test_ranges: {offset, size}. */
    private static final long[][] RANGES = { { 0, PAGE }, { 0, MB2 }, { PAGE, PAGE }, { PAGE, MB2 }, { MB2, PAGE } };
    private static final long INIT = 0xcc, P1 = 0x11, P2 = 0x22, P3 = 0x33;

    @Override
    public Set<String> options() {
        return Set.of("iterations");
    }

    @Override
    public void run(Context c) {
        if (!c.vm.capabilities().privateMem())
            throw new MmuException(Errno.EINVAL, "run conversions: VM '%s' (type %s) has no private memory",
                    c.vm.name(), c.vm.type());
        if (c.overlap)
            throw new MmuException(Errno.EINVAL, "run conversions: overlap=on: each vCPU converts its own chunk");
        int iterations = c.options.count("iterations", 1, 1000);
        long bytes = c.pages() * PAGE;
        int fit = 0;
        for (long[] r : RANGES)
            if (r[0] + r[1] <= bytes)
                fit++;
        c.report.line("Test ranges: %d of the selftest's %d fit a partition of %d bytes%s", fit, RANGES.length, bytes,
                fit < RANGES.length ? " (all fit from 0x201000)" : "");
        Vcpus.Phase p = Vcpus.run("conversions", c.vcpus, v -> {
            Guest g = new Guest(c, v);
            long pages = 0;
            for (int i = 0; i < iterations && !Vcpus.stopping(); i++) {
                pages += g.explicitConversions(i);
                pages += g.punchHoles(false, i) + g.punchHoles(true, i);
            }
            g.convert(false, g.base, bytes);
            return pages;
        });
        c.report.rates(p, "conversion");
    }

    /** One vCPU's guest code over its partition. */
    private static final class Guest {
        final Context c;
        final int v;
        final long base, bytes;

        Guest(Context c, int v) {
            this.c = c;
            this.v = v;
            this.base = c.base(v);
            this.bytes = c.pages() * PAGE;
        }

        /** The selftest's byte pattern as this vCPU's page token (vCPUs' tokens differ, so a mix-up shows). */
        long pattern(long p, int iteration) {
            return p | (long) v << 16 | (long) iteration << 32;
        }

        long explicitConversions(int i) {
            long init = pattern(INIT, i), pages = 0;
            convert(false, base, bytes);
            write(base, bytes, init);
            expect(base, bytes, init, "initial shared");
            for (long[] r : RANGES) {
                if (r[0] + r[1] > bytes)
                    continue;
                long gpa = base + r[0], size = r[1];
                write(gpa, size, pattern(P1, i));
                convert(true, gpa, size);
                if (size > PAGE) { // as the selftest: a large range gets one page of private data
                    write(gpa, PAGE, pattern(P2, i));
                    expect(gpa, PAGE, pattern(P2, i), "private");
                } else {
                    write(gpa, size, pattern(P2, i));
                    expect(gpa, size, pattern(P2, i), "private");
                    if (gpa > base)
                        expect(base, gpa - base, init, "shared below a private range");
                    if (gpa + size < base + bytes)
                        expect(gpa + size, base + bytes - gpa - size, init, "shared above a private range");
                }
                convert(false, gpa, size);
                expect(gpa, size, 0, "shared after conversion");
                write(gpa, size, pattern(P3, i));
                expect(gpa, size, pattern(P3, i), "shared");
                write(gpa, size, init); // the selftest's punch of all private memory here: the convert did it
                pages += 2 * size / PAGE;
            }
            return pages;
        }

        long punchHoles(boolean precise, int i) {
            long init = pattern(INIT, i), pages = 0;
            convert(true, base, bytes);
            for (long[] r : RANGES) {
                if (r[0] + r[1] > bytes)
                    continue;
                long gpa = base + r[0], size = r[1];
                c.vm.punchHole(base, bytes);
                long from = precise ? gpa : base, n = precise ? size : bytes;
                accept(from, n);
                write(from, n, init);
                expect(from, n, init, "private after the punch");
                c.vm.punchHole(gpa, size);
                accept(gpa, size);
                expect(gpa, size, 0, "private punched");
                pages += size / PAGE;
            }
            return pages;
        }

        void convert(boolean toPrivate, long gpa, long size) {
            c.complete(v, toPrivate ? "convert to private" : "convert to shared", c.vm.convert(v, toPrivate, gpa,
                    size));
            if (toPrivate)
                accept(gpa, size);
        }

        void accept(long gpa, long size) {
            if (c.accept)
                c.complete(v, "accept", c.vm.accept(v, gpa, size, PageSize.SIZE_4K));
        }

        void write(long gpa, long size, long value) {
            c.complete(v, "write", c.vm.access(v, Access.WRITE, gpa, size, Encoding.CURRENT, value));
        }

        void expect(long gpa, long size, long value, String what) {
            AccessResult r = c.vm.access(v, Access.READ, gpa, size, Encoding.CURRENT, 0);
            c.complete(v, what + " read", r);
            if (!r.valuesAgree() || r.value() != value)
                throw new MmuException(Errno.EIO, "run conversions: vCPU %d: %s read at 0x%x: expected 0x%x, found "
                        + "0x%x%s", v, what, gpa, value, r.value(), r.valuesAgree() ? "" : " (pages differ)");
        }
    }
}
