package org.tdplab.mmu.api.backend;

import org.tdplab.mmu.api.Errno;

/**
 * What a backend hook reports to the core, as the kernel's hooks return 0, -EBUSY or another error — here with
 * the reason, so the core can say which call failed and why (the VM's bug reason names it).
 *
 * @param kind ok, busy or error
 * @param errno {@code EBUSY} for busy, the error's errno for an error, null when ok
 * @param reason why, in the backend's words; empty when ok
 */
public record HookStatus(Kind kind, Errno errno, String reason) {
    public enum Kind {
        /** Done. */
        OK,
        /**
         * Contention (a firmware's operand-busy status): the core restores the old state and retries the operation.
         */
        BUSY,
        /** Anything else: the core bugs the VM ({@code KVM_BUG_ON}) with the errno and reason. */
        ERROR
    }

    /** Done. */
    public static final HookStatus OK = new HookStatus(Kind.OK, null, "");
    /** Busy, without more to say. */
    public static final HookStatus BUSY = new HookStatus(Kind.BUSY, Errno.EBUSY, "busy");

    public HookStatus {
        if (kind == null || (kind != Kind.OK && errno == null) || reason == null)
            throw new IllegalArgumentException("a hook status needs a kind, and an errno unless it is OK");
    }

    /** Busy, saying what was busy. */
    public static HookStatus busy(String reason) {
        return new HookStatus(Kind.BUSY, Errno.EBUSY, reason);
    }

    /** An error the core answers by bugging the VM, with KVM's errno and a message naming the offending value. */
    public static HookStatus error(Errno errno, String format, Object... args) {
        return new HookStatus(Kind.ERROR, errno, args.length == 0 ? format : String.format(format, args));
    }

    public boolean isOk() {
        return kind == Kind.OK;
    }

    public boolean isBusy() {
        return kind == Kind.BUSY;
    }

    public boolean isError() {
        return kind == Kind.ERROR;
    }

    /** {@code ERRNO: reason}, or {@code OK}. */
    @Override
    public String toString() {
        return kind == Kind.OK ? "OK" : errno.name() + ": " + reason;
    }
}
