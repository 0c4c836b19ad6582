package org.tdplab.mmu.tdp.vm;

import java.util.Optional;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.vcpu.GuestMode;

/**
 * Whether one VM can still run: {@code KVM_BUG_ON} ({@code kvm_vm_bugged}), {@code kvm_vm_dead}, destruction, and
 * whether {@code KVM_PRE_FAULT_MEMORY} is allowed yet. Names the VM in the errors it raises.
 */
final class VmStatus {
    final String name;
    final String type;
    private final GuestMode guestMode;
    private volatile String bugReason;
    /** Why KVM marked the VM dead ({@code kvm_vm_dead}); a bug kills it too. */
    private volatile String deadReason;
    private volatile boolean destroyed;
    private volatile boolean preFaultAllowed;

    VmStatus(String name, String type, GuestMode guestMode, boolean preFaultAllowed) {
        this.name = name;
        this.type = type;
        this.guestMode = guestMode;
        this.preFaultAllowed = preFaultAllowed;
    }

    /** {@code kvm_vm_bugged}: marks the VM bugged, then dead. */
    void bug(String reason) {
        synchronized (this) {
            if (bugReason == null)
                bugReason = reason;
        }
        kill(reason);
    }

    /** {@code kvm_vm_dead}: later ioctls fail with EIO, and KVM_REQ_VM_DEAD keeps every vCPU out of the guest. */
    void kill(String reason) {
        if (deadReason == null) {
            synchronized (this) {
                if (deadReason == null)
                    deadReason = reason;
            }
            guestMode.kickAll();
        }
    }

    boolean bugged() {
        return bugReason != null;
    }

    Optional<String> bugReason() {
        return Optional.ofNullable(bugReason);
    }

    boolean dead() {
        return deadReason != null;
    }

    Optional<String> deadReason() {
        return Optional.ofNullable(deadReason);
    }

    /** Refuses an ioctl on a dead or destroyed VM. */
    void requireAlive() {
        if (destroyed)
            throw new MmuException(Errno.ENODEV, "VM '%s' was destroyed", name);
        if (deadReason != null)
            throw new MmuException(Errno.EIO, "VM '%s' is %s (%s)", name, bugReason != null ? "bugged" : "dead",
                    deadReason);
    }

    boolean destroyed() {
        return destroyed;
    }

    void destroyed(boolean value) {
        destroyed = value;
    }

    boolean preFaultAllowed() {
        return preFaultAllowed;
    }

    void allowPreFault() {
        preFaultAllowed = true;
    }
}
