package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;
import java.util.Set;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.ConfigurationAdmin;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;

/**
 * Backend configuration through ConfigAdmin applies to new VMs without restarting the backend (its service stays
 * the same, so no VM is suspended): TDX BUSY injection, SNP guest policy, the firmware latency table.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class BackendConfigIT {
    private static final long K4 = 4096, M1 = 1L << 20;

    @Inject
    BundleContext context;

    @Inject
    VmManager core;

    @Inject
    ConfigurationAdmin configAdmin;

    @Configuration
    public Option[] config() {
        return Container.without();
    }

    private long tdxServiceId() {
        ServiceReference<?>[] refs = getRefs();
        return refs == null ? -1 : (Long) refs[0].getProperty(Constants.SERVICE_ID);
    }

    private ServiceReference<?>[] getRefs() {
        try {
            return context.getAllServiceReferences(Backend.class.getName(), "(" + Backend.VM_TYPE + "=tdx)");
        } catch (org.osgi.framework.InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static long busy(Vm vm) {
        vm.addMemslot(0, 0, 4 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 2 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        for (int i = 0; i < 4; i++) {
            vm.accept(0, 0, 2 * M1, PageSize.SIZE_4K);
            vm.access(0, Access.WRITE, 0, 2 * M1, Encoding.PRIVATE, 3);
            vm.convert(0, false, 0, 2 * M1);
            vm.convert(0, true, 0, 2 * M1);
        }
        return vm.stats().get("TDX_OPERAND_BUSY");
    }

    @Test
    public void tdxBusyInjectionConfiguredForNewTdsWithoutRestart() throws Exception {
        long id = tdxServiceId();
        Vm before = core.create("before", "tdx", 1, 48, Map.of());
        org.osgi.service.cm.Configuration c = configAdmin.getConfiguration("org.tdplab.backend.tdx", "?");
        Dictionary<String, Object> props = new Hashtable<>();
        props.put("busy_rate", "0.5");
        props.put("seed", "11");
        c.update(props);
        assertTrue(Container.eventually(() -> "0.5".equals(propertyOf("busy_rate")), 3000));
        assertEquals("the backend was not restarted", id, tdxServiceId());
        assertTrue(before.suspension().isEmpty());
        Vm after = core.create("after", "tdx", 1, 48, Map.of());
        assertTrue("busy injected in the new TD", busy(after) > 0);
        assertEquals("the TD created before keeps its options", 0L, busy(before));
        assertTrue(after.check().ok());
        c.delete();
    }

    @Test
    public void snpPolicyConfiguredForNewVms() throws Exception {
        org.osgi.service.cm.Configuration c = configAdmin.getConfiguration("org.tdplab.backend.snp", "?");
        Dictionary<String, Object> props = new Hashtable<>();
        props.put("policy", "0x1");
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream console = System.err;
        System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            c.update(props); // a policy KVM refuses: the backend refuses the configuration, new VMs use the defaults
            assertTrue("the refusal is reported", Container.eventually(() -> err.toString(
                    java.nio.charset.StandardCharsets.UTF_8).contains("refused"), 3000));
        } finally {
            System.setErr(console);
            c.delete();
        }
        assertEquals("one line, no stack trace", "tdplab: configuration org.tdplab.backend.snp refused (EINVAL: "
                + "policy=0x1 lacks bit 17, which must be one); new SNP VMs keep the previous settings\n",
                err.toString(java.nio.charset.StandardCharsets.UTF_8));
        Thread.sleep(300);
        props.put("policy", "0x130000"); // SMT | MBO | single socket
        c = configAdmin.getConfiguration("org.tdplab.backend.snp", "?");
        c.update(props);
        assertTrue(Container.eventually(() -> {
            try {
                core.create("probe", "snp", 1, 48, Map.of()).destroy();
                return "0x130000".equals(snpProperty("policy"));
            } catch (MmuException e) {
                return false;
            }
        }, 3000));
        Vm vm = core.create("snp", "snp", 1, 48, Map.of());
        assertTrue(vm.check().ok());
        try {
            core.create("bad", "snp", 1, 48, Map.of("policy", "0x1"));
            throw new AssertionError("a VM's own bad policy is refused");
        } catch (MmuException e) {
            assertEquals(Errno.EINVAL, e.errno());
        }
        c.delete();
    }

    /** Private memory faulted in and accepted; returns the stats deltas over the run. */
    private static Map<String, Long> privateRun(Vm vm, long gpa) {
        Map<String, Long> before = vm.stats();
        vm.accept(0, gpa, M1, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, gpa, M1, Encoding.PRIVATE, 5);
        Map<String, Long> after = vm.stats();
        Map<String, Long> d = new java.util.HashMap<>();
        after.forEach((k, n) -> d.put(k, n - before.getOrDefault(k, 0L)));
        return d;
    }

    private void prepare(Vm vm) {
        vm.addMemslot(0, 0, 4 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
    }

    /** Projected firmware time the deltas should show under {@code price} (SEAMCALL leaves carry dots). */
    private static long priced(Map<String, Long> delta, java.util.function.ToLongFunction<String> price) {
        long ns = 0;
        for (Map.Entry<String, Long> e : delta.entrySet())
            // SEAMCALL leaves carry dots; TDH.VP.ENTER is the backend's own count, not a priced firmware call
            if (e.getKey().startsWith("TD") && e.getKey().contains(".") && !e.getKey().equals("TDH.VP.ENTER"))
                ns += e.getValue() * price.applyAsLong(e.getKey());
        return ns;
    }

    @Test
    public void tdxLatencyTableConfiguredForNewTdsWhileOldTdsKeepTheirs() throws Exception {
        long id = tdxServiceId();
        Vm old = core.create("old", "tdx", 1, 48, Map.of());
        prepare(old);
        org.osgi.service.cm.Configuration c = configAdmin.getConfiguration("org.tdplab.backend.tdx", "?");
        Dictionary<String, Object> props = new Hashtable<>();
        String table = "TDH.MEM.PAGE.AUG=100us, TDG.MEM.PAGE.ACCEPT=0, *=0"; // as a FileInstall .cfg line gives it
        props.put("latency", table);
        c.update(props);
        assertTrue(Container.eventually(() -> table.equals(String.valueOf(propertyOf("latency")))
                || (propertyOf("latency") instanceof String[] a && a.length == 1 && table.equals(a[0])), 3000));
        assertEquals("the backend was not restarted", id, tdxServiceId());
        assertTrue(old.suspension().isEmpty());

        Vm fresh = core.create("fresh", "tdx", 1, 48, Map.of());
        prepare(fresh);
        assertEquals("only AUG is priced in the new TD, from its creation on", 100_000L * fresh.stats()
                .get("TDH.MEM.PAGE.AUG"), (long) fresh.stats().get("projected_firmware_ns"));
        Map<String, Long> dNew = privateRun(fresh, 0), dOld = privateRun(old, 0);
        assertTrue("private faults in the run", dNew.get("TDH.MEM.PAGE.AUG") > 0 && dOld.get("TDH.MEM.PAGE.AUG") > 0);
        assertEquals("the new TD is priced with the new table", 100_000L * dNew.get("TDH.MEM.PAGE.AUG"),
                (long) dNew.get("projected_firmware_ns"));
        assertEquals("the TD created before keeps the default table",
                priced(dOld, n -> n.equals("TDH.MEM.PAGE.AUG") ? 4000 : n.equals("TDG.MEM.PAGE.ACCEPT") ? 500 : 1000),
                (long) dOld.get("projected_firmware_ns"));
        assertTrue(fresh.check().ok() && old.check().ok());
        c.delete();
    }

    private Object propertyOf(String key) {
        ServiceReference<?>[] refs = getRefs();
        return refs == null ? null : refs[0].getProperty(key);
    }

    private Object snpProperty(String key) {
        try {
            ServiceReference<?>[] refs = context.getAllServiceReferences(Backend.class.getName(),
                    "(" + Backend.VM_TYPE + "=snp)");
            return refs == null ? null : refs[0].getProperty(key);
        } catch (org.osgi.framework.InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
