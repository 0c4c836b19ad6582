package org.tdplab.backend.tdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.reflect.Proxy;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** The {@code latency} attribute of {@code org.tdplab.backend.tdx}: defaults, overrides, refusal. */
class TdxLatencyConfigTest {
    static TdxBackend.Config config(Map<String, Object> values) {
        return (TdxBackend.Config) Proxy.newProxyInstance(TdxBackend.Config.class.getClassLoader(),
                new Class<?>[] { TdxBackend.Config.class }, (p, m, a) -> {
                    Object v = values.get(m.getName());
                    return v != null ? v : m.getDefaultValue();
                });
    }

    @Test
    void defaultsComeFromTheAnchorsAndAConfigurationOverridesSomeEntries() {
        TdxBackend b = new TdxBackend();
        b.configure(config(Map.of()));
        assertEquals(4000, b.latency().nanos("TDH.MEM.PAGE.AUG"));
        assertEquals(500, b.latency().nanos("TDG.MEM.PAGE.ACCEPT"));
        assertEquals(1000, b.latency().nanos("TDH.MEM.SEPT.ADD"));
        b.configure(config(Map.of("latency", new String[] { "TDH.MEM.PAGE.AUG=6us, TDH.MR.EXTEND=300" })));
        assertEquals(6000, b.latency().nanos("TDH.MEM.PAGE.AUG"));
        assertEquals(300, b.latency().nanos("TDH.MR.EXTEND"));
        assertEquals(500, b.latency().nanos("TDG.MEM.PAGE.ACCEPT"), "entries not named keep their default");
    }

    @Test
    void aMalformedTableIsRefusedAndTheLastGoodOneStays() {
        TdxBackend b = new TdxBackend();
        b.configure(config(Map.of("latency", new String[] { "TDH.MEM.PAGE.AUG=7000" })));
        MmuException e = assertThrows(MmuException.class,
                () -> b.apply(config(Map.of("latency", new String[] { "TDH.MEM.PAGE.AUG=soon" }))));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals(7000, b.latency().nanos("TDH.MEM.PAGE.AUG"));
    }

    /** From ConfigAdmin, a refused configuration is one line on the console, no stack trace, and changes nothing. */
    @Test
    void aRefusedConfigurationIsReportedInOneLine() {
        TdxBackend b = new TdxBackend();
        b.configure(config(Map.of("latency", new String[] { "TDH.MEM.PAGE.AUG=7000" })));
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream saved = System.err;
        System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            b.configure(config(Map.of("module", "2.0")));
        } finally {
            System.setErr(saved);
        }
        assertEquals("tdplab: configuration org.tdplab.backend.tdx refused (EINVAL: module=2.0: VM type tdx takes 1.0 "
                + "or 1.5); new TDs keep the previous settings\n", err.toString(
                        java.nio.charset.StandardCharsets.UTF_8));
        assertEquals(7000, b.latency().nanos("TDH.MEM.PAGE.AUG"));
    }
}
