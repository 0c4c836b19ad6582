package org.tdplab.backend.snp.kvm;

import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_4K;

import java.util.Set;

import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.backend.snp.rmp.RmpEntry;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * The AMD-SP's guest context of one VM and KVM's launch flow: SNP_GCTX_CREATE, SNP_LAUNCH_START and SNP_ACTIVATE at
 * creation; SNP_LAUNCH_UPDATE of pre-validated pages ({@code snp_launch_update} → {@code kvm_gmem_populate} →
 * {@code sev_gmem_post_populate}); the vCPUs' VMSAs and SNP_LAUNCH_FINISH; SNP_DECOMMISSION at teardown.
 */
final class Launch {
    /** The firmware's guest states (SNP firmware ABI {@code GSTATE_*}), plus decommissioned. */
    enum State {
        LAUNCH, RUNNING, DECOMMISSIONED
    }

    /** {@code INITIAL_VMSA_GPA}: the GPA the RMP records for a VMSA made at launch. */
    static final long INITIAL_VMSA_GPA = 0xFFFFFFFFF000L;
    static final String LAUNCH_UPDATE = "SNP_LAUNCH_UPDATE", LAUNCH_FINISH = "SNP_LAUNCH_FINISH",
            PAGE_RECLAIM = "SNP_PAGE_RECLAIM", DECOMMISSION = "SNP_DECOMMISSION";
    private static final String OK = "SUCCESS", BAD_STATE = "INVALID_GUEST_STATE", BAD_PAGE = "INVALID_PAGE_STATE";


    private final VmContext ctx;
    private final RmpCalls calls;
    private final Rmp rmp;
    private final GmemHooks gmem;
    private final SnpHost host;
    private volatile State state;
    /** The guest context page the firmware owns. */
    private final long contextPfn;
    /** {@code guest_resp_buf}: the firmware page SNP guest requests are answered in ({@code snp_guest_req_init}). */
    private final long respPfn;
    /** Each vCPU's VMSA page, and whether launch made it guest-owned. */
    private final long[] vmsa;
    private final boolean[] vmsaPrivate;

    /** A launch taken over from a snapshot: no firmware call, the pages are the ones the snapshot names. */
    Launch(VmContext ctx, RmpCalls calls, GmemHooks gmem, SnpHost host, State state, long contextPfn, long respPfn,
            long[] vmsa, boolean[] vmsaPrivate) {
        this.ctx = ctx;
        this.calls = calls;
        this.rmp = calls.rmp();
        this.gmem = gmem;
        this.host = host;
        this.state = state;
        this.contextPfn = contextPfn;
        this.respPfn = respPfn;
        this.vmsa = vmsa.clone();
        this.vmsaPrivate = vmsaPrivate.clone();
    }

    String stateName() {
        return state.name();
    }

    long contextPfn() {
        return contextPfn;
    }

    long respPfn() {
        return respPfn;
    }

    long[] vmsaPages() {
        return vmsa.clone();
    }

    boolean[] vmsaPrivate() {
        return vmsaPrivate.clone();
    }

    Launch(VmContext ctx, RmpCalls calls, GmemHooks gmem, SnpHost host) {
        this.ctx = ctx;
        this.calls = calls;
        this.rmp = calls.rmp();
        this.gmem = gmem;
        this.host = host;
        // KVM_SEV_INIT2's snp_guest_req_init: the response page of guest requests (snp_alloc_firmware_page)
        respPfn = firmwarePage("KVM_SEV_INIT2: the guest request response page");
        // snp_context_create: a firmware page (rmp_mark_pages_firmware), then SNP_GCTX_CREATE
        try {
            contextPfn = firmwarePage("SNP_GCTX_CREATE: the context page");
        } catch (MmuException e) {
            if (reclaim(respPfn)) // snp_guest_req_cleanup of the VM that goes
                ctx.freeFirmwareFrame(respPfn);
            throw e;
        }
        ctx.firmwareCall("SNP_GCTX_CREATE", -1, 0, OK);
        ctx.firmwareCall("SNP_LAUNCH_START", -1, 0, OK);
        ctx.firmwareCall("SNP_ACTIVATE", -1, 0, OK);
        state = State.LAUNCH;
        vmsa = new long[ctx.vcpus()];
        vmsaPrivate = new boolean[vmsa.length];
        for (int i = 0; i < vmsa.length; i++)
            vmsa[i] = safeFrame();
    }

