package org.tdplab.mmu.api.backend;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The capabilities of one VM, given by its backend for the VM's configuration. The core decides by these,
 * never by the VM type's name.
 *
 * @param vmType the VM type
 * @param gpaw guest physical address width (48 or 52); the root level follows from it
 * @param mirroredPt private memory is mapped through a mirror root (KVM's {@code kvm_has_mirrored_tdp}); the backend
 *        keeps the table the hardware walks for private GPAs (see {@link VmBackend#translatePrivate}). Independent of
 *        the shared bit: a VM may have mirrored tables and no shared bit (privateness from attributes alone)
 * @param privateMem the VM has private memory ({@code kvm_arch_has_private_mem})
 * @param protectedState guest state is protected ({@code has_protected_state}): no read-only memslots
 * @param sharedBit the GPA bit that marks a shared (direct) address, or -1 when the VM has none (KVM's
 *        {@code gfn_direct_bits}); independent of {@code mirroredPt}
 * @param privateSource where a fault's privateness comes from
 * @param privateMaxLevel the largest level a private leaf may have (1 = 4K), before the per-pfn hook
 * @param memtypeZapSupported whether {@code kvm_zap_gfn_range} zaps the leaves of every valid root, mirror ones
 *        through the removal hooks (mainline); when not, the core bugs the VM instead ({@code KVM_BUG_ON})
 * @param slotZapAll memslot deletion zaps all direct roots fast ({@code KVM_X86_QUIRK_SLOT_ZAP_ALL})
 * @param preFaultAllowed {@code KVM_PRE_FAULT_MEMORY} allowed from creation (else the backend allows it later)
 * @param acceptance the guest must accept (validate) private memory before use
 * @param mmioValue the per-VM MMIO SPTE value ({@code shadow_mmio_value})
 * @param adDisabled the TDP leaves have no hardware accessed/dirty bits ({@code !kvm_ad_enabled}): aging uses the
 *        access-tracking form and dirty logging write protection
 * @param nxHugePages the NX huge page mitigation: executable mappings are never huge ({@code nx_huge_pages})
 * @param nxRecoveryRatio a recovery pass zaps 1/ratio of the split huge pages ({@code nx_huge_pages_recovery_ratio};
 *        0 turns recovery off)
 * @param dirtyLogByDirtyBit dirty logging clears D bits and the CPU logs the pages it dirties (a page-modification
 *        log) instead of write-protecting; needs A/D bits
 * @param externalDirect the backend also mediates the direct (shared) root: every change of a direct-root entry is
 *        reported through the external-table hooks too ({@link SpteChange#root()} says which root), as for a
 *        hypervisor that owns the real stage-2 of shared memory as well
 * @param sharedInPlace converting private memory to shared keeps its backing page (the guest_memfd page is shared
 *        in place and shared faults of a guest_memfd memslot map it) instead of discarding it; converting back keeps
 *        it too, so the data survives both ways
 */
public record VmCapabilities(String vmType, int gpaw, boolean mirroredPt, boolean privateMem, boolean protectedState,
        int sharedBit, PrivateSource privateSource, int privateMaxLevel, boolean memtypeZapSupported,
        boolean slotZapAll, boolean preFaultAllowed, boolean acceptance, long mmioValue, boolean adDisabled,
        boolean nxHugePages, int nxRecoveryRatio, boolean dirtyLogByDirtyBit, boolean externalDirect,
        boolean sharedInPlace) {

    /** EPT-misconfig MMIO value (W|X), the default. */
    public static final long DEFAULT_MMIO_VALUE = 0b110;

    public VmCapabilities {
        if (gpaw != 48 && gpaw != 52)
            throw new MmuException(Errno.EINVAL, "gpaw=%d: the guest physical address width must be 48 or 52", gpaw);
        if (sharedBit >= gpaw)
            throw new MmuException(Errno.EINVAL, "shared bit %d lies beyond gpaw=%d", sharedBit, gpaw);
        if (privateMaxLevel < 1 || privateMaxLevel > 3)
            throw new MmuException(Errno.EINVAL, "private max level %d is not 1..3", privateMaxLevel);
        if (sharedBit < -1)
            throw new MmuException(Errno.EINVAL, "shared bit %d is neither a bit number nor -1 (none)", sharedBit);
        if (sharedInPlace && !privateMem)
            throw new MmuException(Errno.EINVAL, "in-place sharing needs private memory");
        if (nxRecoveryRatio < 0)
            throw new MmuException(Errno.EINVAL, "nx recovery ratio %d is negative", nxRecoveryRatio);
        if (dirtyLogByDirtyBit && adDisabled)
            throw new MmuException(Errno.EINVAL, "dirty logging by D bits needs A/D bits");
        if ((privateSource == PrivateSource.NONE) == privateMem)
            throw new MmuException(Errno.EINVAL, "private source %s does not fit private_mem=%s", privateSource,
                    privateMem);
    }

    /** KVM's {@code gfn_direct_bits}: the shared bit as a GFN mask, 0 when there is none. */
    public long gfnDirectBits() {
        return sharedBit < 0 ? 0 : 1L << (sharedBit - 12);
    }

    /** The TDP root level: 4 for a 48-bit guest physical address width, 5 for 52. */
    public int rootLevel() {
        return gpaw > 48 ? 5 : 4;
    }

    /** One past the highest GFN a memslot may cover: below the shared bit when there is one. */
    public long maxGfn() {
        return 1L << ((sharedBit >= 0 ? sharedBit : gpaw) - 12);
    }

    /** Capabilities of an ordinary VM of this type and width; adjust with the {@code with…} methods. */
    public static VmCapabilities ordinary(String vmType, int gpaw) {
        return new VmCapabilities(vmType, gpaw, false, false, false, -1, PrivateSource.NONE, 3, true, false, true,
                false, DEFAULT_MMIO_VALUE, false, false, 60, false, false, false);
    }

    /** Private memory, with where privateness comes from and the largest private level. */
    public VmCapabilities withPrivateMemory(PrivateSource source, int maxLevel) {
        return with(c -> {
            c.privateMem = source != PrivateSource.NONE;
            c.privateSource = source;
            c.privateMaxLevel = maxLevel;
        });
    }

    /**
     * Mirrored page tables and the shared bit that tells private from shared GPAs: {@link #withMirroredPt()} and
     * {@link #withSharedBit(int)} together, the shape of a VM whose firmware owns the private tables and whose guest
     * marks shared GPAs by a bit.
     */
    public VmCapabilities withMirroredPt(int sharedBit) {
        return withMirroredPt().withSharedBit(sharedBit);
    }

    /** Mirrored page tables ({@code kvm_has_mirrored_tdp}), with or without a shared bit. */
    public VmCapabilities withMirroredPt() {
        return with(c -> c.mirroredPt = true);
    }

    /** The GPA bit that marks shared addresses ({@code gfn_direct_bits}); -1 for none. */
    public VmCapabilities withSharedBit(int sharedBit) {
        return with(c -> c.sharedBit = sharedBit);
    }

    /** The backend also mediates the direct root: its changes reach the external-table hooks. */
    public VmCapabilities withExternalDirect() {
        return with(c -> c.externalDirect = true);
    }

    /** Converting private memory to shared keeps the page (shared in place) instead of discarding it. */
    public VmCapabilities withSharedInPlace() {
        return with(c -> c.sharedInPlace = true);
    }

    public VmCapabilities withProtectedState() {
        return with(c -> c.protectedState = true);
    }

    public VmCapabilities withSlotZapAll(boolean zapAll) {
        return with(c -> c.slotZapAll = zapAll);
    }

    public VmCapabilities withMemtypeZap(boolean supported) {
        return with(c -> c.memtypeZapSupported = supported);
    }

    public VmCapabilities withPreFaultAllowed(boolean allowed) {
        return with(c -> c.preFaultAllowed = allowed);
    }

    public VmCapabilities withAcceptance() {
        return with(c -> c.acceptance = true);
    }

    public VmCapabilities withMmioValue(long value) {
        return with(c -> c.mmioValue = value);
    }

    /** {@code enable_ept_ad_bits=0}: leaves without accessed/dirty bits. */
    public VmCapabilities withAdDisabled(boolean disabled) {
        return with(c -> c.adDisabled = disabled);
    }

    /** The NX huge page mitigation on or off, and the share of split pages one recovery pass zaps (1/ratio). */
    public VmCapabilities withNxHugePages(boolean on, int recoveryRatio) {
        return with(c -> {
            c.nxHugePages = on;
            c.nxRecoveryRatio = recoveryRatio;
        });
    }

    /** Dirty logging by D bits and a page-modification log rather than by write protection. */
    public VmCapabilities withDirtyLogByDirtyBit(boolean on) {
        return with(c -> c.dirtyLogByDirtyBit = on);
    }

    /** A copy with some components changed; the canonical constructor validates the result. */
    private VmCapabilities with(java.util.function.Consumer<Copy> change) {
        Copy c = new Copy(this);
        change.accept(c);
        return c.build();
    }

    /** The components of a capabilities record, mutable, so each {@code with…} names only what it changes. */
    private static final class Copy {
        String vmType;
        int gpaw, sharedBit, privateMaxLevel, nxRecoveryRatio;
        boolean mirroredPt, privateMem, protectedState, memtypeZapSupported, slotZapAll, preFaultAllowed, acceptance,
                adDisabled, nxHugePages, dirtyLogByDirtyBit, externalDirect, sharedInPlace;
        PrivateSource privateSource;
        long mmioValue;

        Copy(VmCapabilities v) {
            vmType = v.vmType;
            gpaw = v.gpaw;
            mirroredPt = v.mirroredPt;
            privateMem = v.privateMem;
            protectedState = v.protectedState;
            sharedBit = v.sharedBit;
            privateSource = v.privateSource;
            privateMaxLevel = v.privateMaxLevel;
            memtypeZapSupported = v.memtypeZapSupported;
            slotZapAll = v.slotZapAll;
            preFaultAllowed = v.preFaultAllowed;
            acceptance = v.acceptance;
            mmioValue = v.mmioValue;
            adDisabled = v.adDisabled;
            nxHugePages = v.nxHugePages;
            nxRecoveryRatio = v.nxRecoveryRatio;
            dirtyLogByDirtyBit = v.dirtyLogByDirtyBit;
            externalDirect = v.externalDirect;
            sharedInPlace = v.sharedInPlace;
        }

        VmCapabilities build() {
            return new VmCapabilities(vmType, gpaw, mirroredPt, privateMem, protectedState, sharedBit, privateSource,
                    privateMaxLevel, memtypeZapSupported, slotZapAll, preFaultAllowed, acceptance, mmioValue,
                    adDisabled, nxHugePages, nxRecoveryRatio, dirtyLogByDirtyBit, externalDirect, sharedInPlace);
        }
    }
}
