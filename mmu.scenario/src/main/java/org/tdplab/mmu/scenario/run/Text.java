package org.tdplab.mmu.scenario.run;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.scenario.lang.Numbers;

/** How reports spell addresses, sizes and access results: the way a scenario would write them. */
public final class Text {
    private Text() {
    }

    static String hex(long value) {
        return Numbers.hex(value);
    }

    /** {@code 4K}, {@code 2M}, {@code 1G} for exact multiples, else hex. */
    public static String size(long bytes) {
        if (bytes > 0) {
            for (int shift : new int[] { 40, 30, 20, 10 })
                if ((bytes & ((1L << shift) - 1)) == 0)
                    return Long.toUnsignedString(bytes >>> shift) + "TGMK".charAt((40 - shift) / 10);
        }
        return hex(bytes);
    }

    /** An exit as an {@code expect exit} line would name it; {@code sharedMask} is dropped from the GPA. */
    public static String exit(Exit e, long sharedMask) {
        long gpa = e.gpa() & ~sharedMask;
        return switch (e.reason()) {
        case MEMORY_FAULT -> "exit memory_fault gpa=" + hex(gpa) + " size=" + size(e.size()) + " "
                + (e.isPrivate() ? "private" : "shared");
        case MMIO -> "exit mmio gpa=" + hex(gpa);
        case FAIL_ENTRY -> "exit fail_entry reason=" + hex(e.hardwareEntryFailureReason());
        default -> "exit " + e.name() + (e.detail() == null || e.detail().isEmpty() ? "" : " (" + e.detail() + ")");
        };
    }

    /** How a guest access ended early: its exit or exception, and how far it got. */
    static String ending(AccessResult r, long sharedMask) {
        String how = r.exit() != null ? exit(r.exit(), sharedMask) : "exception " + r.exception();
        if (r.exit() != null && r.exit().reason() == Exit.Reason.FAIL_ENTRY && r.exit().detail() != null)
            how += " (" + r.exit().detail() + ")"; // the words of why; exit(…) stays an expect line
        return how + " after " + r.pages() + " page" + (r.pages() == 1 ? "" : "s");
    }

    /**
     * An exception that is not an errno — a bug in the model, the runner, or a backend from outside tdplab — said
     * without Java's exception text: what it says, and where it was thrown: the first frame outside the JDK and the
     * libraries, whose class says whose bug it is ({@code -Dtdplab.debug=true} prints the whole stack).
     */
    public static String internalError(Throwable e) {
        if (Boolean.getBoolean("tdplab.debug"))
            e.printStackTrace();
        String what = e.getMessage() != null && !e.getMessage().isBlank() ? e.getMessage()
                : e instanceof NullPointerException ? "a null reference"
                : e instanceof StackOverflowError ? "the stack overflowed" : "an unexpected condition";
        StackTraceElement at = null;
        for (StackTraceElement f : e.getStackTrace())
            if (!isJdk(f.getClassName())) {
                at = f;
                break;
            }
        String where = at == null ? "" : " (at " + at.getClassName().substring(at.getClassName().lastIndexOf('.') + 1)
                + "." + at.getMethodName() + ", " + at.getFileName() + ":" + at.getLineNumber() + ")";
        if (at != null && !at.getClassName().startsWith("org.tdplab.")) {
            String cls = at.getClassName();
            String pkg = cls.lastIndexOf('.') < 0 ? cls : cls.substring(0, cls.lastIndexOf('.'));
            return "internal error in " + pkg + " (not tdplab's code; a backend's?): " + what + where;
        }
        return "internal error of the model, a bug in tdplab: " + what + where;
    }

    /** The JDK's classes and the libraries tdplab runs on, which are nobody's bug here: the caller's frame is. */
    private static boolean isJdk(String cls) {
        for (String p : LIBRARIES)
            if (cls.startsWith(p))
                return true;
        return false;
    }

    private static final String[] LIBRARIES = { "java.", "javax.", "jdk.", "sun.", "com.sun.", "org.osgi.",
        "org.apache.felix.", "com.google.gson.", "org.jline." };
}