    /** A page given to the firmware ({@code rmp_mark_pages_firmware}), or EIO naming {@code what}. */
    private long firmwarePage(String what) {
        long pfn = ctx.allocFirmwareFrame();
        if (!calls.makeFirmware(pfn)) {
            ctx.freeFirmwareFrame(pfn);
            throw new MmuException(Errno.EIO, "%s 0x%x could not be given to the firmware", what, pfn);
        }
        return pfn;
    }

    /**
     * {@code snp_safe_alloc_page}: a frame that is not 2M-aligned (erratum: a huge-page RMP check can collide with
     * a 2M-aligned VMCB, VMSA or AVIC page).
     */
    private long safeFrame() {
        long pfn = ctx.allocFirmwareFrame();
        if ((pfn & 511) != 0)
            return pfn;
        long other = ctx.allocFirmwareFrame();
        ctx.freeFirmwareFrame(pfn);
        return other;
    }

    State state() {
        return state;
    }

    /**
     * VMRUN's page check of vCPU {@code vcpu}'s VMSA (APM "VMRUN Page Checks", SNP): its RMP entry is assigned to
     * this guest's ASID with the VMSA bit set, as SNP_LAUNCH_UPDATE of the VMSA type leaves it at launch finish.
     * Before that the page is the hypervisor's and VMRUN fails ({@code VMEXIT_INVALID}). Lock-free: once the launch
     * is finished every VMSA is the guest's (one volatile read, on every run); until then it reads the RMP.
     */
    boolean vmsaRunnable(int vcpu) {
        if (state == State.RUNNING)
            return true;
        long lo = rmp.lo(vmsa[vcpu]);
        return RmpEntry.assigned(lo) && RmpEntry.vmsa(lo) && RmpEntry.asid(lo) == calls.asid;
    }

    boolean isVmsa(long pfn) {
        for (long p : vmsa)
            if (p == pfn)
                return true;
        return false;
    }

    /**
     * {@code KVM_SEV_SNP_LAUNCH_UPDATE} ({@code snp_launch_update} → {@code kvm_gmem_populate} →
     * {@code sev_gmem_post_populate}): each 4K page is copied from the shared page at the same GPA (nothing for
     * {@code zero}), made private and immutable (pre-guest), then measured by SNP_LAUNCH_UPDATE, which leaves it
     * validated and mutable. Populating stops at the first page it cannot take (not private, prepared already, no
     * guest_memfd behind it — past the memslot's end, say): the pages before it stay launched and the ioctl
     * succeeds with the rest handed back, as {@code kvm_gmem_populate} returns the count done; only a failure at
     * the first page fails the ioctl.
     *
     * @return the rest of the range, handed back undone (size 0: all done)
     * @throws MmuException EINVAL: misaligned or empty, or no guest_memfd memslot at the first page; EIO: the launch
     *     is finished (the firmware refuses SNP_LAUNCH_UPDATE), or the first page cannot be populated (not private
     *     by attribute, or its frame assigned already: {@code kvm_gmem_populate} fails, which
     *     {@code snp_launch_update} reports as EIO)
     */
    Remaining update(long gpa, long size, boolean zero) {
        try {
            return updateRange(gpa, size, zero);
        } catch (MmuException e) { // nothing done: the caller's struct still holds the whole range
            throw e.remaining().isPresent() ? e : e.withRemaining(new Remaining(gpa, size));
        }
    }

