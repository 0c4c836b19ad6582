package org.tdplab.mmu.api;

/**
 * A refused operation, as a KVM ioctl would refuse it: an errno and a message that names the offending value.
 * The model is unchanged by a refused operation unless the errno is {@link Errno#EIO} on a bugged VM, or the
 * operation made partial progress, which {@link #remaining()} then says.
 */
public class MmuException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final Errno errno;
    private Remaining remaining;

    public MmuException(Errno errno, String message) {
        super(message);
        this.errno = errno;
    }

    public MmuException(Errno errno, String format, Object... args) {
        this(errno, String.format(format, args));
    }

    public Errno errno() {
        return errno;
    }

    @Override
    public String getMessage() {
        return errno.name() + ": " + super.getMessage();
    }

    /**
     * The range the refused operation handed back undone after partial progress (KVM writes it into the ioctl's
     * struct even when the ioctl fails, as some populating ioctls do), if it did.
     */
    public java.util.Optional<Remaining> remaining() {
        return java.util.Optional.ofNullable(remaining);
    }

    /** Attaches the range handed back undone; returns this exception. */
    public MmuException withRemaining(Remaining r) {
        this.remaining = r;
        return this;
    }

    /** The message without the errno prefix. */
    public String reason() {
        return super.getMessage();
    }
}
