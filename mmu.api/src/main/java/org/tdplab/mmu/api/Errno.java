package org.tdplab.mmu.api;

/** The errno values KVM's ioctls return, with their Linux numbers. */
public enum Errno {
    EPERM(1), ENOENT(2), EIO(5), EAGAIN(11), ENOMEM(12), EFAULT(14), EBUSY(16), EEXIST(17), ENODEV(19),
    EINVAL(22), ENOSPC(28), E2BIG(7), ENOTSUP(95);

    private final int number;

    Errno(int number) {
        this.number = number;
    }

    /** The Linux errno number, e.g. 22 for {@code EINVAL}. */
    public int number() {
        return number;
    }
}