    private Remaining updateRange(long gpa, long size, boolean zero) {
        if (size == 0 || (size & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "snp.launch_update: size=0x%x is not a positive multiple of 4K",
                    size);
        if ((gpa & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "snp.launch_update: gpa=0x%x is not 4K-aligned", gpa);
        long limit = 1L << ctx.capabilities().gpaw();
        if (Long.compareUnsigned(gpa + size, gpa) <= 0 || Long.compareUnsigned(gpa + size, limit) > 0)
            throw new MmuException(Errno.EINVAL, "snp.launch_update: gpa=0x%x size=0x%x wraps or lies beyond the "
                    + "VM's GPA space (0x%x)", gpa, size, limit);
        long first = gpa >>> 12, n = size >>> 12;
        if (state != State.LAUNCH) {
            // KVM checks no launch state: its populate makes the page private, the firmware refuses it, and it is
            // reclaimed and made shared again (an RMPUPDATE, SNP_PAGE_RECLAIM and an RMPUPDATE the model does not
            // count). The model refuses before touching the page: it has no folio lock to keep a vCPU's fault off
            // the page for that while, and a fault that saw it private would map a page going back to the host.
            ctx.firmwareCall(LAUNCH_UPDATE, first, LEVEL_4K, BAD_STATE);
            throw new MmuException(Errno.EIO, "snp.launch_update gpa=0x%x: the launch of VM '%s' is finished "
                    + "(SNP_LAUNCH_UPDATE: invalid guest state)", gpa, ctx.name());
        }
        gmem.populating(true);
        try {
            // snp_launch_update: the memslot of the first page must be able to be private
            if (ctx.gmemPfn(first) < 0)
                throw new MmuException(Errno.EINVAL, "snp.launch_update: no guest_memfd memslot backs gpa=0x%x",
                        gpa);
            long done = 0;
            try {
                for (; done < n; done++)
                    populate(first + done, zero);
            } catch (MmuException e) {
                if (done == 0) // kvm_gmem_populate returns the error only when it did nothing
                    throw new MmuException(Errno.EIO, "%s (kvm_gmem_populate: %s)", e.reason(), e.errno());
            }
            return new Remaining((first + done) << 12, (n - done) << 12); // params.gfn_start / len written back
        } finally {
            gmem.populating(false);
        }
    }

    /**
     * One page of {@code kvm_gmem_populate}, in its order: a guest_memfd folio, not prepared yet, private by
     * attribute; then {@code sev_gmem_post_populate}. Mainline holds {@code filemap_invalidate_lock} around both; the
     * model takes it after the look-up (a punch takes the file's lock first), looking again when an invalidation
     * began meanwhile. Without it, a vCPU's fault could prepare the rest of the folio late (a 2M RMP page when its
     * range reads hypervisor-owned) between this page's check and its RMPUPDATE: the 2M update then overlapped the
     * new 4K page for real (soak --type snp, seed 11098).
     */
    private void populate(long gfn, boolean zero) {
        for (;;) {
            long seen = gmem.invalidations();
            long pfn = ctx.gmemPfn(gfn);
            if (pfn < 0)
                throw new MmuException(Errno.EINVAL, "snp.launch_update: no guest_memfd memslot backs gpa=0x%x",
                        gfn << 12);
            if (!gmem.lockUnlessInvalidatedSince(seen))
                continue; // a punch may have freed the folio since the look-up
            try {
                populateLocked(gfn, pfn, zero);
                return;
            } finally {
                gmem.unlockInvalidations();
            }
        }
    }

    private void populateLocked(long gfn, long pfn, boolean zero) {
        if (rmp.isAssigned(pfn))
            throw new MmuException(Errno.EEXIST, "snp.launch_update: gpa=0x%x (pfn 0x%x) is private in the RMP "
                    + "already (launched, or prepared by a fault)", gfn << 12, pfn);
        if (!ctx.isPrivate(gfn))
            throw new MmuException(Errno.EINVAL, "snp.launch_update: gpa=0x%x is shared; set the range private "
                    + "(KVM_SET_MEMORY_ATTRIBUTES) before launching it", gfn << 12);
        long token = zero ? 0 : ctx.sharedToken(gfn);
        // the copy happens while the page is still hypervisor-owned
        if (rmp.hostWriteFaults(pfn, 1))
            throw new MmuException(Errno.EFAULT, "snp.launch_update: host write to pfn 0x%x faults", pfn);
        ctx.writeToken(pfn, token);
        if (!calls.makePrivate(pfn, gfn << 12, LEVEL_4K, true))
            throw new MmuException(Errno.EIO, "snp.launch_update: RMPUPDATE of pfn 0x%x (gpa 0x%x) failed", pfn,
                    gfn << 12);
        if (!rmp.firmwareLaunchUpdate(pfn, calls.asid, false)) {
            ctx.firmwareCall(LAUNCH_UPDATE, gfn, LEVEL_4K, BAD_PAGE);
            reclaim(pfn);
            throw new MmuException(Errno.EIO, "snp.launch_update: SNP_LAUNCH_UPDATE of gpa 0x%x failed", gfn << 12);
        }
        ctx.firmwareCall(LAUNCH_UPDATE, gfn, LEVEL_4K, OK);
        ctx.guestDataChanged(gfn, true, token);
    }

    /**
     * {@code KVM_SEV_SNP_LAUNCH_FINISH}: every vCPU's VMSA becomes a guest page (pre-guest, then measured by
     * SNP_LAUNCH_UPDATE with the VMSA type), then SNP_LAUNCH_FINISH; from now on private pages are given to the
     * guest on first access and {@code KVM_PRE_FAULT_MEMORY} is allowed.
     */
    void finish() {
        if (state != State.LAUNCH) {
            ctx.firmwareCall(LAUNCH_FINISH, -1, 0, BAD_STATE);
            throw new MmuException(Errno.EIO, "snp.launch_finish: the launch of VM '%s' is finished already",
                    ctx.name());
        }
        for (int i = 0; i < vmsa.length; i++) {
            if (vmsaPrivate[i])
                continue;
            if (!calls.makePrivate(vmsa[i], INITIAL_VMSA_GPA, LEVEL_4K, true))
                throw new MmuException(Errno.EFAULT, "snp.launch_finish: RMPUPDATE of vCPU %d's VMSA (pfn 0x%x) "
                        + "failed", i, vmsa[i]);
            if (!rmp.firmwareLaunchUpdate(vmsa[i], calls.asid, true)) {
                ctx.firmwareCall(LAUNCH_UPDATE, INITIAL_VMSA_GPA >>> 12, LEVEL_4K, BAD_PAGE);
                reclaim(vmsa[i]);
                throw new MmuException(Errno.EIO, "snp.launch_finish: SNP_LAUNCH_UPDATE of vCPU %d's VMSA failed",
                        i);
            }
            ctx.firmwareCall(LAUNCH_UPDATE, INITIAL_VMSA_GPA >>> 12, LEVEL_4K, OK);
            vmsaPrivate[i] = true;
        }
        ctx.firmwareCall(LAUNCH_FINISH, -1, 0, OK);
        state = State.RUNNING;
        ctx.allowPreFault();
    }

    /** {@code snp_page_reclaim}: SNP_PAGE_RECLAIM, then back to the hypervisor; a failure leaks the page. */
    private boolean reclaim(long pfn) {
        boolean ok = rmp.firmwareReclaim(pfn);
        ctx.firmwareCall(PAGE_RECLAIM, -1, LEVEL_4K, ok ? OK : BAD_PAGE);
        if (ok && calls.makeShared(pfn, LEVEL_4K))
            return true;
        host.leak(String.format("VM '%s': pfn 0x%x could not be reclaimed (%s)", ctx.name(), pfn,
                org.tdplab.backend.snp.rmp.RmpEntry.describe(rmp.lo(pfn), rmp.hi(pfn))));
        return false;
    }

    /**
     * Teardown: each vCPU's VMSA back to the hypervisor and freed ({@code sev_free_vcpu}); the guest request
     * response page reclaimed and freed ({@code snp_guest_req_cleanup}); SNP_DECOMMISSION; the context page reclaimed
     * and freed. A page that cannot go back is leaked, never freed.
     */
    void teardown() {
        for (int i = 0; i < vmsa.length; i++) {
            if (vmsaPrivate[i] && !calls.makeShared(vmsa[i], LEVEL_4K)) {
                host.leak(String.format("VM '%s': vCPU %d's VMSA pfn 0x%x stayed guest-owned", ctx.name(), i,
                        vmsa[i]));
                continue;
            }
            vmsaPrivate[i] = false;
            ctx.freeFirmwareFrame(vmsa[i]);
        }
        if (reclaim(respPfn))
            ctx.freeFirmwareFrame(respPfn);
        ctx.firmwareCall(DECOMMISSION, -1, 0, OK);
        state = State.DECOMMISSIONED;
        if (reclaim(contextPfn))
            ctx.freeFirmwareFrame(contextPfn);
    }
}
