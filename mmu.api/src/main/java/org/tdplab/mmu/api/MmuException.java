package org.tdplab.mmu.api;

/**
 * A refused operation, as a KVM ioctl would refuse it: an errno and a message that names the offending value.
 * The model is unchanged by a refused operation unless the errno is {@link Errno#EIO} on a bugged VM.
 */
public class MmuException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final Errno errno;

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

    /** The message without the errno prefix. */
    public String reason() {
        return super.getMessage();
    }
}
