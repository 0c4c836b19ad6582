package org.tdplab.mmu.scenario.soak;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.soak.Op.Kind;

/**
 * The VM a soak or property sequence runs on, per VM type: slot 0 [0, 4M) backed by 2M pages, slot 1 [4M, 6M) at
 * 4K (the one deleted and re-added), guest_memfd for the types with private memory, the NX huge page mitigation on
 * the ordinary types. A TD or SNP guest starts unlaunched: its sequence has the launch verbs ({@code
 * tdx.init_mem_region}, {@code tdx.finalize}; {@code snp.launch_update}, {@code snp.launch_finish}) among its
 * operations, so the guest is built, launched, and refuses them afterwards at random points. {@link #prelude} is the
 * same as scenario statements. {@code extra}: the VM type's own options the soak was given ({@code dynamic_pamt=on}).
 */
public record Layout(String type, int vcpus, boolean gmem, Set<Kind> kinds, Map<String, String> extra) {
    static final long K4 = 0x1000, M2 = 0x200000;
    static final long SLOT0 = 2 * M2, SLOT1_GPA = 2 * M2, SLOT1 = M2, END = SLOT1_GPA + SLOT1;

    /** The layout for VM type {@code type}; types tdplab does not know get the ordinary one without NX. */
    public static Layout of(String type, int vcpus) {
        return of(type, vcpus, Map.of());
    }

    /** {@link #of(String, int)} with VM options of the type's own on top of the layout's. */
    public static Layout of(String type, int vcpus, Map<String, String> extra) {
        EnumSet<Kind> kinds = EnumSet.of(Kind.ACCESS, Kind.PREFAULT, Kind.ZAP, Kind.UNMAP, Kind.AGE, Kind.TEST_AGE,
                Kind.SLOT_DELETE, Kind.SLOT_ADD);
        boolean gmem = !type.equals("default");
        switch (type) {
        case "default" -> kinds.addAll(EnumSet.of(Kind.DIRTY_LOG, Kind.DIRTY_GET, Kind.DIRTY_CLEAR, Kind.NX_RECOVER));
        case "sw_protected" -> kinds.addAll(EnumSet.of(Kind.CONVERT, Kind.ATTR, Kind.PUNCH, Kind.NX_RECOVER));
        case "tdx", "snp" -> kinds.addAll(EnumSet.of(Kind.CONVERT, Kind.ACCEPT, Kind.ATTR, Kind.PUNCH,
                Kind.LAUNCH_UPDATE, Kind.FINALIZE));
        default -> gmem = false;
        }
        return new Layout(type, vcpus, gmem, kinds, Map.copyOf(extra));
    }

    long slot1Gpa() {
        return SLOT1_GPA;
    }

    long slot1Size() {
        return SLOT1;
    }

    private boolean nx() {
        return kinds.contains(Kind.NX_RECOVER);
    }

    Map<String, String> options() {
        Map<String, String> o = new LinkedHashMap<>();
        if (nx()) {
            o.put("nx_huge_pages", "on");
            o.put("nx_recovery_ratio", "2");
        }
        new java.util.TreeMap<>(extra).forEach(o::put);
        return o;
    }

    /** Creates VM {@code name} and sets it up as {@link #prelude} says. */
    public Vm create(VmManager manager, String name) {
        Vm vm = manager.create(name, type, vcpus, 48, options());
        Set<SlotFlag> flags = gmem ? Set.of(SlotFlag.GMEM) : Set.of();
        vm.addMemslot(0, 0, SLOT0, flags, PageSize.SIZE_2M);
        vm.addMemslot(1, SLOT1_GPA, SLOT1, flags, PageSize.SIZE_4K);
        return vm;
    }

    /** The statements {@link #create} runs. */
    public List<String> prelude(String name) {
        List<String> s = new ArrayList<>();
        StringBuilder create = new StringBuilder("vm.create " + name + " type=" + type + " vcpus=" + vcpus);
        options().forEach((k, v) -> create.append(' ').append(k).append('=').append(v));
        s.add(create.toString());
        String flags = gmem ? " flags=gmem" : "";
        s.add("slot.add " + name + " 0 gpa=0 size=4M" + flags + " backing=2M");
        s.add("slot.add " + name + " 1 gpa=4M size=2M" + flags + " backing=4K");
        return s;
    }

    /**
     * An operation from raw numbers (what a property generates and shrinks, or a {@link Random} draws): each maps
     * onto the layout so that any numbers make a valid operation of this VM type. Smaller numbers make simpler
     * operations (an access, 4K, at GPA 0, vCPU 0).
     */
    public Op op(int kind, int vcpu, int page, int pages, int arg) {
        Kind[] allowed = kinds.toArray(Kind[]::new);
        Kind k = allowed[Math.floorMod(kind, allowed.length)];
        long pagesInAll = END / K4;
        long gpa = Math.floorMod(page, (int) pagesInAll) * K4;
        long size = Math.min((1L + Math.floorMod(pages, 512)) * K4, END - gpa);
        return new Op(k, Math.floorMod(vcpu, vcpus), gpa, size, Math.floorMod(arg, 1 << 16));
    }

    /** A random operation: guest accesses half the time, sizes mostly small. */
    public Op random(Random rnd) {
        int kind = rnd.nextInt(4) < 2 ? 0 : rnd.nextInt(kinds.size());
        int pages = rnd.nextInt(4) == 0 ? rnd.nextInt(512) : rnd.nextInt(16);
        return op(kind, rnd.nextInt(vcpus), rnd.nextInt((int) (END / K4)), pages, rnd.nextInt(1 << 16));
    }
}
