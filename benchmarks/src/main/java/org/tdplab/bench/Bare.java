package org.tdplab.bench;

/** A bare JVM for the start-up comparison: starts and returns. */
public final class Bare {
    private Bare() {
    }

    public static void main(String[] args) {
    }
}
