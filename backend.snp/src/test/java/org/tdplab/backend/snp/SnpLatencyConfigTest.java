package org.tdplab.backend.snp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Proxy;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The {@code latency} attribute of {@code org.tdplab.backend.snp}. */
class SnpLatencyConfigTest {
    static SnpBackend.Config config(Map<String, Object> values) {
        return (SnpBackend.Config) Proxy.newProxyInstance(SnpBackend.Config.class.getClassLoader(),
                new Class<?>[] { SnpBackend.Config.class }, (p, m, a) -> {
                    Object v = values.get(m.getName());
                    return v != null ? v : m.getDefaultValue();
                });
    }

    @Test
    void everyRmpInstructionDefaultsToOneMicrosecondAndCanBeConfigured() {
        SnpBackend b = new SnpBackend();
        b.configure(config(Map.of()));
        assertEquals(1000, b.latency().nanos("RMPUPDATE"));
        assertEquals(1000, b.latency().nanos("PVALIDATE"));
        b.configure(config(Map.of("latency", new String[] { "RMPUPDATE=2500", "PSMASH=3us", "*=0" })));
        assertEquals(2500, b.latency().nanos("RMPUPDATE"));
        assertEquals(3000, b.latency().nanos("PSMASH"));
        assertEquals(0, b.latency().nanos("PVALIDATE"));
    }
}
