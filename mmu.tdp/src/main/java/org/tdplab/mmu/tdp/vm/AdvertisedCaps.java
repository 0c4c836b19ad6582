package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * The {@code mmu.cap.*} service properties a backend advertises, held to what its {@link Backend#capabilities} say
 * of a VM with no options (at both guest physical address widths): a property that contradicts them refuses the
 * service; one left out is filled in from them. Properties other than the four it knows are kept as advertised.
 */
final class AdvertisedCaps {
    static final String PREFIX = "mmu.cap.";
    private static final int[] WIDTHS = { 48, 52 };

    private AdvertisedCaps() {
    }

    /**
     * The capabilities as properties (without the prefix), rendered as text; empty when none could be derived. A
     * width the type refuses with an errno is skipped; any other exception is the backend's bug, said in
     * {@code bugs}.
     */
    static Map<String, String> derive(Backend backend, List<String> bugs) {
        Map<String, String> out = new TreeMap<>();
        List<String> bits = new ArrayList<>();
        for (int gpaw : WIDTHS) {
            VmCapabilities caps;
            try {
                caps = backend.capabilities(gpaw, VerbArgs.noOptions(backend.vmType()));
            } catch (org.tdplab.mmu.api.MmuException e) {
                continue; // a width (or an option-less VM) the type does not take: nothing to derive from it
            } catch (RuntimeException e) {
                bugs.add("capabilities(gpaw=" + gpaw + ") failed: " + BackendSlot.reason(e));
                continue;
            }
            for (String nonsense : incoherent(caps))
                if (!bugs.contains(nonsense))
                    bugs.add(nonsense);
            if (out.isEmpty()) {
                out.put("mirrored_pt", String.valueOf(caps.mirroredPt()));
                out.put("private_mem", String.valueOf(caps.privateMem()));
                out.put("protected_state", String.valueOf(caps.protectedState()));
            }
            if (caps.sharedBit() >= 0)
                bits.add(gpaw + "=" + caps.sharedBit());
        }
        if (!out.isEmpty())
            out.put("shared_bit", String.join(",", bits));
        return out;
    }

    /**
     * Capabilities that contradict one another: each built alone is valid (the fluent {@code with…} calls pass
     * through such states), but a VM described so would never use what it claims.
     */
    static List<String> incoherent(VmCapabilities caps) {
        List<String> out = new ArrayList<>();
        if (caps.mirroredPt() && !caps.privateMem())
            out.add("capabilities() have mirrored page tables without private memory (they map private memory only)");
        if (caps.acceptance() && !caps.privateMem())
            out.add("capabilities() have guest acceptance without private memory (it is of private memory)");
        if (caps.privateSource() == org.tdplab.mmu.api.backend.PrivateSource.SHARED_BIT && caps.sharedBit() < 0)
            out.add("capabilities() take privateness from the shared bit and have none");
        return out;
    }

    /**
     * The advertised properties (without the prefix, as text) checked against the derived ones: each contradiction
     * as {@code mmu.cap.NAME=ADVERTISED but capabilities() say DERIVED}; empty when they agree.
     */
    static List<String> mismatches(Map<String, String> advertised, Map<String, String> derived) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, String> d : derived.entrySet()) {
            String a = advertised.get(d.getKey());
            if (a == null || normal(d.getKey(), a).equals(normal(d.getKey(), d.getValue())))
                continue;
            out.add(PREFIX + d.getKey() + "=" + (a.isEmpty() ? "(none)" : a) + " but capabilities() say "
                    + (d.getValue().isEmpty() ? "(none)" : d.getValue()));
        }
        return out;
    }

    /** The advertised properties with the derived ones filled in where left out. */
    static Map<String, String> completed(Map<String, String> advertised, Map<String, String> derived) {
        Map<String, String> out = new TreeMap<>(derived);
        out.putAll(advertised);
        return out;
    }

    /** A shared-bit list compares as a set of {@code gpaw=bit} entries; other values as lower-case text. */
    private static String normal(String key, String value) {
        if (!key.equals("shared_bit"))
            return value.strip().toLowerCase(java.util.Locale.ROOT);
        String[] parts = value.isBlank() ? new String[0] : value.split(",");
        return String.join(",", Arrays.stream(parts).map(String::strip).sorted().toList());
    }
}
