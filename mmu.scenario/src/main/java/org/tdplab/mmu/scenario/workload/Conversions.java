package org.tdplab.mmu.scenario.workload;

import java.util.Set;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;

/**
 * {@code private_mem_conversions_test}: each vCPU, {@code iterations=N} times over its own partition, converts it
 * to private (accepting it on VM types with acceptance), checks it reads zero, writes a private pattern, converts
 * it to shared, checks it reads zero again (a page converted away and back keeps nothing), writes and reads back a
 * shared pattern. Needs a VM with private memory; {@code overlap} is refused (each vCPU owns its chunk).
 */
final class Conversions implements Workloads.Workload {
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
        int iterations = c.options.count("iterations", 2, 1000);
        long bytes = c.pages() * Context.PAGE;
        Vcpus.Phase p = Vcpus.run("conversions", c.vcpus, v -> {
            long base = c.base(v);
            for (int i = 0; i < iterations; i++) {
                c.complete(v, "convert to private", c.vm.convert(v, true, base, bytes));
                if (c.accept)
                    c.complete(v, "accept", c.vm.accept(v, base, bytes, PageSize.SIZE_4K));
                expect(c, v, base, bytes, 0, "private after conversion");
                long priv = 0x7000_0000L | (v << 16) | i;
                c.complete(v, "private write", c.vm.access(v, Access.WRITE, base, bytes, Encoding.CURRENT, priv));
                expect(c, v, base, bytes, priv, "private");
                c.complete(v, "convert to shared", c.vm.convert(v, false, base, bytes));
                expect(c, v, base, bytes, 0, "shared after conversion");
                long shared = 0x5000_0000L | (v << 16) | i;
                c.complete(v, "shared write", c.vm.access(v, Access.WRITE, base, bytes, Encoding.CURRENT, shared));
                expect(c, v, base, bytes, shared, "shared");
            }
            return 2L * iterations * c.pages();
        });
        c.report.rates(p, "conversion");
    }

    private static void expect(Context c, int v, long base, long bytes, long value, String what) {
        AccessResult r = c.vm.access(v, Access.READ, base, bytes, Encoding.CURRENT, 0);
        c.complete(v, what + " read", r);
        if (!r.valuesAgree() || r.value() != value)
            throw new MmuException(Errno.EIO, "run conversions: vCPU %d: %s read at 0x%x: expected 0x%x, found 0x%x%s",
                    v, what, base, value, r.value(), r.valuesAgree() ? "" : " (pages differ)");
    }
}
