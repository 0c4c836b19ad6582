package org.tdplab.mmu.scenario.run;

/**
 * The bitmap one {@code dirty.get} returned, with the slot's place then (one bit per 4K page from its base).
 */
record DirtyLog(long base, long size, long[] bitmap) {
    long pages() {
        return size >>> 12;
    }

    boolean covers(long gpa) {
        return Long.compareUnsigned(gpa - base, size) < 0;
    }

    boolean isSet(long gpa) {
        long index = (gpa - base) >>> 12;
        int word = (int) (index >>> 6);
        return word < bitmap.length && (bitmap[word] >>> (index & 63) & 1) != 0;
    }

    long count() {
        long n = 0;
        for (long i = 0; i < pages(); i++)
            if (isSet(base + (i << 12)))
                n++;
        return n;
    }

    /** The GPAs of the first {@code max} set bits. */
    String firstSet(int max) {
        StringBuilder sb = new StringBuilder();
        int shown = 0;
        for (long i = 0; i < pages() && shown < max; i++)
            if (isSet(base + (i << 12))) {
                sb.append(shown++ == 0 ? "" : ", ").append(Text.hex(base + (i << 12)));
            }
        return count() > max ? sb + ", …" : sb.toString();
    }
}
